// Exchanges: a return whose units are replaced by a new order. The replacement is captured
// through `capture` (routing, reservations, backorder policy, its `order.captured`) on the
// original's channel, in the same command as the return's creation (AT_CREATION) or its receipt
// (AT_RECEIPT), and linked both ways: the return's `exchange.replacementOrderID`, the
// replacement's `exchangeOf`. The original then emits `order.exchange_created` (a version of its
// own, after `order.return_created` / `order.return_received`).
//
// Money: credit = the returned units at the original's unit prices (requested units until the
// return is received, received units after); new order = the replacement's total; difference =
// new − credit. A partial receipt still captures the whole replacement (at receipt) or keeps it
// (at creation); only the credit and the difference follow the units received. No unit received
// at all cancels an exchange still pending. A replacement that cannot be captured at receipt does
// not refuse the receipt (the goods are back): the exchange is FAILED with the reason.

/// What `Engine.apply` does about an exchange in a CreateReturn or ReceiveReturn.
struct ExchangeStep {
    var returnID: String
    /// Captured in this command: `order.exchange_created` follows the return's event.
    var replacement: Order?
}

extension Engine {
    /// CreateReturn with an exchange: checks the replacement, resolves its content on the return in
    /// `transition`, and at creation captures it. Throws (nothing stored) when the replacement is
    /// refused; errors name `exchange.…` fields.
    mutating func createExchange(_ request: ExchangeRequest, returnID: String, transition: inout OrderTransition,
                                 context: CommandContext, storage: some EngineStorage) throws -> ExchangeStep {
        let order = transition.order
        guard let returnIndex = order.returns.firstIndex(where: { $0.returnID == returnID }) else {
            preconditionFailure("the state machine created return \(returnID)")
        }
        for (index, line) in request.lines.enumerated() where line.unitPrice.currency != order.currency {
            throw DomainError.invalid("exchange.lines[\(index)].unit_price.currency",
                                      "\(line.unitPrice.currency) differs from order \(order.orderID)'s \(order.currency): an exchange is in the original order's currency")
        }
        let reserveAt = request.reserveAt ?? state.policy.exchangeReservation
        let ret = order.returns[returnIndex]
        var exchange = Exchange(
            reserveAt: reserveAt, status: .pending, lines: request.lines,
            externalOrderID: request.externalOrderID.isEmpty ? "\(order.externalOrderID)/exchange/\(returnID)" : request.externalOrderID,
            shipTo: request.shipTo ?? order.shipTo, fulfillment: request.fulfillment ?? order.requestedFulfillment,
            creditAmount: order.value(of: ret.lines),
            newOrderAmount: Money(minorUnits: request.lines.reduce(0) { $0 + Int64($1.quantity) * $1.unitPrice.minorUnits }, currency: order.currency))
        let draft = replacementDraft(exchange, of: order, returnID: returnID, requestedAt: ret.requestedAt)
        try checkReplacement(draft)
        var step = ExchangeStep(returnID: returnID)
        if reserveAt == .atCreation {
            let replacement = try captureReplacement(draft, context: context, storage: storage)
            exchange.status = .created
            exchange.replacementOrderID = replacement.orderID
            step.replacement = replacement
        }
        transition.order.returns[returnIndex].exchange = exchange
        transition.historyDetail += exchangeDetail(exchange)
        return step
    }

    /// ReceiveReturn of a return that is an exchange: the credit follows the units received, and a
    /// pending exchange captures its replacement now (or is cancelled: nothing came back; or fails:
    /// the receipt stands, the reason is kept). nil for a plain return.
    mutating func receiveExchange(returnID: String, transition: inout OrderTransition, context: CommandContext,
                                  storage: some EngineStorage) throws -> ExchangeStep? {
        let order = transition.order
        guard let returnIndex = order.returns.firstIndex(where: { $0.returnID == returnID }),
              var exchange = order.returns[returnIndex].exchange else { return nil }
        let ret = order.returns[returnIndex]
        exchange.creditAmount = order.value(of: ret.received)
        var step = ExchangeStep(returnID: returnID)
        var outcome = ""
        if exchange.status == .pending {
            if ret.received.allSatisfy({ $0.quantity == 0 }) {
                exchange.status = .cancelled
                outcome = "; order.exchange_cancelled: nothing received"
            } else {
                let draft = replacementDraft(exchange, of: order, returnID: returnID, requestedAt: ret.requestedAt)
                do {
                    try checkReplacement(draft)
                    let replacement = try captureReplacement(draft, context: context, storage: storage)
                    exchange.status = .created
                    exchange.replacementOrderID = replacement.orderID
                    step.replacement = replacement
                } catch let error as DomainError {
                    exchange.status = .failed
                    exchange.failureReason = error.message
                    outcome = "; order.exchange_failed: \(error.message)"
                }
            }
        }
        transition.order.returns[returnIndex].exchange = exchange
        let difference = exchange.priceDifference
        transition.event.detail += "; order.price_difference: \(difference.minorUnits) \(difference.currency)" + outcome
        transition.historyDetail += exchangeDetail(exchange)
        return step
    }

    /// The original's `order.exchange_created`, once its return's event is persisted.
    func persistExchangeCreated(_ order: inout Order, _ step: ExchangeStep, context: CommandContext, storage: some EngineStorage) throws {
        guard let replacement = step.replacement,
              let exchange = order.returns.first(where: { $0.returnID == step.returnID })?.exchange else { return }
        let difference = exchange.priceDifference
        try persist(&order, OrderEventKind("order.exchange_created", returnID: step.returnID,
                                           detail: "\(replacement.orderID) price_difference \(difference.minorUnits) \(difference.currency)"),
                    action: "exchange_created", reason: "", detail: "\(step.returnID) -> \(replacement.orderID)",
                    context: context, movements: [], capacity: [], storage: storage)
    }

    /// The replacement as a capture: the original's channel and customer, the exchange's content.
    /// Created at the return's request time, so the content is the same whenever it is captured.
    func replacementDraft(_ exchange: Exchange, of order: Order, returnID: String, requestedAt: Timestamp) -> OrderDraft {
        var draft = OrderDraft()
        draft.channel = order.channel
        draft.externalOrderID = exchange.externalOrderID
        draft.customer = order.customer
        draft.shipTo = exchange.shipTo
        draft.lines = exchange.lines
        draft.fulfillment = exchange.fulfillment
        draft.createdAt = requestedAt
        draft.exchangeOf = ExchangeLink(orderID: order.orderID, returnID: returnID)
        return draft
    }

    /// What capture would refuse, named as `exchange.…`; unknown items are refused too (a
    /// replacement is never held waiting for the item master).
    func checkReplacement(_ draft: OrderDraft) throws {
        if let error = Validation.check(draft, limits: limits, field: "exchange") { throw error }
        for (index, line) in draft.lines.enumerated() where state.network.items[line.sku] == nil {
            throw DomainError.invalid("exchange.lines[\(index)].sku", "item \(line.sku) is not in the item master")
        }
        do {
            _ = try Self.checkRoutable(draft, network: state.network, gazetteer: router.gazetteer)
        } catch let error as DomainError {
            throw error.movingField(from: "order", to: "exchange")
        }
    }

    /// Captures the replacement (idempotent by channel and external id, as any capture). A
    /// shortage the policy refuses names the first short line: `exchange.lines[i].quantity`.
    mutating func captureReplacement(_ draft: OrderDraft, context: CommandContext, storage: some EngineStorage) throws -> Order {
        do {
            return try capture(ValidatedDraft(draft, limits: limits, field: "exchange"), context: context, storage: storage).order
        } catch let error as DomainError {
            if error.currentState == "INSUFFICIENT_STOCK" {
                let short = draft.lines.firstIndex { line in error.message.contains("line \(line.lineID) short") } ?? 0
                var named = error
                named.field = "exchange.lines[\(short)].quantity"
                named.message = "exchange.lines[\(short)].quantity: the replacement cannot be captured: \(error.message)"
                throw named
            }
            throw error.movingField(from: "order", to: "exchange")
        }
    }

    private func exchangeDetail(_ exchange: Exchange) -> String {
        let difference = exchange.priceDifference
        return "; exchange \(exchange.reserveAt.name) \(exchange.status.description.lowercased())"
            + (exchange.replacementOrderID.map { " \($0)" } ?? "")
            + ", price difference \(difference.minorUnits) \(difference.currency)"
    }
}
