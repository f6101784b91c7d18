// The fulfillment state machine, generated from FulfillmentStatus.allCases × FulfillmentAction.allCases:
// every pair is driven through the Engine and must either be the transition the table
// (FulfillmentAction.next) defines, or a FAILED_PRECONDITION naming the state and the action
// that changes nothing at all.
import Testing
import WaybillCore

struct FulfillmentStateMachineTests {
    /// An order with one fulfillment (two lines) driven to `state`, shipped from WH-EAST or
    /// picked up at ST-SUBURB. Only that location holds the stock, so a rejection backorders.
    static func orderWithFulfillment(in state: FulfillmentStatus, method: FulfillmentMethod) throws
        -> (Harness, OrderID, String) {
        let location = method == .ship ? Net.whEast : Net.stSuburb
        let harness = try Harness(stock: [(Net.skuA, location, 10), (Net.skuB, location, 10)])
        let order = try harness.capture(Net.draft("EXT-\(state)-\(method)", [(Net.skuA, 2), (Net.skuB, 1)],
                                                  method: method, pickup: method == .pickup ? location : nil))
        try #require(order.fulfillments.count == 1)
        let id = order.orderID, fid = order.fulfillments[0].fulfillmentID
        try #require(order.fulfillments[0].locationID == location)
        switch state {
        case .created, .released, .picked, .packed, .shipped, .delivered:
            try harness.advance(id, fid, to: state)
        case .rejected:
            try harness.apply(.rejectFulfillment(fid, lines: [], reason: "cannot serve", stockMissing: false), to: id)
        case .cancelled:
            try harness.apply(.cancelOrder(reason: "customer changed mind"), to: id)
        }
        try #require(harness.order(id).fulfillment(fid)?.status == state, "could not drive the fulfillment to \(state)")
        return (harness, id, fid)
    }

    static func command(_ action: FulfillmentAction, _ fid: String) -> OrderCommand {
        switch action {
        case .release: .releaseFulfillment(fid)
        case .pick: .confirmPick(fid)
        case .pack: .confirmPack(fid)
        case .ship: .confirmShipment(fid, carrierID: Net.carrierID, trackingNumber: "TRK-1")
        case .deliver: .confirmDelivery(fid)
        case .reject: .rejectFulfillment(fid, lines: [], reason: "no staff", stockMissing: false)
        // There is no per-fulfillment cancel: cancelling is by order (or lines), and reaches the fulfillments.
        case .cancel: .cancelOrder(reason: "customer changed mind")
        }
    }

    @Test("every (state, action) pair is the table's transition or a FAILED_PRECONDITION that changes nothing",
          arguments: FulfillmentStatus.allCases, FulfillmentAction.allCases)
    func transitionOrRejection(state: FulfillmentStatus, action: FulfillmentAction) throws {
        for method in [FulfillmentMethod.ship, .pickup] {
            let (harness, id, fid) = try Self.orderWithFulfillment(in: state, method: method)
            let before = harness.order(id)
            let fulfillment = before.fulfillment(fid)!
            let figures = liveFigures(harness.engine)
            let movements = harness.storage.movements.count, events = harness.storage.events.count
            let capacity = harness.engine.state.capacity.used
            let expected = FulfillmentAction.next(state, action)

            // The order-level cancel still cancels units elsewhere (a rejected fulfillment's units wait as
            // backorders); the fulfillment itself must then stay as it was.
            if action == .cancel && expected == nil && before.openUnits > 0 {
                let after = try harness.apply(Self.command(action, fid), to: id)
                #expect(after.fulfillment(fid)?.status == state, "\(method): cancel moved a \(state) fulfillment")
                #expect(after.openUnits == 0)
                continue
            }

            guard let expected else {
                harness.tick()
                let error = expectDomainError(.failedPrecondition, "\(method) \(state) × \(action)") {
                    _ = try harness.engine.apply(Self.command(action, fid), to: id,
                                                 context: harness.context(requestID: "illegal-1", fingerprint: 1),
                                                 storage: harness.storage)
                }
                if let error {
                    #expect(error.message.contains(state.description), "message must name the state: \(error.message)")
                    #expect(error.message.contains(action.rawValue), "message must name the action: \(error.message)")
                    #expect(error.currentState == state.description)
                }
                let unchanged = harness.order(id) == before
                #expect(unchanged, "\(method) \(state) × \(action): the order changed")
                #expect(liveFigures(harness.engine) == figures, "\(method) \(state) × \(action): inventory changed")
                #expect(harness.engine.state.capacity.used == capacity)
                #expect(harness.storage.movements.count == movements && harness.storage.events.count == events)
                #expect(try harness.storage.requestRecord("order:illegal-1") == nil, "a rejected request must not be recorded")
                continue
            }

            let after = try harness.apply(Self.command(action, fid), to: id)
            #expect(after.fulfillment(fid)?.status == expected, "\(method) \(state) × \(action)")
            #expect(after.version == before.version + 1)
            #expect(lineBookkeepingProblems(after).isEmpty, "\(lineBookkeepingProblems(after))")
            #expect(ledgerMismatches(harness.engine, harness.storage).isEmpty, "\(ledgerMismatches(harness.engine, harness.storage))")
            #expect(reservedByFulfillments(harness.storage).filter { $0.value != 0 }
                    == liveFigures(harness.engine).mapValues(\.reserved).filter { $0.value != 0 })
            let location = fulfillment.locationID
            switch action {
            case .ship:
                for line in fulfillment.lines {
                    #expect(harness.balance(line.sku, location).onHand == figures[InventoryKey(sku: line.sku, locationID: location)]!.onHand - Int64(line.quantity))
                }
                #expect(after.fulfillment(fid)?.shippedAt == harness.now)
            case .reject:
                #expect(after.excludedLocationIDs == [location])
                #expect(after.backorderedUnits == fulfillment.units, "nothing else can serve: the units wait as backorders")
                #expect(harness.balance(Net.skuA, location).reserved == 0)
                #expect(harness.capacityUsed(location, day: fulfillment.processingDay) == 0)
            case .cancel:
                #expect(after.status == .cancelled)
                #expect(harness.balance(Net.skuA, location).reserved == 0 && harness.balance(Net.skuB, location).reserved == 0)
                #expect(harness.capacityUsed(location, day: fulfillment.processingDay) == 0)
            case .release:
                #expect(after.fulfillment(fid)?.releasedAt == harness.now)
            case .deliver:
                #expect(after.status == .delivered)
            case .pick, .pack:
                #expect(liveFigures(harness.engine) == figures, "picking and packing do not move stock")
            }
        }
    }

    @Test("the table: reservation-holding states are exactly those before shipment; terminal states have no way out")
    func tableShape() {
        for state in FulfillmentStatus.allCases {
            let exits = FulfillmentAction.allCases.compactMap { FulfillmentAction.next(state, $0) }
            if state.isTerminal { #expect(exits.isEmpty, "\(state) is terminal but has exits \(exits)") }
            // Anything that holds a reservation can still be cancelled.
            #expect(state.holdsReservation == (FulfillmentAction.next(state, .cancel) != nil), "\(state)")
            // No transition goes back to CREATED.
            #expect(!exits.contains(.created))
        }
    }
}
