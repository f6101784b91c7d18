// How every client command reaches the server: TLS (trust roots, client certificate, expected
// name) and the credential it calls as. A token is never an argument (other users can read a
// process's command line): a file, or the environment. docs/SECURITY.md.

import ArgumentParser
import Foundation
import WaybillClient
import WaybillTLS

struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("tls-ca"), help: ArgumentHelp(
        "TLS, trusting the certificate authorities in this PEM bundle only (default: $WAYBILL_TLS_CA).", valueName: "pem"))
    var tlsCA: String?

    @Flag(name: .customLong("tls"), help: "TLS, trusting the system's certificate authorities.")
    var tlsWithSystemRoots = false

    @Option(name: .customLong("tls-server-name"), help: ArgumentHelp(
        "The name the server's certificate must hold (default: the host of --server).", valueName: "name"))
    var tlsServerName: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Client certificate (PEM) for mutual TLS; needs --tls-key.", valueName: "pem"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp(
        "The client certificate's private key (PEM, mode 0600).", valueName: "pem"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("""
        File holding the bearer token to call with (mode 0600; one line). Default: $WAYBILL_TOKEN, else the file \
        $WAYBILL_TOKEN_FILE, else ./\(ConnectionOptions.adminTokenFileName) if present (written by `waybill serve` on \
        its first start).
        """, valueName: "path"))
    var tokenFile: String?

    /// What `waybill serve --db ./waybill.sqlite` writes on its first start: the admin's token.
    static let adminTokenFileName = "waybill.sqlite.admin-token"
    /// A token file is one short line.
    static let tokenFileBytesMax = 4_096

    func validate() throws {
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together (a client certificate and its key)")
        }
        if tlsCA != nil && tlsWithSystemRoots {
            throw ValidationError("--tls-ca trusts one bundle, --tls the system's certificate authorities: give one of them")
        }
    }

    /// The TLS settings, or nil for plaintext (no TLS option and no $WAYBILL_TLS_CA).
    func tlsConfiguration() -> ClientTLSConfiguration? {
        let environmentCA = ProcessInfo.processInfo.environment["WAYBILL_TLS_CA"].flatMap { $0.isEmpty ? nil : $0 }
        let trust: ClientTLSConfiguration.TrustRoots
        if let tlsCA {
            trust = .certificateAuthorityFile(tlsCA)
        } else if tlsWithSystemRoots {
            trust = .system
        } else if let environmentCA {
            trust = .certificateAuthorityFile(environmentCA)
        } else if tlsServerName != nil || tlsCertificate != nil {
            trust = .system
        } else {
            return nil
        }
        return ClientTLSConfiguration(trustRoots: trust, certificateChainPath: tlsCertificate, privateKeyPath: tlsKey, serverName: tlsServerName)
    }

    /// The bearer token: --token-file, else $WAYBILL_TOKEN, else $WAYBILL_TOKEN_FILE, else
    /// ./waybill.sqlite.admin-token if it exists; nil when none (the server then answers
    /// UNAUTHENTICATED). Errors never quote a token file's contents.
    func token() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let tokenFile { return try Self.readTokenFile(tokenFile, source: "--token-file") }
        if let token = environment["WAYBILL_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty { return token }
        if let path = environment["WAYBILL_TOKEN_FILE"], !path.isEmpty { return try Self.readTokenFile(path, source: "$WAYBILL_TOKEN_FILE") }
        if FileManager.default.fileExists(atPath: Self.adminTokenFileName) {
            return try Self.readTokenFile(Self.adminTokenFileName, source: "./\(Self.adminTokenFileName)")
        }
        return nil
    }

    /// Sets `configuration.tls` and `configuration.token`.
    func apply(to configuration: inout ClientConfiguration) throws {
        configuration.tls = tlsConfiguration()
        configuration.token = try token()
    }

    /// A token file: owner-only (mode & 0o077 == 0), one token on one line.
    static func readTokenFile(_ path: String, source: String) throws -> String {
        do {
            try TLSFiles.checkPrivateKeyPermissions(path)
        } catch let error as TLSConfigurationError where error.kind == .keyPermissions {
            throw CLIError("\(source) \(path): others may read it; make it owner-only (chmod 600 \(path))")
        } catch {
            throw CLIError("\(source) \(path): cannot read it")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(source) \(path): cannot read it") }
        guard data.count <= tokenFileBytesMax, let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !text.isEmpty, !text.contains(where: \.isWhitespace) else {
            throw CLIError("\(source) \(path): expected one token on one line")
        }
        return text
    }
}
