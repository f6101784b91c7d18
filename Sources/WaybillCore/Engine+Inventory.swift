// Inventory commands: receipts, adjustments, transfers, ERP counts (stock snapshots), safety
// stock and incoming supply; a count or adjustment below the reservations takes units back from orders.

public struct InventoryChange: Hashable, Sendable {
    public enum Kind: Int, Hashable, Sendable {
        case receipt = 1, adjustment, transfer
    }
    public var changeID: String
    public var kind: Kind
    public var sku: SKU
    public var locationID: LocationID
    public var quantity: Int32
    public var toLocationID: LocationID?
    public var reason: String
    public init(changeID: String, kind: Kind, sku: SKU, locationID: LocationID, quantity: Int32,
                toLocationID: LocationID? = nil, reason: String = "") {
        self.changeID = changeID
        self.kind = kind
        self.sku = sku
        self.locationID = locationID
        self.quantity = quantity
        self.toLocationID = toLocationID
        self.reason = reason
    }
}

public struct InventoryChangeOutcome: Sendable {
    public var replayed: Bool
    public var positions: [(InventoryKey, Balance)]
}

extension Engine {
    public mutating func applyInventoryChange(_ change: InventoryChange, context: CommandContext,
                                              storage: some EngineStorage) throws -> InventoryChangeOutcome {
        if let error = Validation.checkIdentifier(change.changeID, field: "change_id", limits: limits) { throw error }
        if let error = Validation.checkSKU(change.sku.rawValue, field: "sku", limits: limits) { throw error }
        let key = "inventory:" + change.changeID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "change_id \"\(change.changeID)\" was already used for a different change", field: "change_id")
            }
            return InventoryChangeOutcome(replayed: true, positions: positions(for: change))
        }
        guard state.network.locations[change.locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(change.locationID)", field: "location_id")
        }
        // Stock of an item the item master does not know could never be described, weighed or sold right.
        guard state.network.items[change.sku] != nil else { throw DomainError.unknownItem(change.sku, field: "sku") }
        let balance = state.inventory.balance(change.sku, at: change.locationID)
        var movements: [Movement] = []
        switch change.kind {
        case .receipt:
            if change.quantity <= 0 { throw DomainError.invalid("quantity", "a receipt must be positive, got \(change.quantity)") }
            movements.append(Movement(kind: .received, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        case .adjustment:
            if change.quantity == 0 { throw DomainError.invalid("quantity", "an adjustment must not be zero") }
            if balance.onHand + Int64(change.quantity) < 0 {
                throw DomainError(.failedPrecondition,
                                  "adjusting \(change.sku)@\(change.locationID) by \(change.quantity) would take on hand (\(balance.onHand)) below zero",
                                  currentState: "ON_HAND_\(balance.onHand)")
            }
            movements.append(Movement(kind: .adjusted, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        case .transfer:
            guard let destination = change.toLocationID, state.network.locations[destination] != nil else {
                throw DomainError(.notFound, "to_location_id: unknown location \(change.toLocationID?.rawValue ?? "\"\"")", field: "to_location_id")
            }
            if destination == change.locationID { throw DomainError.invalid("to_location_id", "must differ from location_id") }
            if change.quantity <= 0 { throw DomainError.invalid("quantity", "a transfer must be positive") }
            let movable = balance.onHand - balance.reserved
            if Int64(change.quantity) > movable {
                throw DomainError(.failedPrecondition,
                                  "transfer of \(change.quantity) \(change.sku) from \(change.locationID): only \(movable) unreserved on hand",
                                  currentState: "UNRESERVED_\(movable)")
            }
            movements.append(Movement(kind: .transferOut, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: -Int64(change.quantity), at: context.now, reference: change.changeID))
            movements.append(Movement(kind: .transferIn, sku: change.sku, locationID: destination,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        }
        apply(movements: movements)
        try storage.appendMovements(movements)
        try emitInventoryEvents(movements, type: "inventory." + (change.kind == .receipt ? "received" : change.kind == .adjustment ? "adjusted" : "transferred"),
                                context: context, detail: change.reason, storage: storage)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint,
                                                subject: "\(change.sku)@\(change.locationID)", at: context.now))
        try resolveShortages(movements.filter { $0.onHandDelta < 0 }.map { InventoryKey(sku: $0.sku, locationID: $0.locationID) },
                             cause: "adjustment " + change.changeID, context: context, storage: storage)
        try releaseBackorders(skus: movements.filter { $0.onHandDelta > 0 }.map(\.sku), context: context, storage: storage)
        return InventoryChangeOutcome(replayed: false, positions: positions(for: change))
    }

    /// An ERP count of one location as of `asOf`, corrected for movements Waybill recorded since,
    /// in one command: `planStockSnapshot`, one slice over every level, `finishStockSnapshot`.
    public mutating func applyStockSnapshot(locationID: LocationID, asOf: Timestamp, levels: [(SKU, Int64)], complete: Bool,
                                            messageID: String, context: CommandContext,
                                            storage: some EngineStorage) throws -> (replayed: Bool, applied: Int, positions: [(InventoryKey, Balance)]) {
        guard let plan = try planStockSnapshot(locationID: locationID, asOf: asOf, levels: levels, complete: complete,
                                               messageID: messageID, context: context, storage: storage) else { return (true, 0, []) }
        let slice = try applyStockSnapshotSlice(plan, plan.levels.indices, context: context, storage: storage)
        try finishStockSnapshot(plan, context: context, storage: storage)
        return (false, slice.applied, slice.positions)
    }

    /// Validates a snapshot and lists the positions it counts (with `complete`, every SKU the
    /// location holds and the snapshot omits, counted 0), sorted by SKU; nil when the message was
    /// already applied. Writes nothing.
    public func planStockSnapshot(locationID: LocationID, asOf: Timestamp, levels: [(SKU, Int64)], complete: Bool,
                                  messageID: String, context: CommandContext, storage: some EngineStorage) throws -> StockSnapshotPlan? {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: limits) { throw error }
        let key = "erp:" + messageID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
            }
            return nil
        }
        guard state.network.locations[locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(locationID)", field: "location_id")
        }
        var counted: [SKU: Int64] = [:]
        for (index, (sku, onHand)) in levels.enumerated() {
            if let error = Validation.checkSKU(sku.rawValue, field: "levels[\(index)].sku", limits: limits) { throw error }
            if onHand < 0 { throw DomainError.invalid("levels[\(index)].on_hand", "must not be negative") }
            if counted.updateValue(onHand, forKey: sku) != nil { throw DomainError.invalid("levels[\(index)].sku", "\(sku) listed twice") }
        }
        if complete {
            for sku in state.inventory.skus(at: locationID) where counted[sku] == nil { counted[sku] = 0 }
        }
        return StockSnapshotPlan(locationID: locationID, asOf: asOf, messageID: messageID,
                                 levels: counted.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// Applies the plan's levels in `range`: each a position's own correction (the count plus the
    /// non-snapshot movements since `asOf`, against on hand now), with its shortages re-routed and
    /// backorders served. Slices of one plan may be separate transactions with other commands in
    /// between: each position is corrected against the state of its own slice, and applying a
    /// position again (a retried message whose first attempt stopped part-way) moves nothing
    /// unless stock moved since.
    public mutating func applyStockSnapshotSlice(_ plan: StockSnapshotPlan, _ range: Range<Int>, context: CommandContext,
                                                 storage: some EngineStorage) throws -> (applied: Int, positions: [(InventoryKey, Balance)]) {
        let locationID = plan.locationID
        var movements: [Movement] = []
        var applied = 0
        for (sku, count) in plan.levels[range] {
            if try Self.countIsStale(sku, locationID, asOf: plan.asOf, storage: storage) { continue }
            applied += 1
            try storage.recordCount(InventoryKey(sku: sku, locationID: locationID), asOf: plan.asOf)
            let since = try storage.onHandDelta(sku, locationID, after: plan.asOf)
            let target = max(0, count + since)
            let current = state.inventory.balance(sku, at: locationID).onHand
            if target != current {
                movements.append(Movement(kind: .snapshot, sku: sku, locationID: locationID, onHandDelta: target - current,
                                          at: context.now, reference: plan.messageID))
            }
        }
        apply(movements: movements)
        try storage.appendMovements(movements)
        try emitInventoryEvents(movements, type: "inventory.snapshot_applied", context: context, detail: plan.messageID, storage: storage)
        try resolveShortages(movements.filter { $0.onHandDelta < 0 }.map { InventoryKey(sku: $0.sku, locationID: locationID) },
                             cause: "snapshot " + plan.messageID, context: context, storage: storage)
        try releaseBackorders(skus: movements.filter { $0.onHandDelta > 0 }.map(\.sku), context: context, storage: storage)
        // The answer shows what this command committed: after the shortages it re-routed and the
        // backorders it served, not the count alone (which may show more reserved than on hand).
        let positions = movements.map { movement in
            (InventoryKey(sku: movement.sku, locationID: locationID), state.inventory.balance(movement.sku, at: locationID))
        }
        return (applied, positions)
    }

    /// Records the message as applied (a later copy of it is a replay): after its last slice.
    public mutating func finishStockSnapshot(_ plan: StockSnapshotPlan, context: CommandContext, storage: some EngineStorage) throws {
        try storage.recordRequest(RequestRecord(key: "erp:" + plan.messageID, fingerprint: context.fingerprint,
                                                subject: plan.locationID.rawValue, at: context.now))
    }

    /// A count older than one already applied to this SKU × location is stale: the newer count,
    /// plus the movements since it, already says what is there. Applying the old one would undo
    /// whatever the newer count corrected (shrinkage, ERP-only adjustments).
    static func countIsStale(_ sku: SKU, _ location: LocationID, asOf: Timestamp, storage: some EngineStorage) throws -> Bool {
        guard let newest = try storage.countedAsOf(sku, location) else { return false }
        return newest > asOf
    }

    public mutating func updateInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply],
                                                context: CommandContext, storage: some EngineStorage) throws -> Balance {
        if let error = Validation.checkSKU(key.sku.rawValue, field: "sku", limits: limits) { throw error }
        guard state.network.locations[key.locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(key.locationID)", field: "location_id")
        }
        if safetyStock < 0 { throw DomainError.invalid("safety_stock", "must not be negative") }
        if incoming.contains(where: { $0.quantity <= 0 }) { throw DomainError.invalid("incoming", "quantities must be positive") }
        let before = state.inventory.balance(key.sku, at: key.locationID)
        state.inventory.update(key.sku, key.locationID) { balance in
            balance.safetyStock = safetyStock
            balance.incoming = incoming.sorted { $0.expectedAt < $1.expectedAt }
        }
        try storage.saveInventorySetting(key, safetyStock: safetyStock, incoming: incoming)
        try emitInventoryEvents([], type: "inventory.settings_changed", keys: [key], context: context,
                                detail: "safety stock \(safetyStock)", storage: storage)
        if safetyStock < before.safetyStock { try releaseBackorders(skus: [key.sku], context: context, storage: storage) }
        return state.inventory.balance(key.sku, at: key.locationID)
    }

    private func positions(for change: InventoryChange) -> [(InventoryKey, Balance)] {
        var keys = [InventoryKey(sku: change.sku, locationID: change.locationID)]
        if let to = change.toLocationID, change.kind == .transfer { keys.append(InventoryKey(sku: change.sku, locationID: to)) }
        return keys.map { ($0, state.inventory.balance($0.sku, at: $0.locationID)) }
    }

    mutating func emitInventoryEvents(_ movements: [Movement], type: String, keys: [InventoryKey] = [],
                                      context: CommandContext, detail: String, storage: some EngineStorage) throws {
        var events: [DomainEvent] = []
        for movement in movements {
            let sequence = state.inventory.nextEventSequence(movement.sku, movement.locationID)
            events.append(DomainEvent(type: type, aggregate: .inventory(movement.sku, movement.locationID, movement,
                                                                         state.inventory.balance(movement.sku, at: movement.locationID)),
                                      aggregateSequence: sequence, occurredAt: context.now, clientID: context.clientID, detail: detail))
        }
        for key in keys {
            let sequence = state.inventory.nextEventSequence(key.sku, key.locationID)
            events.append(DomainEvent(type: type, aggregate: .inventory(key.sku, key.locationID, nil,
                                                                         state.inventory.balance(key.sku, at: key.locationID)),
                                      aggregateSequence: sequence, occurredAt: context.now, clientID: context.clientID, detail: detail))
        }
        if !events.isEmpty { try storage.appendEvents(events) }
    }

    /// When a count or an adjustment leaves fewer units on hand than are reserved at a position,
    /// carts holding units there give them up first (Engine+Carts.swift), then the newest orders holding reservations there give up the shortfall: their lines at that
    /// location are rejected on its behalf (no write-off: the count already took the stock off)
    /// and re-routed, or backordered if nothing else has stock. Older orders keep their units.
    /// Only fulfillments not yet picked are touched; units already picked or packed stay (the
    /// location has them in hand), so a shortfall they cover is left to the location.
    private mutating func resolveShortages(_ keys: [InventoryKey], cause: String, context: CommandContext,
                                           storage: some EngineStorage) throws {
        for key in Set(keys).sorted() {
            let balance = state.inventory.balance(key.sku, at: key.locationID)
            var shortfall = balance.reserved - balance.onHand
            guard shortfall > 0 else { continue }
            // Carts hold for shoppers still deciding: they give way before any order.
            shortfall -= try shrinkCartHolds(at: key, shortfall: shortfall, context: context, storage: storage)
            guard shortfall > 0 else { continue }
            let holders = try storage.reservationHolders(key.sku, key.locationID, limit: limits.shortageOrdersScannedMax)
            for orderID in holders where shortfall > 0 {
                guard let order = try storage.loadOrder(orderID) else { continue }
                for fulfillment in order.fulfillments.reversed() where shortfall > 0 && fulfillment.locationID == key.locationID
                    && (fulfillment.status == .created || fulfillment.status == .released) {
                    var lines: [LineQuantity] = []
                    var taken: Int64 = 0
                    for line in fulfillment.lines where line.sku == key.sku && shortfall - taken > 0 {
                        let take = min(Int64(line.quantity), shortfall - taken)
                        lines.append(LineQuantity(lineID: line.lineID, quantity: Int32(take)))
                        taken += take
                    }
                    if lines.isEmpty { continue }
                    var shortageContext = context
                    shortageContext.requestID = "shortage-" + String(fnv1a("\(cause)|\(orderID)|\(fulfillment.fulfillmentID)"), radix: 16)
                    shortageContext.fingerprint = Fingerprint(fnv1a(shortageContext.requestID))
                    let command = OrderCommand.rejectFulfillment(
                        fulfillment.fulfillmentID, lines: lines,
                        reason: "stock shortage at \(key.locationID): \(key.sku) counted below its reservations (\(cause))", stockMissing: false,
                        excludesLocation: false)
                    do {
                        _ = try apply(command, to: orderID, context: shortageContext, storage: storage)
                        shortfall -= taken
                    } catch is DomainError {
                        // This order cannot change (e.g. its history is full): the next one gives way instead.
                        continue
                    }
                }
            }
        }
    }
}

/// A validated ERP stock snapshot of one location, ready to apply in slices (`Engine.planStockSnapshot`).
public struct StockSnapshotPlan: Sendable {
    public let locationID: LocationID
    public let asOf: Timestamp
    public let messageID: String
    /// The counted positions, sorted by SKU.
    public let levels: [(SKU, Int64)]
}
