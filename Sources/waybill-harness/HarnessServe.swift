// `waybill-harness serve`: `waybill serve`'s server and lifecycle, with WaybillFaultInjection's
// write delay. Only the flags the tests use; the log is `waybill serve`'s (same lines, same format).

import ArgumentParser
import Foundation
import Logging
import WaybillApplication
import WaybillFaultInjection
import WaybillServer

struct HarnessServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Waybill server as `waybill serve` does, each write slowed by --inject-write-delay-microseconds.")

    @Option(help: "SQLite database file (created if missing).")
    var db = "./waybill.sqlite"

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:7400"

    @Option(help: "Admin HTTP listener HOST:PORT (/healthz, /readyz; /metrics without a metrics backend); 'off' for none.")
    var adminListen = "127.0.0.1:7401"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Event loop threads (0 = one per core).")
    var threads = 0

    @Option(help: "Seconds a graceful shutdown (SIGTERM) waits for calls in flight and connections to close.")
    var drainSeconds = 10

    @Option(help: "Microseconds of delay before every writer job (0 = none): a slower write path.")
    var injectWriteDelayMicroseconds = 0

    @Option(help: "A file holding the token of an admin credential the server is given (tests' callers use it).")
    var adminTokenFile: String?

    func run() async throws {
        guard injectWriteDelayMicroseconds >= 0 else { throw ValidationError("--inject-write-delay-microseconds must be at least 0") }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = ServerConfiguration()
        (configuration.host, configuration.port) = try Self.address(listen, option: "--listen")
        configuration.databasePath = db
        if adminListen != "off" {
            let admin = try Self.address(adminListen, option: "--admin-listen")
            configuration.adminHost = admin.host
            configuration.adminPort = admin.port
        }
        configuration.eventLoopThreads = threads
        configuration.drainTimeoutMilliseconds = Int64(drainSeconds) * 1000
        configuration.writeJobInterceptor = WriteDelay.forOption(injectWriteDelayMicroseconds)
        if let adminTokenFile {
            let token = try String(contentsOfFile: adminTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            configuration.credentials = [CredentialSeed(name: "harness-admin", role: .admin, token: token)]
        }
        try await WaybillServer.runUntilSignalled(configuration: configuration, logger: Logger(label: "waybill"))
    }

    private static func address(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0..<65_536).contains(port) else {
            throw ValidationError("\(option) must be HOST:PORT, got \(text)")
        }
        return (String(text[..<colon]), port)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
