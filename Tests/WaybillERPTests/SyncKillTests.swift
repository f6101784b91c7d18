// A long sync with real processes: `waybill serve` and `waybill erp-bridge` as children, orders
// captured, shipped and cancelled while the bridge, and separately the server, are killed with
// SIGKILL at random points and restarted. Afterwards every event reaches the ERP; after dedupe by
// event id each exactly once, with the same content, and in per-order (per-aggregate) order.

import Foundation
import Synchronization
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

/// A client that reconnects: calls retry (same idempotency keys) while the server is down.
actor ResilientClient {
    let address: String
    private var client: WaybillClient?

    init(address: String) { self.address = address }

    func run<T: Sendable>(_ body: @Sendable (WaybillClient) async throws -> T) async throws -> T {
        var failures = 0
        while true {
            var used: WaybillClient?
            do {
                let current: WaybillClient
                if let client { current = client } else {
                    current = try await TestCredentials.connect(address)
                    client = current
                }
                used = current
                return try await body(current)
            } catch let error as WaybillStatusError where [.unavailable, .internal, .deadlineExceeded, .resourceExhausted, .cancelled].contains(error.code) {
                failures += 1
                if failures > 600 { throw error }
                // Only the connection that failed: another lane may already have replaced it.
                if let stale = used, stale === client {
                    client = nil
                    await stale.close()
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    func close() async {
        await client?.close()
        client = nil
    }
}

/// SplitMix64: the chaos schedule is reproducible from its seed.
struct Seeded {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func milliseconds(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
}

@Suite("Sync under kills", .serialized)
struct SyncKillTests {
    /// Captures `count` orders; a third are shipped, a third cancelled.
    func drive(_ client: ResilientClient, count: Int, prefix: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask {
                    for number in stride(from: lane, to: count, by: 4) {
                        let order = TestNetwork.order("\(prefix)-\(number)", [("SKU-\(number % 3 + 1)", 1), ("SKU-\((number + 1) % 3 + 1)", 2)])
                        let captured = try await client.run { try await $0.captureOrder(order).order }
                        switch number % 3 {
                        case 0: _ = try await client.run { try await $0.shipAll(captured.orderID, requestPrefix: "\(prefix)-\(number)") }
                        case 1: _ = try await client.run { try await $0.cancel(captured.orderID, requestID: "\(prefix)-\(number)-cancel") }
                        default: break
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func bridgeArguments(server: ServerProcess, target: [String], state: String) -> [String] {
        ["erp-bridge", "--server", server.address, "--token-file", server.erpTokenFile, "--consumer", "erp", "--state-dir", state,
         "--backoff-base-ms", "5", "--backoff-max-ms", "100", "--reconnect-base-ms", "20", "--reconnect-max-ms", "300",
         "--ack-interval-ms", "20", "--status-interval-ms", "500", "--file-linger-ms", "20", "--file-batch-max", "200",
         "--window", "1000", "--log-level", "warning"] + target
    }

    /// Kills the bridge `bridgeKills` times and the server `serverKills` times at random points while `work` runs.
    func chaos(seed: UInt64, server: ServerProcess, bridge: @escaping @Sendable () throws -> Child, current: borrowing Mutex<Child?>,
               bridgeKills: Int, serverKills: Int, work: @escaping @Sendable () async throws -> Void) async throws -> [String] {
        var random = Seeded(state: seed)
        var plan = Array(repeating: "bridge", count: bridgeKills) + Array(repeating: "server", count: serverKills)
        for index in plan.indices.reversed() { plan.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        let delays = plan.map { _ in (before: random.milliseconds(250...1_200), down: random.milliseconds(50...600)) }
        let driving = Task { try await work() }
        var log: [String] = []
        for (victim, delay) in zip(plan, delays) {
            try await Task.sleep(for: .milliseconds(delay.before))
            if victim == "bridge" {
                current.withLock { $0 }?.kill()
                log.append("killed the bridge, down \(delay.down) ms")
                try await Task.sleep(for: .milliseconds(delay.down))
                let restarted = try bridge()
                current.withLock { $0 = restarted }
            } else {
                server.kill()
                log.append("killed the server, down \(delay.down) ms")
                try await Task.sleep(for: .milliseconds(delay.down))
                try await server.start()
            }
        }
        try await driving.value
        return log
    }

    func expectExactlyOnceInOrder(_ messages: [ErpMessage], head: UInt64, log: [String]) {
        let delivery = Delivery(messages)
        let ids = Set(delivery.firstDeliveries.map(\.eventId))
        let expected = Set((1...head).map { "evt-\($0)" })
        #expect(ids == expected, "missing \(expected.subtracting(ids).sorted().prefix(10)), unexpected \(ids.subtracting(expected).sorted().prefix(10)); chaos: \(log)")
        #expect(delivery.firstDeliveries.count == Int(head))
        #expect(delivery.conflicting.isEmpty, "same event id, different content: \(delivery.conflicting.prefix(5))")
        #expect(delivery.outOfOrder.isEmpty, "out of per-aggregate order: \(delivery.outOfOrder.prefix(5)); chaos: \(log)")
        // Every order's events, deduplicated, are its sequences 1, 2, 3, ... with no gap.
        var sequences: [String: [Int64]] = [:]
        for message in delivery.firstDeliveries where message.aggregateType == "order" { sequences[message.aggregateId, default: []].append(message.aggregateSequence) }
        let gapped = sequences.filter { $0.value != Array(1...Int64($0.value.count)) }
        #expect(gapped.isEmpty, "orders with gaps: \(gapped.prefix(3))")
    }

    @Test("webhook: kill the bridge and the server at random points; every event arrives, once after dedupe, in order")
    func webhookUnderKills() async throws {
        let directory = try temporaryDirectory("kill-webhook")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(directory: directory)
        try await server.start()
        defer { server.kill() }
        // The ERP also fails 10% of first attempts with 503 (deterministic by event id).
        let erp = FakeErp { message, attempt in
            attempt == 1 && message.offset % 10 == 3 ? .serviceUnavailable : .ok
        }
        let port = try await erp.start()
        let client = ResilientClient(address: server.address)
        _ = try await client.run { try await $0.loadNetwork(TestNetwork.model(stock: 1_000_000)) }
        let arguments = bridgeArguments(server: server, target: ["--webhook", "http://127.0.0.1:\(port)/erp", "--webhook-secret-file", try TestSecrets.file(in: directory)], state: directory + "/bridge-state")
        let bridgeLog = directory + "/bridge.log"
        let start: @Sendable () throws -> Child = { try Child("bridge", arguments: arguments, log: bridgeLog) }
        let current = Mutex<Child?>(try start())
        defer { current.withLock { $0 }?.kill() }

        let log = try await chaos(seed: 0xE4B, server: server, bridge: start, current: current, bridgeKills: 3, serverKills: 2) {
            try await self.drive(client, count: 1_500, prefix: "KW")
        }
        let head = try await client.run { try await $0.feedInfo().headOffset }
        #expect(head > 2_500)
        try await eventually("every event reaches the ERP (head \(head))", timeout: .seconds(90), poll: .milliseconds(50)) {
            erp.distinctEventIDs.count >= Int(head)
        }
        try await eventually("the bridge acknowledges the head", timeout: .seconds(30)) {
            try await client.run { try await $0.feedInfo().consumers.first { $0.consumer == "erp" }?.acknowledgedOffset } == head
        }
        expectExactlyOnceInOrder(erp.received.map(\.message), head: head, log: log)
        #expect(erp.received.allSatisfy { $0.idempotencyKey == $0.message.eventId })
        #expect(try DeadLetterStore(stateDirectory: directory + "/bridge-state").list().isEmpty)
        await current.withLock { $0 }?.terminate()
        await client.close()
        await erp.stop()
    }

    @Test("file drop: kill the bridge and the server at random points; every event is in the files, once after dedupe, in order")
    func fileDropUnderKills() async throws {
        let directory = try temporaryDirectory("kill-files")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(directory: directory)
        try await server.start()
        defer { server.kill() }
        let client = ResilientClient(address: server.address)
        _ = try await client.run { try await $0.loadNetwork(TestNetwork.model(stock: 1_000_000)) }
        let drop = directory + "/drop"
        let arguments = bridgeArguments(server: server, target: ["--drop-dir", drop], state: directory + "/bridge-state")
        let bridgeLog = directory + "/bridge.log"
        let start: @Sendable () throws -> Child = { try Child("bridge", arguments: arguments, log: bridgeLog) }
        let current = Mutex<Child?>(try start())
        defer { current.withLock { $0 }?.kill() }

        let log = try await chaos(seed: 0xF11E, server: server, bridge: start, current: current, bridgeKills: 2, serverKills: 1) {
            try await self.drive(client, count: 600, prefix: "KF")
        }
        let head = try await client.run { try await $0.feedInfo().headOffset }
        try await eventually("every event is in the drop directory (head \(head))", timeout: .seconds(90), poll: .milliseconds(100)) {
            Set(try droppedMessages(drop).map(\.eventId)).count >= Int(head)
        }
        expectExactlyOnceInOrder(try droppedMessages(drop), head: head, log: log)
        // No temporary file is left visible as a batch; every file parses completely.
        let names = try FileManager.default.contentsOfDirectory(atPath: drop)
        #expect(names.filter { !$0.hasPrefix(".") }.allSatisfy { $0.hasPrefix("waybill-") && $0.hasSuffix(".jsonl") })
        await current.withLock { $0 }?.terminate()
        await client.close()
    }
}
