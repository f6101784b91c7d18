// ERP stock snapshots (Engine.applyStockSnapshot): a count as of a moment, corrected for the
// movements Waybill recorded after it, never touching reservations, idempotent by message id.
import Testing
import PropertyBased
import WaybillCore

struct StockSnapshotTests {
    /// Applies a snapshot of one location as of `asOf` with a fresh message id.
    @discardableResult
    static func snapshot(_ h: Harness, _ location: LocationID, asOf: Timestamp, _ levels: [(SKU, Int64)], complete: Bool = false,
                         messageID: String? = nil, fingerprint value: UInt64 = 1) throws -> (replayed: Bool, applied: Int, positions: [(InventoryKey, Balance)]) {
        h.tick()
        return try h.engine.applyStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete,
                                               messageID: messageID ?? h.nextRequestID(), context: h.context(fingerprint: value), storage: h.storage)
    }

    @Test("a snapshot older than recent shipments does not resurrect sold stock")
    func olderThanShipments() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        h.tick()
        let asOf = h.now  // the ERP counted 10 here
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .shipped)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8)
        let result = try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 10)])
        #expect(!result.replayed && result.applied == 1)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8, "10 counted before 2 shipped: still 8")
        #expect(!h.storage.movements.contains { $0.kind == .snapshot }, "nothing to correct")
        // The count found one fewer than Waybill thought: 9 − 2 shipped since = 7.
        try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 9)])
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 7)
        let correction = try #require(h.storage.movements.last)
        #expect(correction.kind == .snapshot && correction.onHandDelta == -1 && correction.reservedDelta == 0)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a snapshot older than a receipt does not erase it")
    func olderThanReceipt() throws {
        let h = try Harness(stock: [(Net.skuB, Net.whWest, 4)])
        h.tick()
        let asOf = h.now
        try h.receive(Net.skuB, at: Net.whWest, 6)
        #expect(h.balance(Net.skuB, Net.whWest).onHand == 10)
        try Self.snapshot(h, Net.whWest, asOf: asOf, [(Net.skuB, 4)])
        #expect(h.balance(Net.skuB, Net.whWest).onHand == 10)
        // A newer count (after the receipt) is taken as it is.
        try Self.snapshot(h, Net.whWest, asOf: h.now, [(Net.skuB, 7)])
        #expect(h.balance(Net.skuB, Net.whWest).onHand == 7)
    }

    @Test("every physical movement after as-of is re-applied: returns, adjustments, transfers, write-offs")
    func everyPhysicalMovementCounts() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuA, Net.whWest, 10)])
        h.tick()
        let asOf = h.now
        try h.change(InventoryChange(changeID: "adj", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -1))       // 9
        try h.change(InventoryChange(changeID: "xfer", kind: .transfer, sku: Net.skuA, locationID: Net.whWest, quantity: 3, toLocationID: Net.whEast))  // 12
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        try #require(order.fulfillments.map(\.locationID) == [Net.whEast])
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .delivered)   // 10
        try h.apply(.createReturn(returnID: "R1", lines: [LineQuantity(lineID: "L1", quantity: 2)], reason: ""), to: order.orderID)
        try h.apply(.receiveReturn(returnID: "R1", locationID: Net.whEast, lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .restock)]),
                    to: order.orderID)   // 11
        let second = try h.capture(Net.draft("EXT-2", [(Net.skuA, 1)]))
        try h.apply(.rejectFulfillment(second.fulfillments[0].fulfillmentID, lines: [], reason: "lost", stockMissing: true), to: second.orderID)  // 10
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 10)
        // Counted 20 at as-of (10 more than Waybill knew of): −1 + 3 − 2 + 1 − 1 since → 20.
        try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 20)])
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 20)
        // The reservation of the re-routed order is not touched.
        #expect(h.balance(Net.skuA, Net.whWest).reserved == 1)
    }

    @Test("snapshots never move reservations themselves; a count below them re-routes the holders' units")
    func reservationsUntouched() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 3)]))
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 3)
        try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, 5)])
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 5 && h.balance(Net.skuA, Net.whEast).reserved == 3)
        #expect(h.balance(Net.skuA, Net.whEast).available == 2)
        // The count finds 1 of the 3 reserved units: 2 are given up (nothing else has SKU-A: backordered).
        try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, 1)])
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 1 && h.balance(Net.skuA, Net.whEast).reserved == 1)
        #expect(h.balance(Net.skuA, Net.whEast).available == 0, "ATP never negative")
        let after = h.order(order.orderID)
        #expect(after.fulfillments.map(\.status) == [.rejected, .created])
        #expect(after.fulfillments[1].lines.map(\.quantity) == [1] && after.backorderedUnits == 2)
        #expect(after.history.last?.reason.hasPrefix("stock shortage at") == true, "\(after.history.last?.reason ?? "")")
        #expect(reservedByFulfillments(h.storage)[InventoryKey(sku: Net.skuA, locationID: Net.whEast)] == 1)
        #expect(h.storage.movements.filter { $0.kind == .snapshot }.allSatisfy { $0.reservedDelta == 0 })
        #expect(!h.storage.movements.contains { $0.kind == .writtenOff }, "the count already took the stock off")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a complete snapshot counts SKUs it does not list as zero (then corrects them like the rest)")
    func completeSnapshot() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 4), (Net.skuB, Net.whEast, 5), (Net.skuC, Net.whWest, 6)])
        h.tick()
        let asOf = h.now
        try h.receive(Net.skuB, at: Net.whEast, 2)
        let result = try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 4)], complete: true)
        #expect(result.applied == 2)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 4)
        #expect(h.balance(Net.skuB, Net.whEast).onHand == 2, "counted 0 at as-of, received 2 since")
        #expect(h.balance(Net.skuC, Net.whWest).onHand == 6, "other locations are not part of it")
        // An incomplete snapshot leaves unlisted SKUs alone.
        try h.receive(Net.skuB, at: Net.whEast, 1)
        try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, 1)])
        #expect(h.balance(Net.skuB, Net.whEast).onHand == 3 && h.balance(Net.skuA, Net.whEast).onHand == 1)
    }

    @Test("replay by message id: same message replays and changes nothing; different content is ALREADY_EXISTS")
    func replay() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let asOf = h.now
        let first = try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 6)], messageID: "erp-1", fingerprint: 77)
        #expect(!first.replayed && first.applied == 1)
        #expect(first.positions.map(\.0) == [InventoryKey(sku: Net.skuA, locationID: Net.whEast)])
        #expect(first.positions.first?.1.onHand == 6)
        try h.receive(Net.skuA, at: Net.whEast, 3)  // 9
        let figures = liveFigures(h.engine), movements = h.storage.movements.count, events = h.storage.events.count
        let again = try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 6)], messageID: "erp-1", fingerprint: 77)
        #expect(again.replayed && again.applied == 0 && again.positions.isEmpty)
        #expect(liveFigures(h.engine) == figures && h.storage.movements.count == movements && h.storage.events.count == events)
        expectDomainError(.alreadyExists, field: "message_id") {
            try Self.snapshot(h, Net.whEast, asOf: asOf, [(Net.skuA, 2)], messageID: "erp-1", fingerprint: 78)
        }
        #expect(liveFigures(h.engine) == figures && h.storage.movements.count == movements)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 9)
    }

    @Test("a count older than the newest applied one is stale: skipped per SKU, the newer count stands")
    func staleCountsSkipped() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 5)])
        h.tick()
        let older = h.now
        h.tick()
        let newer = h.now
        // The newer count found 2 of SKU-A missing.
        #expect(try Self.snapshot(h, Net.whEast, asOf: newer, [(Net.skuA, 8)]).applied == 1)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8)
        let movements = h.storage.movements.count
        // The older count arrives late: SKU-A is stale, SKU-B (never counted) is applied.
        let late = try Self.snapshot(h, Net.whEast, asOf: older, [(Net.skuA, 10), (Net.skuB, 4)])
        #expect(!late.replayed && late.applied == 1)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8, "the newer count stands")
        #expect(h.balance(Net.skuB, Net.whEast).onHand == 4)
        #expect(h.storage.movements.count == movements + 1 && h.storage.movements.last?.sku == Net.skuB)
        // A complete snapshot that is stale for SKU-A does not zero it either.
        #expect(try Self.snapshot(h, Net.whEast, asOf: older, [(Net.skuB, 4)], complete: true).applied == 1)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 8)
        // An equally recent or newer count is applied.
        #expect(try Self.snapshot(h, Net.whEast, asOf: newer, [(Net.skuA, 7)]).applied == 1)
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 7)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("malformed snapshots name their field and change nothing")
    func malformed() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let figures = liveFigures(h.engine)
        expectDomainError(.invalidArgument, field: "levels[0].on_hand") { try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, -1)]) }
        expectDomainError(.invalidArgument, field: "levels[1].sku") { try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, 1), (Net.skuA, 2)]) }
        expectDomainError(.invalidArgument, field: "levels[0].sku") { try Self.snapshot(h, Net.whEast, asOf: h.now, [(SKU("?"), 1)]) }
        expectDomainError(.notFound, field: "location_id") { try Self.snapshot(h, LocationID("NOWHERE"), asOf: h.now, [(Net.skuA, 1)]) }
        expectDomainError(.invalidArgument, field: "message_id") { try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuA, 1)], messageID: "") }
        #expect(liveFigures(h.engine) == figures)
        #expect(try h.storage.requestRecord("erp:req-2") == nil)
    }

    @Test("stock a snapshot finds serves waiting backorders")
    func snapshotServesBackorders() throws {
        let h = try Harness()
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuD, 2)]))
        #expect(order.status == .backordered)
        try Self.snapshot(h, Net.whEast, asOf: h.now, [(Net.skuD, 5)])
        #expect(h.order(order.orderID).status == .allocated)
        #expect(h.balance(Net.skuD, Net.whEast).reserved == 2)
    }

    /// Receipts and adjustments at increasing times, then a count as of a random moment among them.
    static let histories = zip(Gen.int32(in: -4...8).array(of: 1...12), Gen.int(in: 0...12), Gen.int64(in: 0...30))

    @Test("on hand after a snapshot = max(0, count + Σ physical changes after as-of), whatever the history")
    func correctionFormula() async {
        await propertyCheck(count: 150, input: Self.histories) { deltas, cut, count in
            let h = try Harness(stock: [(Net.skuC, Net.stSuburb, 10)])
            var history: [(Timestamp, Int64)] = []
            for (index, delta) in deltas.enumerated() where delta != 0 {
                let onHand = h.balance(Net.skuC, Net.stSuburb).onHand
                if onHand + Int64(delta) < 0 { continue }
                try h.change(InventoryChange(changeID: "c\(index)", kind: delta > 0 ? .receipt : .adjustment, sku: Net.skuC,
                                             locationID: Net.stSuburb, quantity: delta))
                history.append((h.now, Int64(delta)))
            }
            let asOf = cut < history.count ? history[cut].0 : h.now
            let since = history.filter { $0.0 > asOf }.reduce(0) { $0 + $1.1 }
            try Self.snapshot(h, Net.stSuburb, asOf: asOf, [(Net.skuC, count)])
            #expect(h.balance(Net.skuC, Net.stSuburb).onHand == max(0, count + since), "count \(count) as of \(asOf), \(since) since")
            #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
        }
    }
}
