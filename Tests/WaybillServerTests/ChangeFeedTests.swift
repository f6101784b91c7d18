// Change feed basics (issue 5 adds more): order, gap-free offsets, per-aggregate sequences,
// acknowledgements, resuming, and the flow-control window.

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("Change feed", .timeLimit(.minutes(2)))
struct ChangeFeedTests {
    /// A network, some orders and lifecycle changes: a feed worth reading.
    private func makeHistory(_ client: WaybillClient) async throws -> [String] {
        try await client.loadFixtureNetwork()
        var ids: [String] = []
        for n in 0..<4 {
            ids.append(try await client.captureOrder(Fixture.order("FEED-\(n)", lines: [("SKU-A", 1), ("SKU-B", 1)])).order.orderID)
        }
        let first = try await client.getOrder(ids[0])
        _ = try await client.release(ids[0], request: "feed-rel")
        _ = try await client.ship(ids[0], first.fulfillments[0].fulfillmentID, request: "feed-ship")
        _ = try await client.hold(ids[1], request: "feed-hold")
        _ = try await client.cancel(ids[2], request: "feed-cancel")
        return ids
    }

    private func checkSequences(_ events: [Waybill_V1_ChangeEvent], sourceLocation: SourceLocation = #_sourceLocation) {
        var last: [String: Int64] = [:]
        for event in events {
            #expect(event.eventID == "evt-\(event.offset)", sourceLocation: sourceLocation)
            let key = event.aggregateType + ":" + event.aggregateID
            if event.aggregateType == "order" || event.aggregateType == "inventory" {
                #expect(event.aggregateSequence == (last[key] ?? 0) + 1, "\(key) at \(event.offset)", sourceLocation: sourceLocation)
            }
            if event.aggregateType == "order" {
                #expect(event.order.orderID == event.aggregateID && event.order.version == event.aggregateSequence,
                        sourceLocation: sourceLocation)
                #expect(event.orderID == event.aggregateID, sourceLocation: sourceLocation)
            }
            if event.aggregateType == "inventory" {
                #expect(event.aggregateID == "\(event.sku)@\(event.locationID)", sourceLocation: sourceLocation)
            }
            last[key] = event.aggregateSequence
        }
    }

    @Test("Subscribe delivers committed events in offset order, gap-free, with increasing per-order sequences, and pushes new ones")
    func orderedGapFree() async throws {
        try await withServer { server in
            let client = try await server.client()
            let ids = try await makeHistory(client)
            let head = try await client.feedInfo().headOffset
            #expect(head > 20)

            let reader = try await server.client("feed-reader")
            let feed = try FeedCollector.subscribe(reader, consumer: "ordered", from: 1, perFrame: 7)
            let events = try await feed.waitForEvents(Int(head))
            #expect(events.map(\.offset) == Array(1...head))
            #expect(feed.frames >= Int(head) / 7, "at most 7 events per frame")
            #expect(feed.heads.allSatisfy { $0 >= 1 && $0 <= head })
            checkSequences(events)
            let types = Set(events.map(\.type))
            for type in ["item.upserted", "inventory.received", "order.captured", "order.fulfillment_released",
                         "order.fulfillment_shipped", "order.hold_placed", "order.cancelled"] {
                #expect(types.contains(type), "\(type) in the feed")
            }
            let firstOrder = events.filter { $0.aggregateID == ids[0] }
            #expect(firstOrder.map(\.type) == ["order.captured", "order.fulfillment_released", "order.fulfillment_shipped"])
            #expect(firstOrder.map(\.aggregateSequence) == [1, 2, 3])
            #expect(firstOrder.last?.fulfillmentID == "\(ids[0])-F1")
            #expect(firstOrder.last?.order.status == .shipped)
            #expect(firstOrder.allSatisfy { $0.clientID == "server-tests" })

            // New commits are pushed to the open stream, in order.
            _ = try await client.captureOrder(Fixture.order("FEED-LIVE"))
            _ = try await client.hold(ids[3], request: "feed-hold-live")
            let live = try await feed.waitForEvents(Int(head) + 2)
            #expect(live.map(\.offset) == Array(1...(head + 2)))
            #expect(live[Int(head)].type == "order.captured" && live[Int(head)].order.externalOrderID == "FEED-LIVE")
            #expect(live[Int(head) + 1].aggregateID == ids[3] && live[Int(head) + 1].aggregateSequence == 2)
            checkSequences(live)
            feed.cancel()
        }
    }

    @Test("Acknowledge stores the offset; a reconnecting consumer resumes right after it")
    func acknowledgeAndResume() async throws {
        try await withServer { server in
            let client = try await server.client()
            _ = try await makeHistory(client)
            let head = try await client.feedInfo().headOffset

            let firstConnection = try await server.client("consumer-1")
            let feed = try FeedCollector.subscribe(firstConnection, consumer: "erp-bridge")
            let events = try await feed.waitForEvents(Int(head))
            #expect(events.first?.offset == 1, "a new consumer starts at the beginning")
            let acknowledged = try await firstConnection.acknowledge(consumer: "erp-bridge", offset: 12)
            #expect(acknowledged.consumer.consumer == "erp-bridge")
            #expect(acknowledged.consumer.acknowledgedOffset == 12)
            #expect(acknowledged.consumer.lagEvents == head - 12)
            #expect(acknowledged.consumer.acknowledgedAtUnixMs == server.clock.now)
            // Acknowledgements never move back; beyond the head they are refused.
            #expect(try await client.acknowledge(consumer: "erp-bridge", offset: 5).consumer.acknowledgedOffset == 12)
            let beyond = await expectStatus(.outOfRange) { try await client.acknowledge(consumer: "erp-bridge", offset: head + 1) }
            #expect(beyond?.message.contains("beyond the head") == true)
            await expectStatus(.invalidArgument, field: "consumer") { try await client.acknowledge(consumer: "", offset: 1) }

            let info = try await client.feedInfo()
            #expect(info.earliestOffset == 1 && info.headOffset == head)
            let stored = try #require(info.consumers.first { $0.consumer == "erp-bridge" })
            #expect(stored.acknowledgedOffset == 12)
            #expect(stored.connected)

            // The consumer goes away (connection closed) and comes back on another connection.
            feed.cancel()
            await firstConnection.close()
            #expect(await eventually("the consumer to show as disconnected") {
                (try? await client.feedInfo().consumers.first { $0.consumer == "erp-bridge" }?.connected) == false
            })
            let secondConnection = try await server.client("consumer-2")
            let resumed = try FeedCollector.subscribe(secondConnection, consumer: "erp-bridge")
            let again = try await resumed.waitForEvents(Int(head) - 12)
            #expect(again.map(\.offset) == Array(13...head), "resumes right after the acknowledged offset")
            // An explicit from_offset replays from there.
            let replay = try FeedCollector.subscribe(secondConnection, consumer: "erp-bridge", from: 3)
            #expect(try await replay.waitForEvents(Int(head) - 2).first?.offset == 3)
            resumed.cancel()
            replay.cancel()
        }
    }

    @Test("the window stops delivery until the consumer acknowledges")
    func window() async throws {
        try await withServer { server in
            let client = try await server.client()
            _ = try await makeHistory(client)
            let head = try await client.feedInfo().headOffset
            #expect(head > 15)

            let reader = try await server.client("windowed")
            let feed = try FeedCollector.subscribe(reader, consumer: "windowed", window: 5, perFrame: 2)
            let firstWindow = try await feed.waitForEvents(5)
            #expect(firstWindow.map(\.offset) == [1, 2, 3, 4, 5])
            // Nothing beyond the window, however long we wait (a bounded wait: absence cannot be awaited).
            try await Task.sleep(for: .milliseconds(300))
            #expect(feed.events.count == 5, "the server waits for an acknowledgement")

            _ = try await client.acknowledge(consumer: "windowed", offset: 3)
            let secondWindow = try await feed.waitForEvents(8)
            #expect(secondWindow.map(\.offset) == Array(1...8), "acknowledging 3 opens the window to 3 + 5 = 8")
            try await Task.sleep(for: .milliseconds(300))
            #expect(feed.events.count == 8)

            // New commits do not overflow the window either.
            _ = try await client.captureOrder(Fixture.order("WIN-LIVE"))
            try await Task.sleep(for: .milliseconds(200))
            #expect(feed.events.count == 8)

            _ = try await client.acknowledge(consumer: "windowed", offset: head + 1)
            let everything = try await feed.waitForEvents(Int(head) + 1)
            #expect(everything.map(\.offset) == Array(1...(head + 1)))
            feed.cancel()
        }
    }

    @Test("stream frames stay within frameBytesMax, however many events a frame may carry")
    func framesWithinLimit() async throws {
        try await withServer({ $0.transport.frameBytesMax = 16_384 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            for n in 0..<30 {
                var order = Fixture.order("FAT-\(n)", lines: (1...6).map { ("SKU-\(Character(UnicodeScalar(64 + $0)!))", 1) })
                order.attributes = ["note": String(repeating: "n", count: 500)]
                _ = try await client.captureOrder(order)
            }
            let head = try await client.feedInfo().headOffset
            // A consumer that holds the server to its limit, asking for many events per frame.
            let reader = try await server.client("strict", frameBytesMax: 16_384)
            let feed = try FeedCollector.subscribe(reader, consumer: "strict", perFrame: 1_000)
            let events = try await feed.waitForEvents(Int(head))
            #expect(events.map(\.offset) == Array(1...head))
            #expect(feed.frames > 1)
            #expect(!feed.ended, "no connection error: \(String(describing: feed.error))")
            feed.cancel()
        }
    }

    @Test("Subscribe validates its request")
    func subscribeValidation() async throws {
        try await withServer({ $0.transport.subscriptionWindowEventsMax = 100 }) { server in
            let client = try await server.client()
            let noName = try FeedCollector.subscribe(client, consumer: "")
            #expect(try await noName.waitForEnd()?.code == .invalidArgument)
            let bigWindow = try FeedCollector.subscribe(client, consumer: "big", window: 101)
            let error = try await bigWindow.waitForEnd()
            #expect(error?.code == .invalidArgument)
            #expect(error?.details.limitName == "subscriptionWindowEventsMax")
            let bigFrames = try FeedCollector.subscribe(client, consumer: "frames", perFrame: 5_000)
            #expect(try await bigFrames.waitForEnd()?.details.limitName == "eventsPerFrameMax")
            _ = try await client.serverInfo()
        }
    }
}
