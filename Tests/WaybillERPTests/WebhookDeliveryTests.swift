// Signed deliveries as they leave a real bridge: the signature checked with an HMAC computed here
// from the raw bytes received, TLS verification of the webhook client against a throwaway CA, and
// the secrets and the bridge's token never in its logs (in process at trace level, and the
// `waybill erp-bridge` process's own output).

import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import WaybillClient
import WaybillERP

@Suite("Signed webhook deliveries")
struct WebhookDeliveryTests {
    /// The header's t and v1 values, parsed here (not with the code under test).
    static func parse(_ header: String) -> (timestamp: Int64, signatures: [String])? {
        var timestamp: Int64?
        var signatures: [String] = []
        for element in header.split(separator: ",") {
            let parts = element.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            if parts[0] == "t" { timestamp = Int64(parts[1]) } else if parts[0] == "v1" { signatures.append(parts[1]) }
        }
        return timestamp.map { ($0, signatures) }
    }

    static func hmacHex(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    static func message(offset: UInt64) throws -> ErpMessage {
        try ErpMessage.decode(Data("""
            {"idempotencyKey":"evt-\(offset)","eventId":"evt-\(offset)","offset":\(offset),"type":"inventory.received",\
            "aggregateType":"inventory","aggregateId":"SKU-1@WH-1","aggregateSequence":\(offset),"occurredAtUnixMs":0}
            """.utf8))
    }

    @Test("every delivery of a running bridge is signed over its exact bytes with a current timestamp; a retry is signed again")
    func deliveriesAreSigned() async throws {
        let server = try await InProcessServer.start("signed-deliveries", clock: nil)
        defer { Task { await server.stop() } }
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        // The first attempt of every third event is answered 503: its retry must carry its own signature.
        let erp = FakeErp { message, attempt in attempt == 1 && message.offset % 3 == 0 ? .serviceUnavailable : .ok }
        let port = try await erp.start()
        defer { Task { await erp.stop() } }
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "signed", url: "http://127.0.0.1:\(port)/erp",
                                                              stateDirectory: try temporaryDirectory("signed-deliveries-state"))
        configuration.webhookSecrets = try WebhookSecrets([TestSecrets.first, TestSecrets.second])
        configuration.limits.backoffBaseMilliseconds = 2
        configuration.limits.backoffMaxMilliseconds = 20
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        let started = Int64(Date().timeIntervalSince1970)
        for number in 0..<6 { _ = try await client.captureOrder(TestNetwork.order("SIGNED-\(number)", [("SKU-1", 1)])) }
        let head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head, timeout: .seconds(60))
        running.cancel()
        _ = try? await running.value
        let finished = Int64(Date().timeIntervalSince1970)

        let received = erp.received
        #expect(received.count >= Int(head))
        #expect(received.contains { $0.message.offset % 3 == 0 })
        for delivery in received {
            let parsed = try #require(Self.parse(delivery.signature), "no or malformed Waybill-Signature: \(delivery.signature)")
            #expect(parsed.timestamp >= started - 1 && parsed.timestamp <= finished + 1)
            #expect(parsed.signatures == [Self.hmacHex(secret: TestSecrets.first, timestamp: parsed.timestamp, body: delivery.body),
                                          Self.hmacHex(secret: TestSecrets.second, timestamp: parsed.timestamp, body: delivery.body)])
            #expect(UUID(uuidString: delivery.deliveryId) != nil, "Waybill-Delivery-Id: \(delivery.deliveryId)")
            #expect(delivery.idempotencyKey == delivery.message.eventId)
        }
        #expect(Set(received.map(\.deliveryId)).count == received.count, "a delivery id is never reused")
        await client.close()
    }

    @Test("the webhook client verifies TLS: a private CA's certificate is trusted only with --webhook-ca")
    func tlsVerification() async throws {
        let directory = try temporaryDirectory("webhook-tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try TestCertificates.make()
        let erp = HTTPSErp()
        let port = try await erp.start(certificates)
        defer { Task { await erp.stop() } }
        let url = "https://127.0.0.1:\(port)/erp"

        let trusting = try WebhookTarget(url: url, requestTimeoutMilliseconds: 5_000, secrets: TestSecrets.current,
                                         trustedCertificatesFile: try certificates.writeCA(in: directory))
        #expect(await trusting.deliver([try Self.message(offset: 1)]) == .delivered)
        await trusting.shutdown()
        #expect(erp.count == 1)

        // The system's roots do not know the throwaway CA; another CA is not it either.
        let another = try TestCertificates.make(name: "Another CA")
        for trustedFile in [nil, try another.writeCA(in: directory)] {
            let target = try WebhookTarget(url: url, requestTimeoutMilliseconds: 2_000, secrets: TestSecrets.current, trustedCertificatesFile: trustedFile)
            let result = await target.deliver([try Self.message(offset: 2)])
            await target.shutdown()
            guard case .retry(let error, _) = result else {
                Issue.record("an unverifiable certificate must not be delivered to: \(result)")
                continue
            }
            #expect(error.lowercased().contains("certificate") || error.lowercased().contains("handshake"), "\(error)")
        }
        #expect(erp.count == 1)

        let garbage = directory + "/garbage.pem"
        try "not a certificate".write(toFile: garbage, atomically: true, encoding: .utf8)
        #expect(throws: BridgeConfigurationError.self) {
            try WebhookTarget(url: url, requestTimeoutMilliseconds: 5_000, secrets: TestSecrets.current, trustedCertificatesFile: garbage)
        }
    }

    @Test("401/403 (a refused signature) and redirects pause delivery instead of dead-lettering; redirects are not followed")
    func refusedSignaturePauses() async throws {
        let erp = ScriptedErp { message, _ in
            switch message.offset {
            case 1: .status(.unauthorized)
            case 2: .status(.forbidden)
            case 3: ScriptedAnswer(status: .movedPermanently, headers: [("Location", "http://127.0.0.1:1/elsewhere")])
            default: .status(.unprocessableEntity)
            }
        }
        let port = try await erp.start()
        defer { Task { await erp.stop() } }
        let target = try WebhookTarget.signed(url: "http://127.0.0.1:\(port)/erp")
        defer { Task { await target.shutdown() } }
        for offset: UInt64 in 1...3 {
            guard case .retry(let error, _) = await target.deliver([try Self.message(offset: offset)]) else {
                Issue.record("offset \(offset) must be transient")
                continue
            }
            #expect(error.contains(offset == 3 ? "redirects are not followed" : "check the webhook secret"), "\(error)")
        }
        #expect(await target.deliver([try Self.message(offset: 4)]) == .permanent("HTTP 422 "))
        #expect(erp.attempts.count == 4, "the redirect was not followed")
    }

    @Test("neither a webhook secret nor the bridge's token appears in its logs at trace level, whatever happens")
    func secretsNeverLogged() async throws {
        let server = try await InProcessServer.start("secrets-not-logged", clock: nil)
        defer { Task { await server.stop() } }
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let erp = FakeErp { message, attempt in
            if message.externalOrderId == "REFUSED" { return .unprocessableEntity }
            switch attempt {
            case 1: return .unauthorized
            case 2: return .internalServerError
            default: return .ok
            }
        }
        let port = try await erp.start()
        defer { Task { await erp.stop() } }
        let state = try temporaryDirectory("secrets-not-logged-state")
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "logged", url: "http://127.0.0.1:\(port)/erp",
                                                              stateDirectory: state)
        configuration.webhookSecrets = try WebhookSecrets([TestSecrets.first, TestSecrets.second])
        configuration.limits.backoffBaseMilliseconds = 2
        configuration.limits.backoffMaxMilliseconds = 20
        configuration.limits.statusIntervalMilliseconds = 20
        let log = CapturedLog()
        let bridge = try ErpBridge(configuration: configuration, logger: log.logger("bridge"))
        let running = Task { try await bridge.run() }
        _ = try await client.captureOrder(TestNetwork.order("LOGGED-1", [("SKU-1", 1)]))
        _ = try await client.captureOrder(TestNetwork.order("REFUSED", [("SKU-2", 1)]))
        let head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head, timeout: .seconds(60))
        running.cancel()
        _ = try? await running.value
        await client.close()

        let text = log.text
        // The capture worked: the start, the pauses, the dead letter and the progress were logged.
        #expect(text.contains("erp bridge starting") && text.contains("HMAC-SHA256 with 2 secrets"))
        #expect(text.contains("erp unavailable: delivery paused") && text.contains("HTTP 401"))
        #expect(text.contains("message dead-lettered") && text.contains("erp bridge progress"))
        #expect(text.contains("authenticated=yes"))
        let signatures = erp.received.flatMap { Self.parse($0.signature)?.signatures ?? [] }
        #expect(!signatures.isEmpty)
        for secret in [TestSecrets.first, TestSecrets.second, TestCredentials.erpToken] + signatures {
            #expect(!text.contains(secret), "a secret, token or signature was logged")
        }
        let letters = try DeadLetterStore(stateDirectory: state).list()
        let stored = String(decoding: try JSONEncoder().encode(letters), as: UTF8.self)
        #expect(letters.count == 1 && !stored.contains(TestSecrets.first) && !stored.contains(TestSecrets.second))
    }

    @Test("waybill erp-bridge: no secret, a 0644 secret file, two sources or a secret flag are refused; trace output holds no secret")
    func commandLine() async throws {
        let directory = try temporaryDirectory("erp-bridge-secrets-cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = ["erp-bridge", "--state-dir", directory + "/state", "--webhook", "http://127.0.0.1:1/erp", "--server", "127.0.0.1:1"]
        func refused(_ extra: [String], environment: [String: String] = [:], saying expected: String) async throws {
            let child = try Child("bridge", arguments: base + extra, environment: environment, log: directory + "/refused-\(UUID().uuidString).log")
            #expect(await child.finish() != 0, "\(extra) was accepted")
            #expect(child.output.contains(expected), "\(extra): \(child.output)")
            #expect(!child.output.contains(TestSecrets.first))
        }
        try await refused([], saying: "--webhook-secret-file")
        try await refused(["--webhook-secret-file", try TestSecrets.file(in: directory, mode: 0o644)], saying: "mode 644")
        try await refused(["--webhook-secret", TestSecrets.first], saying: "--webhook-secret")
        try await refused(["--webhook-secret-file", try TestSecrets.file(in: directory)], environment: ["WAYBILL_WEBHOOK_SECRET": TestSecrets.second],
                          saying: "not both")
        try await refused(["--unsigned-webhooks", "--webhook-secret-file", try TestSecrets.file(in: directory)], saying: "contradict")
        try await refused(["--webhook", "http://erp.example/x"], environment: ["WAYBILL_WEBHOOK_SECRET": TestSecrets.first], saying: "--plaintext-webhook")

        // A bridge at trace level with two secrets and a token, reconnecting to a server that is not there.
        let token = directory + "/erp.token"
        try (TestCredentials.erpToken + "\n").write(toFile: token, atomically: true, encoding: .utf8)
        #expect(chmod(token, 0o600) == 0)
        let running = try Child("bridge", arguments: ["erp-bridge", "--state-dir", directory + "/state", "--webhook", "http://127.0.0.1:1/erp",
                                                      "--server", "127.0.0.1:\(try freePort())", "--token-file", token, "--log-level", "trace",
                                                      "--reconnect-base-ms", "5", "--reconnect-max-ms", "20"],
                                environment: ["WAYBILL_WEBHOOK_SECRET": "\(TestSecrets.first) \(TestSecrets.second)"], log: directory + "/trace.log")
        defer { running.kill() }
        try await eventually("the bridge logs its reconnections") { running.output.contains("change feed unavailable; reconnecting") }
        await running.terminate()
        let output = running.output
        #expect(output.contains("HMAC-SHA256 with 2 secrets") && output.contains("authenticated=yes"), "\(output.prefix(2_000))")
        for secret in [TestSecrets.first, TestSecrets.second, TestCredentials.erpToken] {
            #expect(!output.contains(secret), "a secret or the token reached the bridge's output")
        }

        let secretFile = directory + "/generated.secret"
        let generator = try Child("new-secret", arguments: ["erp-bridge", "new-webhook-secret", secretFile], log: directory + "/generate.log")
        #expect(await generator.finish() == 0)
        let generated = try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(generated.hasPrefix("whsec_") && !generator.output.contains(generated))
        #expect((try FileManager.default.attributesOfItem(atPath: secretFile)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}
