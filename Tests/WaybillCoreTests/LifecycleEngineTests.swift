// Whole order lifecycles through Engine + MemoryStorage on the standard network (two stores
// near the customer, a warehouse 120 km away, one 3,800 km away, one carrier with rate bands).
import Testing
import WaybillCore

struct LifecycleEngineTests {
    // MARK: ship from a warehouse

    @Test("ship from a warehouse: capture → release → pick → pack → ship → deliver")
    func shipFromWarehouseHappyPath() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        #expect(order.orderID == OrderID("W-00000001"))
        #expect(order.status == .allocated)
        try #require(order.fulfillments.count == 1)
        let f = order.fulfillments[0]
        #expect(f.fulfillmentID == "W-00000001-F1")
        #expect(f.locationID == Net.whEast && f.method == .ship && f.status == .created)
        #expect(f.lines == [FulfillmentLine(lineID: "L1", sku: Net.skuA, quantity: 2)])
        // ~120 km, 1 kg: the 500 km band (8.00, 2 days) plus WH-EAST's 1.00 processing cost.
        #expect(f.carrierID == Net.carrierID && f.carrierService == Net.service)
        #expect(f.shippingCostEstimate == Net.money(900))
        #expect(f.transitDaysEstimate == 2)
        #expect(f.promisedDeliveryAt == Timestamp.startOfDay(h.now.day + 2))
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 10 && h.balance(Net.skuA, Net.whEast).reserved == 2)
        #expect(h.balance(Net.skuA, Net.whEast).available == 8)
        #expect(h.capacityUsed(Net.whEast) == 1)

        order = try h.apply(.releaseFulfillment(nil), to: order.orderID)
        #expect(order.status == .released && order.fulfillments[0].releasedAt == h.now)
        order = try h.apply(.confirmPick(f.fulfillmentID), to: order.orderID)
        #expect(order.status == .picked)
        order = try h.apply(.confirmPack(f.fulfillmentID), to: order.orderID)
        #expect(order.status == .packed)
        // A shipped parcel needs a carrier and a tracking number.
        expectDomainError(.invalidArgument, field: "carrier_id") {
            _ = try h.engine.apply(.confirmShipment(f.fulfillmentID, carrierID: "", trackingNumber: "T"), to: order.orderID,
                                   context: h.context(requestID: "no-carrier"), storage: h.storage)
        }
        expectDomainError(.invalidArgument, field: "tracking_number") {
            _ = try h.engine.apply(.confirmShipment(f.fulfillmentID, carrierID: Net.carrierID, trackingNumber: ""), to: order.orderID,
                                   context: h.context(requestID: "no-tracking"), storage: h.storage)
        }
        order = try h.apply(.confirmShipment(f.fulfillmentID, carrierID: Net.carrierID, trackingNumber: "1Z999"), to: order.orderID)
        #expect(order.status == .shipped)
        #expect(order.fulfillments[0].trackingNumber == "1Z999" && order.fulfillments[0].shippedAt == h.now)
        #expect(order.lines[0].quantities.shipped == 2 && order.lines[0].quantities.allocated == 0)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8 && h.balance(Net.skuA, Net.whEast).reserved == 0)
        #expect(h.capacityUsed(Net.whEast) == 1, "a shipped fulfillment keeps its capacity")
        order = try h.apply(.confirmDelivery(f.fulfillmentID), to: order.orderID)
        #expect(order.status == .delivered && order.lines[0].status == .delivered)
        #expect(order.version == 6)
        #expect(order.history.map(\.action) == ["captured", "fulfillment_released", "fulfillment_picked", "fulfillment_packed",
                                                "fulfillment_shipped", "fulfillment_delivered"])
        #expect(order.history.map(\.version) == [1, 2, 3, 4, 5, 6])
        let orderEvents = h.storage.events.filter { $0.event.aggregateType == "order" }
        #expect(orderEvents.map(\.event.type) == ["order.captured", "order.fulfillment_released", "order.fulfillment_picked",
                                                  "order.fulfillment_packed", "order.fulfillment_shipped", "order.fulfillment_delivered"])
        #expect(orderEvents.map(\.event.aggregateSequence) == [1, 2, 3, 4, 5, 6])
        let kinds = h.storage.movements.filter { $0.orderID == order.orderID }.map(\.kind)
        #expect(kinds == [.reserved, .shipped])
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    // MARK: splits

    @Test("a split: no location has both SKUs, so each ships from where it is")
    func splitAcrossTwoLocations() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whWest, 10)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1), (Net.skuB, 1)]))
        #expect(order.status == .allocated)
        #expect(order.fulfillments.count == 2)
        #expect(order.fulfillments(at: Net.whEast).map(\.lines) == [[FulfillmentLine(lineID: "L1", sku: Net.skuA, quantity: 1)]])
        #expect(order.fulfillments(at: Net.whWest).map(\.lines) == [[FulfillmentLine(lineID: "L2", sku: Net.skuB, quantity: 1)]])
        #expect(order.routingDecisions.last?.shipments == 2)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 1 && h.balance(Net.skuB, Net.whWest).reserved == 1)
        for f in order.fulfillments { try h.advance(order.orderID, f.fulfillmentID, to: .delivered) }
        order = h.order(order.orderID)
        #expect(order.status == .delivered)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 9 && h.balance(Net.skuB, Net.whWest).onHand == 9)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a split of one line: the cheaper location gives all it has, the other the rest")
    func splitOfOneLine() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 3), (Net.skuA, Net.whWest, 4)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 5)]))
        #expect(order.fulfillments(at: Net.whEast).map(\.units) == [3])
        #expect(order.fulfillments(at: Net.whWest).map(\.units) == [2])
        #expect(order.lines[0].quantities.allocated == 5)
        let first = order.fulfillments(at: Net.whEast)[0].fulfillmentID
        try h.advance(order.orderID, first, to: .shipped)
        order = h.order(order.orderID)
        #expect(order.status == .partiallyShipped && order.lines[0].status == .partiallyShipped)
        #expect(order.lines[0].quantities.shipped == 3 && order.lines[0].quantities.allocated == 2)
    }

    // MARK: store pickup

    @Test("store pickup reserves at the pickup store only, even when others are cheaper")
    func storePickup() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5), (Net.skuA, Net.stSuburb, 5), (Net.skuA, Net.whEast, 5)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)], method: .pickup, pickup: Net.stSuburb))
        try #require(order.fulfillments.count == 1)
        let f = order.fulfillments[0]
        #expect(f.locationID == Net.stSuburb && f.method == .pickup && f.carrierID.isEmpty)
        #expect(h.balance(Net.skuA, Net.stSuburb).reserved == 2)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0 && h.balance(Net.skuA, Net.whEast).reserved == 0)
        try h.apply(.releaseFulfillment(nil), to: order.orderID)
        // Handed over at the counter: no carrier, no tracking number.
        order = try h.apply(.confirmShipment(f.fulfillmentID, carrierID: "", trackingNumber: ""), to: order.orderID)
        #expect(order.status == .shipped)
        order = try h.apply(.confirmDelivery(f.fulfillmentID), to: order.orderID)
        #expect(order.status == .delivered)
        #expect(h.balance(Net.skuA, Net.stSuburb).onHand == 3 && h.balance(Net.skuA, Net.stCenter).onHand == 5)
    }

    @Test("store pickup without stock at the store backorders, and only stock at that store serves it")
    func storePickupBackorder() throws {
        let h = try Harness(stock: [(Net.skuB, Net.whEast, 5)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuB, 1)], method: .pickup, pickup: Net.stCenter))
        #expect(order.status == .backordered && order.fulfillments.isEmpty)
        #expect(h.balance(Net.skuB, Net.whEast).reserved == 0)
        try h.receive(Net.skuB, at: Net.stSuburb, 3)
        #expect(h.order(order.orderID).status == .backordered, "stock at another store does not serve a pickup")
        try h.receive(Net.skuB, at: Net.stCenter, 1)
        let served = h.order(order.orderID)
        #expect(served.status == .allocated)
        #expect(served.fulfillments.map(\.locationID) == [Net.stCenter])
        #expect(h.balance(Net.skuB, Net.stCenter).reserved == 1)
        expectDomainError(.invalidArgument, field: "order.fulfillment.pickup_location_id") {
            _ = try h.engine.capture(Net.draft("EXT-2", [(Net.skuB, 1)], method: .pickup, pickup: Net.whEast),
                                     context: h.context(), storage: h.storage)
        }
        expectDomainError(.invalidArgument, field: "order.fulfillment.pickup_location_id") {
            _ = try h.engine.capture(Net.draft("EXT-3", [(Net.skuB, 1)], method: .pickup, pickup: LocationID("NOWHERE")),
                                     context: h.context(), storage: h.storage)
        }
    }

    // MARK: rejection and re-routing

    @Test("a store rejects: its units are re-routed elsewhere, never back to it; then backordered when nothing else can serve")
    func storeRejectionReroutes() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5), (Net.skuA, Net.whEast, 5)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        let id = order.orderID
        let f1 = try #require(order.fulfillments.first)
        #expect(f1.locationID == Net.stCenter, "the nearby store is the cheapest")
        try h.apply(.releaseFulfillment(nil), to: id)
        order = try h.apply(.rejectFulfillment(f1.fulfillmentID, lines: [], reason: "cannot find them", stockMissing: true), to: id)
        #expect(order.fulfillment(f1.fulfillmentID)?.status == .rejected)
        #expect(order.fulfillment(f1.fulfillmentID)?.rejectionReason == "cannot find them")
        #expect(order.excludedLocationIDs == [Net.stCenter])
        let rerouted = order.fulfillments.filter { $0.status == .created }
        #expect(rerouted.map(\.locationID) == [Net.whEast])
        #expect(rerouted.map(\.units) == [2])
        #expect(order.status == .allocated && order.backorderedUnits == 0)
        // Stock: the store's reservation released and the missing units written off; the warehouse reserves 2.
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0 && h.balance(Net.skuA, Net.stCenter).onHand == 3)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 2 && h.balance(Net.skuA, Net.whEast).onHand == 5)
        #expect(h.capacityUsed(Net.stCenter) == 0 && h.capacityUsed(Net.whEast) == 1)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty, "\(ledgerMismatches(h.engine, h.storage))")
        let decision = try #require(order.routingDecisions.last)
        #expect(order.routingDecisions.count == 2)
        #expect(decision.trigger.contains("reroute") && decision.trigger.contains(f1.fulfillmentID))
        #expect(decision.locations.contains { $0.locationID == Net.stCenter && !$0.chosen && $0.code == .excluded })
        #expect(order.history.last?.action == "fulfillment_rejected")
        #expect(order.history.last?.detail.contains("re-routed to WH-EAST") == true)

        // The warehouse rejects too (without writing anything off): only the excluded store has
        // stock left, so the units wait as backorders.
        let f2 = rerouted[0].fulfillmentID
        order = try h.apply(.rejectFulfillment(f2, lines: [], reason: "no staff", stockMissing: false), to: id)
        #expect(order.status == .backordered && order.backorderedUnits == 2)
        #expect(order.excludedLocationIDs == [Net.stCenter, Net.whEast])
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 0 && h.balance(Net.skuA, Net.whEast).onHand == 5)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0)
        #expect(h.capacityUsed(Net.whEast) == 0)
        #expect(order.history.last?.detail.contains("backordered") == true)
        // New stock at an excluded location does not bring the order back there; elsewhere it does.
        try h.receive(Net.skuA, at: Net.stCenter, 10)
        #expect(h.order(id).status == .backordered)
        try h.receive(Net.skuA, at: Net.whWest, 10)
        #expect(h.order(id).status == .allocated)
        #expect(h.order(id).fulfillments.last?.locationID == Net.whWest)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty, "\(ledgerMismatches(h.engine, h.storage))")
    }

    @Test("a partial rejection keeps the rest at the location in a fulfillment of its own")
    func partialRejection() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5), (Net.skuA, Net.whEast, 5)])
        var order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 3)]))
        let id = order.orderID
        let f1 = order.fulfillments[0]
        try #require(f1.locationID == Net.stCenter)
        try h.apply(.releaseFulfillment(nil), to: id)
        order = try h.apply(.rejectFulfillment(f1.fulfillmentID, lines: [LineQuantity(lineID: "L1", quantity: 1)],
                                               reason: "one damaged", stockMissing: false), to: id)
        #expect(order.fulfillment(f1.fulfillmentID)?.status == .rejected)
        #expect(order.fulfillment(f1.fulfillmentID)?.units == 1)
        let kept = order.fulfillments.filter { $0.locationID == Net.stCenter && $0.status == .released }
        #expect(kept.map(\.units) == [2], "the two units the store keeps stay released there")
        #expect(order.fulfillments.filter { $0.locationID == Net.whEast }.map(\.units) == [1])
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 2 && h.balance(Net.skuA, Net.whEast).reserved == 1)
        #expect(h.capacityUsed(Net.stCenter) == 1 && h.capacityUsed(Net.whEast) == 1)
        #expect(lineBookkeepingProblems(order).isEmpty)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty, "\(ledgerMismatches(h.engine, h.storage))")
    }

    @Test("writing off missing stock never takes on hand below zero, also when lines share a SKU")
    func writeOffIsBounded() throws {
        let h = try Harness(stock: [(Net.skuD, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuD, 3), (Net.skuD, 1)]))
        try #require(order.fulfillments.map(\.locationID) == [Net.whEast])
        #expect(h.balance(Net.skuD, Net.whEast).reserved == 4)
        // Picked: a count below the reservations no longer re-routes these units (the location has them in hand).
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .picked)
        // A count finds only 3 left; the 4 reserved units can no longer all be there.
        try h.change(InventoryChange(changeID: "count-1", kind: .adjustment, sku: Net.skuD, locationID: Net.whEast, quantity: -7))
        #expect(h.order(order.orderID).fulfillments.map(\.status) == [.picked])
        let after = try h.apply(.rejectFulfillment(order.fulfillments[0].fulfillmentID, lines: [], reason: "not found", stockMissing: true),
                                to: order.orderID)
        #expect(h.balance(Net.skuD, Net.whEast).onHand == 0, "3 on hand, 4 missing: 3 written off")
        #expect(h.balance(Net.skuD, Net.whEast).reserved == 0)
        let writtenOff = h.storage.movements.filter { $0.kind == .writtenOff }.reduce(0) { $0 - $1.onHandDelta }
        #expect(writtenOff == 3)
        // The feed says so too (the ERP bridge forwards it): one inventory event per write-off movement.
        let events = h.storage.events.map(\.event).filter { $0.type == "inventory.written_off" }
        var announced: Int64 = 0
        for event in events {
            guard case .inventory(let sku, let location, let movement?, let balance) = event.aggregate else {
                Issue.record("inventory.written_off without its movement")
                continue
            }
            #expect(sku == Net.skuD && location == Net.whEast && movement.kind == .writtenOff && balance.onHand == 0)
            announced -= movement.onHandDelta
        }
        #expect(announced == 3, "\(events)")
        #expect(after.status == .backordered && after.backorderedUnits == 4)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a count below the reservations re-routes the newest holders' units; the oldest keep theirs")
    func shortageReroutesNewestFirst() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 6)])
        let orders = try (1...3).map { try h.capture(Net.draft("EXT-\($0)", [(Net.skuA, 2)])) }
        try #require(orders.allSatisfy { $0.fulfillments.map(\.locationID) == [Net.whEast] })
        try h.receive(Net.skuA, at: Net.whWest, 2)
        // The count at WH-EAST finds 3 of the 6 reserved units.
        try h.change(InventoryChange(changeID: "count-east", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -3))
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 3 && h.balance(Net.skuA, Net.whEast).reserved == 3)
        let (first, second, third) = (h.order(orders[0].orderID), h.order(orders[1].orderID), h.order(orders[2].orderID))
        #expect(first.fulfillments.count == 1 && first.backorderedUnits == 0, "the oldest order keeps its units")
        // The newest gives up both units, re-routed to WH-WEST; the next gives one, nothing left anywhere: backordered.
        #expect(third.fulfillments.filter { $0.status != .rejected }.map(\.locationID) == [Net.whWest])
        #expect(second.fulfillments.filter { $0.status != .rejected }.flatMap(\.lines).map(\.quantity) == [1])
        #expect(second.backorderedUnits == 1)
        #expect(h.balance(Net.skuA, Net.whWest).reserved == 2)
        // The location only ran out: it stays eligible, and stock arriving there serves the backorder.
        #expect(!second.excludedLocationIDs.contains(Net.whEast) && !third.excludedLocationIDs.contains(Net.whEast))
        #expect(!h.storage.movements.contains { $0.kind == .writtenOff })
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
        for order in [first, second, third] { #expect(lineBookkeepingProblems(order).isEmpty) }
        // A retry of the same adjustment is a replay: nothing else moves.
        let figures = liveFigures(h.engine)
        try h.change(InventoryChange(changeID: "count-east", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -3))
        #expect(liveFigures(h.engine) == figures)
        try h.receive(Net.skuA, at: Net.whEast, 1)
        #expect(h.order(orders[1].orderID).backorderedUnits == 0)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 4)
    }

    @Test("shortageOrdersScannedMax bounds the holders examined: beyond it a shortfall stays for the location to reject")
    func shortageScanIsBounded() throws {
        var limits = DomainLimits.default
        limits.shortageOrdersScannedMax = 1
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 6)], limits: limits)
        let orders = try (1...3).map { try h.capture(Net.draft("EXT-\($0)", [(Net.skuA, 2)])) }
        try #require(orders.allSatisfy { $0.fulfillments.map(\.locationID) == [Net.whEast] })
        try h.change(InventoryChange(changeID: "count-east", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -4))
        // Only the newest order was examined: it gave up its 2 units; 2 reserved units remain uncovered.
        #expect(h.order(orders[2].orderID).backorderedUnits == 2)
        #expect(h.order(orders[1].orderID).backorderedUnits == 0 && h.order(orders[0].orderID).backorderedUnits == 0)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 2 && h.balance(Net.skuA, Net.whEast).reserved == 4)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("writing off keeps stock still reserved by other orders")
    func writeOffSparesOtherReservations() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        let first = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        let second = try h.capture(Net.draft("EXT-2", [(Net.skuA, 2)]))
        try #require(first.fulfillments.count == 1 && second.fulfillments.count == 1)
        try h.apply(.rejectFulfillment(first.fulfillments[0].fulfillmentID, lines: [], reason: "lost", stockMissing: true), to: first.orderID)
        // 5 on hand, 2 still reserved for the second order: 2 of the 3 unreserved are written off.
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 3 && h.balance(Net.skuA, Net.whEast).reserved == 2)
    }

    // MARK: backorders

    @Test("a receipt serves backorders oldest first")
    func backorderReleasedOldestFirst() throws {
        let h = try Harness()
        let older = try h.capture(Net.draft("EXT-1", [(Net.skuD, 3)]))
        let newer = try h.capture(Net.draft("EXT-2", [(Net.skuD, 1)]))
        #expect(older.status == .backordered && newer.status == .backordered)
        #expect(h.engine.state.backorders.count == 2)
        // Three units: enough for either, not for both. The older order gets them all.
        try h.receive(Net.skuD, at: Net.whEast, 3)
        let served = h.order(older.orderID)
        #expect(served.status == .allocated)
        #expect(served.fulfillments.map(\.locationID) == [Net.whEast])
        #expect(served.routingDecisions.last?.trigger == "backorder release")
        #expect(served.history.last?.action == "backorder_allocated")
        #expect(h.order(newer.orderID).status == .backordered)
        #expect(h.balance(Net.skuD, Net.whEast).reserved == 3)
        try h.receive(Net.skuD, at: Net.whEast, 1)
        #expect(h.order(newer.orderID).status == .allocated)
        #expect(h.engine.state.backorders.count == 0)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("with partial allocation, the oldest order takes what there is and keeps waiting for the rest")
    func backorderPartialRelease() throws {
        let h = try Harness()
        let older = try h.capture(Net.draft("EXT-1", [(Net.skuD, 3)]))
        let newer = try h.capture(Net.draft("EXT-2", [(Net.skuD, 1)]))
        try h.receive(Net.skuD, at: Net.whEast, 2)
        let partly = h.order(older.orderID)
        #expect(partly.status == .partiallyAllocated)
        #expect(partly.lines[0].quantities.allocated == 2 && partly.lines[0].quantities.backordered == 1)
        #expect(h.order(newer.orderID).status == .backordered)
        try h.receive(Net.skuD, at: Net.whWest, 5)
        #expect(h.order(older.orderID).status == .allocated)
        #expect(h.order(newer.orderID).status == .allocated)
    }

    @Test("lowering safety stock frees units for waiting backorders; settings are part of the rebuilt ledger")
    func safetyStock() throws {
        let h = try Harness(stock: [(Net.skuC, Net.whEast, 5)])
        let key = InventoryKey(sku: Net.skuC, locationID: Net.whEast)
        _ = try h.engine.updateInventorySetting(key, safetyStock: 4, incoming: [], context: h.context(), storage: h.storage)
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuC, 2)]))
        #expect(order.status == .partiallyAllocated && order.lines[0].quantities.allocated == 1, "only 5 − 4 = 1 available")
        let balance = try h.engine.updateInventorySetting(key, safetyStock: 0, incoming: [Supply(quantity: 3, expectedAt: h.now.adding(days: 2))],
                                                          context: h.context(), storage: h.storage)
        #expect(balance.safetyStock == 0 && balance.incoming.map(\.quantity) == [3])
        #expect(h.order(order.orderID).status == .allocated)
        #expect(h.balance(Net.skuC, Net.whEast).reserved == 2)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty, "\(ledgerMismatches(h.engine, h.storage))")
        expectDomainError(.invalidArgument, field: "safety_stock") {
            _ = try h.engine.updateInventorySetting(key, safetyStock: -1, incoming: [], context: h.context(), storage: h.storage)
        }
    }

    @Test("per-order limits: holds and history are bounded, by name")
    func perOrderLimits() throws {
        var limits = DomainLimits()
        limits.holdsPerOrderMax = 2
        limits.historyEntriesPerOrderMax = 5
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)], limits: limits)
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1)]))
        try h.apply(.hold(.fraud, note: ""), to: order.orderID)
        try h.apply(.hold(.payment, note: ""), to: order.orderID)
        let tooMany = expectDomainError(.invalidArgument) { try h.apply(.hold(.address, note: ""), to: order.orderID) }
        #expect(tooMany?.limitName == "holdsPerOrderMax" && tooMany?.limitValue == 2)
        try h.apply(.releaseHold(nil, note: ""), to: order.orderID)
        try h.apply(.releaseFulfillment(nil), to: order.orderID)
        #expect(h.order(order.orderID).history.count == 5)
        let full = expectDomainError(.failedPrecondition) { try h.apply(.confirmPick(order.fulfillments[0].fulfillmentID), to: order.orderID) }
        #expect(full?.limitName == "historyEntriesPerOrderMax" && full?.limitValue == 5)
        #expect(h.order(order.orderID).fulfillments[0].status == .released)
    }

    // MARK: cancellation

    @Test("cancelling before shipment releases the reservation and the capacity")
    func cancelBeforeShipment() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        try h.apply(.releaseFulfillment(nil), to: order.orderID)
        try h.apply(.confirmPick(order.fulfillments[0].fulfillmentID), to: order.orderID)
        #expect(h.capacityUsed(Net.whEast) == 1)
        let cancelled = try h.apply(.cancelOrder(reason: "customer request"), to: order.orderID)
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.fulfillments[0].status == .cancelled)
        #expect(cancelled.lines[0].quantities.cancelled == 2 && cancelled.lines[0].status == .cancelled)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 0 && h.balance(Net.skuA, Net.whEast).onHand == 10)
        #expect(h.capacityUsed(Net.whEast) == 0)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("cancelling after a partial shipment cancels only what has not shipped")
    func cancelAfterPartialShipment() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whWest, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2), (Net.skuB, 1)]))
        let east = order.fulfillments(at: Net.whEast)[0].fulfillmentID
        let west = order.fulfillments(at: Net.whWest)[0].fulfillmentID
        try h.advance(order.orderID, east, to: .shipped)
        try h.apply(.releaseFulfillment(west), to: order.orderID)
        let cancelled = try h.apply(.cancelOrder(reason: "too slow"), to: order.orderID)
        #expect(cancelled.fulfillment(east)?.status == .shipped)
        #expect(cancelled.fulfillment(west)?.status == .cancelled)
        #expect(cancelled.lines[0].quantities.shipped == 2 && cancelled.lines[0].quantities.cancelled == 0)
        #expect(cancelled.lines[1].quantities.cancelled == 1)
        #expect(cancelled.status == .shipped, "what is left of the order has shipped")
        #expect(h.balance(Net.skuB, Net.whWest).reserved == 0 && h.balance(Net.skuB, Net.whWest).onHand == 10)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8)
        #expect(h.capacityUsed(Net.whWest) == 0 && h.capacityUsed(Net.whEast) == 1)
        let error = expectDomainError(.failedPrecondition) { try h.apply(.cancelOrder(reason: "again"), to: order.orderID) }
        #expect(error?.message.contains("nothing left to cancel") == true)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("units freed by a cancellation serve a waiting backorder")
    func cancellationServesBackorder() throws {
        let h = try Harness(stock: [(Net.skuB, Net.whWest, 1)])
        let first = try h.capture(Net.draft("EXT-1", [(Net.skuB, 1)]))
        let waiting = try h.capture(Net.draft("EXT-2", [(Net.skuB, 1)]))
        #expect(first.status == .allocated && waiting.status == .backordered)
        try h.apply(.cancelOrder(reason: "changed mind"), to: first.orderID)
        #expect(h.order(waiting.orderID).status == .allocated)
        #expect(h.balance(Net.skuB, Net.whWest).reserved == 1)
    }

    @Test("cancelling some units of a line takes backordered ones first, then the least advanced fulfillment")
    func cancelLines() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 2)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 3)]))
        #expect(order.lines[0].quantities.backordered == 1 && order.lines[0].quantities.allocated == 2)
        var after = try h.apply(.cancelLines([LineQuantity(lineID: "L1", quantity: 1)], reason: "one less"), to: order.orderID)
        #expect(after.lines[0].quantities.backordered == 0 && after.lines[0].quantities.allocated == 2)
        #expect(after.status == .allocated)
        after = try h.apply(.cancelLines([LineQuantity(lineID: "L1", quantity: 1)], reason: "one less"), to: order.orderID)
        #expect(after.lines[0].quantities.allocated == 1 && after.fulfillments[0].units == 1)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 1)
        expectDomainError(.failedPrecondition) {
            try h.apply(.cancelLines([LineQuantity(lineID: "L1", quantity: 2)], reason: "too many"), to: order.orderID)
        }
        expectDomainError(.notFound, field: "lines[0].line_id") {
            try h.apply(.cancelLines([LineQuantity(lineID: "L9", quantity: 1)], reason: "?"), to: order.orderID)
        }
        expectDomainError(.invalidArgument, field: "lines[0].quantity") {
            try h.apply(.cancelLines([LineQuantity(lineID: "L1", quantity: 0)], reason: "?"), to: order.orderID)
        }
    }

    // MARK: returns

    @Test("a return: restocked units go back on hand, disposed ones do not; the refund covers both")
    func returnWithRestockAndDispose() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2), (Net.skuB, 1)]))  // L1 at 10.00, L2 at 20.00
        try #require(order.fulfillments.count == 1)
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .delivered)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8 && h.balance(Net.skuB, Net.whEast).onHand == 9)
        expectDomainError(.failedPrecondition) {
            try h.apply(.createReturn(returnID: "RMA-X", lines: [LineQuantity(lineID: "L1", quantity: 3)], reason: "more than shipped"), to: order.orderID)
        }
        var after = try h.apply(.createReturn(returnID: "RMA-1", lines: [LineQuantity(lineID: "L1", quantity: 2), LineQuantity(lineID: "L2", quantity: 1)],
                                              reason: "unwanted"), to: order.orderID)
        #expect(after.lines[0].quantities.returnRequested == 2 && after.status == .delivered)
        expectDomainError(.alreadyExists, field: "return_id") {
            try h.apply(.createReturn(returnID: "RMA-1", lines: [LineQuantity(lineID: "L1", quantity: 1)], reason: "again"), to: order.orderID)
        }
        expectDomainError(.invalidArgument, field: "lines[0].disposition") {
            try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast, lines: [ReturnLine(lineID: "L1", quantity: 2)]), to: order.orderID)
        }
        expectDomainError(.invalidArgument, field: "location_id") {
            try h.apply(.receiveReturn(returnID: "RMA-1", locationID: LocationID("NOWHERE"),
                                       lines: [ReturnLine(lineID: "L1", quantity: 2, disposition: .restock)]), to: order.orderID)
        }
        after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                           lines: [ReturnLine(lineID: "L1", quantity: 2, disposition: .restock),
                                                   ReturnLine(lineID: "L2", quantity: 1, disposition: .dispose)]), to: order.orderID)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 10, "restocked")
        #expect(h.balance(Net.skuB, Net.whEast).onHand == 9, "disposed")
        let ret = try #require(after.returns.first)
        #expect(ret.status == .received && ret.receivedAtLocationID == Net.whEast && ret.receivedAt == h.now)
        #expect(ret.refund == Net.money(2 * 1_000 + 1 * 2_000))
        #expect(after.status == .returned)
        #expect(after.lines.map(\.quantities.returned) == [2, 1])
        #expect(h.storage.events.contains { $0.event.type == "order.return_received" && $0.event.detail.contains("order.refund_due: 4000 USD") })
        expectDomainError(.failedPrecondition) {
            try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                       lines: [ReturnLine(lineID: "L1", quantity: 2, disposition: .restock)]), to: order.orderID)
        }
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a return received short refunds what arrived, restocks at the receiving location, and leaves the rest returnable")
    func partialReturn() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 3)], unitPrice: 1_250))
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .delivered)
        try h.apply(.createReturn(returnID: "RMA-1", lines: [LineQuantity(lineID: "L1", quantity: 3)], reason: "unwanted"), to: order.orderID)
        let after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.stCenter,
                                               lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .restock)]), to: order.orderID)
        #expect(after.returns[0].refund == Net.money(1_250))
        #expect(after.status == .partiallyReturned)
        #expect(h.balance(Net.skuA, Net.stCenter).onHand == 1 && h.balance(Net.skuA, Net.whEast).onHand == 7)
        let again = try h.apply(.createReturn(returnID: "RMA-2", lines: [LineQuantity(lineID: "L1", quantity: 2)], reason: "late"), to: order.orderID)
        #expect(again.lines[0].quantities.returnRequested == 2)
    }

    // MARK: holds

    @Test("a hold blocks release; releasing the hold lets release proceed")
    func holdsBlockRelease() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1)], holds: [Hold(reason: .payment, note: "card declined")]))
        #expect(order.status == .onHold)
        #expect(order.fulfillments.map(\.status) == [.created], "a hold does not stop allocation")
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 1)
        let blocked = expectDomainError(.failedPrecondition) { try h.apply(.releaseFulfillment(nil), to: order.orderID) }
        #expect(blocked?.message.contains("ON_HOLD") == true && blocked?.message.contains("payment") == true)
        #expect(h.order(order.orderID).fulfillments[0].status == .created)
        expectDomainError(.failedPrecondition) { try h.apply(.releaseHold(.fraud, note: "no such hold"), to: order.orderID) }
        expectDomainError(.failedPrecondition) { try h.apply(.hold(.payment, note: "twice"), to: order.orderID) }
        let released = try h.apply(.releaseHold(.payment, note: "paid"), to: order.orderID)
        #expect(released.status == .allocated && released.holds.isEmpty)
        let after = try h.apply(.releaseFulfillment(nil), to: order.orderID)
        #expect(after.status == .released)
        expectDomainError(.failedPrecondition) { try h.apply(.releaseHold(nil, note: "none left"), to: order.orderID) }
    }

    @Test("with release on allocation, a held order's fulfillments wait and are released with the hold")
    func releaseOnAllocationWaitsForHold() throws {
        var policy = RoutingPolicy.standard
        policy.releaseOnAllocation = true
        let h = try Harness(policy: policy, stock: [(Net.skuA, Net.whEast, 10)])
        let free = try h.capture(Net.draft("EXT-0", [(Net.skuA, 1)]))
        #expect(free.status == .released)
        let held = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1)], holds: [Hold(reason: .fraud)]))
        #expect(held.fulfillments.map(\.status) == [.created])
        let after = try h.apply(.releaseHold(nil, note: "reviewed"), to: held.orderID)
        #expect(after.fulfillments.map(\.status) == [.released] && after.status == .released)
    }

    @Test("a hold placed after release recalls what is not yet picked; picked units stay; releasing the hold sends it again")
    func holdRecallsReleasedWork() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whWest, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1), (Net.skuB, 1)]))
        try #require(order.fulfillments.count == 2)
        let (east, west) = (order.fulfillments.first { $0.locationID == Net.whEast }!, order.fulfillments.first { $0.locationID == Net.whWest }!)
        _ = try h.apply(.releaseFulfillment(nil), to: order.orderID)
        _ = try h.apply(.confirmPick(west.fulfillmentID), to: order.orderID)
        let events = h.storage.events.count
        let reserved = liveFigures(h.engine).mapValues(\.reserved)

        let held = try h.apply(.hold(.fraud, note: "chargeback risk"), to: order.orderID)
        #expect(held.status == .onHold)
        #expect(held.fulfillment(east.fulfillmentID)?.status == .created, "released, not picked: recalled")
        #expect(held.fulfillment(west.fulfillmentID)?.status == .picked, "picked units are in the location's hands")
        #expect(liveFigures(h.engine).mapValues(\.reserved) == reserved, "a recall keeps the reservations")
        #expect(held.history.last?.detail.contains("recalled \(east.fulfillmentID)") == true)
        let event = try #require(h.storage.events.dropFirst(events).first)
        #expect(event.event.type == "order.hold_placed" && event.event.detail.contains("order.fulfillment_recalled: \(Net.whEast.rawValue)"))
        #expect(lineBookkeepingProblems(held).isEmpty, "\(lineBookkeepingProblems(held))")

        // The location's late pick confirmation is refused, naming the state.
        let late = expectDomainError(.failedPrecondition) { try h.apply(.confirmPick(east.fulfillmentID), to: order.orderID) }
        #expect(late?.message.contains("CREATED") == true)
        let released = try h.apply(.releaseHold(nil, note: "cleared"), to: order.orderID)
        #expect(released.fulfillment(east.fulfillmentID)?.status == .created)
        _ = try h.apply(.releaseFulfillment(east.fulfillmentID), to: order.orderID)
        let picked = try h.apply(.confirmPick(east.fulfillmentID), to: order.orderID)
        #expect(picked.fulfillments.map(\.status) == [.picked, .picked])
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    // MARK: idempotency

    @Test("request ids: same id and content replays; same id, different content is ALREADY_EXISTS and changes nothing")
    func requestIDIdempotency() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 1)]))
        let other = try h.capture(Net.draft("EXT-2", [(Net.skuA, 1)]))
        let hold = OrderCommand.hold(.fraud, note: "check")
        let fp = fingerprint("hold fraud check")
        h.tick()
        let first = try h.engine.apply(hold, to: order.orderID, context: h.context(requestID: "r-1", fingerprint: fp), storage: h.storage)
        #expect(!first.replayed && first.order.version == 2 && first.order.status == .onHold)
        let events = h.storage.events.count
        h.tick()
        let retry = try h.engine.apply(hold, to: order.orderID, context: h.context(requestID: "r-1", fingerprint: fp), storage: h.storage)
        #expect(retry.replayed)
        #expect(retry.order == first.order)
        #expect(h.storage.events.count == events)
        let error = expectDomainError(.alreadyExists, field: "request_id") {
            _ = try h.engine.apply(.hold(.address, note: "other"), to: order.orderID,
                                   context: h.context(requestID: "r-1", fingerprint: fingerprint("hold address other")), storage: h.storage)
        }
        #expect(error?.message.contains("r-1") == true)
        expectDomainError(.alreadyExists, field: "request_id") {
            _ = try h.engine.apply(hold, to: other.orderID, context: h.context(requestID: "r-1", fingerprint: fp), storage: h.storage)
        }
        let unchanged = h.order(order.orderID) == first.order && h.order(other.orderID).holds.isEmpty
        #expect(unchanged)
        #expect(h.storage.events.count == events)
        expectDomainError(.invalidArgument, field: "request_id") {
            _ = try h.engine.apply(hold, to: order.orderID, context: h.context(requestID: ""), storage: h.storage)
        }
    }

    @Test("capture is idempotent on (channel, external id): a retry replays; different content is ALREADY_EXISTS naming the order")
    func captureIdempotency() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let draft = Net.draft("EXT-1", [(Net.skuA, 2)])
        h.tick()
        let first = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        #expect(!first.replayed)
        let figures = liveFigures(h.engine)
        let events = h.storage.events.count
        h.tick()
        let retry = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        #expect(retry.replayed && retry.order.orderID == first.order.orderID)
        #expect(retry.order == first.order)
        #expect(h.storage.orders.count == 1 && liveFigures(h.engine) == figures && h.storage.events.count == events)
        #expect(h.engine.state.nextOrderSequence == 2)

        var changed = draft
        changed.lines[0].quantity = 3
        var withHold = draft
        withHold.holds = [Hold(reason: .payment)]
        var otherAttributes = draft
        otherAttributes.attributes = ["payment_ref": "P-1"]
        for conflicting in [changed, withHold, otherAttributes] {
            let error = expectDomainError(.alreadyExists, field: "order.external_order_id") {
                _ = try h.engine.capture(conflicting, context: h.context(), storage: h.storage)
            }
            #expect(error?.existingOrderID == first.order.orderID)
            #expect(error?.message.contains(first.order.orderID.rawValue) == true)
        }
        #expect(h.storage.orders.count == 1 && liveFigures(h.engine) == figures && h.storage.events.count == events)
        // The key is (channel, external id): the same external id on another channel is another order.
        var otherChannel = draft
        otherChannel.channel = .marketplace
        let second = try h.engine.capture(otherChannel, context: h.context(), storage: h.storage)
        #expect(!second.replayed && second.order.orderID == OrderID("W-00000002"))
    }

    @Test("a policy without backorders refuses what it cannot allocate, and changes nothing")
    func noBackorderPolicy() throws {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        policy.allowPartialAllocation = false
        let h = try Harness(policy: policy, stock: [(Net.skuA, Net.whEast, 1)])
        let error = expectDomainError(.failedPrecondition) {
            _ = try h.engine.capture(Net.draft("EXT-1", [(Net.skuA, 2)]), context: h.context(), storage: h.storage)
        }
        #expect(error?.currentState == "INSUFFICIENT_STOCK" && error?.message.contains("line L1 short by 1") == true)
        #expect(h.storage.orders.isEmpty && h.balance(Net.skuA, Net.whEast).reserved == 0)
        #expect(h.engine.state.nextOrderSequence == 1)
    }
}
