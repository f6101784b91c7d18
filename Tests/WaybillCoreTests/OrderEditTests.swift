// EditOrder in the engine: each kind of edit, re-routing and reservations, atomicity of a
// request's edits, idempotency by request id, and the refusal once it is too late.
import Testing
import WaybillCore

struct OrderEditTests {
    /// Near WH-WEST (Reno): its own location is the cheapest from there.
    static var reno: Address {
        var address = Net.shipTo
        address.city = "Reno"
        address.region = "NV"
        address.postalCode = "89501"
        address.lines = ["1 Virginia St"]
        address.coordinates = Coordinates(latitude: 39.5296, longitude: -119.8138)
        return address
    }

    /// Stock of SKU-A at ST-CENTER and WH-WEST, of SKU-B at ST-CENTER only, plenty of SKU-D.
    static func harness(policy: RoutingPolicy? = nil) throws -> Harness {
        try Harness(policy: policy, stock: [(Net.skuA, Net.stCenter, 10), (Net.skuA, Net.whWest, 10), (Net.skuB, Net.stCenter, 5),
                                            (Net.skuD, Net.stCenter, 20), (Net.skuD, Net.whWest, 20)])
    }

    func edit(_ h: Harness, _ orderID: OrderID, _ edits: [OrderEdit], requestID: String? = nil,
              content: String? = nil) throws -> OrderResult {
        h.tick()
        let command = OrderCommand.edit(edits, reason: "customer called")
        let context = h.context(requestID: requestID ?? h.nextRequestID(), fingerprint: fingerprint(content ?? "\(orderID) \(command)"))
        return try h.engine.apply(command, to: orderID, context: context, storage: h.storage)
    }

    func lastEvent(_ h: Harness) -> DomainEvent { h.storage.events.last!.event }

    @Test("a new ship-to whose best location differs re-routes: the old reservation is given back, the new one taken, the promise moves")
    func shipToReroutes() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-1", [(Net.skuA, 2)]))
        #expect(order.fulfillments.map(\.locationID) == [Net.stCenter])
        let promisedBefore = order.fulfillments[0].promisedDeliveryAt

        let edited = try edit(h, order.orderID, [.changeShipTo(Self.reno)]).order
        #expect(edited.shipTo == Self.reno)
        #expect(edited.fulfillments.map(\.status) == [.cancelled, .created])
        #expect(edited.fulfillments[1].locationID == Net.whWest)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0)
        #expect(h.balance(Net.skuA, Net.whWest).reserved == 2)
        #expect(h.capacityUsed(Net.stCenter, day: order.fulfillments[0].processingDay) == 0)
        #expect(edited.fulfillments[1].promisedDeliveryAt != promisedBefore || edited.fulfillments[1].transitDaysEstimate == 1)
        #expect(edited.capturedContent?.shipTo == Net.shipTo, "the content as captured is kept for capture retries")
        #expect(edited.history.last?.action == "edited")
        #expect(edited.history.last?.reason == "customer called")
        let event = lastEvent(h)
        #expect(event.type == "order.edited")
        #expect(event.detail.contains("ship_to: Pat Customer, 1 Market St, Philadelphia, PA 19103, US"))
        #expect(event.detail.contains("-> Pat Customer, 1 Virginia St, Reno, NV 89501, US"))
        #expect(event.detail.contains("locations: ST-CENTER -> WH-WEST"), "\(event.detail)")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
        for problem in lineBookkeepingProblems(edited) { Issue.record("\(problem)") }
    }

    @Test("a new ship-to the same location still serves best keeps the fulfillment and its reservation")
    func shipToKeepsReservation() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-2", [(Net.skuB, 1)]))  // SKU-B is only at ST-CENTER
        let movementsBefore = h.storage.movements.count
        var nearby = Net.shipTo
        nearby.lines = ["200 Chestnut St"]
        nearby.coordinates = Coordinates(latitude: 39.9490, longitude: -75.1500)
        let edited = try edit(h, order.orderID, [.changeShipTo(nearby)]).order
        #expect(edited.fulfillments.count == 1)
        #expect(edited.fulfillments[0].fulfillmentID == order.fulfillments[0].fulfillmentID)
        #expect(edited.fulfillments[0].status == .created)
        #expect(h.storage.movements.count == movementsBefore, "no reservation was given back and taken again")
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 1)
        #expect(!lastEvent(h).detail.contains("locations:"))
    }

    @Test("a service level change re-promises (and records both levels)")
    func serviceLevel() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-3", [(Net.skuA, 1)]))
        let edited = try edit(h, order.orderID, [.changeServiceLevel(.expedited)]).order
        #expect(edited.requestedFulfillment.serviceLevel == .expedited)
        #expect(lastEvent(h).detail.contains("service_level: standard -> expedited"))
        #expect(edited.reservedUnits + Int64(edited.backorderedUnits) == 1)
        #expect(edited.routingDecisions.last?.trigger == "edit")
        expectDomainError(.invalidArgument, field: "edits[0].change_service_level.service_level") {
            _ = try edit(h, order.orderID, [.changeServiceLevel(.expedited)])
        }
    }

    @Test("a quantity increase routes only the new units; a decrease gives back backordered units first, then reserved ones")
    func quantities() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-4", [(Net.skuB, 2), (Net.skuD, 1)]))
        let firstFulfillment = order.fulfillments[0]
        var edited = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 7)]).order
        // 5 SKU-B exist, 2 already reserved: 3 more are reserved, 2 backordered.
        let line = edited.lines[0]
        #expect(line.quantity == 7 && line.activeQuantity == 7)
        #expect(line.quantities.allocated == 5 && line.quantities.backordered == 2)
        #expect(edited.fulfillment(firstFulfillment.fulfillmentID)?.status == .created, "the existing fulfillment is untouched")
        #expect(edited.fulfillment(firstFulfillment.fulfillmentID)?.lines == firstFulfillment.lines)
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 5)
        #expect(lastEvent(h).detail.contains("line L1 quantity: 2 -> 7"))

        edited = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 4)]).order
        #expect(edited.lines[0].quantities.backordered == 0, "the 2 backordered units went first")
        #expect(edited.lines[0].quantities.allocated == 4)
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 4)

        edited = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 1)]).order
        #expect(edited.lines[0].activeQuantity == 1 && edited.lines[0].quantities.allocated == 1)
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 1)
        #expect(edited.lines[0].quantities.cancelled == 0, "an edit changes what is ordered; it cancels nothing")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
        for problem in lineBookkeepingProblems(edited) { Issue.record("\(problem)") }

        expectDomainError(.invalidArgument, field: "edits[0].change_line_quantity.quantity") {
            _ = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 0)])
        }
        expectDomainError(.notFound, field: "edits[0].change_line_quantity.line_id") {
            _ = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L9", quantity: 2)])
        }
    }

    @Test("an added line is validated and routed on its own; a replaced SKU moves the line's reservation to the new item")
    func addLineAndReplaceSKU() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-5", [(Net.skuA, 2)]))
        var edited = try edit(h, order.orderID, [.addLine(DraftLine(lineID: "L2", sku: Net.skuD, quantity: 3, unitPrice: Net.money(250)))]).order
        #expect(edited.lines.count == 2)
        #expect(edited.lines[1].quantities.allocated == 3)
        #expect(h.balance(Net.skuD, Net.stCenter).reserved == 3)
        #expect(lastEvent(h).detail.contains("line L2 added: SKU-D×3 at 250 USD"))

        edited = try edit(h, order.orderID, [.replaceSKU(lineID: "L1", sku: Net.skuB, unitPrice: Net.money(1_500))]).order
        #expect(edited.lines[0].sku == Net.skuB)
        #expect(edited.lines[0].unitPrice == Net.money(1_500))
        #expect(edited.lines[0].quantities.allocated == 2)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0)
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 2)
        #expect(lastEvent(h).detail.contains("line L1 sku: SKU-A -> SKU-B (unit price 1000 USD -> 1500 USD)"))
        #expect(edited.capturedContent?.lines == [DraftLine(lineID: "L1", sku: Net.skuA, quantity: 2, unitPrice: Net.money(1_000))],
                "the content as captured survives later edits")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)

        expectDomainError(.alreadyExists, field: "edits[0].add_line.line.line_id") {
            _ = try edit(h, order.orderID, [.addLine(DraftLine(lineID: "L2", sku: Net.skuD, quantity: 1, unitPrice: Net.money(1)))])
        }
        expectDomainError(.notFound, field: "edits[0].add_line.line.sku") {
            _ = try edit(h, order.orderID, [.addLine(DraftLine(lineID: "L3", sku: SKU("NOPE"), quantity: 1, unitPrice: Net.money(1)))])
        }
        expectDomainError(.invalidArgument, field: "edits[0].add_line.line.unit_price.currency") {
            _ = try edit(h, order.orderID, [.addLine(DraftLine(lineID: "L3", sku: Net.skuD, quantity: 1,
                                                              unitPrice: Money(minorUnits: 1, currency: "EUR")))])
        }
        expectDomainError(.invalidArgument, field: "edits[0].replace_sku.sku") {
            _ = try edit(h, order.orderID, [.replaceSKU(lineID: "L1", sku: Net.skuB, unitPrice: nil)])
        }
    }

    @Test("a request's edits apply all or nothing: one refused edit leaves stock, capacity, the order and the ledger as they were")
    func atomicity() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-6", [(Net.skuA, 2), (Net.skuB, 1)]))
        let figures = liveFigures(h.engine), movements = h.storage.movements.count, events = h.storage.events.count
        let capacity = h.engine.state.capacity.used
        expectDomainError(.notFound, field: "edits[2].replace_sku.line_id") {
            _ = try edit(h, order.orderID, [.changeShipTo(Self.reno), .changeLineQuantity(lineID: "L1", quantity: 5),
                                            .replaceSKU(lineID: "L7", sku: Net.skuD, unitPrice: nil)])
        }
        #expect(liveFigures(h.engine) == figures)
        #expect(h.storage.movements.count == movements && h.storage.events.count == events)
        #expect(h.engine.state.capacity.used == capacity)
        #expect(h.order(order.orderID) == order)

        // Validation of the whole: too many edits.
        let many = Array(repeating: OrderEdit.changeServiceLevel(.nextDay), count: DomainLimits.default.orderEditsPerRequestMax + 1)
        let error = expectDomainError(.invalidArgument, field: "edits") { _ = try edit(h, order.orderID, many) }
        #expect(error?.limitName == "orderEditsPerRequestMax")
        expectDomainError(.invalidArgument, field: "edits") { _ = try edit(h, order.orderID, []) }

        // Later edits see earlier ones: add a line, then raise it.
        let edited = try edit(h, order.orderID, [.addLine(DraftLine(lineID: "L3", sku: Net.skuD, quantity: 1, unitPrice: Net.money(5))),
                                                 .changeLineQuantity(lineID: "L3", quantity: 4)]).order
        #expect(edited.lines[2].activeQuantity == 4 && edited.lines[2].quantities.allocated == 4)
        #expect(h.balance(Net.skuD, Net.stCenter).reserved == 4)
    }

    @Test("the same request id and content is answered with the order unchanged; other content under it is ALREADY_EXISTS")
    func idempotency() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-7", [(Net.skuA, 2)]))
        let edits: [OrderEdit] = [.changeLineQuantity(lineID: "L1", quantity: 3)]
        let first = try edit(h, order.orderID, edits, requestID: "edit-1", content: "content-1")
        #expect(!first.replayed)
        let figures = liveFigures(h.engine), events = h.storage.events.count
        let again = try edit(h, order.orderID, edits, requestID: "edit-1", content: "content-1")
        #expect(again.replayed)
        #expect(again.order == first.order)
        #expect(liveFigures(h.engine) == figures && h.storage.events.count == events)
        #expect(again.order.lines[0].activeQuantity == 3, "not applied twice")
        expectDomainError(.alreadyExists, field: "request_id") {
            _ = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 4)], requestID: "edit-1", content: "content-2")
        }
        // The capture retried after the edit is still the same capture.
        h.tick()
        let retried = try h.engine.capture(Net.draft("E-7", [(Net.skuA, 2)]), context: h.context(), storage: h.storage)
        #expect(retried.replayed)
        #expect(retried.order.orderID == order.orderID)
    }

    @Test("too late: edits needing units past CREATED are FAILED_PRECONDITION naming the state, and change nothing")
    func tooLate() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-8", [(Net.skuA, 2), (Net.skuB, 1)]))
        let fulfillmentID = order.fulfillments[0].fulfillmentID
        try h.advance(order.orderID, fulfillmentID, to: .released)
        var error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.changeShipTo(Self.reno)]) }
        #expect(error?.currentState == "RELEASED")
        #expect(error?.message.contains("HoldOrder") == true, "\(String(describing: error))")

        try h.advance(order.orderID, fulfillmentID, to: .picked)
        let before = h.order(order.orderID), figures = liveFigures(h.engine)
        error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.changeServiceLevel(.nextDay)]) }
        #expect(error?.currentState == "PICKED")
        error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 1)]) }
        #expect(error?.currentState == "PICKED")
        error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.replaceSKU(lineID: "L1", sku: Net.skuD, unitPrice: nil)]) }
        #expect(error?.currentState == "PICKED")
        #expect(h.order(order.orderID) == before && liveFigures(h.engine) == figures)

        // Where the state allows after release: more units, and a new line, are routed on their own.
        let edited = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 3),
                                                 .addLine(DraftLine(lineID: "L3", sku: Net.skuD, quantity: 1, unitPrice: Net.money(5)))]).order
        #expect(edited.fulfillment(fulfillmentID)?.status == .picked)
        #expect(edited.lines[0].activeQuantity == 3)

        try h.advance(order.orderID, fulfillmentID, to: .shipped)
        error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.changeShipTo(Self.reno)]) }
        #expect(error?.currentState == "SHIPPED")
        #expect(error?.message.contains("CreateReturn") == true)

        // A cancelled order: nothing to edit.
        let other = try h.capture(Net.draft("E-9", [(Net.skuD, 1)]))
        try h.apply(.cancelOrder(reason: "changed mind"), to: other.orderID)
        error = expectDomainError(.failedPrecondition) { _ = try edit(h, other.orderID, [.changeLineQuantity(lineID: "L1", quantity: 2)]) }
        #expect(error?.currentState == "CANCELLED")
    }

    @Test("a hold recalls a released fulfillment, which may then be edited")
    func holdThenEdit() throws {
        let h = try Self.harness()
        let order = try h.capture(Net.draft("E-10", [(Net.skuA, 1)]))
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .released)
        try h.apply(.hold(.customerRequest, note: "address change"), to: order.orderID)
        let edited = try edit(h, order.orderID, [.changeShipTo(Self.reno)]).order
        #expect(edited.fulfillments.last?.locationID == Net.whWest)
        #expect(edited.fulfillments.last?.status == .created, "on hold: not released")
    }

    @Test("pickup orders have no ship-to to change; an unknown destination is refused")
    func destinations() throws {
        let h = try Self.harness()
        let pickup = try h.capture(Net.draft("E-11", [(Net.skuA, 1)], method: .pickup, pickup: Net.stCenter))
        let error = expectDomainError(.failedPrecondition) { _ = try edit(h, pickup.orderID, [.changeShipTo(Self.reno)]) }
        #expect(error?.message.contains("store pickup") == true)
        let shipped = try h.capture(Net.draft("E-12", [(Net.skuA, 1)]))
        var nowhere = Self.reno
        nowhere.coordinates = nil
        nowhere.city = "Atlantis"
        expectDomainError(.invalidArgument, field: "edits[0].change_ship_to.ship_to.coordinates") {
            _ = try edit(h, shipped.orderID, [.changeShipTo(nowhere)])
        }
        var noCountry = Self.reno
        noCountry.country = ""
        expectDomainError(.invalidArgument, field: "edits[0].change_ship_to.ship_to.country") {
            _ = try edit(h, shipped.orderID, [.changeShipTo(noCountry)])
        }
    }

    @Test("without backorders, an edit asking for units no location has is refused (INSUFFICIENT_STOCK), never cancelled")
    func noBackorderPolicy() throws {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        let h = try Self.harness(policy: policy)
        let order = try h.capture(Net.draft("E-13", [(Net.skuB, 2)]))
        let figures = liveFigures(h.engine)
        let error = expectDomainError(.failedPrecondition) { _ = try edit(h, order.orderID, [.changeLineQuantity(lineID: "L1", quantity: 9)]) }
        #expect(error?.currentState == "INSUFFICIENT_STOCK")
        #expect(liveFigures(h.engine) == figures)
    }

    @Test("units an edit gives back serve a backordered order at once")
    func freedStockServesBackorders() throws {
        let h = try Self.harness()
        let first = try h.capture(Net.draft("E-14", [(Net.skuB, 5)]))
        let waiting = try h.capture(Net.draft("E-15", [(Net.skuB, 2)]))
        #expect(h.order(waiting.orderID).backorderedUnits == 2)
        _ = try edit(h, first.orderID, [.changeLineQuantity(lineID: "L1", quantity: 3)])
        #expect(h.order(waiting.orderID).backorderedUnits == 0)
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 5)
    }
}
