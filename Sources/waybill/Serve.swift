// `waybill serve`: run the server until SIGTERM/SIGINT, then drain and stop.

import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WaybillCore
import WaybillConsole
import WaybillServer
import WaybillStore
import WaybillTLS

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Waybill server.")

    @Option(help: "SQLite database file (created if missing).")
    var db = "./waybill.sqlite"

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:7400"

    @Option(help: "Admin HTTP listener HOST:PORT for GET /metrics (Prometheus), /healthz and /readyz; 'off' for none.")
    var adminListen = "127.0.0.1:7401"

    @Option(help: "Standard gRPC (HTTP/2; TLS with --tls-cert) listener HOST:PORT serving the same methods (docs/GRPC.md); 'off' for none; 'auto' = 127.0.0.1:7402 with the default --listen, else a free port on the --listen host (logged).")
    var grpcListen = "auto"

    @Option(help: "Operator console (web pages: orders, queues, inventory, integration, simulations, live figures) HOST:PORT; 'off' for none; 'auto' = 127.0.0.1:7404 with the default --listen, else a free loopback port (logged). Sign in with a credential token (docs/CONSOLE.md).")
    var consoleListen = "auto"

    @Option(help: "Directory of simulation runs (each <run>/report.json and report.html) the console lists and compares.")
    var consoleReports: String?

    @Flag(help: "Mark the console's session cookie Secure (set when a TLS proxy fronts the console).")
    var consoleSecureCookies = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Event loop threads (0 = one per core).")
    var threads = 0

    @Option(help: "Seconds a graceful shutdown (SIGTERM) waits for calls in flight and connections to close (drainTimeoutMilliseconds).")
    var drainSeconds = 10

    @Option(help: "Change-feed events kept in memory for subscribers; older ones are read from SQLite (feedMemoryEventsMax).")
    var feedMemoryEvents = ServerConfiguration().feedMemoryEventsMax

    @Option(help: "Milliseconds change-feed events are kept once every consumer acknowledged them (feedRetentionMilliseconds).")
    var feedRetentionMs = ServerConfiguration().feedRetentionMilliseconds

    @Option(help: "How often change-feed retention runs, in milliseconds (pruneIntervalMilliseconds).")
    var pruneIntervalMs = ServerConfiguration().pruneIntervalMilliseconds

    @Option(help: ArgumentHelp(stringLiteral: ServeClock.help))
    var clock: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(
        "TLS on the protocol and gRPC ports: the certificate chain (PEM, server certificate first). Needs --tls-key.", valueName: "pem"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp(
        "The certificate's private key (PEM; refused unless only its owner can read it: chmod 600).", valueName: "pem"))
    var tlsKey: String?

    @Option(name: .customLong("tls-client-ca"), help: ArgumentHelp(
        "Mutual TLS: require client certificates signed by a CA in this PEM bundle.", valueName: "pem"))
    var tlsClientCA: String?

    @Option(help: "How often the TLS files are checked for replacement, in milliseconds (tlsReloadCheckIntervalMilliseconds; 0 = only on SIGHUP). SIGHUP reloads them at once.")
    var tlsReloadCheckMs: Int64 = 1_000

    @Flag(help: "Allow listening on a non-loopback address without TLS, or with no credential (refused otherwise: docs/SECURITY.md).")
    var insecure = false

    @OptionGroup var credentialOptions: ServeCredentialOptions

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Calls and commits take tens of microseconds to milliseconds: the default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.valueHistogramBuckets["waybill_writer_batch_jobs"] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]
        MetricsSystem.bootstrap(factory)
        var configuration = ServerConfiguration()
        let (host, port) = try parseListen(listen)
        configuration.host = host
        configuration.port = port
        configuration.databasePath = db
        if adminListen != "off" {
            let (adminHost, adminPort) = try parseListen(adminListen, option: "--admin-listen")
            configuration.adminHost = adminHost
            configuration.adminPort = adminPort
        }
        switch grpcListen {
        case "off": break
        case "auto":
            configuration.grpcHost = host
            configuration.grpcPort = port == 7400 ? 7402 : 0
        default:
            let (grpcHost, grpcPort) = try parseListen(grpcListen, option: "--grpc-listen")
            configuration.grpcHost = grpcHost
            configuration.grpcPort = grpcPort
        }
        configuration.eventLoopThreads = threads
        configuration.drainTimeoutMilliseconds = Int64(drainSeconds) * 1000
        guard feedMemoryEvents >= 1, feedRetentionMs >= 0, pruneIntervalMs >= 1 else {
            throw ValidationError("--feed-memory-events and --prune-interval-ms must be at least 1, --feed-retention-ms at least 0")
        }
        configuration.feedMemoryEventsMax = feedMemoryEvents
        configuration.feedRetentionMilliseconds = feedRetentionMs
        configuration.pruneIntervalMilliseconds = pruneIntervalMs
        configuration.metricsText = { registry.emitToString() }
        if let clock { configuration.clock = try ServeClock.parse(clock) }
        configuration.tls = try serverTLS()
        configuration.insecure = insecure
        try credentialOptions.apply(to: &configuration)
        let logger = Logger(label: "waybill")
        do {
            // Lifecycle services until SIGTERM/SIGINT, then drained and stopped in reverse order.
            let console = try consoleConfiguration(serverInsecure: insecure)
            try await WaybillServer.runUntilSignalled(configuration: configuration, logger: logger) { started in
                console.map { [ConsoleService(started: started, configuration: $0, logger: logger)] } ?? []
            }
        } catch {
            // A damaged file is the operator's to repair: say so plainly instead of a raw SQLite error.
            guard let damage = DatabaseCheck.damage(in: error) else { throw error }
            FileHandle.standardError.write(Data(("waybill serve: the database file is damaged: \(damage) (\(db)); "
                + "run `waybill check --db \(db)` for details and restore the last backup (docs/OPERATIONS.md)\n").utf8))
            throw ExitCode(Self.damagedDatabaseExitCode)
        }
    }

    /// --console-listen and its options (nil = 'off'). The console has no TLS of its own: off
    /// loopback it needs a TLS proxy in front (--console-secure-cookies) or --insecure.
    func consoleConfiguration(serverInsecure: Bool) throws -> ConsoleConfiguration? {
        guard consoleListen != "off" else { return nil }
        var console = ConsoleConfiguration()
        if consoleListen == "auto" {
            console.host = "127.0.0.1"
            console.port = try parseListen(listen).1 == 7400 ? 7404 : 0
        } else {
            (console.host, console.port) = try parseListen(consoleListen, option: "--console-listen")
        }
        console.secureCookies = consoleSecureCookies
        console.reportsDirectory = consoleReports ?? (FileManager.default.fileExists(atPath: "sim-report") ? "." : nil)
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(console.host)
        if !loopback && !consoleSecureCookies && !serverInsecure {
            throw ValidationError("--console-listen \(consoleListen) is not loopback: put a TLS proxy in front and pass --console-secure-cookies, or --insecure (docs/CONSOLE.md)")
        }
        return console
    }

    /// --tls-cert/--tls-key/--tls-client-ca as a configuration (nil without them).
    func serverTLS() throws -> ServerTLSConfiguration? {
        guard let tlsCertificate, let tlsKey else {
            if tlsCertificate != nil || tlsKey != nil || tlsClientCA != nil {
                throw ValidationError("TLS needs both --tls-cert and --tls-key (--tls-client-ca adds mutual TLS to them)")
            }
            return nil
        }
        guard tlsReloadCheckMs >= 0 else { throw ValidationError("--tls-reload-check-ms must be at least 0") }
        var tls = ServerTLSConfiguration(certificateChainPath: tlsCertificate, privateKeyPath: tlsKey, clientCertificateAuthorityPath: tlsClientCA)
        tls.reloadCheckIntervalMilliseconds = tlsReloadCheckMs
        tls.reloadsOnHangupSignal = true
        return tls
    }

    /// Exit status of `waybill serve` when the database file is damaged.
    static let damagedDatabaseExitCode: Int32 = 3
}

func parseListen(_ address: String, option: String = "--listen") throws -> (String, Int) {
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0..<65_536).contains(port) else {
        throw ValidationError("\(option) must be HOST:PORT, got \(address)")
    }
    return (String(address[..<colon]), port)
}
