// The change feed's retention: it prunes only what every registered consumer acknowledged, and a
// pruned offset is OUT_OF_RANGE with the earliest available one; a stalled consumer keeps a child
// server's memory bounded while 100k+ events accumulate. (The flow-control window is tested once,
// in WaybillServerTests' ChangeFeedTests.)

import Foundation
import Synchronization
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
@testable import WaybillServer
import WaybillWire

@Suite("Change feed", .serialized)
struct FeedTests {
    /// Captures `count` one-line orders in batches (each is one order.captured event).
    func capture(_ client: WaybillClient, _ count: Int, prefix: String, batch: Int = 500) async throws {
        var number = 0
        while number < count {
            let orders = (number..<min(count, number + batch)).map { TestNetwork.order("\(prefix)-\($0)", [("SKU-\($0 % 3 + 1)", 1)]) }
            let answer = try await client.captureOrders(orders)
            #expect(answer.results.allSatisfy { $0.status.code == .ok })
            number += orders.count
        }
    }

    @Test("retention prunes what every consumer acknowledged; a pruned offset is OUT_OF_RANGE with the earliest")
    func retention() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("feed-retention", clock: clock) { configuration in
            configuration.feedRetentionMilliseconds = 60_000
            configuration.pruneIntervalMilliseconds = 20
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 1_000))
        try await capture(client, 200, prefix: "R")
        let head = try await client.feedInfo().headOffset
        // Two registered consumers: "fast" acknowledged 150, "slow" nothing.
        _ = try await client.acknowledge(consumer: "fast", offset: 150)
        _ = try await client.acknowledge(consumer: "slow", offset: 0)
        clock.advance(120_000)  // everything is now older than the retention
        // "slow" holds everything back: a whole pruning round, started after the clock moved, deletes nothing.
        #expect(try await pruningRound(server.server) == 0)
        #expect(try await client.feedInfo().earliestOffset == 1)
        _ = try await client.acknowledge(consumer: "slow", offset: 120)
        try await eventually("events through 120 are pruned") { try await client.feedInfo().earliestOffset == 121 }
        // Within retention nothing goes, acknowledged or not.
        try await capture(client, 10, prefix: "R2")
        _ = try await client.acknowledge(consumer: "fast", offset: head + 10)
        _ = try await client.acknowledge(consumer: "slow", offset: head + 10)
        try await eventually("pruned through \(head) (older than the retention)") { try await client.feedInfo().earliestOffset == head + 1 }
        #expect(try await client.feedInfo().headOffset == head + 10)

        var request = Waybill_V1_SubscribeRequest()
        request.consumer = "fast"
        request.fromOffset = 50
        do {
            for try await _ in try client.subscribe(request) { Issue.record("a pruned offset must not stream") }
            Issue.record("the stream ended without an error")
        } catch let error as WaybillStatusError {
            #expect(error.code == .outOfRange)
            #expect(error.details.earliestOffset == head + 1)
        }
        // A new consumer starts at the earliest available event.
        request.consumer = "fresh"
        request.fromOffset = 0
        request.windowEvents = 4
        var iterator = try client.subscribe(request).makeAsyncIterator()
        #expect(try await iterator.next()?.events.first?.offset == head + 1)
    }

    @Test("a stalled consumer keeps a child server's memory bounded while 100k+ events accumulate")
    func stalledConsumerMemory() async throws {
        let directory = try temporaryDirectory("feed-memory")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(directory: directory, extra: ["--feed-memory-events", "2048"])
        try await server.start()
        defer { server.kill() }
        let client = try await TestCredentials.connect(server.address)
        defer { Task { await client.close() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 1_000_000))

        // Stalled at the protocol level: subscribes with a window of 500 and never acknowledges.
        let stalled = try await TestCredentials.connect(server.address, token: TestCredentials.erpToken)
        defer { Task { await stalled.close() } }
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = "stalled"
        request.windowEvents = 500
        let stream = try stalled.subscribe(request)
        let collected = Collected()
        let counting = Task {
            for try await response in stream { await collected.add(response) }
        }
        defer { counting.cancel() }
        // Stalled at the socket: subscribes with the largest window, then never reads.
        let socket = try RawSubscriber(port: server.port, consumer: "stalled-socket", window: 65_536)
        defer { socket.close() }

        // Warm up until SQLite's page caches (cache_size 64 MB per connection) are full, then measure
        // how memory moves while 60k more orders' events (~90 MB of event bodies) accumulate.
        try await capture(client, 50_000, prefix: "M0", batch: 1_000)
        let baseline = server.child!.residentMegabytes
        try await capture(client, 60_000, prefix: "M1", batch: 1_000)
        let info = try await client.feedInfo()
        #expect(info.headOffset > 110_000)
        let after = server.child!.residentMegabytes
        // The hub keeps at most 2048 events and both subscriptions are paused. Holding the 60k new
        // events would add well over 100 MB (bodies plus per-event overhead); measured growth is
        // ~64 MB, which includes SQLite caches still filling (5 connections × 64 MB allowed).
        #expect(after - baseline < 100, "RSS grew from \(baseline) MB to \(after) MB")
        #expect(after < 700, "RSS \(after) MB")
        // The stalled subscriber got exactly its window.
        #expect(info.consumers.first { $0.consumer == "stalled" }?.acknowledgedOffset == 0)
        let delivered = await collected.offsets
        #expect(delivered == Array(1...500))
    }
}

/// Runs one pruning round started by this call (the server's timer may be running one: retried
/// until a round of ours starts) and returns the events it deleted.
func pruningRound(_ server: WaybillServer) async throws -> Int {
    let deleted = Mutex<Int?>(nil)
    try await eventually("a pruning round started by the test to finish") {
        // A no-op while another round runs; once ours has started, later calls are no-ops until it ends.
        server.pruner.runRound { total in deleted.withLock { $0 = total } }
        return deleted.withLock { $0 } != nil
    }
    return deleted.withLock { $0 } ?? -1
}

/// Offsets received by a subscription, with waiters.
actor Collected {
    var offsets: [UInt64] = []
    var largestFrame = 0
    var heads: Set<UInt64> = []
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func add(_ response: Waybill_V1_SubscribeResponse) {
        offsets += response.events.map(\.offset)
        largestFrame = max(largestFrame, response.events.count)
        heads.insert(response.headOffset)
        let ready = waiters.filter { $0.0 <= offsets.count }
        waiters.removeAll { $0.0 <= offsets.count }
        for (_, continuation) in ready { continuation.resume() }
    }

    func wait(for count: Int) async {
        if offsets.count >= count { return }
        await withCheckedContinuation { waiters.append((count, $0)) }
    }
}

/// A subscriber that sends Subscribe over a raw TCP socket and never reads the answers.
final class RawSubscriber: @unchecked Sendable {
    let fd: Int32

    init(port: Int, consumer: String, window: UInt32) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        var receiveBuffer: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        var subscribe = Waybill_V1_SubscribeRequest()
        subscribe.consumer = consumer
        subscribe.windowEvents = window
        var envelope = Waybill_V1_RequestEnvelope()
        envelope.callID = 1
        envelope.method = Method.ChangeFeedService.subscribe
        envelope.payload = try subscribe.serializedData()
        envelope.protocolVersion = ProtocolVersions.current
        let body: [UInt8] = try envelope.serializedBytes()
        var frame: [UInt8] = [Framing.uncompressed]
        let length = UInt32(body.count)
        frame += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        frame += body
        guard write(fd, frame, frame.count) == frame.count else { throw TestFailure("write failed") }
    }

    func close() { _ = Foundation.close(fd) }
}
