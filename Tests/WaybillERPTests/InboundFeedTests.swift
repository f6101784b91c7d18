// Inbound ERP feeds over the real protocol (in-process server, manual clock): stock snapshots with
// variance correction, deltas, item master, order acknowledgement and documents; each idempotent
// by message id.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

@Suite("Inbound ERP feeds")
struct InboundFeedTests {
    func snapshot(_ id: String, _ location: String, asOf: Int64, _ levels: [(String, Int64)], complete: Bool = false) -> Waybill_V1_StockSnapshotMessage {
        var message = Waybill_V1_StockSnapshotMessage()
        message.messageID = id
        message.locationID = location
        message.asOfUnixMs = asOf
        message.complete = complete
        message.levels = levels.map { sku, onHand in
            var level = Waybill_V1_StockLevel()
            level.sku = sku
            level.onHand = onHand
            return level
        }
        return message
    }

    func apply(_ client: WaybillClient, _ message: Waybill_V1_StockSnapshotMessage) async throws -> Waybill_V1_ErpMessageResult {
        try await client.call(Method.ErpService.applyStockSnapshot, message)
    }

    func receipt(_ client: WaybillClient, _ id: String, _ sku: String, _ location: String, _ quantity: Int32) async throws {
        var message = Waybill_V1_StockDeltaMessage()
        message.messageID = id
        var change = Waybill_V1_InventoryChange()
        change.kind = .receipt
        change.sku = sku
        change.locationID = location
        change.quantity = quantity
        message.changes = [change]
        let result: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockDeltas, message)
        #expect(result.applied == 1)
    }

    /// One warehouse holding 10 of SKU-1 (received at the clock's start).
    func start(_ name: String) async throws -> (InProcessServer, WaybillClient, ManualClock) {
        let clock = ManualClock()
        let server = try await InProcessServer.start(name, clock: clock)
        let client = try await server.client()
        var model = TestNetwork.model(stock: 0)
        model.locations.removeLast()
        var change = Waybill_V1_InventoryChange()
        change.kind = .receipt
        change.sku = "SKU-1"
        change.locationID = "WH-1"
        change.quantity = 10
        change.changeID = "initial"
        model.initialStock = [change]
        _ = try await client.loadNetwork(model)
        return (server, client, clock)
    }

    @Test("a snapshot older than recent sales does not resurrect sold stock")
    func snapshotOlderThanSales() async throws {
        let (server, client, clock) = try await start("older-than-sales")
        defer { Task { await client.close(); await server.stop() } }
        let t0 = clock.milliseconds
        clock.advance(1_000)
        let captured = try await client.captureOrder(TestNetwork.order("SALE-1", [("SKU-1", 3)])).order
        clock.advance(1_000)
        let asOf = clock.milliseconds       // the ERP counted here: 10 units, the sale not yet shipped
        clock.advance(1_000)
        let shipped = try await client.shipAll(captured.orderID, requestPrefix: "sale-1")
        #expect(shipped.status == .shipped)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 7)
        clock.advance(1_000)
        let result = try await apply(client, snapshot("snap-1", "WH-1", asOf: asOf, [("SKU-1", 10)]))
        #expect(!result.replayed && result.applied == 1)
        // 10 counted before the shipment of 3: on hand is 7, not 10.
        let position = try await client.position("SKU-1", "WH-1")
        #expect(position.onHand == 7 && position.reserved == 0)
        // A count that found one unit missing before the sale: 9 − 3.
        _ = try await apply(client, snapshot("snap-2", "WH-1", asOf: asOf, [("SKU-1", 9)]))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 6)
        // Older than the counts already applied: stale, not applied over them.
        let stale = try await apply(client, snapshot("snap-3", "WH-1", asOf: t0 - 1, [("SKU-1", 0)]))
        #expect(!stale.replayed && stale.applied == 0)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 6)
    }

    @Test("a count below the reservations re-routes the newest holders' units, in the same transaction")
    func countBelowReservations() async throws {
        let (server, client, clock) = try await start("count-below-reservations")
        defer { Task { await client.close(); await server.stop() } }
        let older = try await client.captureOrder(TestNetwork.order("OLD-1", [("SKU-1", 3)])).order
        clock.advance(1_000)
        let newer = try await client.captureOrder(TestNetwork.order("NEW-1", [("SKU-1", 4)])).order
        #expect(try await client.position("SKU-1", "WH-1").reserved == 7)
        clock.advance(1_000)
        // The ERP counts 5: two reserved units are not there. The newest order gives them up;
        // WH-1 is the only location, so they are backordered.
        let result = try await apply(client, snapshot("count-1", "WH-1", asOf: clock.milliseconds, [("SKU-1", 5)]))
        #expect(result.applied == 1)
        let position = try await client.position("SKU-1", "WH-1")
        #expect(position.onHand == 5 && position.reserved == 5)
        let oldOrder = try await client.getOrder(older.orderID)
        let newOrder = try await client.getOrder(newer.orderID)
        #expect(oldOrder.lines[0].quantities.allocated == 3 && oldOrder.lines[0].quantities.backordered == 0)
        #expect(newOrder.lines[0].quantities.allocated == 2 && newOrder.lines[0].quantities.backordered == 2)
        #expect(newOrder.status == .partiallyAllocated)
        // Stock arriving serves the backorder (oldest first, as always).
        try await receipt(client, "delta-1", "SKU-1", "WH-1", 2)
        #expect(try await client.getOrder(newer.orderID).lines[0].quantities.backordered == 0)
        #expect(try await client.position("SKU-1", "WH-1").reserved == 7)
    }

    @Test("a count older than one already applied is stale: on a fresh position it is corrected, never over a newer count")
    func staleSnapshots() async throws {
        let (server, client, clock) = try await start("stale-snapshots")
        defer { Task { await client.close(); await server.stop() } }
        let t0 = clock.milliseconds
        clock.advance(1_000)
        // No count yet: one older than everything has the initial receipt re-applied on top of 0.
        _ = try await apply(client, snapshot("snap-old", "WH-1", asOf: t0 - 1, [("SKU-1", 0)]))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 10)
        clock.advance(1_000)
        _ = try await apply(client, snapshot("snap-new", "WH-1", asOf: clock.milliseconds, [("SKU-1", 8)]))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 8)
        // Delivered late, counted in between: not applied over the newer count.
        let late = try await apply(client, snapshot("snap-between", "WH-1", asOf: clock.milliseconds - 500, [("SKU-1", 10)]))
        #expect(late.applied == 0 && late.positions.isEmpty)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 8)
        // The newest count per SKU survives a restart (it is stored with the ledger).
        await client.close()
        let restarted = try await server.restart()
        let again = try await restarted.client()
        let lateAgain = try await apply(again, snapshot("snap-between-2", "WH-1", asOf: clock.milliseconds - 500, [("SKU-1", 10)]))
        #expect(lateAgain.applied == 0)
        #expect(try await again.position("SKU-1", "WH-1").onHand == 8)
        await again.close()
        await restarted.stop()
    }

    @Test("a snapshot newer than a receipt includes it; a late one never erases it")
    func snapshotAndReceipts() async throws {
        let (server, client, clock) = try await start("newer-than-receipt")
        defer { Task { await client.close(); await server.stop() } }
        clock.advance(1_000)
        let beforeReceipt = clock.milliseconds
        clock.advance(1_000)
        try await receipt(client, "delta-1", "SKU-1", "WH-1", 5)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 15)
        clock.advance(1_000)
        let afterReceipt = clock.milliseconds
        clock.advance(1_000)
        // Counted after the receipt: 14 (one lost); the receipt is in the count, not added twice.
        _ = try await apply(client, snapshot("snap-new", "WH-1", asOf: afterReceipt, [("SKU-1", 14)]))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 14)
        // Counted before the receipt but arriving after the newer count: stale, so the unit the
        // newer count found missing is not resurrected.
        _ = try await apply(client, snapshot("snap-late", "WH-1", asOf: beforeReceipt, [("SKU-1", 10)]))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 14)
        // A complete snapshot zeroes SKUs it does not list (SKU-2 received after as_of stays).
        clock.advance(1_000)
        try await receipt(client, "delta-2", "SKU-2", "WH-1", 4)
        _ = try await apply(client, snapshot("snap-complete", "WH-1", asOf: afterReceipt, [("SKU-1", 14)], complete: true))
        #expect(try await client.position("SKU-1", "WH-1").onHand == 14)
        #expect(try await client.position("SKU-2", "WH-1").onHand == 4)
    }

    @Test("a snapshot concurrent with reservations leaves them intact")
    func snapshotConcurrentWithReservations() async throws {
        let (server, client, clock) = try await start("with-reservations")
        defer { Task { await client.close(); await server.stop() } }
        clock.advance(1_000)
        for number in 0..<3 { _ = try await client.captureOrder(TestNetwork.order("RES-\(number)", [("SKU-1", 2)])) }
        #expect(try await client.position("SKU-1", "WH-1").reserved == 6)
        clock.advance(1_000)
        let asOf = clock.milliseconds
        // The snapshot and more captures race through the same writer.
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try await self.apply(client, self.snapshot("snap-race", "WH-1", asOf: asOf, [("SKU-1", 12)]))
                return true
            }
            for number in 0..<6 {
                group.addTask {
                    do {
                        _ = try await client.captureOrder(TestNetwork.order("RACE-\(number)", [("SKU-1", 1)]))
                        return true
                    } catch let error as WaybillStatusError where error.code == .failedPrecondition {
                        return false  // out of stock is a legal outcome
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 7)
        let position = try await client.position("SKU-1", "WH-1")
        // No stock moved physically since as_of: on hand is exactly the count.
        #expect(position.onHand == 12)
        // Reservations are exactly what the orders hold.
        var held: Int64 = 0
        var page = Waybill_V1_ListOrdersRequest()
        page.pageSize = 100
        for order in try await client.listOrders(page).orders {
            for fulfillment in order.fulfillments where fulfillment.status == .released || fulfillment.status == .created {
                held += Int64(fulfillment.lines.reduce(0) { $0 + $1.quantity })
            }
        }
        #expect(position.reserved == held)
        #expect(held >= 6)
        #expect(position.available == max(0, position.onHand - position.reserved - position.safetyStock))
    }

    @Test("every inbound message is idempotent by message id; ERP fields show in GetOrder")
    func idempotentMessages() async throws {
        let (server, client, clock) = try await start("idempotent")
        defer { Task { await client.close(); await server.stop() } }
        clock.advance(1_000)
        let first = try await apply(client, snapshot("snap-x", "WH-1", asOf: clock.milliseconds, [("SKU-1", 8)]))
        let again = try await apply(client, snapshot("snap-x", "WH-1", asOf: clock.milliseconds, [("SKU-1", 8)]))
        #expect(!first.replayed && again.replayed)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 8)
        await #expect(throws: WaybillStatusError.self) {
            _ = try await apply(client, snapshot("snap-x", "WH-1", asOf: clock.milliseconds, [("SKU-1", 3)]))
        }
        #expect(try await client.position("SKU-1", "WH-1").onHand == 8)

        try await receipt(client, "delta-x", "SKU-1", "WH-1", 2)
        var delta = Waybill_V1_StockDeltaMessage()
        delta.messageID = "delta-x"
        var change = Waybill_V1_InventoryChange()
        change.kind = .receipt
        change.sku = "SKU-1"
        change.locationID = "WH-1"
        change.quantity = 2
        delta.changes = [change]
        let replayed: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockDeltas, delta)
        #expect(replayed.replayed)
        #expect(try await client.position("SKU-1", "WH-1").onHand == 10)

        var master = Waybill_V1_ItemMasterMessage()
        master.messageID = "items-1"
        var item = Waybill_V1_Item()
        item.sku = "SKU-9"
        item.description_p = "New item"
        item.weightGrams = 300
        item.active = true
        master.items = [item]
        let applied: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyItemMaster, master)
        let reapplied: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyItemMaster, master)
        #expect(applied.applied == 1 && !applied.replayed && reapplied.replayed)

        let order = try await client.captureOrder(TestNetwork.order("ERP-1", [("SKU-1", 1)])).order
        var ack = Waybill_V1_ErpOrderAcknowledgement()
        ack.messageID = "ack-1"
        ack.orderID = order.orderID
        ack.erpDocumentNumber = "SO-1001"
        ack.postingStatus = .posted
        let acked: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordOrderAcknowledgement, ack)
        let reacked: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordOrderAcknowledgement, ack)
        #expect(acked.applied == 1 && reacked.replayed)
        var posted = Waybill_V1_ErpDocumentPosted()
        posted.messageID = "inv-1"
        posted.orderID = order.orderID
        posted.document.kind = "invoice"
        posted.document.documentNumber = "INV-77"
        posted.document.amount.minorUnits = 1_000
        posted.document.amount.currency = "USD"
        let invoiced: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordDocumentPosted, posted)
        let reinvoiced: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordDocumentPosted, posted)
        #expect(invoiced.applied == 1 && reinvoiced.replayed)
        let stored = try await client.getOrder(order.orderID)
        #expect(stored.erp.erpDocumentNumber == "SO-1001")
        #expect(stored.erp.postingStatus == .posted)
        #expect(stored.erp.documents.map(\.documentNumber) == ["INV-77"])
        #expect(stored.version == order.version + 2)
    }
}
