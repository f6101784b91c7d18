// Lifecycle commands on an order (hold, release, pick, pack, ship, reject, cancel, return...):
// the state machine decides, the engine applies stock, capacity, re-routing and history.

public struct OrderResult: Sendable {
    public var order: Order
    public var replayed: Bool
}

extension Engine {
    public mutating func apply(_ command: OrderCommand, to orderID: OrderID, context: CommandContext,
                               storage: some EngineStorage) throws -> OrderResult {
        if let error = Validation.checkIdentifier(context.requestID, field: "request_id", limits: limits) { throw error }
        let key = "order:" + context.requestID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint && record.subject == orderID.rawValue else {
                throw DomainError(.alreadyExists, "request_id \"\(context.requestID)\" was already used for a different request",
                                  field: "request_id")
            }
            guard let order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
            return OrderResult(order: order, replayed: true)
        }
        guard let current = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        if case .receiveReturn(_, let locationID, _) = command, state.network.locations[locationID] == nil {
            throw DomainError.invalid("location_id", "unknown location \(locationID)")
        }
        // A shipment names a carrier of the network: a typo would be stored and sent to the ERP.
        if case .confirmShipment(_, let carrierID, _) = command, !carrierID.isEmpty, state.network.carriers[carrierID] == nil {
            throw DomainError.unknownCarrier(carrierID, field: "carrier_id", known: Array(state.network.carriers.keys))
        }
        if current.history.count >= limits.historyEntriesPerOrderMax {
            throw DomainError(.failedPrecondition, "order \(orderID) reached historyEntriesPerOrderMax (\(limits.historyEntriesPerOrderMax)) changes",
                              currentState: current.status.description, limitName: "historyEntriesPerOrderMax",
                              limitValue: Int64(limits.historyEntriesPerOrderMax))
        }
        if case .edit(let edits, let reason) = command {
            return try applyEdits(edits, reason: reason, to: current, requestKey: key, context: context, storage: storage)
        }
        var transition: OrderTransition
        switch OrderStateMachine.apply(command, to: current, now: context.now, limits: limits) {
        case .success(let value): transition = value
        case .failure(let error): throw error
        }
        // An exchange's replacement is captured before anything else changes: refused, nothing has.
        var exchange: ExchangeStep?
        switch command {
        case .createReturn(let returnID, _, _, let request?):
            exchange = try createExchange(request, returnID: returnID, transition: &transition, context: context, storage: storage)
        case .receiveReturn(let returnID, _, _):
            exchange = try receiveExchange(returnID: returnID, transition: &transition, context: context, storage: storage)
        default:
            break
        }
        // Writing off missing stock can take on hand to zero at most.
        var writtenOff: [InventoryKey: Int64] = [:]  // so far, per SKU × location (lines may share a SKU)
        for index in transition.movements.indices where transition.movements[index].kind == .writtenOff {
            let movement = transition.movements[index]
            let key = InventoryKey(sku: movement.sku, locationID: movement.locationID)
            let onHand = state.inventory.balance(movement.sku, at: movement.locationID).onHand
            let reserveReleased = transition.movements.filter {
                $0.kind == .released && $0.sku == movement.sku && $0.locationID == movement.locationID
            }.reduce(0) { $0 - $1.reservedDelta }
            let stillReserved = state.inventory.balance(movement.sku, at: movement.locationID).reserved - reserveReleased
            transition.movements[index].onHandDelta = -min(-movement.onHandDelta, max(0, onHand - stillReserved - writtenOff[key, default: 0]))
            writtenOff[key, default: 0] -= transition.movements[index].onHandDelta
        }
        transition.movements.removeAll { $0.onHandDelta == 0 && $0.reservedDelta == 0 }

        var order = transition.order
        var movements = transition.movements
        var capacity = transition.capacityReleases
        apply(movements: movements)
        for use in capacity { state.capacity.apply(use) }
        if !transition.reroute.isEmpty {
            let plan = route(order, lines: transition.reroute, now: context.now, trigger: "reroute after \(transition.event.fulfillmentID) rejected")
            var rerouteMovements: [Movement] = []
            var rerouteCapacity: [CapacityUse] = []
            allocate(plan, to: &order, now: context.now, movements: &rerouteMovements, capacity: &rerouteCapacity)
            for shipment in plan.shipments {
                for line in shipment.lines { order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity }
            }
            if !order.isOnHold && state.policy.releaseOnAllocation { releaseCreated(&order, now: context.now) }
            order.recomputeLineQuantities()
            // allocate(_:to:...) has already applied the reroute's reservations and capacity.
            movements += rerouteMovements
            capacity += rerouteCapacity
            transition.historyDetail += plan.shipments.isEmpty
                ? "; nothing else can serve it: backordered"
                : "; re-routed to " + plan.shipments.map(\.locationID.rawValue).joined(separator: ",")
        }
        if case .releaseHold = command, !order.isOnHold, state.policy.releaseOnAllocation {
            releaseCreated(&order, now: context.now)
            order.recomputeLineQuantities()
        }
        try persist(&order, transition.event, action: transition.historyAction, reason: transition.historyReason,
                    detail: transition.historyDetail, context: context, movements: movements, capacity: capacity, storage: storage)
        if let exchange { try persistExchangeCreated(&order, exchange, context: context, storage: storage) }
        // Stock a location could not find is gone from its books: tell feed consumers (the ERP
        // bridge) as an inventory movement, with the quantity actually written off.
        let writeOffs = movements.filter { $0.kind == .writtenOff }
        if !writeOffs.isEmpty {
            try emitInventoryEvents(writeOffs, type: "inventory.written_off", context: context,
                                    detail: "\(transition.event.fulfillmentID) rejected: stock missing", storage: storage)
        }
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: orderID.rawValue, at: context.now))
        state.backorders.update(order)
        // Units put back to wait (a rejection) queue ahead of younger orders for expected supply.
        if !transition.reroute.isEmpty { try repromiseWaiting(order, context: context, storage: storage) }
        // Stock freed by this change may serve orders waiting for it.
        let freed = movements.filter { $0.reservedDelta < 0 && $0.kind == .released || ($0.onHandDelta > 0) }
        try releaseBackorders(skus: freed.map(\.sku), context: context, storage: storage)
        if let reloaded = try storage.loadOrder(orderID), reloaded.version != order.version { order = reloaded }
        return OrderResult(order: order, replayed: false)
    }
}
