// A scenario in which every kind of change-feed event happens once at least, over the real
// protocol (the fixture network loaded first): the documentation test compares the event types
// it reads back from the feed with docs/PROTOCOL.md's table.

import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

enum EveryEvent {
    /// Plays the scenario, then reads the whole feed back; returns the event types seen.
    static func play(_ client: WaybillClient, clock: ManualClock) async throws -> Set<String> {
        // Shipped through every step, delivered, returned, acknowledged and invoiced by the ERP.
        let delivered = try await client.captureOrder(Fixture.order("EV-DELIVERED", lines: [("SKU-A", 2)])).order
        let orderID = delivered.orderID, fulfillmentID = try #require(delivered.fulfillments.first).fulfillmentID
        _ = try await client.release(orderID, request: "ev-release")
        _ = try await client.fulfillmentStep(Method.OrderService.confirmPick, orderID, fulfillmentID, request: "ev-pick")
        _ = try await client.fulfillmentStep(Method.OrderService.confirmPack, orderID, fulfillmentID, request: "ev-pack")
        _ = try await client.ship(orderID, fulfillmentID, request: "ev-ship")
        _ = try await client.fulfillmentStep(Method.OrderService.confirmDelivery, orderID, fulfillmentID, request: "ev-deliver")
        var createReturn = Waybill_V1_CreateReturnRequest()
        createReturn.requestID = "ev-return"
        createReturn.orderID = orderID
        createReturn.returnID = "R1"
        createReturn.lines = [lineQuantity("L1", 1)]
        // An exchange reserved at creation: the replacement's order.captured, then order.exchange_created.
        createReturn.exchange.lines = [Fixture.line("1", "SKU-A", 1)]
        createReturn.exchange.reserveAt = .atCreation
        _ = try await client.lifecycle(Method.OrderService.createReturn, createReturn)
        _ = try await client.lifecycle(Method.OrderService.receiveReturn,
                                       receiveReturn(orderID, "R1", request: "ev-receive-return", restocking: [("L1", 1)]))
        var acknowledgement = Waybill_V1_ErpOrderAcknowledgement()
        acknowledgement.messageID = "ev-erp-ack"
        acknowledgement.orderID = orderID
        acknowledgement.erpDocumentNumber = "SO-1"
        acknowledgement.postingStatus = .posted
        acknowledgement.atUnixMs = clock.now
        let _: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordOrderAcknowledgement, acknowledgement)
        var invoice = Waybill_V1_ErpDocumentPosted()
        invoice.messageID = "ev-erp-invoice"
        invoice.orderID = orderID
        invoice.document.kind = "invoice"
        invoice.document.documentNumber = "INV-1"
        invoice.document.amount = Fixture.money(3_998)
        invoice.document.postedAtUnixMs = clock.now
        let _: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.recordDocumentPosted, invoice)

        // Held and released, then cancelled in part and in whole.
        let held = try await client.captureOrder(Fixture.order("EV-HELD", lines: [("SKU-A", 2)])).order.orderID
        _ = try await client.hold(held, request: "ev-hold")
        _ = try await client.releaseHold(held, request: "ev-unhold")
        var cancelLines = Waybill_V1_CancelLinesRequest()
        cancelLines.requestID = "ev-cancel-lines"
        cancelLines.orderID = held
        cancelLines.lines = [lineQuantity("L1", 1)]
        _ = try await client.lifecycle(Method.OrderService.cancelLines, cancelLines)
        _ = try await client.cancel(held, request: "ev-cancel")

        // Edited before release: one more unit.
        let edited = try await client.captureOrder(Fixture.order("EV-EDITED", lines: [("SKU-A", 1)])).order.orderID
        _ = try await client.editOrder(Waybill_V1_EditOrderRequest(requestID: "ev-edit", orderID: edited,
                                                                   edits: [.changeLineQuantity(lineID: "L1", quantity: 2)], reason: "customer"))

        // Backordered (no SKU-E anywhere), then served by a receipt.
        let waiting = try await client.captureOrder(Fixture.order("EV-WAITING", lines: [("SKU-E", 1)])).order
        #expect(waiting.status == .backordered)
        var receipt = Fixture.stock("SKU-E", "WH-EAST", 5)
        receipt.changeID = "ev-receipt"
        try expectApplied(try await client.receive([receipt]))

        // Rejected by its location, the stock missing.
        let rejected = try await client.captureOrder(Fixture.order("EV-REJECTED", lines: [("SKU-B", 1)])).order
        _ = try await client.reject(rejected.orderID, try #require(rejected.fulfillments.first).fulfillmentID,
                                    request: "ev-reject", stockMissing: true)

        // Inventory: an adjustment, a transfer, a setting, a count.
        var adjustment = Waybill_V1_InventoryChange()
        adjustment.changeID = "ev-adjust"
        adjustment.kind = .adjustment
        adjustment.sku = "SKU-C"
        adjustment.locationID = "WH-WEST"
        adjustment.quantity = -1
        var transfer = adjustment
        transfer.changeID = "ev-transfer"
        transfer.kind = .transfer
        transfer.toLocationID = "WH-EAST"
        transfer.quantity = 1
        try expectApplied(try await client.adjust([adjustment, transfer]))
        var setting = Waybill_V1_InventorySetting()
        setting.sku = "SKU-C"
        setting.locationID = "WH-WEST"
        setting.safetyStock = 1
        var settings = Waybill_V1_UpdateInventorySettingsRequest()
        settings.settings = [setting]
        let _: Waybill_V1_UpdateInventorySettingsResponse = try await client.call(Method.InventoryService.updateInventorySettings, settings)
        var count = Waybill_V1_StockSnapshotMessage()
        count.messageID = "ev-count"
        count.locationID = "ST-PHL"
        count.asOfUnixMs = clock.now + 60_000  // later than every movement: on hand becomes the count
        var level = Waybill_V1_StockLevel()
        level.sku = "SKU-D"
        level.onHand = 0
        count.levels = [level]
        let _: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, count)

        // A reconciliation repair: a second ERP record of the delivered order (a duplicate), a record
        // of an order Waybill never had, and every other order missing in the ERP (re-emitted).
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = clock.now + 60_000
        extract.orders = [erpRecord(orderID, "SO-1", "delivered"), erpRecord(orderID, "SO-DUP", "delivered"),
                          erpRecord("W-99999999", "SO-GHOST", "allocated")]
        let report = try await client.reconcile(extract: extract, repair: true, requestID: "ev-reconcile")
        #expect(report.repaired > 0)

        // Carts: reserved, replaced, extended, released, converted into an order, shortened by a
        // count, expired at the deadline.
        func cart(_ id: String, _ sku: String, _ quantity: Int32, ttl: Int32 = 600) -> Waybill_V1_ReserveCartRequest {
            let order = Fixture.order(id, lines: [(sku, quantity)])
            return .with { $0.cartID = id; $0.channel = .web; $0.lines = order.lines; $0.shipTo = order.shipTo; $0.ttlSeconds = ttl }
        }
        _ = try await client.reserveCart(cart("EV-CART-1", "SKU-A", 1))
        _ = try await client.reserveCart(cart("EV-CART-1", "SKU-A", 2))
        _ = try await client.extendCart(.with { $0.cartID = "EV-CART-1"; $0.channel = .web; $0.ttlSeconds = 900 })
        _ = try await client.releaseCart(.with { $0.cartID = "EV-CART-1"; $0.channel = .web })
        _ = try await client.reserveCart(cart("EV-CART-2", "SKU-A", 1))
        var fromCart = Fixture.order("EV-FROM-CART", lines: [("SKU-A", 1)])
        fromCart.cartID = "EV-CART-2"
        _ = try await client.captureOrder(fromCart)
        var stockF = adjustment
        stockF.changeID = "ev-stock-f"
        stockF.kind = .receipt
        stockF.sku = "SKU-F"
        stockF.locationID = "WH-EAST"
        stockF.quantity = 2
        try expectApplied(try await client.receive([stockF]))
        _ = try await client.reserveCart(cart("EV-CART-3", "SKU-F", 2))
        var countF = stockF
        countF.changeID = "ev-count-f"
        countF.kind = .adjustment
        countF.quantity = -1
        try expectApplied(try await client.adjust([countF]))
        _ = try await client.reserveCart(cart("EV-CART-4", "SKU-A", 1, ttl: 1))
        clock.advance(milliseconds: 1_001)
        let expired = try await eventually("EV-CART-4 expired") {
            try await client.getCart(.with { $0.cartID = "EV-CART-4"; $0.channel = .web }).cart.status == .expired
        }
        #expect(expired)

        // Expected supply: a backorder promised from a receipt (receipt.expected, order.repromised),
        // the receipt later (receipt.changed, order.repromised), then arriving (receipt.received,
        // inventory.received, order.backorder_allocated); another expected and cancelled.
        // (More SKU-E than the receipt above left: some of it waits.)
        _ = try await client.captureOrder(Fixture.order("EV-AWAITS-SUPPLY", lines: [("SKU-E", 50)]))
        func expectedReceipt(_ id: String, days: Int64, _ quantity: Int64, _ status: Waybill_V1_ExpectedReceiptStatus) -> Waybill_V1_ExpectedReceipt {
            .with {
                $0.receiptID = id
                $0.locationID = "WH-EAST"
                $0.expectedAtUnixMs = clock.now + days * 86_400_000
                $0.status = status
                $0.lines = [.with { $0.sku = "SKU-E"; $0.quantity = quantity }]
            }
        }
        for (message, receipts) in [("ev-po-1", [expectedReceipt("PO-EV-1", days: 7, 60, .open)]), ("ev-po-2", [expectedReceipt("PO-EV-1", days: 9, 60, .open)]),
                                    ("ev-po-3", [expectedReceipt("PO-EV-1", days: 0, 60, .received)]),
                                    ("ev-po-4", [expectedReceipt("PO-EV-2", days: 3, 1, .open), expectedReceipt("PO-EV-2", days: 3, 1, .cancelled)])] {
            let result = try await client.applyExpectedReceipts(.with { $0.messageID = message; $0.receipts = receipts })
            #expect(result.applied == Int32(receipts.count) && !result.replayed)
        }

        let head = try await client.feedInfo().headOffset
        let feed = try FeedCollector.subscribe(client, consumer: "every-event", from: 1)
        defer { feed.cancel() }
        let events = try await feed.waitForEvents(Int(head))
        #expect(events.map(\.offset) == Array(1...head))
        return Set(events.map(\.type))
    }

    /// A ReceiveReturn at WH-EAST restocking (line, quantity) pairs.
    static func receiveReturn(_ orderID: String, _ returnID: String, request: String,
                              restocking lines: [(String, Int32)]) -> Waybill_V1_ReceiveReturnRequest {
        var receive = Waybill_V1_ReceiveReturnRequest()
        receive.requestID = request
        receive.orderID = orderID
        receive.returnID = returnID
        receive.locationID = "WH-EAST"
        receive.lines = lines.map { lineID, quantity in
            var returned = Waybill_V1_ReturnLine()
            returned.lineID = lineID
            returned.quantity = quantity
            returned.disposition = .restock
            return returned
        }
        return receive
    }

    static func lineQuantity(_ lineID: String, _ quantity: Int32) -> Waybill_V1_LineQuantity {
        var line = Waybill_V1_LineQuantity()
        line.lineID = lineID
        line.quantity = quantity
        return line
    }

    static func erpRecord(_ orderID: String, _ document: String, _ status: String) -> Waybill_V1_ErpOrderRecord {
        var record = Waybill_V1_ErpOrderRecord()
        record.orderID = orderID
        record.erpDocumentNumber = document
        record.status = status
        return record
    }

    /// Every change of an inventory answer applied (an OK answer may carry refused changes).
    static func expectApplied(_ response: Waybill_V1_InventoryChangeResponse, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for result in response.results {
            #expect(result.status.code == .ok, "\(result.changeID): \(result.status.message)", sourceLocation: sourceLocation)
        }
    }
}
