// The documented receiver (clients/erp-receiver/verify_signature.py, Python's standard library)
// against real bridge deliveries: it accepts them, refuses the same request tampered with, and a
// bridge signing with a secret the receiver does not hold pauses (nothing dead-lettered) until a
// rotation gives it both secrets.

import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import WaybillClient
import WaybillERP

@Suite("The example webhook receiver")
struct ReceiverExampleTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/erp-receiver/verify_signature.py").path
    }

    /// One delivery the receiver accepted, as it recorded it.
    struct Recorded: Decodable {
        var eventId: String
        var deliveryId: String
        var duplicate: Bool
        var signature: String
        var body: String
    }

    struct Receiver {
        let child: Child
        let port: Int
        let record: String

        var recorded: [Recorded] {
            let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Recorded.self, from: Data($0.utf8)) }
        }

        var url: String { "http://127.0.0.1:\(port)/waybill" }
    }

    static func startReceiver(in directory: String, secrets: [String]) async throws -> Receiver {
        let record = directory + "/received.jsonl"
        let child = try Child("receiver", executable: "/usr/bin/env",
                              arguments: ["python3", "-u", script, "--port", "0", "--secret-file", try TestSecrets.file(in: directory, secrets),
                                          "--record", record],
                              log: directory + "/receiver.log")
        var port = 0
        try await eventually("the receiver listens", timeout: .seconds(30)) {
            guard child.isRunning else { throw TestFailure("the receiver exited: \(child.output)") }
            guard let line = child.output.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) else { return false }
            port = Int(line.dropFirst("listening on ".count)) ?? 0
            return port > 0
        }
        return Receiver(child: child, port: port, record: record)
    }

    /// POSTs `body` with `signature` (when given) and returns the status.
    static func post(_ url: String, body: String, signature: String?) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let signature { request.headers.add(name: WebhookSignature.header, value: signature) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 64 * 1024)
        return response.status.code
    }

    func bridge(_ server: InProcessServer, consumer: String, url: String, secrets: [String], state: String) throws -> ErpBridge {
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: consumer, url: url, stateDirectory: state)
        configuration.webhookSecrets = try WebhookSecrets(secrets)
        configuration.limits.backoffBaseMilliseconds = 5
        configuration.limits.backoffMaxMilliseconds = 50
        return try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
    }

    @Test("accepts real deliveries; refuses a changed body, a moved or old timestamp, a missing signature")
    func acceptsRealDeliveriesRefusesTampered() async throws {
        let directory = try temporaryDirectory("receiver-example")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await InProcessServer.start("receiver-example", clock: nil)
        defer { Task { await server.stop() } }
        let client = try await server.client()
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let receiver = try await Self.startReceiver(in: directory, secrets: [TestSecrets.first])
        defer { receiver.child.kill() }

        let bridge = try bridge(server, consumer: "receiver", url: receiver.url, secrets: [TestSecrets.first], state: directory + "/state")
        let running = Task { try await bridge.run() }
        for number in 0..<3 { _ = try await client.captureOrder(TestNetwork.order("RECEIVED-\(number)", [("SKU-1", 1)])) }
        let head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head, timeout: .seconds(60))
        running.cancel()
        _ = try? await running.value

        let recorded = receiver.recorded
        #expect(Set(recorded.map(\.eventId)) == Set((1...head).map { "evt-\($0)" }))
        #expect(recorded.allSatisfy { !$0.duplicate && UUID(uuidString: $0.deliveryId) != nil })
        let original = try #require(recorded.last)

        // The very request the bridge sent is accepted again (a duplicate event id: the ERP dedupes).
        #expect(try await Self.post(receiver.url, body: original.body, signature: original.signature) == 200)
        // Changed: one byte of the body; the timestamp moved by a second; no signature at all.
        let tamperedBody = original.body.replacingOccurrences(of: "\"aggregateSequence\":", with: "\"aggregateSequence\":9")
        #expect(tamperedBody != original.body)
        #expect(try await Self.post(receiver.url, body: tamperedBody, signature: original.signature) == 401)
        let parsed = try #require(WebhookDeliveryTests.parse(original.signature))
        let moved = original.signature.replacingOccurrences(of: "t=\(parsed.timestamp)", with: "t=\(parsed.timestamp + 1)")
        #expect(try await Self.post(receiver.url, body: original.body, signature: moved) == 401)
        #expect(try await Self.post(receiver.url, body: original.body, signature: nil) == 401)
        // A capture older than the 5-minute tolerance, correctly signed: a replay.
        let old = WebhookSignature.header(timestamp: Int64(Date().timeIntervalSince1970) - 301, body: Data(original.body.utf8),
                                          secrets: TestSecrets.current)
        #expect(try await Self.post(receiver.url, body: original.body, signature: old) == 401)
        // Another secret.
        let forged = WebhookSignature.header(timestamp: Int64(Date().timeIntervalSince1970), body: Data(tamperedBody.utf8),
                                             secrets: try WebhookSecrets([TestSecrets.second]))
        #expect(try await Self.post(receiver.url, body: tamperedBody, signature: forged) == 401)
        #expect(receiver.recorded.count == recorded.count + 1, "only the untampered replay was accepted")
        #expect(receiver.child.output.contains("refused delivery"))
        await receiver.child.terminate()
    }

    @Test("rotation: a bridge signing with a secret the receiver lacks pauses without dead letters; with both secrets it delivers")
    func rotationPausesThenDelivers() async throws {
        let directory = try temporaryDirectory("receiver-rotation")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await InProcessServer.start("receiver-rotation", clock: nil)
        defer { Task { await server.stop() } }
        let client = try await server.client()
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let receiver = try await Self.startReceiver(in: directory, secrets: [TestSecrets.first])
        defer { receiver.child.kill() }
        _ = try await client.captureOrder(TestNetwork.order("ROTATION-1", [("SKU-1", 1)]))
        let head = try await client.feedInfo().headOffset

        // The bridge already has only the new secret; the receiver still only the old one.
        let early = try bridge(server, consumer: "rotation", url: receiver.url, secrets: [TestSecrets.second], state: directory + "/state")
        let earlyRun = Task { try await early.run() }
        try await eventually("the refused bridge pauses") { await early.makeStatus().consecutiveFailures >= 2 }
        let paused = await early.makeStatus()
        #expect(paused.deadLettered == 0 && paused.deadLettersWaiting == 0 && paused.lastError.contains("HTTP 401"), "\(paused)")
        #expect(await early.deliveredWatermark == 0)
        earlyRun.cancel()
        _ = try? await earlyRun.value
        #expect(receiver.recorded.isEmpty)

        // Rotation: the bridge signs with both; the receiver (old secret) verifies one of them.
        let rotating = try bridge(server, consumer: "rotation", url: receiver.url, secrets: [TestSecrets.second, TestSecrets.first],
                                  state: directory + "/state")
        let rotatingRun = Task { try await rotating.run() }
        try await rotating.delivered(through: head, timeout: .seconds(60))
        rotatingRun.cancel()
        _ = try? await rotatingRun.value
        #expect(Set(receiver.recorded.map(\.eventId)) == Set((1...head).map { "evt-\($0)" }))
        #expect(try DeadLetterStore(stateDirectory: directory + "/state").list().isEmpty)
        await receiver.child.terminate()
    }

    @Test("docs/ERP.md's Python check verifies the independent vector and refuses a changed body, another secret and an old timestamp")
    func documentedSnippet() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/ERP.md"), encoding: .utf8)
        let section = try #require(document.range(of: "### Verifying a delivery (the receiver)"))
        let start = try #require(document.range(of: "```python\n", range: section.upperBound..<document.endIndex))
        let end = try #require(document.range(of: "```", range: start.upperBound..<document.endIndex))
        let snippet = String(document[start.upperBound..<end.lowerBound])
        let directory = try temporaryDirectory("receiver-snippet")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let program = directory + "/check.py"
        try (snippet + """

            body = b'{"eventId":"evt-1","offset":1}'
            header = "t=1795700400,v1=\(WebhookSignatureTests.firstSignature)"
            verify(header, body, ["\(TestSecrets.first)"], now=1795700400)
            verify(header, body, ["\(TestSecrets.second)", "\(TestSecrets.first)"], now=1795700400 + 300)
            for arguments in [(header, body + b" ", ["\(TestSecrets.first)"], 1795700400),
                              (header, body, ["\(TestSecrets.second)"], 1795700400),
                              (header, body, ["\(TestSecrets.first)"], 1795700400 + 301),
                              ("", body, ["\(TestSecrets.first)"], 1795700400)]:
                try:
                    verify(*arguments)
                except ValueError:
                    continue
                raise SystemExit("accepted: %r" % (arguments,))
            print("snippet ok")

            """).write(toFile: program, atomically: true, encoding: .utf8)
        let child = try Child("snippet", executable: "/usr/bin/env", arguments: ["python3", program], log: directory + "/snippet.log")
        #expect(await child.finish() == 0, "\(child.output)")
        #expect(child.output.contains("snippet ok"), "\(child.output)")
    }
}
