// Expected supply from the ERP (purchase orders and transfers on their way) and what it promises:
// an expected receipt opens, changes, arrives or is cancelled; waiting (backordered) orders are
// promised dates from it in capture order, and re-promised, with order.repromised, whenever that
// changes; its arrival adds the units to on hand and serves the waiting orders in capture order.
// Pre-orders (capture against expected supply) are decided in Engine+Capture.swift with
// `SupplyOutlook.preorderable` (ExpectedSupply.swift), as fulfillment options decide them.

extension Engine {
    /// Applies one expected receipt: OPEN creates or replaces it, RECEIVED books the units that
    /// arrived into on hand and closes it, CANCELLED drops what it still expected (a receipt that
    /// is not open changes nothing). Returns the receipt as stored.
    public mutating func applyExpectedReceipt(_ receipt: ExpectedReceipt, context: CommandContext,
                                              storage: some EngineStorage) throws -> ExpectedReceipt {
        try check(receipt)
        let stored = try storage.loadReceipt(receipt.receiptID)
        if let stored, stored.status != .open {
            if receipt.status == .cancelled { return stored }
            let state = stored.status == .received ? "RECEIVED" : "CANCELLED"
            throw DomainError(.failedPrecondition,
                              "receipt_id: receipt \(receipt.receiptID) is \(state); a new expected receipt needs a new id",
                              field: "receipt_id", currentState: state)
        }
        if receipt.status == .cancelled && stored == nil { return receipt }
        if receipt.status == .open && stored == nil && state.supply.openReceiptCount >= limits.expectedReceiptsOpenMax {
            throw DomainError(.resourceExhausted,
                              "receipt_id: \(state.supply.openReceiptCount) receipts are open, the most expectedReceiptsOpenMax allows",
                              field: "receipt_id", limitName: "expectedReceiptsOpenMax", limitValue: Int64(limits.expectedReceiptsOpenMax))
        }
        // Decided: from here on nothing fails but storage.
        var next = receipt
        if receipt.status == .cancelled, let stored {
            next = stored
            next.status = .cancelled
        }
        next.version = (stored?.version ?? 0) + 1
        next.updatedAt = context.now
        let skus = Set((stored?.lines ?? []).map(\.sku) + next.lines.map(\.sku)).sorted()
        state.supply.put(next)
        try storage.saveReceipt(next)
        let type = switch next.status {
        case .open: stored == nil ? "receipt.expected" : "receipt.changed"
        case .received: "receipt.received"
        case .cancelled: "receipt.cancelled"
        }
        try storage.appendEvents([DomainEvent(type: type, aggregate: .receipt(next), aggregateSequence: next.version,
                                              occurredAt: context.now, clientID: context.clientID, detail: Self.describe(next))])
        if next.status == .received {
            let movements = next.lines.map {
                Movement(kind: .received, sku: $0.sku, locationID: next.locationID, onHandDelta: $0.quantity, at: context.now,
                         reference: "receipt:" + next.receiptID)
            }
            apply(movements: movements)
            try storage.appendMovements(movements)
            try emitInventoryEvents(movements, type: "inventory.received", context: context,
                                    detail: "receipt \(next.receiptID)", storage: storage)
            try releaseBackorders(skus: movements.map(\.sku), context: context, storage: storage,
                                  candidatesMax: limits.receiptReleaseOrdersMax)
        }
        try repromise(skus: skus, context: context, storage: storage)
        return next
    }

    /// Refuses a receipt that is malformed, names an unknown location or item, or is too long.
    func check(_ receipt: ExpectedReceipt) throws {
        if let error = Validation.checkIdentifier(receipt.receiptID, field: "receipt_id", limits: limits) { throw error }
        if receipt.status == .cancelled { return }
        guard state.network.locations[receipt.locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(receipt.locationID)", field: "location_id")
        }
        if receipt.status == .open && receipt.expectedAt <= .zero {
            throw DomainError.invalid("expected_at_unix_ms", "is required for an open receipt")
        }
        if receipt.lines.isEmpty { throw DomainError.invalid("lines", "at least one line is required") }
        if receipt.lines.count > limits.expectedReceiptLinesMax {
            throw DomainError.limit("expectedReceiptLinesMax", limits.expectedReceiptLinesMax, field: "lines", "\(receipt.lines.count) lines")
        }
        var seen: Set<SKU> = []
        for (index, line) in receipt.lines.enumerated() {
            if let error = Validation.checkSKU(line.sku.rawValue, field: "lines[\(index)].sku", limits: limits) { throw error }
            guard state.network.items[line.sku] != nil else { throw DomainError.unknownItem(line.sku, field: "lines[\(index)].sku") }
            if !seen.insert(line.sku).inserted { throw DomainError.invalid("lines[\(index)].sku", "\(line.sku) listed twice") }
            if line.quantity <= 0 || line.quantity > Int64(limits.quantityPerLineMax) {
                throw DomainError.invalid("lines[\(index)].quantity", "must be between 1 and \(limits.quantityPerLineMax), got \(line.quantity)")
            }
        }
    }

    static func describe(_ receipt: ExpectedReceipt) -> String {
        let lines = receipt.lines.map { "\($0.sku)×\($0.quantity)" }.joined(separator: ",")
        return "\(receipt.receiptID) at \(receipt.locationID) on \(Self.date(receipt.expectedAt.day)): \(lines)"
    }

    /// Walks the orders waiting for each SKU in capture order against its expected supply and
    /// re-promises (order.repromised, with the dates before and after) each whose promise changed.
    mutating func repromise(skus: [SKU], context: CommandContext, storage: some EngineStorage) throws {
        var systemContext = context
        systemContext.requestID = ""
        for sku in skus {
            var ahead: Int64 = 0
            var changed: [(OrderID, Timestamp?)] = []
            for waiting in state.backorders.waiting(for: sku) {
                let at = state.supply.expectedAt(unit: ahead + waiting.units - 1, of: sku, network: state.network)
                ahead += waiting.units
                if (at ?? .zero) != waiting.expectedAt { changed.append((waiting.orderID, at)) }
            }
            for (orderID, at) in changed {
                guard var order = try storage.loadOrder(orderID) else { continue }
                let before = order.lines.first { $0.sku == sku && $0.quantities.backordered > 0 }?.backorderPromisedAt ?? .zero
                guard order.promiseBackorders(of: sku, expectedAt: at) else { state.backorders.update(order); continue }
                let after = order.lines.first { $0.sku == sku && $0.quantities.backordered > 0 }?.backorderPromisedAt ?? .zero
                let detail = "\(sku): \(Self.promise(before)) → \(Self.promise(after))"
                try persist(&order, OrderEventKind("order.repromised", detail: detail), action: "repromised",
                            reason: "expected supply changed", detail: detail, context: systemContext,
                            movements: [], capacity: [], storage: storage)
                state.backorders.update(order)
            }
        }
    }

    /// Re-promises the SKUs an order waits for that expected supply covers (after a change that
    /// may have put its units ahead of younger orders': a rejection, an edit).
    mutating func repromiseWaiting(_ order: Order, context: CommandContext, storage: some EngineStorage) throws {
        guard order.backorderedUnits > 0 else { return }
        let skus = Set(order.lines.filter { $0.quantities.backordered > 0 && state.supply.expects($0.sku) }.map(\.sku)).sorted()
        if !skus.isEmpty { try repromise(skus: skus, context: context, storage: storage) }
    }

    /// Expected supply as a new order with these SKUs would meet it.
    public func supplyOutlook(of skus: [SKU]) -> SupplyOutlook {
        var waiting: [SKU: WaitingTotals] = [:]
        for sku in skus where waiting[sku] == nil { waiting[sku] = state.backorders.totals(sku) }
        return SupplyOutlook(supply: state.supply, waiting: waiting)
    }

    private static func promise(_ at: Timestamp) -> String { at == .zero ? "none" : date(at.day) }
}
