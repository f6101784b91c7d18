// A permanent refusal (400) of one order's event: that event is dead-lettered, every later event
// of the same order is parked behind it (also across a bridge restart), other orders keep
// flowing, the feed is acknowledged past both (they are safe in the store), and `replay` delivers
// the refused event and its followers in offset order; a follower alone is not replayed ahead of it.

import Foundation
import NIOHTTP1
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

@Suite("ERP bridge parking", .serialized)
struct BridgeParkingTests {
    @Test("400 on order A's capture: A's later events parked (across a restart), B delivered; replay delivers A's in order, then A flows")
    func refusalParksTheOrder() async throws {
        let refusing = Toggle(true)
        let bench = try await BridgeBench.start("bridge-parking") { message, _ in
            refusing.isOn && message.externalOrderId?.hasPrefix("A") == true && message.type == "order.captured" ? .status(.badRequest) : .ok
        }
        let consumer = "erp-parking"
        let firstBridge = try bench.bridge(consumer: consumer)
        let firstRun = Task { try await firstBridge.run() }
        let a = try await bench.client.captureOrder(TestNetwork.order("A", [("SKU-1", 1)])).order
        let b = try await bench.client.captureOrder(TestNetwork.order("B", [("SKU-2", 1)])).order
        var head = try await bench.client.feedInfo().headOffset
        try await firstBridge.delivered(through: head)
        firstRun.cancel()
        _ = await firstRun.result

        // While no bridge runs: A is released (its next event), B shipped, C captured. A second
        // bridge on the same state directory parks A's event: the store says A is refused.
        var release = Waybill_V1_FulfillmentRequest()
        release.requestID = "a-release"
        release.orderID = a.orderID
        _ = try await bench.client.lifecycle(Method.OrderService.releaseFulfillment, release)
        _ = try await bench.client.shipAll(b.orderID, requestPrefix: "b")
        let c = try await bench.client.captureOrder(TestNetwork.order("C", [("SKU-3", 1)])).order
        let bridge = try bench.bridge(consumer: consumer)
        let running = Task { try await bridge.run() }
        head = try await bench.client.feedInfo().headOffset
        try await bridge.delivered(through: head)

        let store = try DeadLetterStore(stateDirectory: bench.state)
        let letters = try store.list()
        try #require(letters.count == 2, "\(letters.map(\.id))")
        let (refused, follower) = (letters[0], letters[1])
        #expect(refused.message.orderId == a.orderID && refused.message.type == "order.captured" && refused.blockedBy == nil)
        #expect(refused.lastError.contains("400"))
        #expect(follower.message.orderId == a.orderID && follower.message.type == "order.fulfillment_released")
        #expect(follower.blockedBy == refused.id && follower.attempts == 0)
        // The ERP was asked about A once (the refused capture) and took nothing of it; B and C arrived in order.
        #expect(bench.erp.attempts.filter { $0.message.orderId == a.orderID }.count == 1)
        #expect(bench.erp.accepted.contains { $0.orderId == b.orderID && $0.type == "order.fulfillment_shipped" })
        #expect(bench.erp.accepted.contains { $0.orderId == c.orderID })
        #expect(Set(bench.erp.accepted.map(\.eventId)).count == Int(head) - 2)
        #expect(Delivery(bench.erp.accepted).outOfOrder.isEmpty)
        try await eventually("the feed is acknowledged past the parked events") { try await bench.acknowledged(consumer) == head }
        let status = await bridge.makeStatus()
        #expect(status.deadLettersWaiting == 2 && status.blockedAggregates == 1 && status.breakerState == .closed)
        #expect(status.deadLettered == 1, "the running total counts this process's dead letters (the parked follower)")

        // The follower alone would overtake the refused event: refused, kept.
        refusing.set(false)
        let target = try WebhookTarget.signed(url: bench.url)
        let early = try await DeadLetterReplay.replay(store: store, ids: [follower.id], target: target, targetDescription: "webhook",
                                                      limits: BridgeLimits(), logger: quietLogger("replay"))
        #expect(early.delivered.isEmpty && early.failed.map(\.id) == [follower.id])
        #expect(early.failed.first?.error.contains("blocked by \(refused.id)") == true)
        #expect(try store.list().count == 2)
        #expect(!bench.erp.accepted.contains { $0.orderId == a.orderID })

        // Replaying the refused event brings its follower, in offset order.
        let report = try await DeadLetterReplay.replay(store: store, ids: [refused.id], target: target, targetDescription: "webhook",
                                                       limits: BridgeLimits(), logger: quietLogger("replay"))
        await target.shutdown()
        #expect(report.delivered == [refused.id, follower.id] && report.failed.isEmpty)
        #expect(try store.list().isEmpty)
        #expect(bench.erp.accepted.filter { $0.orderId == a.orderID }.map(\.type) == ["order.captured", "order.fulfillment_released"])

        // The running bridge sees A's letters left the store: A's next event goes to the ERP.
        _ = try await bench.client.shipAll(a.orderID, requestPrefix: "a")
        // A fresh refusal while it runs: D's capture refused, its cancel parked, E delivered.
        refusing.set(true)
        let d = try await bench.client.captureOrder(TestNetwork.order("A-2", [("SKU-1", 1)])).order
        _ = try await bench.client.cancel(d.orderID, requestID: "d-cancel")
        let e = try await bench.client.captureOrder(TestNetwork.order("E", [("SKU-1", 1)])).order
        head = try await bench.client.feedInfo().headOffset
        try await bridge.delivered(through: head)
        #expect(bench.erp.accepted.filter { $0.orderId == a.orderID }.map(\.type) == ["order.captured", "order.fulfillment_released", "order.fulfillment_shipped"])
        let parked = try store.list()
        #expect(parked.map(\.message.orderId) == [d.orderID, d.orderID])
        #expect(parked.last?.blockedBy == parked.first?.id)
        #expect(bench.erp.accepted.contains { $0.orderId == e.orderID })
        #expect(Delivery(bench.erp.accepted).outOfOrder.isEmpty)
        // The replay ran beside the bridge: its count of letters waiting is the store's as of its next report.
        try await eventually("the bridge recounts the store") { await bridge.makeStatus().deadLettersWaiting == 2 }
        let after = await bridge.makeStatus()
        #expect(after.deadLettered == 3)
        #expect(after.blockedAggregates == 1)
        await bench.stop(running)
    }

    @Test("file drop: events of an aggregate with a letter in the store are parked, the others written")
    func fileDropParks() async throws {
        let server = try await InProcessServer.start("drop-parking", clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let drop = try temporaryDirectory("drop-parking-files")
        let state = try temporaryDirectory("drop-parking-state")
        // A letter already in the store for order W-00000001 parks that order's events.
        let first = try await client.captureOrder(TestNetwork.order("P-1", [("SKU-1", 1)])).order
        let store = try DeadLetterStore(stateDirectory: state)
        var refusedMessage = ErpMessage(eventId: "evt-1", offset: 1, type: "order.captured", aggregateType: "order",
                                        aggregateId: first.orderID, aggregateSequence: 0)
        refusedMessage.orderId = first.orderID
        try store.add(DeadLetter(message: refusedMessage, attempts: 1, lastError: "HTTP 400", deadLetteredAtUnixMs: 0, target: "test"))
        _ = try await client.cancel(first.orderID, requestID: "p1-cancel")
        _ = try await client.captureOrder(TestNetwork.order("P-2", [("SKU-2", 1)]))
        var configuration = BridgeConfiguration(server: server.address, consumer: "files-parking", target: .files(directory: drop, format: .jsonl),
                                                stateDirectory: state)
        configuration.connection = TestCredentials.erpConnection
        configuration.limits.fileBatchLingerMilliseconds = 5
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        let head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head)
        running.cancel()
        _ = await running.result
        let written = try droppedMessages(drop)
        #expect(!written.contains { $0.orderId == first.orderID })
        #expect(written.contains { $0.externalOrderId == "P-2" })
        let letters = try store.list()
        #expect(letters.filter { $0.message.orderId == first.orderID }.count == 3, "\(letters.map(\.id))")
        #expect(letters.filter { $0.blockedBy == "evt-1" }.count == 2)
        await client.close()
        await server.stop()
        try? FileManager.default.removeItem(atPath: drop)
        try? FileManager.default.removeItem(atPath: state)
    }
}
