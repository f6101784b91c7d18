// `waybill bench tls-handshakes`: how many TLS connections per second an embedded server accepts
// (full handshakes: P-256 certificates from a throwaway CA, TLS 1.3, no session resumption), with
// the plaintext connect rate of the same run beside it. Client and server share this machine.

import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Synchronization
import WaybillApplication
import WaybillClient
import WaybillServer
import WaybillTLS

struct TLSHandshakeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls-handshakes",
        abstract: "TLS handshakes per second against an embedded server (connect, handshake, close), beside plaintext connects.")

    @Option(help: "Seconds measured per variant and round.") var seconds = 5
    @Option(help: "Connections opened at once (each connects, completes its handshake, closes, again).") var concurrency = 4
    @Option(help: "Rounds (plaintext then TLS, alternating which goes first); figures are per round and the median.") var repeats = 3
    @Flag(help: "Mutual TLS: the server requires client certificates and each connection presents one.") var mutual = false
    @Option(help: "Server event loop threads (0 = one per core).") var serverThreads = 0
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    struct Report: Codable {
        var seconds: Int
        var concurrency: Int
        var mutualTLS: Bool
        var tlsHandshakesPerSecond: [Double]
        var plaintextConnectsPerSecond: [Double]
        var medianTLSHandshakesPerSecond: Double
        var medianPlaintextConnectsPerSecond: Double
        /// Process CPU (client and server together: one process) per connection, median of the rounds.
        var tlsCPUMicrosecondsPerHandshake: Double
        var plaintextCPUMicrosecondsPerConnect: Double
        var failures: Int
    }

    func run() async throws {
        guard seconds > 0, concurrency > 0, repeats > 0 else { throw ValidationError("--seconds, --concurrency and --repeats must be positive") }
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-tls-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var authority = try ThrowawayCertificateAuthority(name: "waybill bench CA")
        let caPath = try authority.write(to: directory)
        let serverFiles = try authority.issueServerCertificate(in: directory)
        var clientTLS = ClientTLSConfiguration.certificateAuthority(caPath)
        if mutual {
            let clientFiles = try authority.issueClientCertificate(commonName: "bench-client", in: directory)
            clientTLS.certificateChainPath = clientFiles.certificatePath
            clientTLS.privateKeyPath = clientFiles.privateKeyPath
        }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = (directory as NSString).appendingPathComponent("bench.sqlite")
        configuration.eventLoopThreads = serverThreads
        // Connections make no call; one credential keeps the server from warning that it has none.
        configuration.credentials = [CredentialSeed(name: "bench-admin", role: .admin, token: AccessToken.generate())]
        configuration.tls = ServerTLSConfiguration(certificateChainPath: serverFiles.certificatePath, privateKeyPath: serverFiles.privateKeyPath,
                                                   clientCertificateAuthorityPath: mutual ? caPath : nil)
        let tlsServer = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        configuration.tls = nil
        configuration.databasePath = (directory as NSString).appendingPathComponent("bench-plaintext.sqlite")
        let plaintextServer = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var tlsRates: [Double] = [], plaintextRates: [Double] = []
        var tlsCPU: [Double] = [], plaintextCPU: [Double] = []
        var failures = 0
        // Warm-up: contexts built, code paths hot.
        _ = await connectLoop(port: tlsServer.port, tls: clientTLS, group: group, seconds: 1)
        for round in 0..<repeats {
            for variant in round % 2 == 0 ? [false, true] : [true, false] {
                let cpuBefore = processCPUNanoseconds()
                let result = await connectLoop(port: variant ? tlsServer.port : plaintextServer.port, tls: variant ? clientTLS : nil,
                                               group: group, seconds: seconds)
                failures += result.failures
                let rate = Double(result.connections) / result.elapsedSeconds
                let cpu = Double(processCPUNanoseconds() - cpuBefore) / 1_000 / Double(max(1, result.connections))
                if variant { tlsRates.append(rate); tlsCPU.append(cpu) } else { plaintextRates.append(rate); plaintextCPU.append(cpu) }
                print(String(format: "round %d %@: %.0f connections/s (%d in %.1f s, %d failed), %.0f µs of process CPU each",
                             round + 1, variant ? "TLS" : "plaintext", rate, result.connections, result.elapsedSeconds, result.failures, cpu))
            }
        }
        await tlsServer.shutdown()
        await plaintextServer.shutdown()
        try? await group.shutdownGracefully()
        let report = Report(seconds: seconds, concurrency: concurrency, mutualTLS: mutual, tlsHandshakesPerSecond: tlsRates,
                            plaintextConnectsPerSecond: plaintextRates, medianTLSHandshakesPerSecond: median(tlsRates),
                            medianPlaintextConnectsPerSecond: median(plaintextRates), tlsCPUMicrosecondsPerHandshake: median(tlsCPU),
                            plaintextCPUMicrosecondsPerConnect: median(plaintextCPU), failures: failures)
        print(String(format: "TLS handshakes: median %.0f/s (%@), %.0f µs CPU each; plaintext connects: median %.0f/s, %.0f µs CPU each; %d concurrent, %@, %d failures",
                     report.medianTLSHandshakesPerSecond, tlsRates.map { String(format: "%.0f", $0) }.joined(separator: ", "),
                     report.tlsCPUMicrosecondsPerHandshake, report.medianPlaintextConnectsPerSecond, report.plaintextCPUMicrosecondsPerConnect,
                     concurrency, mutual ? "mutual TLS" : "server certificate only", failures))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// `concurrency` tasks connect (awaiting the handshake), close, and again, for `seconds`.
    private func connectLoop(port: Int, tls: ClientTLSConfiguration?, group: MultiThreadedEventLoopGroup, seconds: Int)
        async -> (connections: Int, failures: Int, elapsedSeconds: Double) {
        let counts = ConnectCounts()
        let concurrency = self.concurrency
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        await withTaskGroup(of: Void.self) { tasks in
            for _ in 0..<concurrency {
                tasks.addTask {
                    var configuration = ClientConfiguration()
                    configuration.tls = tls
                    configuration.clientID = "bench-tls"
                    while ContinuousClock.now < deadline {
                        do {
                            let client = try await WaybillClient.connect(host: "127.0.0.1", port: port, configuration: configuration, group: group)
                            await client.close()
                            counts.connections.add(1, ordering: .relaxed)
                        } catch {
                            counts.failures.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        return (counts.connections.load(ordering: .relaxed), counts.failures.load(ordering: .relaxed),
                Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

private final class ConnectCounts: Sendable {
    let connections = Atomic(0)
    let failures = Atomic(0)
}
