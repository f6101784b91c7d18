// Capturing an order: validation, idempotency by external order id, routing (or a plan routed
// ahead, if still current) and the reservations.

/// An order draft that passed `Validation.check` under `limits`; only this init makes one.
public struct ValidatedDraft: Sendable {
    public let draft: OrderDraft
    public let limits: DomainLimits

    public init(_ draft: OrderDraft, limits: DomainLimits, field: String = "order") throws {
        if let error = Validation.check(draft, limits: limits, field: field) { throw error }
        self.draft = draft
        self.limits = limits
    }
}

public struct CaptureResult: Sendable {
    public var order: Order
    public var replayed: Bool
}

extension Engine {
    /// Captures an order. `plannedAhead` is a plan the caller routed against a recent committed
    /// snapshot (off the writer thread); it is used only if it is still valid against the live
    /// state — same policy version, every unit allocated, each reservation still available, the
    /// capacity still there, the same processing day — otherwise the order is routed here.
    public mutating func capture(_ draft: OrderDraft, context: CommandContext, storage: some EngineStorage,
                                 plannedAhead: AllocationPlan? = nil) throws -> CaptureResult {
        try capture(ValidatedDraft(draft, limits: limits), context: context, storage: storage, plannedAhead: plannedAhead)
    }

    /// Capture of a draft checked before (on an event loop, say): it is not checked again unless
    /// it was checked under other limits than this engine's.
    public mutating func capture(_ validated: ValidatedDraft, context: CommandContext, storage: some EngineStorage,
                                 plannedAhead: AllocationPlan? = nil) throws -> CaptureResult {
        let draft = validated.draft
        if validated.limits != limits, let error = Validation.check(draft, limits: limits) { throw error }
        let channel = draft.channel!
        // Without locations every order would be accepted and backordered in silence.
        if state.network.locations.isEmpty { throw DomainError.noNetworkLoaded() }
        if let existingID = try storage.orderID(channel: channel, externalOrderID: draft.externalOrderID) {
            guard let existing = try storage.loadOrder(existingID) else {
                preconditionFailure("idempotency key of \(existingID) points to a missing order")
            }
            var comparable = draft
            comparable.holds = []
            let sameHolds = existing.history.first?.detail == Self.holdsSignature(draft.holds)
            // An edited order is compared with what its capture said, not with its edited content.
            if existing.capturedDraft == comparable && sameHolds { return CaptureResult(order: existing, replayed: true) }
            throw DomainError(.alreadyExists,
                              "order.external_order_id: \(channel.name) order \"\(draft.externalOrderID)\" was already captured as \(existingID) with different content",
                              field: "order.external_order_id", existingOrderID: existingID)
        }
        let unknownLines = try Self.checkRoutable(draft, network: state.network, gazetteer: router.gazetteer)

        // Capacity of past days can no longer be allocated against: forget it once a day.
        if context.now.day > state.capacityForgottenBefore + 1 {
            state.capacity.forget(before: context.now.day - 1)
            state.capacityForgottenBefore = context.now.day - 1
        }
        if !unknownLines.isEmpty {
            return try captureWaitingForItems(draft, unknownLines: unknownLines, context: context, storage: storage)
        }
        let sequence = state.nextOrderSequence
        var order = Order(id: OrderID(sequence: sequence), draft: draft, capturedAt: context.now, captureSequence: sequence)
        let lines = order.lines.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) }
        let plan: AllocationPlan
        var cartConversion: CartConversion?
        if draft.cartID != nil {
            // The cart's holds are freed first, in this command: its units are this order's first.
            // A plan routed ahead did not see them free, so it is not used.
            let freed = try freeCart(for: draft, context: context, storage: storage)
            cartConversion = freed.conversion
            plan = freed.conversion?.plan ?? route(order, lines: lines, now: context.now, trigger: freed.trigger)
        } else if let plannedAhead, isCurrent(plannedAhead, for: lines, now: context.now) {
            plan = plannedAhead
        } else {
            plan = route(order, lines: lines, now: context.now, trigger: "capture")
        }
        let policy = state.policy
        // Units on-hand stock cannot serve may wait for expected supply as pre-orders (Engine+Supply.swift).
        let outlook = supplyOutlook(of: draft.lines.map(\.sku))
        let preorders = plan.unallocated.isEmpty ? [:] : outlook.preorderable(plan.unallocated, lines: draft.lines, network: state.network)
        let everything = plan.unallocated.allSatisfy { preorders[$0.lineID] != nil }
        let allocatedUnits = plan.shipments.reduce(0) { $0 + $1.lines.reduce(0) { $0 + $1.quantity } }
            + preorders.values.reduce(0, +)
        if !everything {
            let canKeepPart = policy.allowPartialAllocation && allocatedUnits > 0
            if !policy.allowBackorder && !canKeepPart {
                // Refused: a cart keeps what it held.
                if let cartConversion { restore(cartConversion) }
                throw DomainError(.failedPrecondition, Self.insufficientStockMessage(plan, policy: policy), currentState: "INSUFFICIENT_STOCK")
            }
        }
        // Decided: from here on nothing fails but storage.
        state.nextOrderSequence += 1
        if let cartConversion { try convert(cartConversion, into: order.orderID, context: context, storage: storage) }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        if everything || policy.allowPartialAllocation {
            allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
            for (lineID, quantity) in plan.unallocated {
                let index = order.lineIndex(lineID)!
                if let preordered = preorders[lineID] {
                    order.lines[index].quantities.backordered += quantity
                    order.lines[index].preordered = preordered
                } else if policy.allowBackorder {
                    order.lines[index].quantities.backordered += quantity
                } else {
                    order.lines[index].quantities.cancelled += quantity
                }
            }
        } else {
            // Ship complete: nothing is reserved until the whole order can be.
            for index in order.lines.indices {
                order.lines[index].quantities.backordered = order.lines[index].quantity
                order.lines[index].preordered = preorders[order.lines[index].lineID] ?? 0
            }
            order.routingDecisions.append(plan.decision)
        }
        // Backordered units are promised from expected supply, after every unit already waiting.
        if order.backorderedUnits > 0 {
            let backordered = Dictionary(order.lines.map { ($0.lineID, $0.quantities.backordered) }, uniquingKeysWith: +)
            for (sku, expectedAt) in outlook.newcomerPromises(backordered, lines: draft.lines, network: state.network) {
                order.promiseBackorders(of: sku, expectedAt: expectedAt)
            }
        }
        if policy.releaseOnAllocation && !order.isOnHold { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        order.version = 1
        order.history.append(HistoryEntry(at: context.now, action: "captured", reason: "", clientID: context.clientID,
                                          requestID: context.requestID, detail: Self.holdsSignature(draft.holds), version: 1))
        try storage.insertOrder(order)
        try commit(movements: movements, capacity: capacity, storage: storage)
        try storage.appendEvents([DomainEvent(type: "order.captured", aggregate: .order(order), aggregateSequence: 1,
                                              occurredAt: context.now, clientID: context.clientID, detail: order.status.description)])
        if order.backorderedUnits > 0 { state.backorders.update(order) }
        return CaptureResult(order: order, replayed: false)
    }

    /// What a capture of `draft` checks before routing, against the network and the gazetteer:
    /// every SKU sellable (an inactive one is refused; an unknown one is refused unless the
    /// channel holds such orders), a destination distances can be measured from, a pickup store
    /// that serves pickup. Returns the indices of lines whose SKU the item master lacks (the
    /// capture then waits for the items). Capture and fulfillment options both ask it.
    public static func checkRoutable(_ draft: OrderDraft, network: NetworkState, gazetteer: Gazetteer) throws -> [Int] {
        let unknownLines = try checkItems(draft, network: network)
        try checkDestination(draft, network: network, gazetteer: gazetteer)
        return unknownLines
    }

    /// The item checks of `checkRoutable`: throws for an inactive SKU, or for an unknown one when
    /// the channel refuses them; returns the indices of lines with unknown SKUs.
    public static func checkItems(_ draft: OrderDraft, network: NetworkState) throws -> [Int] {
        let channel = draft.channel ?? .web
        // The item master decides what is sellable. An unknown SKU is refused too (stock of an
        // unknown item is refused, so it would be backordered forever), unless the channel holds
        // such orders until the item master gains the SKU.
        var unknownLines: [Int] = []
        for (index, line) in draft.lines.enumerated() {
            if let item = network.items[line.sku] {
                if !item.active { throw DomainError.inactiveItem(onLine: index, line.sku) }
            } else {
                unknownLines.append(index)
            }
        }
        if let first = unknownLines.first, network.settings(of: channel).unknownItems == .refuse {
            throw DomainError.unknownItem(onLine: first, draft.lines[first].sku, channel: channel, othersUnknown: unknownLines.count - 1)
        }
        return unknownLines
    }

    /// The destination checks of `checkRoutable`: a shipment's destination is located, a pickup
    /// store exists, is active and serves pickup.
    public static func checkDestination(_ draft: OrderDraft, network: NetworkState, gazetteer: Gazetteer) throws {
        // Distances need a destination: never route "unknown" as if it were "here".
        if draft.fulfillment.method == .ship && draft.shipTo.coordinates == nil && gazetteer.place(for: draft.shipTo) == nil {
            throw DomainError.unknownDestination(draft.shipTo)
        }
        if draft.fulfillment.method == .pickup {
            let storeID = draft.fulfillment.pickupLocationID!
            guard let store = network.locations[storeID] else {
                throw DomainError.invalid("order.fulfillment.pickup_location_id", "unknown location \(storeID)")
            }
            if !store.pickup || !store.active {
                throw DomainError.invalid("order.fulfillment.pickup_location_id", "\(storeID) does not serve store pickup")
            }
        }
    }

    /// Why a capture that cannot keep any unallocated unit is refused.
    public static func insufficientStockMessage(_ plan: AllocationPlan, policy: RoutingPolicy) -> String {
        "insufficient stock: " + plan.unallocated.map { "line \($0.lineID) short by \($0.quantity)" }.joined(separator: ", ")
            + " (policy \(policy.name) v\(policy.version) allows no backorder)"
    }

    /// Holds given at capture are part of its content; the history entry keeps their signature.
    static func holdsSignature(_ holds: [Hold]) -> String {
        holds.map { "hold:\($0.reason.name):\($0.note)" }.joined(separator: "|")
    }

    /// The routing request for capturing `draft` now (callers routing ahead use the same one).
    public static func captureRoutingRequest(_ draft: OrderDraft, now: Timestamp) -> RoutingRequest {
        RoutingRequest(
            lines: draft.lines.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) },
            channel: draft.channel ?? .web, shipTo: draft.shipTo.coordinates, shipToRegion: draft.shipTo.region,
            shipToCity: draft.shipTo.city, shipToCountry: draft.shipTo.country, method: draft.fulfillment.method, pickupLocationID: draft.fulfillment.pickupLocationID,
            serviceLevel: draft.fulfillment.serviceLevel, excludedLocationIDs: [], now: now,
            currency: draft.lines.first?.unitPrice.currency ?? "USD", trigger: "capture")
    }

    /// Whether a plan made ahead from a committed snapshot can be applied to the live state as is.
    func isCurrent(_ plan: AllocationPlan, for lines: [RoutingLine], now: Timestamp) -> Bool {
        guard plan.decision.policyVersion == state.policy.version, plan.unallocated.isEmpty else { return false }
        // Units planned per order line, and needed per SKU × location. Orders are small: linear
        // search up to 16 lines (no hashing of line ids and keys), hash maps beyond.
        let small = lines.count <= 16
        let lineIndex: [String: Int] = small ? [:] : Dictionary(lines.enumerated().map { ($1.lineID, $0) }, uniquingKeysWith: { a, _ in a })
        var planned = [Int32](repeating: 0, count: lines.count)
        var needed: [(key: InventoryKey, quantity: Int64)] = []
        var neededIndex: [InventoryKey: Int] = [:]
        for shipment in plan.shipments {
            guard let location = state.network.locations[shipment.locationID], location.active,
                  location.processingDay(at: now) == shipment.processingDay else { return false }
            if location.dailyOrderCapacity > 0
                && state.capacity.used(CapacityKey(locationID: location.locationID, day: shipment.processingDay)) >= location.dailyOrderCapacity {
                return false
            }
            if !shipment.carrierResource.isEmpty,
               let option = state.network.services(at: location.locationID).first(where: { $0.resource == shipment.carrierResource }),
               option.service.dailyCapacityPerLocation > 0,
               state.capacity.used(CapacityKey(locationID: location.locationID, resource: shipment.carrierResource, day: shipment.processingDay))
                >= option.service.dailyCapacityPerLocation {
                return false
            }
            for line in shipment.lines {
                guard let index = small ? lines.firstIndex(where: { $0.lineID == line.lineID }) : lineIndex[line.lineID],
                      lines[index].sku == line.sku else { return false }
                planned[index] += line.quantity
                let key = InventoryKey(sku: line.sku, locationID: shipment.locationID)
                if let at = small ? needed.firstIndex(where: { $0.key == key }) : neededIndex[key] {
                    needed[at].quantity += Int64(line.quantity)
                } else {
                    if !small { neededIndex[key] = needed.count }
                    needed.append((key, Int64(line.quantity)))
                }
            }
        }
        for index in lines.indices where planned[index] != lines[index].quantity { return false }
        for entry in needed where state.inventory.available(entry.key.sku, at: entry.key.locationID) < entry.quantity { return false }
        return true
    }
}
