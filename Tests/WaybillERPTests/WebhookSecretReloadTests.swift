// A rotation without a restart: the running bridge reads its webhook secret file again when it
// changes, signs with the new secrets from then on, and keeps the old ones when the new file does
// not qualify (a mode others may read).

import Foundation
import Testing
import WaybillClient
import WaybillERP

@Suite("Webhook secret reload")
struct WebhookSecretReloadTests {
    /// Replaces `path` atomically (write a temporary file with `mode`, rename it over).
    static func replace(_ path: String, with secrets: [String], mode: mode_t = 0o600) throws {
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((secrets.joined(separator: "\n") + "\n").utf8)),
              chmod(temporary, mode) == 0, rename(temporary, path) == 0 else { throw TestFailure("cannot replace \(path)") }
    }

    @Test("a changed secret file is signed with from the next delivery; a file others may read is refused and the old secrets kept")
    func reloadsOnChange() async throws {
        let directory = try temporaryDirectory("secret-reload")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await InProcessServer.start("secret-reload", clock: nil)
        defer { Task { await server.stop() } }
        let client = try await server.client()
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let erp = FakeErp()
        let port = try await erp.start()
        defer { Task { await erp.stop() } }
        let file = try TestSecrets.file(in: directory, [TestSecrets.first])
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "reload", url: "http://127.0.0.1:\(port)/erp",
                                                              stateDirectory: directory + "/state")
        configuration.webhookSecrets = try WebhookSecrets.load(file: file)
        configuration.webhookSecretFile = file
        configuration.limits.webhookSecretReloadCheckMilliseconds = 20
        let log = CapturedLog()
        let bridge = try ErpBridge(configuration: configuration, logger: log.logger("bridge"))
        let running = Task { try await bridge.run() }

        /// Captures an order, waits for its events, and returns the v1 signatures they carried.
        func deliver(_ external: String) async throws -> [[String]] {
            _ = try await client.captureOrder(TestNetwork.order(external, [("SKU-1", 1)]))
            let head = try await client.feedInfo().headOffset
            try await bridge.delivered(through: head, timeout: .seconds(60))
            return try erp.received.filter { $0.message.externalOrderId == external }.map { delivery in
                let parsed = try #require(WebhookDeliveryTests.parse(delivery.signature))
                // Each signature checked against the secrets it should be made with, in the order sent.
                return [TestSecrets.first, TestSecrets.second].compactMap { secret in
                    let expected = WebhookDeliveryTests.hmacHex(secret: secret, timestamp: parsed.timestamp, body: delivery.body)
                    return parsed.signatures.contains(expected) ? secret : nil
                } + ["count=\(parsed.signatures.count)"]
            }
        }

        let before = try await deliver("RELOAD-BEFORE")
        #expect(!before.isEmpty && before.allSatisfy { $0 == [TestSecrets.first, "count=1"] }, "\(before)")

        try Self.replace(file, with: [TestSecrets.second, TestSecrets.first])
        try await eventually("the bridge reloads the secret file") { log.text.contains("webhook secrets reloaded") }
        let rotating = try await deliver("RELOAD-ROTATING")
        #expect(!rotating.isEmpty && rotating.allSatisfy { $0 == [TestSecrets.first, TestSecrets.second, "count=2"] }, "\(rotating)")

        try Self.replace(file, with: [TestSecrets.second], mode: 0o644)
        try await eventually("the bridge refuses the 0644 file") { log.text.contains("webhook secret reload failed") }
        #expect(await bridge.makeStatus().lastError.contains("mode 644"))
        let kept = try await deliver("RELOAD-KEPT")
        #expect(!kept.isEmpty && kept.allSatisfy { $0 == [TestSecrets.first, TestSecrets.second, "count=2"] }, "\(kept)")

        try Self.replace(file, with: [TestSecrets.second])
        try await eventually("the bridge reloads the fixed file") {
            log.all.filter { $0.contains("webhook secrets reloaded") }.count >= 2
        }
        let after = try await deliver("RELOAD-AFTER")
        #expect(!after.isEmpty && after.allSatisfy { $0 == [TestSecrets.second, "count=1"] }, "\(after)")
        running.cancel()
        _ = try? await running.value
        #expect(!log.text.contains(TestSecrets.first) && !log.text.contains(TestSecrets.second))
    }
}
