// Orders captured before the item master knows their SKUs (channels whose `unknownItems` setting
// is `.hold`). Such an order is captured on an ITEM_UNKNOWN hold with every unit backordered and
// nothing reserved: the whole order waits, so no unit of it is promised from stock that an order
// which can be served might need. When an item upsert makes the last of its SKUs an active item,
// the same command lifts the hold and routes the order as a fresh capture would be (reserving,
// backordering, or cancelling what the policy allows no backorder for).

extension Engine {
    /// Captures `draft` on an ITEM_UNKNOWN hold; `unknownLines` are the indices of its lines whose
    /// SKU the item master lacks. Validation and idempotency were done by `capture`.
    mutating func captureWaitingForItems(_ draft: OrderDraft, unknownLines: [Int], context: CommandContext,
                                         storage: some EngineStorage) throws -> CaptureResult {
        // The draft's own holds and this one must fit in holdsPerOrderMax.
        if draft.holds.count >= limits.holdsPerOrderMax {
            throw DomainError.limit("holdsPerOrderMax", limits.holdsPerOrderMax, field: "order.holds",
                                    "\(draft.holds.count) holds and the item_unknown hold")
        }
        let sequence = state.nextOrderSequence
        var order = Order(id: OrderID(sequence: sequence), draft: draft, capturedAt: context.now, captureSequence: sequence)
        state.nextOrderSequence += 1
        order.holds.append(Hold(reason: .itemUnknown, note: Self.unknownItemsNote(draft, unknownLines: unknownLines), placedAt: context.now))
        for index in order.lines.indices { order.lines[index].quantities.backordered = order.lines[index].quantity }
        order.recomputeLineQuantities()
        order.version = 1
        // The detail keeps the signature of the client's holds (capture retries compare it); the
        // reason says why the order waits.
        order.history.append(HistoryEntry(at: context.now, action: "captured", reason: HoldReason.itemUnknown.name,
                                          clientID: context.clientID, requestID: context.requestID,
                                          detail: Self.holdsSignature(draft.holds), version: 1))
        try storage.insertOrder(order)
        try storage.appendEvents([DomainEvent(type: "order.captured", aggregate: .order(order), aggregateSequence: 1,
                                              occurredAt: context.now, clientID: context.clientID, detail: order.status.description)])
        state.backorders.update(order)
        return CaptureResult(order: order, replayed: false)
    }

    /// "item master lacks SKU-X (lines[1]), SKU-Y (lines[3])", the first few named.
    static func unknownItemsNote(_ draft: OrderDraft, unknownLines: [Int]) -> String {
        let namedMax = 5
        var named = unknownLines.prefix(namedMax).map { "\(draft.lines[$0].sku) (lines[\($0)])" }.joined(separator: ", ")
        if unknownLines.count > namedMax { named += " and \(unknownLines.count - namedMax) more" }
        return "item master lacks " + named
    }

    /// After `sku` was upserted: the orders on an ITEM_UNKNOWN hold with units of it, oldest
    /// capture first, whose every waiting SKU is now an active item lose the hold and are routed.
    /// An inactive item lifts nothing (the order waits until the item master makes it active).
    mutating func liftItemHolds(after sku: SKU, context: CommandContext, storage: some EngineStorage) throws {
        guard state.network.items[sku]?.active == true else { return }
        var systemContext = context
        systemContext.requestID = ""
        for orderID in state.backorders.waitingForItem(sku) {
            guard var order = try storage.loadOrder(orderID) else { continue }
            let stillMissing = order.lines.contains { $0.quantities.backordered > 0 && state.network.items[$0.sku]?.active != true }
            if stillMissing { continue }
            try routeAfterItemHold(&order, arrived: sku, context: systemContext, storage: storage)
        }
    }

    /// Lifts the ITEM_UNKNOWN hold and routes the order's waiting units as capture would have.
    mutating func routeAfterItemHold(_ order: inout Order, arrived sku: SKU, context: CommandContext,
                                             storage: some EngineStorage) throws {
        order.holds.removeAll { $0.reason == .itemUnknown }
        let lines = order.lines.filter { $0.quantities.backordered > 0 }
            .map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantities.backordered) }
        let plan = route(order, lines: lines, now: context.now, trigger: "item master gained \(sku)")
        let policy = state.policy
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        var cancelledUnits: Int32 = 0
        func cancelWaiting(_ lineID: String, _ quantity: Int32) {
            let index = order.lineIndex(lineID)!
            order.lines[index].quantities.backordered -= quantity
            order.lines[index].quantities.cancelled += quantity
            cancelledUnits += quantity
        }
        if plan.unallocated.isEmpty || policy.allowPartialAllocation {
            allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
            for shipment in plan.shipments {
                for line in shipment.lines { order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity }
            }
            // Where capture would have refused the order or cancelled the rest, the units are cancelled:
            // the order exists, and the policy says no unit may wait for stock.
            if !policy.allowBackorder { for (lineID, quantity) in plan.unallocated { cancelWaiting(lineID, quantity) } }
        } else {
            // Ship complete: nothing is reserved until the whole order can be.
            if order.routingDecisions.count >= limits.routingDecisionsPerOrderMax { order.routingDecisions.removeFirst() }
            order.routingDecisions.append(plan.decision)
            if !policy.allowBackorder { for line in lines { cancelWaiting(line.lineID, line.quantity) } }
        }
        if policy.releaseOnAllocation && !order.isOnHold { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        var detail = plan.shipments.isEmpty
            ? "items known; nothing can serve it yet"
            : "items known; routed to " + plan.shipments.map(\.locationID.rawValue).joined(separator: ",")
        if cancelledUnits > 0 {
            detail += "; \(cancelledUnits) units cancelled (policy \(policy.name) v\(policy.version) allows no backorder)"
        } else if order.backorderedUnits > 0 {
            detail += "; \(order.backorderedUnits) units backordered"
        }
        try persist(&order, OrderEventKind("order.hold_released", detail: HoldReason.itemUnknown.name), action: "hold_released",
                    reason: HoldReason.itemUnknown.name, detail: detail, context: context, movements: movements,
                    capacity: capacity, storage: storage)
        state.backorders.update(order)
    }
}
