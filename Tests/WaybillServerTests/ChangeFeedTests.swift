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
            #expect(firstOrder.allSatisfy { $0.clientID == TestCredentials.admin.name })

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

            // One raw connection carries the stream and every other call, so its frames arrive in the
            // order the server wrote them. A pump sends what the window allows in one go, before the
            // server reads the next request: an answer to a later call (a marker) therefore proves that
            // nothing beyond the window was sent before it — no sleep needed to show an absence.
            let raw = try await server.raw()
            var subscribe = Waybill_V1_SubscribeRequest()
            subscribe.consumer = "windowed"
            subscribe.windowEvents = 5
            subscribe.maxEventsPerFrame = 2
            try await raw.send(try requestEnvelope(callID: 1, method: Method.ChangeFeedService.subscribe, payload: subscribe))
            #expect(try await streamedOffsets(raw, atLeast: 5) == [1, 2, 3, 4, 5])
            #expect(try await offsetsBeforeMarker(raw, callID: 2) == [1, 2, 3, 4, 5], "the server waits for an acknowledgement")

            // Acknowledging 3 opens the window to 3 + 5 = 8, and no further.
            try await raw.send(try requestEnvelope(callID: 3, method: Method.ChangeFeedService.acknowledge, payload: acknowledgement("windowed", 3)))
            #expect(try await streamedOffsets(raw, atLeast: 8) == Array(1...8))
            #expect(try await offsetsBeforeMarker(raw, callID: 4) == Array(1...8))

            // New commits do not overflow the window either: the capture's events are pushed to the
            // stream before its answer is sent, on this connection, so the marker comes after them.
            var capture = Waybill_V1_CaptureOrderRequest()
            capture.order = Fixture.order("WIN-LIVE")
            try await raw.send(try requestEnvelope(callID: 5, method: Method.OrderService.captureOrder, payload: capture))
            #expect(try await raw.waitForAnswer(callID: 5).status.code == .ok)
            #expect(try await offsetsBeforeMarker(raw, callID: 6) == Array(1...8))

            try await raw.send(try requestEnvelope(callID: 7, method: Method.ChangeFeedService.acknowledge,
                                                   payload: acknowledgement("windowed", head + 1)))
            #expect(try await streamedOffsets(raw, atLeast: Int(head) + 1) == Array(1...(head + 1)))
            let frames = try raw.envelopes.filter { $0.callID == 1 }
            #expect(frames.allSatisfy { !$0.endOfStream }, "the stream is still open")
            #expect(try frames.map { try Waybill_V1_SubscribeResponse(serializedBytes: $0.payload).events.count }.allSatisfy { $0 >= 1 && $0 <= 2 },
                    "at most max_events_per_frame events per frame")
            await raw.close()
        }
    }

    @Test("two subscriptions of one consumer each get every event; one acknowledgement opens both windows")
    func twoSubscriptionsOneConsumer() async throws {
        try await withServer { server in
            let client = try await server.client()
            _ = try await makeHistory(client)
            let first = try FeedCollector.subscribe(try await server.client("first"), consumer: "shared", window: 3)
            let second = try FeedCollector.subscribe(try await server.client("second"), consumer: "shared", window: 3)
            #expect(try await first.waitForEvents(3).map(\.offset) == [1, 2, 3])
            #expect(try await second.waitForEvents(3).map(\.offset) == [1, 2, 3], "the events are not shared out between them")
            _ = try await client.acknowledge(consumer: "shared", offset: 3)
            #expect(try await first.waitForEvents(6).prefix(6).map(\.offset) == Array(1...6))
            #expect(try await second.waitForEvents(6).prefix(6).map(\.offset) == Array(1...6))
            let shared = try await client.feedInfo().consumers.filter { $0.consumer == "shared" }
            #expect(shared.map(\.acknowledgedOffset) == [3] && shared.map(\.connected) == [true], "one consumer")
            first.cancel()
            second.cancel()
        }
    }

    private func acknowledgement(_ consumer: String, _ offset: UInt64) -> Waybill_V1_AcknowledgeRequest {
        var request = Waybill_V1_AcknowledgeRequest()
        request.consumer = consumer
        request.offset = offset
        return request
    }

    /// The offsets stream call 1 delivered on `raw`, once at least `count` have arrived.
    private func streamedOffsets(_ raw: RawConnection, atLeast count: Int) async throws -> [UInt64] {
        func offsets() throws -> [UInt64] {
            try raw.envelopes.filter { $0.callID == 1 && !$0.endOfStream }
                .flatMap { try Waybill_V1_SubscribeResponse(serializedBytes: $0.payload).events.map(\.offset) }
        }
        guard try await eventually("\(count) streamed events", { try offsets().count >= count }) else {
            throw TimedOut(what: "\(count) streamed events (have \(try offsets()))")
        }
        return try offsets()
    }

    /// Sends GetServerInfo as `callID` and returns the offsets stream call 1 delivered before its answer.
    private func offsetsBeforeMarker(_ raw: RawConnection, callID: UInt64) async throws -> [UInt64] {
        try await raw.send(try requestEnvelope(callID: callID, method: Method.SystemService.getServerInfo, payload: Waybill_V1_GetServerInfoRequest()))
        _ = try await raw.waitForAnswer(callID: callID)
        let envelopes = try raw.envelopes
        let marker = try #require(envelopes.firstIndex { $0.callID == callID })
        return try envelopes[..<marker].filter { $0.callID == 1 }
            .flatMap { try Waybill_V1_SubscribeResponse(serializedBytes: $0.payload).events.map(\.offset) }
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
