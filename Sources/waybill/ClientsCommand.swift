// `waybill clients add|list|revoke|rotate`: the credentials callers prove themselves with
// (docs/SECURITY.md, "Credentials"). Two ways in: `--database FILE` changes the SQLite file directly
// (no server needed; a server running on the file picks the change up within
// credentialsRefreshIntervalMilliseconds), `--target HOST:PORT` calls CredentialService as an admin
// (TLS and the token: ConnectionOptions).
// A new token is printed once, alone on stdout (scripts capture it); everything else goes to stderr.

import ArgumentParser
import Foundation
import Logging
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillStore

struct ClientsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients", abstract: "Manage the credentials Waybill's callers use (add, list, revoke, rotate).",
        discussion: """
            Offline: --database FILE opens the server's SQLite file (also while the server runs: it picks the change \
            up within a second). Online: --target HOST:PORT calls CredentialService with an admin token from \
            --token-file, $WAYBILL_TOKEN or $WAYBILL_TOKEN_FILE (never the command line), over TLS with --tls-ca or --tls. `add` and `rotate` print the new token once on \
            stdout; keep it: only its SHA-256 is stored.
            """,
        subcommands: [Add.self, List.self, Revoke.self, Rotate.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a credential and print its token once.")

        @Argument(help: "Unique name (1-64 of A-Z a-z 0-9 . _ -): recorded as who acted in history and logs.")
        var name: String

        @Option(help: "channel (scoped to --channels), fulfillment (scoped to --locations), erp or admin.")
        var role: Role

        @Option(help: "Channels of a channel credential, comma-separated (web, mobile_app, marketplace, store_pos, call_centre, click_and_collect).")
        var channels: String?

        @Option(help: "Locations of a fulfillment credential, comma-separated (they need not be in the network yet).")
        var locations: String?

        @Option(help: ArgumentHelp("The credential ends on its own after this long (90d, 12h, 30m, 3600s); default: until revoked.", valueName: "duration"))
        var expiresIn: String?

        @Option(help: "Mutual TLS: the subject common name of the client certificate that proves this credential.")
        var certificateSubject: String?

        @OptionGroup var target: ClientsTargetOptions

        func run() async throws {
            var request = CredentialRequest(name: name, role: role, channels: list(channels), locations: list(locations),
                                            certificateSubject: certificateSubject)
            if let expiresIn { request.expiresInSeconds = try parseDuration(expiresIn, option: "--expires-in") }
            let (credential, token, unknownLocations) = try await target.create(request)
            print(token)
            let scope = credential.channels.isEmpty && credential.locations.isEmpty ? ""
                : " for " + (credential.locations.isEmpty ? credential.channels.map { Channel(proto: $0)?.name ?? "?" } : credential.locations).joined(separator: ", ")
            note("created credential \(credential.name) (\(credential.id), role \(role.rawValue)\(scope)"
                + (credential.expiresAtUnixMs > 0 ? ", expires \(TableText.iso8601(milliseconds: credential.expiresAtUnixMs))" : "")
                + "): its token, above, is shown only this once")
            if !unknownLocations.isEmpty {
                note("warning: not in the network (yet): \(unknownLocations.joined(separator: ", ")); the credential works for them once they are")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List credentials (never a token or a hash).")

        @Option(help: "json (default, for scripts) or table (aligned columns, ISO-8601 UTC times).")
        var output: OutputFormat = .json

        @OptionGroup var target: ClientsTargetOptions

        func run() async throws {
            var response = Waybill_V1_ListCredentialsResponse()
            response.credentials = try await target.list()
            CallOutput.print(response, as: output)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a credential: every token of it stops working (idempotent).")

        @Argument(help: "The credential's name.")
        var name: String

        @OptionGroup var target: ClientsTargetOptions

        func run() async throws {
            let (credential, already) = try await target.revoke(name)
            let at = TableText.iso8601(milliseconds: credential.revokedAtUnixMs)
            note(already ? "credential \(name) was already revoked (at \(at))" : "revoked credential \(name) at \(at)")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a credential a new token (printed once); the old one keeps working for a grace period.")

        @Argument(help: "The credential's name.")
        var name: String

        @Option(help: ArgumentHelp("How long the old token keeps working (24h by default, at most 30d; 0 = it stops now).", valueName: "duration"))
        var grace: String?

        @OptionGroup var target: ClientsTargetOptions

        func run() async throws {
            let graceSeconds = try grace.map { try parseDuration($0, option: "--grace", allowZero: true) }
            let (credential, token) = try await target.rotate(name, graceSeconds: graceSeconds)
            print(token)
            if credential.rotationGraceRunning {
                note("rotated credential \(name): its new token, above, is shown only this once; the previous token works until "
                     + TableText.iso8601(milliseconds: credential.rotationGraceUntilUnixMs))
            } else {
                note("rotated credential \(name): its new token, above, is shown only this once; the previous token no longer works")
            }
        }
    }
}

extension Role: ExpressibleByArgument {}

/// Where `waybill clients` makes its changes: the database file, or a server's CredentialService.
struct ClientsTargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Change the server's SQLite file directly (offline; works while the server runs).", valueName: "file"))
    var database: String?

    @Option(help: ArgumentHelp("Call the server at HOST:PORT (CredentialService, as an admin).", valueName: "host:port"))
    var target: String?

    /// With --target: TLS and the admin token (--token-file, $WAYBILL_TOKEN, …).
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (database == nil) != (target == nil) else {
            throw ValidationError("name either --database FILE (offline) or --target HOST:PORT (through the server)")
        }
        if database != nil, connection.tokenFile != nil || connection.tlsCA != nil || connection.tlsWithSystemRoots {
            throw ValidationError("--token-file and the --tls options go with --target, not --database")
        }
    }

    // MARK: Offline

    private func withDatabase<T>(_ body: (WaybillDatabase) throws -> T) throws -> T {
        guard let database else { preconditionFailure("validate() requires --database or --target") }
        guard FileManager.default.fileExists(atPath: database) else {
            throw ValidationError("--database \(database): no such file (the server creates it at its first start)")
        }
        let opened: WaybillDatabase
        do {
            opened = try WaybillDatabase(path: database, readers: 1, logger: Logger(label: "waybill") { _ in SwiftLogNoOpLogHandler() })
        } catch {
            throw CLIError("cannot open \(database): \(error)")
        }
        return try body(opened)
    }

    /// Who acted, as recorded: the operating-system user that changed the file.
    private var offlineActor: String {
        let environment = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 }
        return "offline: " + (environment ?? NSUserName())
    }
    private var now: Timestamp { Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)) }

    private func offline(_ change: CredentialChange) throws -> CredentialChangeResult {
        try withDatabase { database in
            do {
                return try database.applyCredentialChange(change, actor: offlineActor, now: now, limits: CredentialLimits())
            } catch let error as DomainError {
                throw CLIError("\(error.code.rawValue): \(error.message)")
            }
        }
    }

    // MARK: Online

    private func withServer<T: Sendable>(_ body: (WaybillClient) async throws -> T) async throws -> T {
        guard let target else { preconditionFailure("validate() requires --database or --target") }
        return try await withClient(target, clientID: "waybill-clients", connection: connection, body)
    }

    // MARK: Operations

    func create(_ request: CredentialRequest) async throws -> (Waybill_V1_Credential, String, [String]) {
        if database != nil {
            let token = AccessToken.generate()
            let result = try offline(.create(request, tokenHash: AccessToken.hash(token)))
            return (result.credential!.proto(at: now), token, result.locationsNotInNetwork)
        }
        var message = Waybill_V1_CreateCredentialRequest()
        message.name = request.name
        message.role = request.role.proto
        // Unknown channel names go as they are written: the server's refusal names them.
        var channels: [Waybill_V1_Channel] = []
        for (index, text) in request.channels.enumerated() {
            guard let name = CredentialRules.channelName(text), let channel = Channel.allCases.first(where: { $0.name == name }) else {
                throw ValidationError("--channels: unknown channel \"\(text)\" at position \(index + 1) (known: \(Channel.allCases.map(\.name).joined(separator: ", ")))")
            }
            channels.append(channel.proto)
        }
        message.channels = channels
        message.locations = request.locations
        message.expiresInSeconds = request.expiresInSeconds ?? 0
        message.certificateSubject = request.certificateSubject ?? ""
        let response = try await withServer { try await $0.createCredential(message) }
        return (response.credential, response.token, response.locationsNotInNetwork)
    }

    func list() async throws -> [Waybill_V1_Credential] {
        if database != nil {
            let now = self.now
            return try withDatabase { try $0.credentialSnapshot().credentials.map { $0.proto(at: now) } }
        }
        return try await withServer { client in
            var all: [Waybill_V1_Credential] = []
            var request = Waybill_V1_ListCredentialsRequest()
            request.pageSize = 1_000
            while true {
                let page = try await client.listCredentials(request)
                all += page.credentials
                if page.nextPageToken.isEmpty { return all }
                request.pageToken = page.nextPageToken
            }
        }
    }

    func revoke(_ name: String) async throws -> (Waybill_V1_Credential, Bool) {
        if database != nil {
            let result = try offline(.revoke(name: name))
            return (result.credential!.proto(at: now), result.alreadyRevoked)
        }
        var request = Waybill_V1_RevokeCredentialRequest()
        request.name = name
        let response = try await withServer { try await $0.revokeCredential(request) }
        return (response.credential, response.alreadyRevoked)
    }

    func rotate(_ name: String, graceSeconds: Int64?) async throws -> (Waybill_V1_Credential, String) {
        if database != nil {
            let token = AccessToken.generate()
            let result = try offline(.rotate(name: name, tokenHash: AccessToken.hash(token), graceSeconds: graceSeconds))
            return (result.credential!.proto(at: now), token)
        }
        var request = Waybill_V1_RotateCredentialRequest()
        request.name = name
        if graceSeconds == 0 { request.endPreviousNow = true } else { request.graceSeconds = graceSeconds ?? 0 }
        let response = try await withServer { try await $0.rotateCredential(request) }
        return (response.credential, response.token)
    }
}

/// Comma-separated values, trimmed, empty ones dropped.
private func list(_ text: String?) -> [String] {
    (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// A line on stderr (stdout carries only tokens and listings).
private func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Seconds of "90d", "12h", "30m", "45s", "2w" or a plain number of seconds.
func parseDuration(_ text: String, option: String, allowZero: Bool = false) throws -> Int64 {
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
    var digits = Substring(text), multiplier: Int64 = 1
    if let last = text.last, let unit = units[last] {
        digits = text.dropLast()
        multiplier = unit
    }
    guard let value = Int64(digits), value >= 0, value <= Int64.max / multiplier / 1_000 else {
        throw ValidationError("\(option): expected a duration like 90d, 24h, 30m or 3600s, got \(text)")
    }
    if value == 0 && !allowZero { throw ValidationError("\(option): must be longer than 0") }
    return value * multiplier
}
