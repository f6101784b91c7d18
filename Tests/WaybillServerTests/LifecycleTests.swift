// The order lifecycle (issue 4) end to end over the socket: stock and reservations at every step.

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("Lifecycle over the socket", .timeLimit(.minutes(3)))
struct LifecycleTests {
    /// Checks on hand / reserved of one position.
    private func expectPosition(_ client: WaybillClient, _ sku: String, _ location: String, onHand: Int64, reserved: Int64,
                                _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let position = try await client.position(sku, location)
        #expect(position.onHand == onHand && position.reserved == reserved && position.available == max(0, onHand - reserved),
                "\(sku)@\(location): \(position.onHand)/\(position.reserved), expected \(onHand)/\(reserved) \(comment.map { "— \($0)" } ?? "")",
                sourceLocation: sourceLocation)
    }

    @Test("ship from a warehouse: capture → release → pick → pack → ship → deliver, stock right at every step")
    func shipFromWarehouse() async throws {
        try await withServer { server in
            let client = try await server.client("wms")
            try await client.loadFixtureNetwork()
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 0)

            var order = try await client.captureOrder(Fixture.order("SHIP-1", lines: [("SKU-A", 2)])).order
            let id = order.orderID
            let fulfillment = try #require(order.fulfillments.first)
            #expect(order.status == .allocated)
            #expect(fulfillment.status == .created && fulfillment.locationID == "WH-EAST" && fulfillment.fulfillmentID == "\(id)-F1")
            #expect(fulfillment.lines.map(\.quantity) == [2])
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 2, "reserved at capture")

            order = try await client.release(id, request: "rel-1").order
            #expect(order.status == .released && order.fulfillments[0].status == .released && order.fulfillments[0].releasedAtUnixMs > 0)
            #expect(order.lines[0].quantities.released == 2)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 2)

            order = try await client.fulfillmentStep(Method.OrderService.confirmPick, id, fulfillment.fulfillmentID, request: "pick-1").order
            #expect(order.status == .picked && order.lines[0].quantities.picked == 2)
            order = try await client.fulfillmentStep(Method.OrderService.confirmPack, id, fulfillment.fulfillmentID, request: "pack-1").order
            #expect(order.status == .packed && order.lines[0].quantities.packed == 2)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 2, "still reserved until it ships")

            await expectStatus(.invalidArgument, field: "tracking_number") {
                try await client.ship(id, fulfillment.fulfillmentID, request: "ship-0", tracking: "")
            }
            order = try await client.ship(id, fulfillment.fulfillmentID, request: "ship-1", carrier: "PARCELCO", tracking: "1ZTRACK").order
            #expect(order.status == .shipped)
            #expect(order.fulfillments[0].carrierID == "PARCELCO" && order.fulfillments[0].trackingNumber == "1ZTRACK")
            #expect(order.fulfillments[0].shippedAtUnixMs == server.clock.now)
            #expect(order.lines[0].quantities.shipped == 2 && order.lines[0].quantities.allocated == 0)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 48, reserved: 0, "shipping consumes stock and reservation")

            order = try await client.fulfillmentStep(Method.OrderService.confirmDelivery, id, fulfillment.fulfillmentID, request: "dlv-1").order
            #expect(order.status == .delivered && order.fulfillments[0].status == .delivered)
            #expect(order.lines[0].quantities.delivered == 2)
            #expect(order.version == 6)
            #expect(order.history.map(\.action) == ["captured", "fulfillment_released", "fulfillment_picked", "fulfillment_packed",
                                                    "fulfillment_shipped", "fulfillment_delivered"])
            #expect(order.history.map(\.version) == [1, 2, 3, 4, 5, 6])
            #expect(order.history.dropFirst().map(\.clientID).allSatisfy { $0 == TestCredentials.admin.name })
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 48, reserved: 0)

            // The ledger tells the same story.
            var list = Waybill_V1_ListMovementsRequest()
            list.orderID = id
            let movements: Waybill_V1_ListMovementsResponse = try await client.call(Method.InventoryService.listMovements, list)
            #expect(movements.movements.map(\.kind) == ["reserved", "shipped"])
            #expect(movements.movements.map(\.onHandDelta) == [0, -2])
            #expect(movements.movements.map(\.reservedDelta) == [2, -2])
        }
    }

    @Test("a split across two locations reserves at each, and each ships on its own")
    func splitAcrossLocations() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            // SKU-B is only at WH-EAST, SKU-C only at WH-WEST.
            let order = try await client.captureOrder(Fixture.order("SPLIT-1", lines: [("SKU-B", 3), ("SKU-C", 2)])).order
            #expect(order.status == .allocated)
            #expect(order.fulfillments.count == 2)
            #expect(order.routingDecisions.first?.shipments == 2)
            let byLocation = Dictionary(uniqueKeysWithValues: order.fulfillments.map { ($0.locationID, $0) })
            #expect(byLocation["WH-EAST"]?.lines.map { "\($0.lineID):\($0.sku)×\($0.quantity)" } == ["L1:SKU-B×3"])
            #expect(byLocation["WH-WEST"]?.lines.map { "\($0.lineID):\($0.sku)×\($0.quantity)" } == ["L2:SKU-C×2"])
            try await expectPosition(client, "SKU-B", "WH-EAST", onHand: 20, reserved: 3)
            try await expectPosition(client, "SKU-C", "WH-WEST", onHand: 10, reserved: 2)

            let east = try #require(byLocation["WH-EAST"]?.fulfillmentID)
            _ = try await client.release(order.orderID, request: "rel")
            let partly = try await client.ship(order.orderID, east, request: "ship-east").order
            #expect(partly.status == .partiallyShipped)
            #expect(partly.line("L1")?.status == .shipped && partly.line("L2")?.status == .released)
            try await expectPosition(client, "SKU-B", "WH-EAST", onHand: 17, reserved: 0)
            try await expectPosition(client, "SKU-C", "WH-WEST", onHand: 10, reserved: 2)
        }
    }

    @Test("store pickup reserves only at the pickup store, even when a warehouse could serve")
    func storePickup() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var order = try await client.captureOrder(Fixture.pickupOrder("PICK-1", lines: [("SKU-A", 2)])).order
            #expect(order.status == .allocated)
            #expect(order.fulfillments.map(\.locationID) == ["ST-PHL"])
            #expect(order.fulfillments.first?.method == .pickup)
            try await expectPosition(client, "SKU-A", "ST-PHL", onHand: 5, reserved: 2)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 0)
            try await expectPosition(client, "SKU-A", "WH-WEST", onHand: 30, reserved: 0)
            // Ready at the counter (no carrier needed), then collected.
            let fulfillment = order.fulfillments[0].fulfillmentID
            _ = try await client.release(order.orderID, request: "rel")
            order = try await client.ship(order.orderID, fulfillment, request: "handover", carrier: "", tracking: "").order
            #expect(order.status == .shipped)
            order = try await client.fulfillmentStep(Method.OrderService.confirmDelivery, order.orderID, fulfillment, request: "collected").order
            #expect(order.status == .delivered)
            try await expectPosition(client, "SKU-A", "ST-PHL", onHand: 3, reserved: 0)

            // More than the store has: the rest waits at the store (backorder), nothing is taken from a warehouse.
            let big = try await client.captureOrder(Fixture.pickupOrder("PICK-2", lines: [("SKU-A", 5)])).order
            #expect(big.status == .partiallyAllocated)
            #expect(big.lines[0].quantities.allocated == 3 && big.lines[0].quantities.backordered == 2)
            #expect(big.fulfillments.allSatisfy { $0.locationID == "ST-PHL" })
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 0)
        }
    }

    @Test("a store rejects: the units are re-routed automatically (stock written off when missing)")
    func rejectionReroutes() async throws {
        try await withServer { server in
            let client = try await server.client("store-app")
            try await client.loadFixtureNetwork()
            // A store-POS order ships from the store next door.
            let order = try await client.captureOrder(Fixture.order("REJ-1", channel: .storePos, lines: [("SKU-A", 2)])).order
            let rejected = try #require(order.fulfillments.first)
            #expect(rejected.locationID == "ST-PHL")
            try await expectPosition(client, "SKU-A", "ST-PHL", onHand: 5, reserved: 2)

            let after = try await client.reject(order.orderID, rejected.fulfillmentID, request: "rej-1", reason: "shelf empty", stockMissing: true).order
            #expect(after.status == .allocated)
            #expect(after.excludedLocationIds == ["ST-PHL"])
            #expect(after.fulfillments.count == 2)
            #expect(after.fulfillments[0].status == .rejected && after.fulfillments[0].rejectionReason == "shelf empty")
            let rerouted = after.fulfillments[1]
            #expect(rerouted.locationID == "WH-EAST" && rerouted.status == .created)
            #expect(rerouted.lines.map(\.quantity) == [2])
            #expect(after.routingDecisions.count == 2)
            #expect(after.routingDecisions[1].trigger == "reroute after \(rejected.fulfillmentID) rejected")
            #expect(after.routingDecisions[1].locations.contains { $0.locationID == "ST-PHL" && $0.code == .excluded })
            #expect(after.history.last?.action == "fulfillment_rejected")
            #expect(after.history.last?.detail.contains("re-routed to WH-EAST") == true)
            try await expectPosition(client, "SKU-A", "ST-PHL", onHand: 3, reserved: 0, "released and the missing units written off")
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 2)
        }
    }

    @Test("a rejection nothing else can serve backorders the units; a receipt later allocates them elsewhere")
    func rejectionBackorders() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            // SKU-D is only at ST-PHL.
            let order = try await client.captureOrder(Fixture.order("REJ-2", channel: .storePos, lines: [("SKU-D", 2)])).order
            let first = try #require(order.fulfillments.first)
            #expect(first.locationID == "ST-PHL")
            let after = try await client.reject(order.orderID, first.fulfillmentID, request: "rej-2").order
            #expect(after.status == .backordered)
            #expect(after.lines[0].quantities.backordered == 2)
            #expect(after.history.last?.detail.contains("backordered") == true)
            try await expectPosition(client, "SKU-D", "ST-PHL", onHand: 3, reserved: 0, "released, not written off")
            // The store got stock back on its shelf, but it rejected this order: only another location may serve it.
            var receipt = Fixture.stock("SKU-D", "WH-WEST", 4)
            receipt.changeID = "rcv-D"
            _ = try await client.receive([receipt])
            let served = try await client.getOrder(order.orderID)
            #expect(served.status == .allocated)
            #expect(served.fulfillments.last?.locationID == "WH-WEST")
            #expect(served.routingDecisions.last?.trigger == "backorder release")
            try await expectPosition(client, "SKU-D", "WH-WEST", onHand: 4, reserved: 2)
        }
    }

    @Test("backorders are released by receipts, oldest first")
    func backorderReleaseOldestFirst() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var ids: [String] = []
            for n in 1...3 {
                let order = try await client.captureOrder(Fixture.order("BO-\(n)", lines: [("SKU-E", 2)])).order
                #expect(order.status == .backordered)
                #expect(order.lines[0].quantities.backordered == 2)
                ids.append(order.orderID)
            }
            func receive(_ id: String, _ quantity: Int32) async throws {
                var change = Fixture.stock("SKU-E", "WH-EAST", quantity)
                change.changeID = id
                _ = try await client.receive([change])
            }
            try await receive("e-1", 2)
            var statuses = try await ids.asyncMap { try await client.getOrder($0).status }
            #expect(statuses == [.allocated, .backordered, .backordered], "the oldest order gets the first units")
            try await receive("e-2", 2)
            statuses = try await ids.asyncMap { try await client.getOrder($0).status }
            #expect(statuses == [.allocated, .allocated, .backordered])
            try await receive("e-3", 5)
            statuses = try await ids.asyncMap { try await client.getOrder($0).status }
            #expect(statuses == [.allocated, .allocated, .allocated])
            try await expectPosition(client, "SKU-E", "WH-EAST", onHand: 9, reserved: 6)
            let first = try await client.getOrder(ids[0])
            #expect(first.history.last?.action == "backorder_allocated")
            #expect(first.routingDecisions.map(\.trigger) == ["capture", "backorder release"])
        }
    }

    @Test("cancellation before shipment releases the reservation and the location's capacity")
    func cancelBeforeShipment() async throws {
        try await withServer { server in
            let client = try await server.client()
            var model = Fixture.network
            // One fulfillment a day at WH-CAP (Philadelphia's cheapest for web orders); WH-EAST is the fallback.
            model.locations.append(Fixture.location("WH-CAP", .warehouse, 39.96, -75.17, region: "PA", processingCost: 0, capacity: 1))
            model.initialStock += [Fixture.stock("SKU-F", "WH-CAP", 10), Fixture.stock("SKU-F", "WH-EAST", 10)]
            _ = try await client.loadNetwork(model)

            let first = try await client.captureOrder(Fixture.order("CAP-1", lines: [("SKU-F", 2)])).order
            #expect(first.fulfillments.first?.locationID == "WH-CAP")
            let second = try await client.captureOrder(Fixture.order("CAP-2", lines: [("SKU-F", 1)])).order
            #expect(second.fulfillments.first?.locationID == "WH-EAST", "WH-CAP is full today")
            #expect(second.routingDecisions.first?.locations.contains { $0.locationID == "WH-CAP" && $0.code == .capacityExhausted } == true)
            try await expectPosition(client, "SKU-F", "WH-CAP", onHand: 10, reserved: 2)

            let cancelled = try await client.cancel(first.orderID, request: "cxl-1", reason: "changed mind").order
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.fulfillments.first?.status == .cancelled)
            #expect(cancelled.lines[0].quantities.cancelled == 2)
            try await expectPosition(client, "SKU-F", "WH-CAP", onHand: 10, reserved: 0, "reservation released")
            let third = try await client.captureOrder(Fixture.order("CAP-3", lines: [("SKU-F", 1)])).order
            #expect(third.fulfillments.first?.locationID == "WH-CAP", "the cancelled fulfillment gave its capacity back")
            // Cancelling again: nothing left.
            let error = await expectStatus(.failedPrecondition) { try await client.cancel(first.orderID, request: "cxl-2") }
            #expect(error?.details.currentState == "CANCELLED")
        }
    }

    @Test("cancellation after a partial shipment cancels only what has not shipped")
    func cancelAfterPartialShipment() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let order = try await client.captureOrder(Fixture.order("PCX-1", lines: [("SKU-B", 2), ("SKU-C", 3)])).order
            let east = try #require(order.fulfillments.first { $0.locationID == "WH-EAST" })
            _ = try await client.release(order.orderID, request: "rel")
            _ = try await client.ship(order.orderID, east.fulfillmentID, request: "ship-east")
            let cancelled = try await client.cancel(order.orderID, request: "cxl").order
            #expect(cancelled.line("L1")?.quantities.shipped == 2 && cancelled.line("L1")?.quantities.cancelled == 0)
            #expect(cancelled.line("L2")?.quantities.cancelled == 3 && cancelled.line("L2")?.status == .cancelled)
            #expect(cancelled.fulfillments.first { $0.locationID == "WH-WEST" }?.status == .cancelled)
            #expect(cancelled.fulfillments.first { $0.locationID == "WH-EAST" }?.status == .shipped)
            #expect(cancelled.status == .shipped, "what is left of the order has shipped")
            try await expectPosition(client, "SKU-B", "WH-EAST", onHand: 18, reserved: 0)
            try await expectPosition(client, "SKU-C", "WH-WEST", onHand: 10, reserved: 0, "the unshipped reservation is released")

            // Cancelling lines of an order partly picked: one unit of a line.
            let other = try await client.captureOrder(Fixture.order("PCX-2", lines: [("SKU-A", 3)])).order
            var cancelLines = Waybill_V1_CancelLinesRequest()
            cancelLines.requestID = "cl-1"
            cancelLines.orderID = other.orderID
            var quantity = Waybill_V1_LineQuantity()
            quantity.lineID = "L1"
            quantity.quantity = 1
            cancelLines.lines = [quantity]
            let fewer = try await client.lifecycle(Method.OrderService.cancelLines, cancelLines).order
            #expect(fewer.lines[0].quantities.cancelled == 1 && fewer.lines[0].quantities.allocated == 2)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 2)
            quantity.quantity = 5
            cancelLines.lines = [quantity]
            cancelLines.requestID = "cl-2"
            let tooMany = await expectStatus(.failedPrecondition) { try await client.lifecycle(Method.OrderService.cancelLines, cancelLines) }
            #expect(tooMany?.message.contains("cancel 5 of line L1") == true)
        }
    }

    @Test("a return with restock puts stock back on hand and records the refund on the order")
    func returnWithRestock() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var order = try await client.captureOrder(Fixture.order("RET-1", lines: [("SKU-A", 3), ("SKU-B", 1)])).order
            _ = try await client.release(order.orderID, request: "rel")
            for fulfillment in order.fulfillments {
                _ = try await client.ship(order.orderID, fulfillment.fulfillmentID, request: "ship-\(fulfillment.fulfillmentID)")
                order = try await client.fulfillmentStep(Method.OrderService.confirmDelivery, order.orderID, fulfillment.fulfillmentID,
                                                         request: "dlv-\(fulfillment.fulfillmentID)").order
            }
            #expect(order.status == .delivered)
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 47, reserved: 0)

            var create = Waybill_V1_CreateReturnRequest()
            create.requestID = "rma-1-create"
            create.orderID = order.orderID
            create.returnID = "RMA-1"
            create.reason = "too big"
            create.lines = [("L1", 2), ("L2", 1)].map { line in
                var q = Waybill_V1_LineQuantity()
                q.lineID = line.0
                q.quantity = Int32(line.1)
                return q
            }
            order = try await client.lifecycle(Method.OrderService.createReturn, create).order
            #expect(order.returns.first?.status == .requested)
            #expect(order.line("L1")?.quantities.returnRequested == 2)
            // Returning more than shipped is refused.
            var greedy = create
            greedy.requestID = "rma-2-create"
            greedy.returnID = "RMA-2"
            greedy.lines[0].quantity = 2
            greedy.lines.removeLast()
            let refused = await expectStatus(.failedPrecondition) { try await client.lifecycle(Method.OrderService.createReturn, greedy) }
            #expect(refused?.message.contains("return 2 of line L1") == true)

            var receive = Waybill_V1_ReceiveReturnRequest()
            receive.requestID = "rma-1-receive"
            receive.orderID = order.orderID
            receive.returnID = "RMA-1"
            receive.locationID = "WH-WEST"
            var restock = Waybill_V1_ReturnLine()
            restock.lineID = "L1"
            restock.quantity = 2
            restock.disposition = .restock
            var dispose = Waybill_V1_ReturnLine()
            dispose.lineID = "L2"
            dispose.quantity = 1
            dispose.disposition = .dispose
            receive.lines = [restock, dispose]
            order = try await client.lifecycle(Method.OrderService.receiveReturn, receive).order
            let ret = try #require(order.returns.first)
            #expect(ret.status == .received)
            #expect(ret.receivedAtLocationID == "WH-WEST")
            #expect(ret.refund.minorUnits == 3 * 1_999 && ret.refund.currency == "USD")
            #expect(order.line("L1")?.quantities.returned == 2 && order.line("L2")?.quantities.returned == 1)
            #expect(order.status == .partiallyReturned)
            try await expectPosition(client, "SKU-A", "WH-WEST", onHand: 32, reserved: 0, "restocked where it was received")
            try await expectPosition(client, "SKU-B", "WH-EAST", onHand: 19, reserved: 0, "disposed: not back on hand")
            #expect(order.history.last?.action == "return_received")
            // Receiving the same return twice is an illegal transition.
            receive.requestID = "rma-1-receive-again"
            let twice = await expectStatus(.failedPrecondition) { try await client.lifecycle(Method.OrderService.receiveReturn, receive) }
            #expect(twice?.details.currentState == "RECEIVED")
            try await expectPosition(client, "SKU-A", "WH-WEST", onHand: 32, reserved: 0)
        }
    }

    @Test("holds block release until every hold is released")
    func holdsBlockRelease() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let captured = try await client.captureOrder(Fixture.order("HOLD-1", lines: [("SKU-A", 1)], holds: [.payment])).order
            #expect(captured.status == .onHold)
            #expect(captured.holds.map(\.reason) == [.payment])
            #expect(captured.fulfillments.first?.status == .created, "allocated (stock reserved) but not released")
            try await expectPosition(client, "SKU-A", "WH-EAST", onHand: 50, reserved: 1)

            let blocked = await expectStatus(.failedPrecondition) { try await client.release(captured.orderID, request: "rel-1") }
            #expect(blocked?.details.currentState == "ON_HOLD")
            #expect(blocked?.message.contains("release fulfillment") == true && blocked?.message.contains("ON_HOLD") == true)
            _ = try await client.hold(captured.orderID, request: "hold-fraud", reason: .fraud, note: "velocity")
            var order = try await client.releaseHold(captured.orderID, request: "unhold-payment", reason: .payment).order
            #expect(order.status == .onHold && order.holds.map(\.reason) == [.fraud])
            await expectStatus(.failedPrecondition) { try await client.release(captured.orderID, request: "rel-2") }
            order = try await client.releaseHold(captured.orderID, request: "unhold-all").order
            #expect(order.status == .allocated && order.holds.isEmpty)
            order = try await client.release(captured.orderID, request: "rel-3").order
            #expect(order.status == .released)
            // Releasing a hold that is not there is illegal too.
            let none = await expectStatus(.failedPrecondition) { try await client.releaseHold(captured.orderID, request: "unhold-none") }
            #expect(none?.message.contains("no hold") == true)
        }
    }

    @Test("every lifecycle call is idempotent by request_id; the same id with other content is ALREADY_EXISTS")
    func lifecycleIdempotency() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            // SKU-B is only at WH-EAST and SKU-C only at WH-WEST: two fulfillments.
            let order = try await client.captureOrder(Fixture.order("IDEM-1", lines: [("SKU-B", 2), ("SKU-C", 1)])).order
            let other = try await client.captureOrder(Fixture.order("IDEM-2", lines: [("SKU-A", 1)])).order
            let fulfillments = order.fulfillments.map(\.fulfillmentID)
            #expect(fulfillments.count == 2)

            /// Applies `call` (new), retries it (replayed, same order), then checks a conflicting reuse.
            func check(_ label: String, on subject: String? = nil, _ call: () async throws -> Waybill_V1_OrderResponse,
                       conflict: () async throws -> Waybill_V1_OrderResponse) async throws {
                let applied = try await call()
                #expect(!applied.replayed, "\(label)")
                let subject = subject ?? order.orderID
                let before = try await client.getOrder(subject)
                let positions = try await client.availability(skus: ["SKU-A", "SKU-B", "SKU-C"]).positions
                for _ in 0..<2 {
                    let retry = try await call()
                    #expect(retry.replayed, "\(label) retry")
                    #expect(retry.order.version == applied.order.version, "\(label) retry changes nothing")
                }
                await expectStatus(.alreadyExists, field: "request_id", "\(label) reused") { try await conflict() }
                #expect(try await client.getOrder(subject) == before, "\(label): nothing changed")
                #expect(try await client.availability(skus: ["SKU-A", "SKU-B", "SKU-C"]).positions == positions)
            }
            let id = order.orderID
            try await check("hold", { try await client.hold(id, request: "r-hold", reason: .fraud) },
                            conflict: { try await client.hold(id, request: "r-hold", reason: .address) })
            try await check("release hold", { try await client.releaseHold(id, request: "r-unhold") },
                            conflict: { try await client.releaseHold(other.orderID, request: "r-unhold") })
            try await check("release", { try await client.release(id, request: "r-release") },
                            conflict: { try await client.release(id, fulfillments[0], request: "r-release") })
            try await check("pick", { try await client.fulfillmentStep(Method.OrderService.confirmPick, id, fulfillments[0], request: "r-pick") },
                            conflict: { try await client.fulfillmentStep(Method.OrderService.confirmPick, id, fulfillments[1], request: "r-pick") })
            try await check("pack", { try await client.fulfillmentStep(Method.OrderService.confirmPack, id, fulfillments[0], request: "r-pack") },
                            conflict: { try await client.fulfillmentStep(Method.OrderService.confirmPick, id, fulfillments[0], request: "r-pack") })
            try await check("ship", { try await client.ship(id, fulfillments[0], request: "r-ship", tracking: "T1") },
                            conflict: { try await client.ship(id, fulfillments[0], request: "r-ship", tracking: "T2") })
            try await check("deliver", { try await client.fulfillmentStep(Method.OrderService.confirmDelivery, id, fulfillments[0], request: "r-dlv") },
                            conflict: { try await client.fulfillmentStep(Method.OrderService.confirmDelivery, other.orderID, fulfillments[0], request: "r-dlv") })
            var create = Waybill_V1_CreateReturnRequest()
            create.requestID = "r-return"
            create.orderID = id
            create.returnID = "RMA-9"
            var q = Waybill_V1_LineQuantity()
            q.lineID = order.fulfillments[0].lines[0].lineID
            q.quantity = 1
            create.lines = [q]
            var otherReturn = create
            otherReturn.reason = "different"
            try await check("create return", { try await client.lifecycle(Method.OrderService.createReturn, create) },
                            conflict: { try await client.lifecycle(Method.OrderService.createReturn, otherReturn) })
            var receive = Waybill_V1_ReceiveReturnRequest()
            receive.requestID = "r-receive"
            receive.orderID = id
            receive.returnID = "RMA-9"
            receive.locationID = "WH-EAST"
            var returned = Waybill_V1_ReturnLine()
            returned.lineID = q.lineID
            returned.quantity = 1
            returned.disposition = .restock
            receive.lines = [returned]
            var elsewhere = receive
            elsewhere.locationID = "WH-WEST"
            try await check("receive return", { try await client.lifecycle(Method.OrderService.receiveReturn, receive) },
                            conflict: { try await client.lifecycle(Method.OrderService.receiveReturn, elsewhere) })
            var cancelLines = Waybill_V1_CancelLinesRequest()
            cancelLines.requestID = "r-cancel-lines"
            cancelLines.orderID = other.orderID
            var one = Waybill_V1_LineQuantity()
            one.lineID = "L1"
            one.quantity = 1
            cancelLines.lines = [one]
            var otherReason = cancelLines
            otherReason.reason = "changed"
            try await check("cancel lines", on: other.orderID, { try await client.lifecycle(Method.OrderService.cancelLines, cancelLines) },
                            conflict: { try await client.lifecycle(Method.OrderService.cancelLines, otherReason) })
            try await check("reject", { try await client.reject(id, fulfillments[1], request: "r-reject", reason: "gone") },
                            conflict: { try await client.reject(id, fulfillments[1], request: "r-reject", reason: "other reason") })
            try await check("cancel", { try await client.cancel(id, request: "r-cancel") },
                            conflict: { try await client.cancel(id, request: "r-cancel", reason: "another reason") })
            // A request id is global: reusing it on another method is a conflict too.
            await expectStatus(.alreadyExists, field: "request_id") { try await client.hold(other.orderID, request: "r-ship") }
            await expectStatus(.invalidArgument, field: "request_id") { try await client.hold(other.orderID, request: "") }
        }
    }

    @Test("an illegal transition is FAILED_PRECONDITION naming the state and the action; nothing changes")
    func illegalTransitions() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let order = try await client.captureOrder(Fixture.order("ILL-1", lines: [("SKU-A", 1)])).order
            let f = order.fulfillments[0].fulfillmentID
            let id = order.orderID
            let headBefore = try await client.feedInfo().headOffset

            func illegal(_ state: String, _ action: String, _ call: () async throws -> Waybill_V1_OrderResponse) async throws {
                let before = try await client.getOrder(id)
                let error = await expectStatus(.failedPrecondition, "\(action) in \(state)") { try await call() }
                #expect(error?.details.currentState == state, "\(action)")
                #expect(error?.message.contains(state) == true, "names the state: \(error?.message ?? "")")
                #expect(error?.message.contains(action) == true, "names the action: \(error?.message ?? "")")
                let after = try await client.getOrder(id)
                #expect(after == before && after.version == before.version, "\(action): nothing changed")
            }
            try await illegal("CREATED", "pick fulfillment \(f)") {
                try await client.fulfillmentStep(Method.OrderService.confirmPick, id, f, request: "x-pick")
            }
            try await illegal("CREATED", "ship fulfillment \(f)") { try await client.ship(id, f, request: "x-ship") }
            try await illegal("CREATED", "deliver fulfillment \(f)") {
                try await client.fulfillmentStep(Method.OrderService.confirmDelivery, id, f, request: "x-deliver")
            }
            try await illegal("ALLOCATED", "release hold") { try await client.releaseHold(id, request: "x-unhold") }
            _ = try await client.release(id, request: "rel")
            try await illegal("RELEASED", "release fulfillment \(f)") { try await client.release(id, f, request: "x-release") }
            try await illegal("RELEASED", "deliver fulfillment \(f)") {
                try await client.fulfillmentStep(Method.OrderService.confirmDelivery, id, f, request: "x-deliver-2")
            }
            _ = try await client.ship(id, f, request: "ship")
            try await illegal("SHIPPED", "reject fulfillment \(f)") { try await client.reject(id, f, request: "x-reject") }
            try await illegal("SHIPPED", "pack fulfillment \(f)") {
                try await client.fulfillmentStep(Method.OrderService.confirmPack, id, f, request: "x-pack")
            }
            try await illegal("SHIPPED", "cancel order") { try await client.cancel(id, request: "x-cancel") }
            try await illegal("SHIPPED", "hold order") { try await client.hold(id, request: "x-hold") }
            // A refused request id was not used up: it can carry a legal change.
            let delivered = try await client.fulfillmentStep(Method.OrderService.confirmDelivery, id, f, request: "x-deliver")
            #expect(!delivered.replayed && delivered.order.status == .delivered)
            #expect(try await client.feedInfo().headOffset == headBefore + 3, "only the three legal changes produced events")

            // Unknown things are NOT_FOUND, missing ids INVALID_ARGUMENT.
            await expectStatus(.notFound) { try await client.release("W-09999999", request: "nf-1") }
            await expectStatus(.notFound) { try await client.fulfillmentStep(Method.OrderService.confirmPick, id, "\(id)-F9", request: "nf-2") }
            await expectStatus(.invalidArgument, field: "order_id") { try await client.release("", request: "nf-3") }
            await expectStatus(.invalidArgument, field: "fulfillment_id") {
                try await client.fulfillmentStep(Method.OrderService.confirmPick, id, "", request: "nf-4")
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
