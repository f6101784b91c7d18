// Issue 16, "broken references accepted in silence": references are checked when written, and
// the error names the field and the unknown value.
import Testing
import WaybillCore

struct ReferenceValidationTests {
    @Test("a capture before any network is loaded is refused (was: accepted and backordered)")
    func captureWithoutNetwork() throws {
        let h = try Harness(locations: [], carriers: [], items: [])
        let error = expectDomainError(.failedPrecondition) { _ = try h.capture(Net.draft("EMPTY-1", [(Net.skuA, 1)])) }
        #expect(error?.message == "no network loaded: call LoadNetwork first (locations, carriers, items)")
        #expect(h.storage.orders.isEmpty)
    }

    @Test("a policy whose region filter matches no location is refused, naming the filter and the value")
    func regionFilterMatchingNothing() throws {
        let h = try Harness()
        var policy = RoutingPolicy.standard
        policy.filters.append(.region(["ZZ"], sameRegionAsShipTo: false))
        let error = expectDomainError(.invalidArgument, field: "filters[2].regions") { _ = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage) }
        #expect(error?.message.contains("[\"ZZ\"]") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("NJ, NV, PA") == true, "names the regions that exist: \(error?.message ?? "")")
        #expect(h.engine.policy.version == 0, "nothing changed")

        policy.filters[2] = .region(["ZZ", "PA"], sameRegionAsShipTo: false)
        #expect(try h.engine.setPolicy(policy, context: h.context(), storage: h.storage).version == 1, "one known region is enough")
    }

    @Test("a shipment confirmed with a carrier the network does not know is refused (was: stored)")
    func unknownCarrier() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)])
        let order = try h.capture(Net.draft("SHIP-1", [(Net.skuA, 1)]))
        let fulfillmentID = try #require(order.fulfillments.first).fulfillmentID
        try h.advance(order.orderID, fulfillmentID, to: .packed)
        let error = expectDomainError(.invalidArgument, field: "carrier_id") {
            try h.apply(.confirmShipment(fulfillmentID, carrierID: "FEDX-TYPO", trackingNumber: "1Z1"), to: order.orderID)
        }
        #expect(error?.message == "carrier_id: unknown carrier \"FEDX-TYPO\" (known: PARCELCO)")
        #expect(h.order(order.orderID).fulfillments.first?.status == .packed)
        try h.apply(.confirmShipment(fulfillmentID, carrierID: Net.carrierID, trackingNumber: "1Z1"), to: order.orderID)
        #expect(h.order(order.orderID).fulfillments.first?.carrierID == Net.carrierID)
    }

    @Test("receipts, adjustments and transfers of an item the item master does not know are refused (was: stock created)")
    func unknownItem() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)])
        let unknown = SKU("NEW-SKU-1")
        for change in [
            InventoryChange(changeID: "r1", kind: .receipt, sku: unknown, locationID: Net.whEast, quantity: 5),
            InventoryChange(changeID: "a1", kind: .adjustment, sku: unknown, locationID: Net.whEast, quantity: 5),
            InventoryChange(changeID: "t1", kind: .transfer, sku: unknown, locationID: Net.whEast, quantity: 1, toLocationID: Net.whWest),
        ] {
            let error = expectDomainError(.notFound, field: "sku") { try h.change(change) }
            #expect(error?.message.hasPrefix("sku: unknown item NEW-SKU-1") == true, "\(error?.message ?? "")")
        }
        #expect(h.balance(unknown, Net.whEast).onHand == 0)
        #expect(!h.storage.movements.contains { $0.sku == unknown })
        expectDomainError(.notFound, field: "location_id") {
            try h.change(InventoryChange(changeID: "r2", kind: .receipt, sku: Net.skuA, locationID: LocationID("NOWHERE"), quantity: 1))
        }
    }

    @Test("a snapshot's answer shows the positions after the re-route it caused (was: onHand 1, reserved 2)")
    func snapshotAnswerAfterReroute() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 2), (Net.skuA, Net.whWest, 10)])
        let first = try h.capture(Net.draft("SNAP-1", [(Net.skuA, 1)]))
        let second = try h.capture(Net.draft("SNAP-2", [(Net.skuA, 1)]))
        #expect(first.fulfillments.first?.locationID == Net.whEast && second.fulfillments.first?.locationID == Net.whEast)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 2)
        h.tick()
        let result = try h.engine.applyStockSnapshot(locationID: Net.whEast, asOf: h.now, levels: [(Net.skuA, 1)], complete: false,
                                                     messageID: "count-1", context: h.context(fingerprint: 5), storage: h.storage)
        let position = try #require(result.positions.first { $0.0 == InventoryKey(sku: Net.skuA, locationID: Net.whEast) }).1
        #expect(position.onHand == 1)
        #expect(position.reserved == 1, "the newest holder was re-routed by this same command")
        #expect(position == h.balance(Net.skuA, Net.whEast), "the answer is the committed state")
        #expect(h.order(second.orderID).fulfillments.last?.locationID == Net.whWest)
    }
}
