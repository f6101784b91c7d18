// Credentials at server start, before it listens: the configuration's seeds installed by name, the
// first start's admin credential (`waybill serve` on a database without any credential), and the
// directory every call is authenticated against, loaded from the store.

import Foundation
import Logging
import WaybillApplication
import WaybillCore
import WaybillStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a server did not start because of its credentials (a bad seed, an unsafe token file).
public struct CredentialSetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

enum CredentialStartup {
    /// The name of the credential a first start creates.
    static let firstAdminName = "admin"

    /// Installs the seeds, runs the first start if there is nothing else, and returns the loaded
    /// directory. Blocking (writer jobs, SQLite): call it off the cooperative pool.
    static func prepare(configuration: ServerConfiguration, database: WaybillDatabase, writer: StoreWriter,
                        logger: Logger) throws -> CredentialDirectory {
        let limits = configuration.credentialLimits, seeds = configuration.credentials
        if !seeds.isEmpty {
            let result: CredentialChangeResult
            do {
                result = try writer.perform { context in try context.applyCredentialChange(.install(seeds), actor: "seed", limits: limits) }
            } catch let error as DomainError {
                throw CredentialSetupError("credentials: \(error.message)")
            }
            var counts: [SeedOutcome: Int] = [:]
            for (name, outcome) in result.seeds {
                counts[outcome, default: 0] += 1
                if outcome == .stillRevoked {
                    logger.warning("credential seed names a revoked credential with its revoked token: it stays revoked (give it a new token to use it again)",
                                   metadata: ["credential": "\(name)"])
                } else if outcome != .unchanged {
                    logger.info("credential seed \(outcome.rawValue)", metadata: ["credential": "\(name)"])
                }
            }
            logger.info("credential seeds installed", metadata: [
                "added": "\(counts[.added] ?? 0)", "replaced": "\(counts[.replaced] ?? 0)", "unchanged": "\(counts[.unchanged] ?? 0)",
            ])
        }
        var snapshot = try database.credentialSnapshot()
        if snapshot.credentials.isEmpty, seeds.isEmpty, let path = configuration.firstStartAdminTokenPath {
            snapshot = try firstStart(tokenPath: path, writer: writer, limits: limits, logger: logger)
        }
        let directory = CredentialDirectory()
        directory.replaceAll(snapshot.records, version: snapshot.version)
        if snapshot.credentials.allSatisfy({ $0.record.state(at: configuration.clock()) != .active }) {
            logger.warning("no active credential: every call is refused UNAUTHENTICATED until one is added (`waybill clients add NAME --role admin --database FILE`)")
        }
        return directory
    }

    /// Creates the `admin` credential with the token of `tokenPath`: a new random one written there
    /// (mode 0600, created exclusively) or, when the file exists already (a first start that stopped
    /// before its commit, or a token the operator chose), the one it holds, if only its owner can
    /// read it.
    static func firstStart(tokenPath: String, writer: StoreWriter, limits: CredentialLimits, logger: Logger) throws -> CredentialSnapshot {
        let (token, created) = try TokenFile.obtain(tokenPath)
        do {
            let result = try writer.perform { context in
                try context.applyCredentialChange(.create(CredentialRequest(name: firstAdminName, role: .admin), tokenHash: AccessToken.hash(token)),
                                                  actor: "first start", limits: limits)
            }
            logger.notice("first start: no credential in the database, so an admin credential \"\(firstAdminName)\" was created; its token is in the file named here (mode 0600): use it with `waybill clients` to add the others, then keep it safe or revoke it",
                          metadata: ["token_file": "\(tokenPath)"])
            return result.snapshot
        } catch {
            if created { unlink(tokenPath) }
            throw error
        }
    }
}

/// The first start's token file: only its owner may read it.
enum TokenFile {
    /// The token of `path`, and whether this call created the file.
    static func obtain(_ path: String) throws -> (token: String, created: Bool) {
        var status = stat()
        if lstat(path, &status) != 0 {
            guard errno == ENOENT else { throw CredentialSetupError("cannot examine the admin token file \(path): \(String(cString: strerror(errno)))") }
            let token = AccessToken.generate()
            try create(path, contents: token + "\n")
            return (token, true)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw CredentialSetupError("refusing to start: the admin token file \(path) exists and is not a regular file (a link?): remove it")
        }
        let mode = status.st_mode & 0o777
        guard mode & 0o077 == 0, status.st_uid == geteuid() else {
            throw CredentialSetupError("refusing to start: the admin token file \(path) exists with mode \(String(mode, radix: 8)) "
                + "(others may read it) or another owner: remove it, or make it yours with mode 600")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CredentialSetupError("cannot read the admin token file \(path)") }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= credentialSeedTokenCharactersMin, !token.contains(where: \.isWhitespace) else {
            throw CredentialSetupError("the admin token file \(path) exists but holds no token of at least \(credentialSeedTokenCharactersMin) characters: remove it")
        }
        return (token, false)
    }

    /// Creates `path` exclusively (never through an existing file or link), mode 0600, durably.
    static func create(_ path: String, contents: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CredentialSetupError("cannot create the admin token file \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        // The umask may only have narrowed 0600; make it exact.
        _ = fchmod(descriptor, 0o600)
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw CredentialSetupError("cannot write the admin token file \(path): \(reason)")
        }
    }
}
