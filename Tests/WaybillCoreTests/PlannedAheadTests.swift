// Plans made ahead: the server routes a capture on an event loop against the last committed
// state, and the writer uses that plan only if it still holds against the live state. These
// tests make plans go stale in each way that matters and check the engine never acts on one.

import Testing
import WaybillCore

@Suite("Plans made ahead")
struct PlannedAheadTests {
    /// The plan the server would make for `draft` against `h`'s state now.
    static func planAhead(_ h: Harness, _ draft: OrderDraft) -> AllocationPlan {
        let state = h.engine.state
        return h.engine.router.route(Engine.captureRoutingRequest(draft, now: h.now), policy: state.policy,
                                     network: state.network, inventory: state.inventory, capacity: state.capacity)
    }

    /// Captures `draft` with `plan` at the harness's current time (the plan's own time when made just before).
    func capture(_ h: Harness, _ draft: OrderDraft, plannedAhead plan: AllocationPlan) throws -> Order {
        try h.engine.capture(draft, context: h.context(), storage: h.storage, plannedAhead: plan).order
    }

    @Test("a plan that still holds gives the same order as routing in the writer")
    func currentPlanSameResult() throws {
        let stock: [(SKU, LocationID, Int32)] = [(Net.skuA, Net.whEast, 5), (Net.skuB, Net.whWest, 5), (Net.skuA, Net.stCenter, 2)]
        let ahead = try Harness(stock: stock), inWriter = try Harness(stock: stock)
        for n in 1...4 {
            let draft = Net.draft("EXT-\(n)", [(Net.skuA, 1), (Net.skuB, Int32(n % 2 + 1))])
            ahead.tick()
            let planned = try capture(ahead, draft, plannedAhead: Self.planAhead(ahead, draft))
            let routed = try inWriter.capture(draft)
            #expect(planned == routed, "order \(n)")
        }
        #expect(liveFigures(ahead.engine) == liveFigures(inWriter.engine))
    }

    @Test("stock taken since the plan was made: the writer routes again, nothing is oversold")
    func staleStock() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 2), (Net.skuA, Net.whWest, 2)])
        let late = Net.draft("EXT-LATE", [(Net.skuA, 2)])
        let plan = Self.planAhead(h, late)
        let plannedAt = try #require(plan.shipments.first?.locationID)
        // Another order takes the planned location's units before the late one reaches the writer.
        let other = plannedAt == Net.whEast ? Net.whWest : Net.whEast
        _ = try h.capture(Net.draft("EXT-FIRST", [(Net.skuA, 2)]))
        let firstAt = try #require(h.storage.orders.values.first?.fulfillments.first?.locationID)
        try #require(firstAt == plannedAt, "the first order took the location the late one had planned")
        h.tick()
        let order = try capture(h, late, plannedAhead: plan)
        #expect(order.fulfillments.map(\.locationID) == [other], "re-routed to the location that still has stock")
        for location in [Net.whEast, Net.whWest] {
            let balance = h.balance(Net.skuA, location)
            #expect(balance.reserved <= balance.onHand, "\(location): \(balance)")
        }
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("a stale policy, a full location or a plan for other lines (same line ids, other SKUs) is not used",
          arguments: ["policy", "capacity", "lines"])
    func otherStaleness(_ change: String) throws {
        let h = try Harness(locations: Net.locations.map { location in
            var location = location
            if location.locationID == Net.whEast { location.dailyOrderCapacity = 1 }
            return location
        }, stock: [(Net.skuA, Net.whEast, 10), (Net.skuA, Net.whWest, 10), (Net.skuB, Net.whEast, 10), (Net.skuB, Net.whWest, 10)])
        let draft = Net.draft("EXT-1", [(Net.skuA, 1)])
        var plan = Self.planAhead(h, draft)
        switch change {
        case "policy":
            var policy = h.engine.state.policy
            policy.maxShipments = 1
            h.tick()
            _ = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage)
        case "capacity":
            try #require(plan.shipments.first?.locationID == Net.whEast, "the plan chose the capacity-limited warehouse")
            _ = try h.capture(Net.draft("EXT-0", [(Net.skuB, 1)]))  // uses WH-EAST's one order today
        default:
            plan = Self.planAhead(h, Net.draft("EXT-OTHER", [(Net.skuB, 1)]))
        }
        h.tick()
        let order = try capture(h, draft, plannedAhead: plan)
        #expect(order.fulfillments.flatMap(\.lines).map(\.sku) == [Net.skuA], "allocated for its own lines")
        #expect(order.fulfillments.count == 1 && order.backorderedUnits == 0)
        if change == "capacity" { #expect(order.fulfillments[0].locationID == Net.whWest) }
        if change == "policy" { #expect(order.routingDecisions.last?.policyVersion == h.engine.state.policy.version) }
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }
}
