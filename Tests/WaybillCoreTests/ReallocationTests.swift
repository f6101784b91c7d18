// Issue 16: after a policy or network fix, backorders must not wait for unrelated stock to
// arrive. Engine.reallocate routes them again, on request, idempotently.
import Testing
import WaybillCore

struct ReallocationTests {
    /// A policy that only lets Nevada ship: SKU-A (stocked in New Jersey only) is backordered.
    static var nevadaOnly: RoutingPolicy {
        var policy = RoutingPolicy.standard
        policy.filters.append(.region(["NV"], sameRegionAsShipTo: false))
        return policy
    }

    static func backordered(_ count: Int) throws -> (Harness, [OrderID]) {
        let h = try Harness(policy: nevadaOnly, stock: [(Net.skuA, Net.whEast, 20)])
        var ids: [OrderID] = []
        for index in 0..<count {
            let order = try h.capture(Net.draft("BO-\(index)", [(Net.skuA, 2)]))
            #expect(order.backorderedUnits == 2)
            ids.append(order.orderID)
        }
        // The fix: the standard policy again. Nothing is re-routed by it alone.
        h.tick()
        _ = try h.engine.setPolicy(.standard, context: h.context(), storage: h.storage)
        #expect(ids.allSatisfy { h.order($0).backorderedUnits == 2 })
        return (h, ids)
    }

    static func reallocate(_ h: Harness, _ ids: [OrderID], all: Bool = false, requestID: String, fingerprint: UInt64 = 1) throws -> ReallocationResult {
        h.tick()
        return try h.engine.reallocate(orderIDs: ids, allBackorders: all, context: h.context(requestID: requestID, fingerprint: fingerprint),
                                       storage: h.storage)
    }

    @Test("named orders are re-allocated after a policy fix, with a feed event; a retry and a second call change nothing")
    func namedOrders() throws {
        let (h, ids) = try Self.backordered(2)
        let eventsBefore = h.storage.events.count
        let result = try Self.reallocate(h, [ids[1], OrderID("W-99999999")], requestID: "fix-1")
        #expect(!result.replayed)
        #expect(result.outcomes.map(\.orderID) == [ids[1], OrderID("W-99999999")])
        #expect(result.outcomes[0].unitsAllocated == 2)
        #expect(result.outcomes[0].order?.backorderedUnits == 0)
        #expect(result.outcomes[0].order?.fulfillments.first?.locationID == Net.whEast)
        #expect(result.outcomes[0].order == h.order(ids[1]), "the answer is the committed order")
        #expect(result.outcomes[1].order == nil, "unknown order: reported, not thrown")
        #expect(h.order(ids[0]).backorderedUnits == 2, "only the named order")
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 2)
        let events = h.storage.events.dropFirst(eventsBefore)
        #expect(events.map(\.event.type) == ["order.backorder_allocated"])
        #expect(h.order(ids[1]).history.last?.requestID == "fix-1")
        #expect(h.order(ids[1]).routingDecisions.last?.trigger == "reallocation")

        let replay = try Self.reallocate(h, [ids[1], OrderID("W-99999999")], requestID: "fix-1")
        #expect(replay.replayed && replay.outcomes[0].unitsAllocated == 0)
        expectDomainError(.alreadyExists, field: "request_id") { _ = try Self.reallocate(h, [ids[0]], requestID: "fix-1", fingerprint: 2) }
        let again = try Self.reallocate(h, [ids[1]], requestID: "fix-2")
        #expect(again.outcomes[0].unitsAllocated == 0, "nothing left to allocate: idempotent")
        #expect(h.storage.events.count == eventsBefore + 1)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 2)
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("all backorders, oldest first, at most reallocateOrdersPerCallMax per call")
    func allBackordersBounded() throws {
        var limits = DomainLimits()
        limits.reallocateOrdersPerCallMax = 2
        let h = try Harness(policy: Self.nevadaOnly, stock: [(Net.skuA, Net.whEast, 20)], limits: limits)
        var ids: [OrderID] = []
        for index in 0..<3 { ids.append(try h.capture(Net.draft("BO-\(index)", [(Net.skuA, 2)])).orderID) }
        h.tick()
        _ = try h.engine.setPolicy(.standard, context: h.context(), storage: h.storage)

        let first = try Self.reallocate(h, [], all: true, requestID: "all-1")
        #expect(first.outcomes.map(\.orderID) == [ids[0], ids[1]])
        #expect(first.outcomes.map(\.unitsAllocated) == [2, 2])
        #expect(first.backordersNotExamined == 1)
        let second = try Self.reallocate(h, [], all: true, requestID: "all-2")
        #expect(second.outcomes.map(\.orderID) == [ids[2]] && second.backordersNotExamined == 0)
        #expect(ids.allSatisfy { h.order($0).backorderedUnits == 0 })
        let third = try Self.reallocate(h, [], all: true, requestID: "all-3")
        #expect(third.outcomes.isEmpty)

        let error = expectDomainError(.invalidArgument, field: "order_ids") { _ = try Self.reallocate(h, ids, requestID: "too-many") }
        #expect(error?.limitName == "reallocateOrdersPerCallMax")
        expectDomainError(.invalidArgument, field: "order_ids") { _ = try Self.reallocate(h, [], requestID: "neither") }
        expectDomainError(.invalidArgument, field: "order_ids") { _ = try Self.reallocate(h, [ids[0]], all: true, requestID: "both") }
        expectDomainError(.invalidArgument, field: "request_id") { _ = try Self.reallocate(h, [ids[0]], requestID: "") }
    }

    @Test("an order that still cannot be served stays backordered and unchanged")
    func stillUnroutable() throws {
        let h = try Harness(policy: Self.nevadaOnly, stock: [(Net.skuA, Net.whEast, 20)])
        let order = try h.capture(Net.draft("BO-1", [(Net.skuA, 2)]))
        let result = try Self.reallocate(h, [order.orderID], requestID: "too-early")
        #expect(result.outcomes[0].unitsAllocated == 0)
        #expect(h.order(order.orderID).version == order.version)
    }
}
