// The bridge against a fake ERP webhook and a drop directory, in process: idempotency keys, the
// classification of answers, pauses on transient failures, dead letters (with the order's later
// events parked) and their replay, per-order order, atomic files, and the named limits. Long
// outages, Retry-After and parking in depth: BridgeOutageTests, BridgeParkingTests.

import Foundation
import NIOHTTP1
import Synchronization
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

@Suite("ERP bridge", .serialized)
struct BridgeTests {
    @Test("backoff doubles up to the maximum, with jitter between half and all of it")
    func backoff() {
        let backoff = Backoff(baseMilliseconds: 100, maxMilliseconds: 1_000)
        #expect(backoff.delayMilliseconds(attempt: 1, random: 0) == 50)
        #expect(backoff.delayMilliseconds(attempt: 1, random: 0.999_999) == 99)
        #expect(backoff.delayMilliseconds(attempt: 2, random: 0) == 100)
        #expect(backoff.delayMilliseconds(attempt: 3, random: 0.5) == 300)
        #expect(backoff.delayMilliseconds(attempt: 5, random: 0) == 500)
        #expect(backoff.delayMilliseconds(attempt: 60, random: 1) == 1_000)
        for attempt in 1...20 {
            let delay = backoff.delayMilliseconds(attempt: attempt, random: Double(attempt % 7) / 7)
            #expect(delay >= 50 && delay <= 1_000)
        }
    }

    @Test("every limit is validated with its name")
    func limits() throws {
        var configuration = BridgeConfiguration.signedWebhook(server: "127.0.0.1:1", consumer: "erp", url: "http://127.0.0.1:1/x", stateDirectory: "/tmp/x")
        try configuration.validate()
        configuration.limits.replayAttemptsMax = 0
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect(error.description.contains("replayAttemptsMax"))
        }
        configuration.limits = BridgeLimits()
        configuration.limits.retryAfterMaxMilliseconds = -1
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.limits = BridgeLimits()
        configuration.limits.backoffMaxMilliseconds = 10
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.limits = BridgeLimits()
        configuration.target = .webhook(url: "ftp://example")
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.target = .webhook(url: "http://127.0.0.1:1/x")
        configuration.limits.webhookSecretReloadCheckMilliseconds = 5
        #expect(throws: BridgeConfigurationError("webhookSecretReloadCheckMilliseconds must be 0 (never) or at least 10, got 5")) {
            try configuration.validate()
        }
        configuration.limits.webhookSecretReloadCheckMilliseconds = 0
        try configuration.validate()
        #expect(BridgeLimits().named.count == 17)
    }

    struct Fixture {
        let server: InProcessServer
        let client: WaybillClient
        let erp: FakeErp
        let url: String
        let state: String
    }

    func fixture(_ name: String, respond: @escaping FakeErp.Responder) async throws -> Fixture {
        let server = try await InProcessServer.start(name, clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let erp = FakeErp(respond)
        let port = try await erp.start()
        return Fixture(server: server, client: client, erp: erp, url: "http://127.0.0.1:\(port)/erp", state: try temporaryDirectory(name + "-state"))
    }

    func bridge(_ f: Fixture, consumer: String, configure: (inout BridgeLimits) -> Void = { _ in }) throws -> ErpBridge {
        var configuration = BridgeConfiguration.signedWebhook(server: f.server.address, consumer: consumer, url: f.url, stateDirectory: f.state)
        configuration.limits.backoffBaseMilliseconds = 5
        configuration.limits.backoffMaxMilliseconds = 40
        configuration.limits.ackIntervalMilliseconds = 10
        configuration.limits.statusIntervalMilliseconds = 50
        configure(&configuration.limits)
        // Deterministic jitter.
        let sequence = Mutex(0.0)
        return try ErpBridge(configuration: configuration, logger: quietLogger("bridge"), random: {
            sequence.withLock { value in
                value = (value + 0.37).truncatingRemainder(dividingBy: 1)
                return value
            }
        })
    }

    func teardown(_ f: Fixture, _ running: Task<Void, Error>) async {
        running.cancel()
        _ = await running.result
        await f.client.close()
        await f.erp.stop()
        await f.server.stop()
        try? FileManager.default.removeItem(atPath: f.state)
    }

    @Test("5xx and 429 pause and retry, 4xx dead-letters and parks the order's later events, order kept per aggregate, replay delivers")
    func retriesDeadLettersAndOrder() async throws {
        // The first order's events fail twice with 503, then succeed; the "POISON" order's capture is refused for good.
        let f = try await fixture("bridge-retries") { message, attempt in
            if message.externalOrderId == "POISON" && message.type == "order.captured" { return .unprocessableEntity }
            if message.externalOrderId == "SLOW" && attempt <= 2 { return .serviceUnavailable }
            if message.externalOrderId == "THROTTLED" && attempt == 1 { return .tooManyRequests }
            return .ok
        }
        let bridge = try bridge(f, consumer: "erp-webhook")
        let running = Task { try await bridge.run() }
        let slow = try await f.client.captureOrder(TestNetwork.order("SLOW", [("SKU-1", 1)])).order
        let poison = try await f.client.captureOrder(TestNetwork.order("POISON", [("SKU-2", 1)])).order
        _ = try await f.client.captureOrder(TestNetwork.order("THROTTLED", [("SKU-3", 1)]))
        _ = try await f.client.cancel(slow.orderID, requestID: "slow-cancel")
        _ = try await f.client.cancel(poison.orderID, requestID: "poison-cancel")
        for number in 0..<20 { _ = try await f.client.captureOrder(TestNetwork.order("FAST-\(number)", [("SKU-1", 1)])) }
        let head = try await f.client.feedInfo().headOffset
        try await bridge.delivered(through: head)

        let received = f.erp.received
        let delivery = Delivery(received.map(\.message))
        #expect(delivery.outOfOrder.isEmpty, "\(delivery.outOfOrder)")
        #expect(delivery.conflicting.isEmpty)
        #expect(received.allSatisfy { $0.idempotencyKey == $0.message.eventId })
        // The poison capture is the one refused dead letter, its cancel parked behind it (never
        // sent); everything else arrived, each event once.
        let store = try DeadLetterStore(stateDirectory: f.state)
        let letters = try store.list()
        try #require(letters.count == 2)
        #expect(letters[0].message.orderId == poison.orderID && letters[0].message.type == "order.captured")
        #expect(letters[0].lastError.contains("422") && letters[0].blockedBy == nil)
        #expect(letters[0].attempts == 1)
        let poisonCapture = letters[0].id
        #expect(letters[1].message.orderId == poison.orderID && letters[1].message.type == "order.cancelled")
        #expect(letters[1].blockedBy == poisonCapture && f.erp.attempts(letters[1].id) == 0)
        #expect(f.erp.distinctEventIDs.count == Int(head) - 2)
        #expect(!f.erp.distinctEventIDs.contains(poisonCapture))
        // SLOW: the capture took three attempts (two 503 pauses), and its cancel still came after it.
        let slowEvents = received.filter { $0.message.orderId == slow.orderID }.map(\.message.type)
        #expect(slowEvents == ["order.captured", "order.cancelled"])
        #expect(f.erp.attempts(received.first { $0.message.orderId == slow.orderID }!.message.eventId) == 3)

        // The dead letter is acknowledged past (the watermark reached the head).
        try await eventually("the watermark is acknowledged") {
            try await f.client.feedInfo().consumers.first { $0.consumer == "erp-webhook" }?.acknowledgedOffset == head
        }
        let status = await bridge.makeStatus()
        #expect(status.deadLettered == 2 && status.deadLettersWaiting == 2 && status.retrying == 0 && status.delivered == UInt64(head - 2))
        // The status report reaches the server (waybill call bridge-status reads it).
        try await eventually("the bridge reports its status") {
            var request = Waybill_V1_GetBridgeStatusRequest()
            request.consumer = "erp-webhook"
            let list: Waybill_V1_BridgeStatusList = try await f.client.call(Method.ErpService.getBridgeStatus, request)
            return list.bridges.first?.deadLettersWaiting == 2 && list.bridges.first?.acknowledgedOffset == head
        }

        // Replay once the ERP accepts it.
        f.erp.setResponder { _, _ in .ok }
        let target = try WebhookTarget.signed(url: f.url)
        let report = try await DeadLetterReplay.replay(store: store, ids: [poisonCapture], target: target, targetDescription: "webhook",
                                                       limits: BridgeLimits(), logger: quietLogger("replay"))
        await target.shutdown()
        #expect(report.delivered == [poisonCapture, letters[1].id] && report.failed.isEmpty)
        #expect(try store.list().isEmpty)
        #expect(f.erp.distinctEventIDs.count == Int(head))
        #expect(f.erp.received.filter { $0.message.orderId == poison.orderID }.map(\.message.type) == ["order.captured", "order.cancelled"])
        await teardown(f, running)
    }

    @Test("an ERP that keeps answering 502 is never dead-lettered; replay gives up after replayAttemptsMax and keeps the letter")
    func neverExhausted() async throws {
        let f = try await fixture("bridge-exhausted") { message, _ in
            message.externalOrderId == "DOWN" ? .badGateway : .ok
        }
        let bridge = try bridge(f, consumer: "erp-exhausted")
        let running = Task { try await bridge.run() }
        let down = try await f.client.captureOrder(TestNetwork.order("DOWN", [("SKU-1", 1)])).order
        let head = try await f.client.feedInfo().headOffset
        // The 8 attempts that used to dead-letter it, and then some.
        try await eventually("DOWN's capture is tried 12 times") { f.erp.attempts("evt-\(head)") >= 12 }
        let store = try DeadLetterStore(stateDirectory: f.state)
        #expect(try store.list().isEmpty)
        #expect(await bridge.deliveredWatermark == head - 1)
        #expect(try await f.client.feedInfo().consumers.first { $0.consumer == "erp-exhausted" }?.acknowledgedOffset ?? 0 < head)

        // replay's bound: a letter the ERP keeps failing stays in the store with its attempts added.
        var message = ErpMessage(eventId: "evt-\(head)", offset: head, type: "order.captured", aggregateType: "order",
                                 aggregateId: down.orderID, aggregateSequence: 1)
        message.externalOrderId = "DOWN"
        let replayState = try temporaryDirectory("bridge-exhausted-replay")
        let replayStore = try DeadLetterStore(stateDirectory: replayState)
        try replayStore.add(DeadLetter(message: message, attempts: 3, lastError: "HTTP 400", deadLetteredAtUnixMs: 0, target: "webhook"))
        let target = try WebhookTarget.signed(url: f.url)
        var limits = BridgeLimits()
        limits.replayAttemptsMax = 2
        limits.backoffBaseMilliseconds = 1
        limits.backoffMaxMilliseconds = 2
        let attemptsBefore = f.erp.attempts(message.eventId)
        let report = try await DeadLetterReplay.replay(store: replayStore, ids: nil, target: target, targetDescription: "webhook",
                                                       limits: limits, logger: quietLogger("replay"))
        await target.shutdown()
        #expect(report.delivered.isEmpty && report.failed.count == 1)
        #expect(try replayStore.list().first?.attempts == 5)
        #expect(f.erp.attempts(message.eventId) >= attemptsBefore + 2)
        try? FileManager.default.removeItem(atPath: replayState)
        await teardown(f, running)
    }

    @Test("file drop: atomic JSON-lines and CSV batches in offset order, nothing half-written")
    func fileDrop() async throws {
        let server = try await InProcessServer.start("bridge-files", clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        for format in FileFormat.allCases {
            let drop = try temporaryDirectory("drop-\(format.rawValue)")
            let state = try temporaryDirectory("drop-state-\(format.rawValue)")
            var configuration = BridgeConfiguration(server: server.address, consumer: "files-\(format.rawValue)",
                                                    target: .files(directory: drop, format: format), stateDirectory: state)
            configuration.connection = TestCredentials.erpConnection
            configuration.limits.fileBatchEventsMax = 7
            configuration.limits.fileBatchLingerMilliseconds = 5
            let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
            let running = Task { try await bridge.run() }
            for number in 0..<10 { _ = try await client.captureOrder(TestNetwork.order("FILE-\(format.rawValue)-\(number)", [("SKU-2", 1)])) }
            let head = try await client.feedInfo().headOffset
            try await bridge.delivered(through: head)
            running.cancel()
            _ = await running.result
            let names = try FileManager.default.contentsOfDirectory(atPath: drop).sorted()
            #expect(names.allSatisfy { $0.hasPrefix("waybill-") && $0.hasSuffix("." + format.rawValue) }, "\(names)")
            var offsets: [UInt64] = []
            for name in names {
                let text = try String(contentsOfFile: drop + "/" + name, encoding: .utf8)
                var rows = text.split(separator: format == .csv ? "\r\n" : "\n").map(String.init)
                if format == .csv {
                    #expect(rows.first == ErpMessage.csvColumns.joined(separator: ","))
                    rows.removeFirst()
                    offsets += rows.map { UInt64($0.split(separator: ",")[1])! }
                } else {
                    offsets += try rows.map { try ErpMessage.decode(Data($0.utf8)).offset }
                }
                #expect(rows.count <= 7)
            }
            #expect(offsets == Array(1...head))
            try? FileManager.default.removeItem(atPath: drop)
            try? FileManager.default.removeItem(atPath: state)
        }
        await client.close()
        await server.stop()
    }
}
