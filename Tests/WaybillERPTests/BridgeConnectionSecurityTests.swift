// The bridge's side of Waybill's security: it reads the feed over TLS as an erp credential (the
// `waybill erp-bridge` process with --tls-ca and --token-file), and a bridge without a valid
// credential, or one that does not trust the server's certificate, delivers nothing and says why.

import Foundation
import Logging
import Testing
import WaybillClient
import WaybillERP
import WaybillServer
import WaybillTLS

@Suite("The bridge's connection to Waybill")
struct BridgeConnectionSecurityTests {
    /// A throwaway CA in `directory` and an in-process server speaking TLS with its certificate.
    static func tlsServer(_ name: String, directory: String) async throws -> (server: InProcessServer, caPath: String) {
        var authority = try ThrowawayCertificateAuthority(name: "ERP tests CA")
        let caPath = try authority.write(to: directory)
        let issued = try authority.issueServerCertificate(in: directory)
        let server = try await InProcessServer.start(name, clock: nil) { configuration in
            configuration.tls = ServerTLSConfiguration(certificateChainPath: issued.certificatePath, privateKeyPath: issued.privateKeyPath)
        }
        return (server, caPath)
    }

    static func adminClient(_ server: InProcessServer, caPath: String) async throws -> WaybillClient {
        var configuration = ClientConfiguration()
        configuration.token = TestCredentials.adminToken
        configuration.tls = .certificateAuthority(caPath)
        return try await WaybillClient.connect(server.address, configuration: configuration)
    }

    @Test("waybill erp-bridge --tls-ca --token-file: reads the feed over TLS as the erp credential and delivers signed webhooks")
    func processOverTLS() async throws {
        let directory = try temporaryDirectory("bridge-tls-process")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (server, caPath) = try await Self.tlsServer("bridge-tls-process", directory: directory)
        defer { Task { await server.stop() } }
        let client = try await Self.adminClient(server, caPath: caPath)
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        _ = try await client.captureOrder(TestNetwork.order("OVER-TLS", [("SKU-1", 1)]))
        let head = try await client.feedInfo().headOffset
        let erp = FakeErp()
        let port = try await erp.start()
        defer { Task { await erp.stop() } }

        let bridge = try Child("bridge", arguments: [
            "erp-bridge", "--server", server.address, "--tls-ca", caPath, "--token-file", try TestCredentials.tokenFile(in: directory),
            "--consumer", "erp-tls", "--state-dir", directory + "/state", "--webhook", "http://127.0.0.1:\(port)/erp",
            "--webhook-secret-file", try TestSecrets.file(in: directory), "--ack-interval-ms", "10", "--log-level", "info",
        ], log: directory + "/bridge.log")
        defer { bridge.kill() }
        try await eventually("the bridge delivers every event over TLS", timeout: .seconds(60)) {
            guard bridge.isRunning else { throw TestFailure("the bridge exited: \(bridge.output)") }
            return erp.distinctEventIDs.count >= Int(head)
        }
        #expect(erp.received.allSatisfy { !$0.signature.isEmpty })
        try await eventually("the erp credential's consumer is acknowledged") {
            try await client.feedInfo().consumers.first { $0.consumer == "erp-tls" }?.acknowledgedOffset == head
        }
        await bridge.terminate()
        #expect(bridge.output.contains("authenticated=yes"))
        #expect(!bridge.output.contains(TestCredentials.erpToken))
    }

    @Test("no token, an unknown token, or a server certificate it does not trust: nothing delivered, and the reason logged")
    func refusedConnections() async throws {
        let directory = try temporaryDirectory("bridge-tls-refused")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (server, caPath) = try await Self.tlsServer("bridge-tls-refused", directory: directory)
        defer { Task { await server.stop() } }
        let client = try await Self.adminClient(server, caPath: caPath)
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        _ = try await client.captureOrder(TestNetwork.order("REFUSED-BRIDGE", [("SKU-1", 1)]))
        let erp = FakeErp()
        let port = try await erp.start()
        defer { Task { await erp.stop() } }
        var another = try ThrowawayCertificateAuthority(name: "Another CA")
        let anotherCA = try another.write(to: directory + "/another")

        let unknownToken = "wbt_" + String(repeating: "A", count: 43)
        let cases: [(name: String, token: String?, ca: String, expected: String)] = [
            ("no token", nil, caPath, "refused the bridge's credential"),
            ("unknown token", unknownToken, caPath, "refused the bridge's credential"),
            ("another CA", TestCredentials.erpToken, anotherCA, "change feed unavailable"),
        ]
        for (index, refusal) in cases.enumerated() {
            var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "refused-\(index)",
                                                                  url: "http://127.0.0.1:\(port)/erp", stateDirectory: directory + "/state-\(index)")
            configuration.connection.token = refusal.token
            configuration.connection.tls = .certificateAuthority(refusal.ca)
            // Slow reconnections: every refused attempt counts against the server's per-peer throttle.
            configuration.limits.reconnectBaseMilliseconds = 1_000
            configuration.limits.reconnectMaxMilliseconds = 2_000
            let log = CapturedLog()
            let bridge = try ErpBridge(configuration: configuration, logger: log.logger("bridge"))
            let running = Task { try await bridge.run() }
            try await eventually("\(refusal.name): the bridge logs why it cannot read the feed", timeout: .seconds(30)) {
                log.text.contains(refusal.expected)
            }
            running.cancel()
            _ = try? await running.value
            let status = await bridge.makeStatus()
            #expect(status.delivered == 0, "\(refusal.name)")
            if refusal.ca == anotherCA {
                #expect(status.lastError.lowercased().contains("certificate"), "\(refusal.name): \(status.lastError)")
            } else {
                #expect(status.lastError.contains("UNAUTHENTICATED"), "\(refusal.name): \(status.lastError)")
            }
            #expect(!log.text.contains(unknownToken) && !log.text.contains(TestCredentials.erpToken))
        }
        #expect(erp.received.isEmpty)
        #expect(try await client.feedInfo().consumers.allSatisfy { !$0.consumer.hasPrefix("refused-") })
    }
}
