// The ERP down for a while (a 60-second stretch of 500s compressed into many short breaker
// pauses): the bridge pauses all delivery behind its circuit breaker, dead-letters nothing,
// never acknowledges the feed past an undelivered event, and after recovery delivers everything
// in offset order. Also: Retry-After honoured, the breaker state machine, and a bridge process
// killed mid-outage that loses nothing.

import Foundation
import NIOHTTP1
import Synchronization
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillServer
import WaybillWire

/// An in-process server, a scripted ERP and a state directory for one bridge test.
struct BridgeBench {
    let server: InProcessServer
    let client: WaybillClient
    let erp: ScriptedErp
    let url: String
    let state: String

    static func start(_ name: String, clock: ManualClock? = nil, configure: (inout ServerConfiguration) -> Void = { _ in },
                      script: @escaping ScriptedErp.Script) async throws -> BridgeBench {
        let server = try await InProcessServer.start(name, clock: clock, configure: configure)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 1_000))
        let erp = ScriptedErp(script)
        let port = try await erp.start()
        return BridgeBench(server: server, client: client, erp: erp, url: "http://127.0.0.1:\(port)/erp", state: try temporaryDirectory(name + "-state"))
    }

    /// A webhook bridge with short pauses and deterministic jitter.
    func bridge(consumer: String, configure: (inout BridgeLimits) -> Void = { _ in }) throws -> ErpBridge {
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: consumer, url: url, stateDirectory: state)
        configuration.limits.backoffBaseMilliseconds = 2
        configuration.limits.backoffMaxMilliseconds = 20
        configuration.limits.ackIntervalMilliseconds = 10
        configuration.limits.statusIntervalMilliseconds = 50
        configure(&configuration.limits)
        let sequence = Mutex(0.0)
        return try ErpBridge(configuration: configuration, logger: quietLogger("bridge"), random: {
            sequence.withLock { value in
                value = (value + 0.37).truncatingRemainder(dividingBy: 1)
                return value
            }
        })
    }

    func acknowledged(_ consumer: String) async throws -> UInt64 {
        try await client.feedInfo().consumers.first { $0.consumer == consumer }?.acknowledgedOffset ?? 0
    }

    func serverStatus(_ consumer: String) async throws -> Waybill_V1_BridgeStatus? {
        var request = Waybill_V1_GetBridgeStatusRequest()
        request.consumer = consumer
        let list: Waybill_V1_BridgeStatusList = try await client.call(Method.ErpService.getBridgeStatus, request)
        return list.bridges.first
    }

    func stop(_ running: Task<Void, Error>?) async {
        running?.cancel()
        _ = await running?.result
        await client.close()
        await erp.stop()
        await server.stop()
        try? FileManager.default.removeItem(atPath: state)
    }
}

@Suite("ERP bridge outages", .serialized)
struct BridgeOutageTests {
    @Test("a long stretch of 500s: nothing dead-lettered, delivery paused, the feed held at the delivered watermark, all delivered in order after")
    func outageDeadLettersNothing() async throws {
        let down = Toggle()
        let bench = try await BridgeBench.start("bridge-outage") { _, _ in down.isOn ? .status(.internalServerError) : .ok }
        let consumer = "erp-outage"
        let bridge = try bench.bridge(consumer: consumer)
        let running = Task { try await bridge.run() }
        for number in 0..<3 { _ = try await bench.client.captureOrder(TestNetwork.order("BEFORE-\(number)", [("SKU-1", 1)])) }
        let delivered = try await bench.client.feedInfo().headOffset
        try await bridge.delivered(through: delivered)
        try await eventually("the delivered watermark is acknowledged") { try await bench.acknowledged(consumer) == delivered }

        down.set(true)
        var orders: [Waybill_V1_Order] = []
        for number in 0..<20 { orders.append(try await bench.client.captureOrder(TestNetwork.order("DURING-\(number)", [("SKU-2", 1)])).order) }
        for order in orders.prefix(5) { _ = try await bench.client.cancel(order.orderID, requestID: "cancel-\(order.orderID)") }
        let head = try await bench.client.feedInfo().headOffset
        let oldest = "evt-\(delivered + 1)"
        // Far more refusals of the oldest event than the 8 attempts that used to dead-letter it.
        // (The ERP counts a refusal before the bridge has read it: wait for both.)
        try await eventually("the outage lasts 40 probes", timeout: .seconds(90)) {
            let probes = bench.erp.attempts.filter { $0.message.eventId == oldest }.count
            let failures = await bridge.makeStatus().consecutiveFailures
            return probes >= 40 && failures >= 40
        }

        #expect(await bridge.deliveredWatermark == delivered)
        #expect(try await bench.acknowledged(consumer) == delivered)
        #expect(try DeadLetterStore(stateDirectory: bench.state).list().isEmpty)
        let paused = await bridge.makeStatus()
        #expect(paused.breakerState == .open || paused.breakerState == .halfOpen)
        #expect(paused.deadLettersWaiting == 0 && paused.deadLettered == 0)
        #expect(paused.lastError.contains("500") && paused.lastErrorAtUnixMs > 0)
        #expect(paused.consecutiveFailures >= 40)
        // Paused, not hammering: apart from the probe (the oldest event), only what was already in
        // flight when the breaker opened was refused.
        let refusedOthers = Set(bench.erp.attempts.filter { !$0.accepted && $0.message.eventId != oldest }.map(\.message.eventId))
        #expect(refusedOthers.count < BridgeLimits().deliveryConcurrencyMax, "\(refusedOthers.sorted())")
        #expect(bench.erp.attempts.filter { !$0.accepted }.allSatisfy { $0.message.offset > delivered })

        down.set(false)
        try await bridge.delivered(through: head)
        let delivery = Delivery(bench.erp.accepted)
        #expect(delivery.outOfOrder.isEmpty, "\(delivery.outOfOrder)")
        #expect(Set(delivery.firstDeliveries.map(\.eventId)) == Set((1...head).map { "evt-\($0)" }))
        #expect(try DeadLetterStore(stateDirectory: bench.state).list().isEmpty)
        try await eventually("the head is acknowledged") { try await bench.acknowledged(consumer) == head }
        let recovered = await bridge.makeStatus()
        #expect(recovered.breakerState == .closed && recovered.lastError.isEmpty && recovered.lastErrorAtUnixMs == 0)
        #expect(recovered.consecutiveFailures == 0 && recovered.deadLettered == 0)
        await bench.stop(running)
    }

    @Test("429 with Retry-After: the whole bridge waits that long (not the short backoff), then delivers")
    func retryAfterHonoured() async throws {
        let bench = try await BridgeBench.start("bridge-429") { message, attempt in
            message.externalOrderId == "THROTTLED" && message.type == "order.captured" && attempt == 1
                ? ScriptedAnswer(status: .tooManyRequests, headers: [("Retry-After", "1")]) : .ok
        }
        _ = try await bench.client.captureOrder(TestNetwork.order("THROTTLED", [("SKU-1", 1)]))
        for number in 0..<5 { _ = try await bench.client.captureOrder(TestNetwork.order("AFTER-\(number)", [("SKU-3", 1)])) }
        let head = try await bench.client.feedInfo().headOffset
        // One request at a time, so "nothing was sent meanwhile" is exact.
        let bridge = try bench.bridge(consumer: "erp-429") { $0.deliveryConcurrencyMax = 1 }
        let running = Task { try await bridge.run() }
        try await bridge.delivered(through: head)
        let attempts = bench.erp.attempts
        let throttled = attempts.enumerated().filter { $0.element.message.externalOrderId == "THROTTLED" && $0.element.message.type == "order.captured" }
        try #require(throttled.count == 2)
        let (first, second) = (throttled[0], throttled[1])
        #expect(first.element.status == .tooManyRequests && second.element.accepted)
        #expect(second.element.at - first.element.at >= .milliseconds(1_000), "backoffMaxMilliseconds is 20: only Retry-After explains the wait")
        #expect(second.offset == first.offset + 1, "nothing else was sent while the bridge waited")
        #expect(Delivery(bench.erp.accepted).outOfOrder.isEmpty)
        #expect(try DeadLetterStore(stateDirectory: bench.state).list().isEmpty)
        await bench.stop(running)
    }

    @Test("Retry-After: delay-seconds and HTTP dates (all three forms), past dates, garbage")
    func retryAfterParsing() {
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryAfter.milliseconds("120", now: now) == 120_000)
        #expect(RetryAfter.milliseconds(" 0 ", now: now) == 0)
        #expect(RetryAfter.milliseconds("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == 30_000)
        #expect(RetryAfter.milliseconds("Wednesday, 21-Oct-15 07:29:00 GMT", now: now) == 60_000)
        #expect(RetryAfter.milliseconds("Wed Oct 21 07:28:05 2015", now: now) == 5_000)
        #expect(RetryAfter.milliseconds("Wed, 21 Oct 2015 07:00:00 GMT", now: now) == 0)
        #expect(RetryAfter.milliseconds("-5", now: now) == nil)
        #expect(RetryAfter.milliseconds("soon", now: now) == nil)
        #expect(RetryAfter.milliseconds(nil, now: now) == nil)
    }

    @Test("circuit breaker: closed → open (doubling, jittered, capped; Retry-After wins when longer, capped) → half-open → closed")
    func breakerStateMachine() {
        var breaker = CircuitBreaker(backoff: Backoff(baseMilliseconds: 100, maxMilliseconds: 1_000), retryAfterMaxMilliseconds: 5_000)
        #expect(breaker.isClosed)
        #expect(breaker.failed(nowUnixMs: 10_000, retryAfterMilliseconds: nil, random: 0) == 50)
        #expect(breaker.state == .open(probeAtUnixMs: 10_050) && breaker.probeAtUnixMs == 10_050)
        breaker.probeDue()
        #expect(breaker.state == .halfOpen && breaker.protoState == .halfOpen)
        #expect(breaker.failed(nowUnixMs: 20_000, retryAfterMilliseconds: nil, random: 0.5) == 150)
        for _ in 0..<10 { _ = breaker.failed(nowUnixMs: 0, retryAfterMilliseconds: nil, random: 0.999) }
        #expect(breaker.failed(nowUnixMs: 0, retryAfterMilliseconds: nil, random: 1) == 1_000)
        #expect(breaker.failed(nowUnixMs: 0, retryAfterMilliseconds: 3_000, random: 0) == 3_000)
        #expect(breaker.failed(nowUnixMs: 0, retryAfterMilliseconds: 60_000, random: 0) == 5_000)
        #expect(breaker.consecutiveFailures == 15 && breaker.protoState == .open)
        breaker.succeeded()
        #expect(breaker.isClosed && breaker.consecutiveFailures == 0 && breaker.probeAtUnixMs == 0)
    }

    @Test("the bridge process killed mid-outage and restarted: nothing lost, nothing dead-lettered, in order")
    func killedMidOutage() async throws {
        let down = Toggle()
        let bench = try await BridgeBench.start("bridge-kill-outage") { _, _ in down.isOn ? .status(.serviceUnavailable) : .ok }
        let arguments = ["erp-bridge", "--server", bench.server.address, "--token-file", try TestCredentials.tokenFile(in: bench.state),
                         "--consumer", "erp-kill", "--state-dir", bench.state,
                         "--webhook", bench.url, "--webhook-secret-file", try TestSecrets.file(in: bench.state), "--backoff-base-ms", "2", "--backoff-max-ms", "20", "--ack-interval-ms", "10",
                         "--log-level", "warning"]
        let log = bench.state + "/bridge.log"
        var bridge = try Child("bridge", arguments: arguments, log: log)
        defer { bridge.kill() }
        for number in 0..<3 { _ = try await bench.client.captureOrder(TestNetwork.order("K-BEFORE-\(number)", [("SKU-1", 1)])) }
        let delivered = try await bench.client.feedInfo().headOffset
        try await eventually("delivered before the outage") { try await bench.acknowledged("erp-kill") == delivered }

        down.set(true)
        for number in 0..<10 {
            let order = try await bench.client.captureOrder(TestNetwork.order("K-DURING-\(number)", [("SKU-2", 1)])).order
            if number % 2 == 0 { _ = try await bench.client.cancel(order.orderID, requestID: "k-cancel-\(number)") }
        }
        let head = try await bench.client.feedInfo().headOffset
        try await eventually("the outage is under way") { bench.erp.refusedCount >= 20 }
        bridge.kill()
        #expect(try await bench.acknowledged("erp-kill") == delivered)
        let refusedBeforeRestart = bench.erp.refusedCount
        bridge = try Child("bridge", arguments: arguments, log: log)
        try await eventually("the restarted bridge meets the outage") { bench.erp.refusedCount >= refusedBeforeRestart + 20 }
        #expect(try await bench.acknowledged("erp-kill") == delivered)
        #expect(try DeadLetterStore(stateDirectory: bench.state).list().isEmpty)

        down.set(false)
        try await eventually("everything is delivered after the outage") { try await bench.acknowledged("erp-kill") == head }
        let delivery = Delivery(bench.erp.accepted)
        #expect(Set(delivery.firstDeliveries.map(\.eventId)) == Set((1...head).map { "evt-\($0)" }))
        #expect(delivery.outOfOrder.isEmpty, "\(delivery.outOfOrder)")
        #expect(try DeadLetterStore(stateDirectory: bench.state).list().isEmpty, "\(bridge.output)")
        await bridge.terminate()
        await bench.stop(nil)
    }

    @Test("connection refused (no ERP listening): paused, nothing dead-lettered; delivered once the ERP listens")
    func connectionRefused() async throws {
        let server = try await InProcessServer.start("bridge-refused", clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let state = try temporaryDirectory("bridge-refused-state")
        let port = try freePort()
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "erp-refused", url: "http://127.0.0.1:\(port)/erp",
                                                              stateDirectory: state)
        configuration.limits.backoffBaseMilliseconds = 2
        configuration.limits.backoffMaxMilliseconds = 20
        // The HTTP client keeps trying to connect until the request's deadline: that is one failure.
        configuration.limits.requestTimeoutMilliseconds = 200
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        _ = try await client.captureOrder(TestNetwork.order("NOBODY-HOME", [("SKU-1", 1)]))
        let head = try await client.feedInfo().headOffset
        try await eventually("the bridge is refused 3 times") { await bridge.makeStatus().consecutiveFailures >= 3 }
        let paused = await bridge.makeStatus()
        #expect(paused.breakerState != .closed && paused.deadLettersWaiting == 0)
        #expect(paused.lastError.lowercased().contains("connect"), "\(paused.lastError)")
        #expect(await bridge.deliveredWatermark == 0)
        #expect(try DeadLetterStore(stateDirectory: state).list().isEmpty)

        let erp = ScriptedErp()
        _ = try await erp.start(port: port)
        try await bridge.delivered(through: head)
        #expect(Set(erp.accepted.map(\.offset)) == Set(1...head))
        #expect(try DeadLetterStore(stateDirectory: state).list().isEmpty)
        running.cancel()
        _ = await running.result
        await erp.stop()
        await client.close()
        await server.stop()
        try? FileManager.default.removeItem(atPath: state)
    }

    @Test("file drop: a write error pauses delivery (nothing dead-lettered) and the same events are written once the directory works")
    func fileDropWriteErrorPauses() async throws {
        let server = try await InProcessServer.start("drop-outage", clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let parent = try temporaryDirectory("drop-outage-files")
        let state = try temporaryDirectory("drop-outage-state")
        let drop = parent + "/inbox"
        // A file where the drop directory should be: every write fails with an I/O error, as on a full disk.
        #expect(FileManager.default.createFile(atPath: drop, contents: Data("not a directory".utf8)))
        var configuration = BridgeConfiguration(server: server.address, consumer: "files-outage", target: .files(directory: drop, format: .jsonl),
                                                stateDirectory: state)
        configuration.connection = TestCredentials.erpConnection
        configuration.limits.fileBatchLingerMilliseconds = 5
        configuration.limits.backoffBaseMilliseconds = 2
        configuration.limits.backoffMaxMilliseconds = 20
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        for number in 0..<5 { _ = try await client.captureOrder(TestNetwork.order("DROP-\(number)", [("SKU-1", 1)])) }
        let head = try await client.feedInfo().headOffset
        try await eventually("the bridge fails to write 20 times") { await bridge.makeStatus().consecutiveFailures >= 20 }
        let paused = await bridge.makeStatus()
        #expect(paused.breakerState != .closed && paused.lastError.contains("cannot write") && paused.lastErrorAtUnixMs > 0)
        #expect(await bridge.deliveredWatermark == 0)
        #expect(try DeadLetterStore(stateDirectory: state).list().isEmpty)

        try FileManager.default.removeItem(atPath: drop)
        try await bridge.delivered(through: head)
        let written = try droppedMessages(drop)
        #expect(written.map(\.offset) == Array(1...head))
        #expect(try DeadLetterStore(stateDirectory: state).list().isEmpty)
        let recovered = await bridge.makeStatus()
        #expect(recovered.breakerState == .closed && recovered.lastError.isEmpty && recovered.consecutiveFailures == 0)
        running.cancel()
        _ = await running.result
        await client.close()
        await server.stop()
        try? FileManager.default.removeItem(atPath: parent)
        try? FileManager.default.removeItem(atPath: state)
    }

    @Test("--max-attempts is refused with what replaced it")
    func maxAttemptsRemoved() async throws {
        let directory = try temporaryDirectory("max-attempts")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try Child("bridge", arguments: ["erp-bridge", "--state-dir", directory, "--webhook", "http://127.0.0.1:1/x", "--max-attempts", "3"],
                              log: directory + "/out.log")
        #expect(await child.finish() != 0)
        #expect(child.output.contains("--max-attempts was removed"), "\(child.output)")
    }
}
