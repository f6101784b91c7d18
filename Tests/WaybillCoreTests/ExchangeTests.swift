// Exchanges: CreateReturn with a replacement order, captured at creation or at receipt, linked
// both ways, with the price difference; refused whole when the replacement is refused.

import Testing
@testable import WaybillCore

@Suite("Exchanges: a return replaced by a new order")
struct ExchangeTests {
    /// An order of 2 × SKU-A at 10.00 shipped and delivered from WH-EAST, and a harness.
    static func delivered(policy: RoutingPolicy? = nil, stock: [(SKU, LocationID, Int32)] = [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 5)])
        throws -> (Harness, Order) {
        let h = try Harness(policy: policy, stock: stock)
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .delivered)
        return (h, h.order(order.orderID))
    }

    static func exchange(_ sku: SKU, _ quantity: Int32, price: Int64, currency: String = Net.currency,
                         reserveAt: ExchangeReservation? = nil) -> ExchangeRequest {
        ExchangeRequest(lines: [DraftLine(lineID: "1", sku: sku, quantity: quantity, unitPrice: Money(minorUnits: price, currency: currency))],
                        reserveAt: reserveAt)
    }

    static func returning(_ quantity: Int32, _ exchange: ExchangeRequest, id: String = "RMA-1") -> OrderCommand {
        .createReturn(returnID: id, lines: [LineQuantity(lineID: "L1", quantity: quantity)], reason: "wrong size", exchange: exchange)
    }

    @Test("at creation: the replacement is captured and reserves stock in the same command, linked both ways")
    func atCreation() throws {
        let (h, order) = try Self.delivered()
        let eventsBefore = h.storage.events.count
        let after = try h.apply(Self.returning(2, Self.exchange(Net.skuB, 1, price: 2_500, reserveAt: .atCreation)), to: order.orderID)
        let exchange = try #require(after.returns.first?.exchange)
        #expect(exchange.status == .created && exchange.reserveAt == .atCreation)
        let replacementID = try #require(exchange.replacementOrderID)
        let replacement = h.order(replacementID)
        #expect(replacement.exchangeOf == ExchangeLink(orderID: order.orderID, returnID: "RMA-1"))
        #expect(replacement.channel == order.channel && replacement.customer == order.customer && replacement.shipTo == order.shipTo)
        #expect(replacement.externalOrderID == "EXT-1/exchange/RMA-1")
        #expect(replacement.reservedUnits == 1 && h.balance(Net.skuB, Net.whEast).reserved == 1)
        // 2 × 10.00 back, 1 × 25.00 out: the customer pays 5.00.
        #expect(exchange.creditAmount == Net.money(2_000) && exchange.newOrderAmount == Net.money(2_500))
        #expect(exchange.priceDifference == Net.money(500))
        let types = h.storage.events[eventsBefore...].map { "\($0.event.type) \($0.event.aggregateID)" }
        #expect(types == ["order.captured \(replacementID)", "order.return_created \(order.orderID)", "order.exchange_created \(order.orderID)"])
        #expect(h.storage.events.last?.event.detail == "\(replacementID) price_difference 500 USD")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("at receipt: nothing is reserved until ReceiveReturn, which captures the replacement")
    func atReceipt() throws {
        let (h, order) = try Self.delivered()
        let ordersBefore = h.storage.orders.count
        var after = try h.apply(Self.returning(2, Self.exchange(Net.skuB, 1, price: 1_500, reserveAt: .atReceipt)), to: order.orderID)
        #expect(after.returns[0].exchange?.status == .pending && after.returns[0].exchange?.replacementOrderID == nil)
        #expect(h.storage.orders.count == ordersBefore && h.balance(Net.skuB, Net.whEast).reserved == 0)
        after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                           lines: [ReturnLine(lineID: "L1", quantity: 2, disposition: .restock)]), to: order.orderID)
        let exchange = try #require(after.returns[0].exchange)
        let replacementID = try #require(exchange.replacementOrderID)
        #expect(exchange.status == .created)
        #expect(h.order(replacementID).exchangeOf?.orderID == order.orderID && h.balance(Net.skuB, Net.whEast).reserved == 1)
        // 2 × 10.00 back, 15.00 out: the customer is owed 5.00.
        #expect(exchange.priceDifference == Net.money(-500))
        #expect(h.storage.events.last?.event.type == "order.exchange_created")
        #expect(h.storage.events.contains { $0.event.type == "order.return_received" && $0.event.detail.contains("order.price_difference: -500 USD") })
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("the routing policy's exchange_reservation decides when the request does not")
    func policyDefault() throws {
        var policy = RoutingPolicy.standard
        policy.exchangeReservation = .atCreation
        let (h, order) = try Self.delivered(policy: policy)
        let after = try h.apply(Self.returning(1, Self.exchange(Net.skuA, 1, price: 1_000)), to: order.orderID)
        #expect(after.returns[0].exchange?.reserveAt == .atCreation && after.returns[0].exchange?.status == .created)
        #expect(after.returns[0].exchange?.priceDifference == Net.money(0), "an even swap")
        let (h2, order2) = try Self.delivered()
        let pending = try h2.apply(Self.returning(1, Self.exchange(Net.skuA, 1, price: 1_000)), to: order2.orderID)
        #expect(pending.returns[0].exchange?.reserveAt == .atReceipt, "the standard policy reserves at receipt")
    }

    @Test("a replacement the policy refuses refuses the whole CreateReturn: no return, no order, no reservation, no event")
    func refusedReplacementStoresNothing() throws {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        policy.allowPartialAllocation = false
        let (h, order) = try Self.delivered(policy: policy)
        let (orders, events, ledger) = (h.storage.orders, h.storage.events.count, liveFigures(h.engine))
        let error = expectDomainError(.failedPrecondition, field: "exchange.lines[0].quantity") {
            try h.apply(Self.returning(2, Self.exchange(Net.skuB, 6, price: 2_000, reserveAt: .atCreation)), to: order.orderID)
        }
        #expect(error?.message.contains("insufficient stock") == true)
        #expect(h.storage.orders == orders && h.storage.events.count == events && liveFigures(h.engine) == ledger)
        #expect(h.order(order.orderID).returns.isEmpty)
        expectDomainError(.invalidArgument, field: "exchange.lines[0].sku") {
            try h.apply(Self.returning(2, Self.exchange(SKU("NO-SUCH-SKU"), 1, price: 2_000, reserveAt: .atCreation)), to: order.orderID)
        }
        expectDomainError(.invalidArgument, field: "exchange.lines[0].quantity") {
            try h.apply(Self.returning(2, Self.exchange(Net.skuB, 0, price: 2_000, reserveAt: .atReceipt)), to: order.orderID)
        }
        #expect(h.storage.orders == orders && h.order(order.orderID).returns.isEmpty)
    }

    @Test("an exchange in another currency than the order's is refused")
    func mixedCurrency() throws {
        let (h, order) = try Self.delivered()
        let error = expectDomainError(.invalidArgument, field: "exchange.lines[0].unit_price.currency") {
            try h.apply(Self.returning(1, Self.exchange(Net.skuB, 1, price: 900, currency: "EUR", reserveAt: .atCreation)), to: order.orderID)
        }
        #expect(error?.message.contains("USD") == true)
        #expect(h.order(order.orderID).returns.isEmpty)
    }

    @Test("a retried CreateReturn replays the same return and replacement; another request with the id is ALREADY_EXISTS")
    func replay() throws {
        let (h, order) = try Self.delivered()
        let command = Self.returning(2, Self.exchange(Net.skuB, 1, price: 2_500, reserveAt: .atCreation))
        let context = h.context(requestID: "ret-1", fingerprint: fingerprint("\(command)"))
        let first = try h.engine.apply(command, to: order.orderID, context: context, storage: h.storage)
        let (orders, events) = (h.storage.orders.count, h.storage.events.count)
        let again = try h.engine.apply(command, to: order.orderID, context: context, storage: h.storage)
        #expect(!first.replayed && again.replayed)
        #expect(again.order.returns[0].exchange?.replacementOrderID == first.order.returns[0].exchange?.replacementOrderID)
        #expect(h.storage.orders.count == orders && h.storage.events.count == events && h.balance(Net.skuB, Net.whEast).reserved == 1)
        expectDomainError(.alreadyExists, field: "request_id") {
            let other = Self.returning(1, Self.exchange(Net.skuB, 2, price: 2_500, reserveAt: .atCreation), id: "RMA-2")
            _ = try h.engine.apply(other, to: order.orderID, context: h.context(requestID: "ret-1", fingerprint: fingerprint("\(other)")),
                                   storage: h.storage)
        }
    }

    @Test("fewer units received: the replacement is still captured whole; credit and difference follow the units received")
    func fewerUnitsReceived() throws {
        let (h, order) = try Self.delivered()
        try h.apply(Self.returning(2, Self.exchange(Net.skuB, 1, price: 2_500, reserveAt: .atReceipt)), to: order.orderID)
        let after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                               lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .restock)]), to: order.orderID)
        let exchange = try #require(after.returns[0].exchange)
        let replacementID = try #require(exchange.replacementOrderID)
        #expect(exchange.status == .created && h.order(replacementID).lines[0].quantity == 1)
        #expect(exchange.creditAmount == Net.money(1_000) && exchange.priceDifference == Net.money(1_500))
        #expect(after.returns[0].refund == Net.money(1_000))
    }

    @Test("at creation, a short receipt keeps the replacement and recomputes the credit")
    func atCreationShortReceipt() throws {
        let (h, order) = try Self.delivered()
        try h.apply(Self.returning(2, Self.exchange(Net.skuB, 1, price: 2_500, reserveAt: .atCreation)), to: order.orderID)
        let orders = h.storage.orders.count
        let after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                               lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .dispose)]), to: order.orderID)
        #expect(after.returns[0].exchange?.status == .created && h.storage.orders.count == orders, "no second replacement")
        #expect(after.returns[0].exchange?.priceDifference == Net.money(1_500))
    }

    @Test("at receipt, nothing received cancels the exchange; a replacement refused at receipt fails it but the receipt stands")
    func cancelledAndFailedAtReceipt() throws {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        policy.allowPartialAllocation = false
        let (h, order) = try Self.delivered(policy: policy, stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 1)])
        try h.apply(.createReturn(returnID: "RMA-0", lines: [LineQuantity(lineID: "L1", quantity: 1)], reason: "",
                                  exchange: Self.exchange(Net.skuB, 1, price: 2_000, reserveAt: .atReceipt)), to: order.orderID)
        var after = try h.apply(.receiveReturn(returnID: "RMA-0", locationID: Net.whEast,
                                               lines: [ReturnLine(lineID: "L1", quantity: 0, disposition: .restock)]), to: order.orderID)
        #expect(after.returns[0].exchange?.status == .cancelled && after.returns[0].exchange?.replacementOrderID == nil)
        try h.apply(.createReturn(returnID: "RMA-1", lines: [LineQuantity(lineID: "L1", quantity: 1)], reason: "",
                                  exchange: Self.exchange(Net.skuB, 3, price: 2_000, reserveAt: .atReceipt)), to: order.orderID)
        after = try h.apply(.receiveReturn(returnID: "RMA-1", locationID: Net.whEast,
                                           lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .restock)]), to: order.orderID)
        let failed = try #require(after.returns[1].exchange)
        #expect(after.returns[1].status == .received && failed.status == .failed && failed.failureReason.contains("insufficient stock"))
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 9, "the unit is back on the shelf")
        #expect(ledgerMismatches(h.engine, h.storage).isEmpty)
    }

    @Test("limits: an exchange has at most linesPerOrderMax lines, named in the error")
    func linesLimit() throws {
        var limits = DomainLimits.default
        limits.linesPerOrderMax = 2
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 10)], limits: limits)
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        try h.advance(order.orderID, order.fulfillments[0].fulfillmentID, to: .delivered)
        let lines = (1...3).map { DraftLine(lineID: "\($0)", sku: Net.skuB, quantity: 1, unitPrice: Net.money(100)) }
        let error = expectDomainError(.invalidArgument, field: "exchange.lines") {
            try h.apply(Self.returning(1, ExchangeRequest(lines: lines, reserveAt: .atCreation)), to: order.orderID)
        }
        #expect(error?.limitName == "linesPerOrderMax" && error?.limitValue == 2)
        try h.apply(Self.returning(1, ExchangeRequest(lines: Array(lines.prefix(2)), reserveAt: .atCreation)), to: order.orderID)
    }

    @Test("a retried ReceiveReturn replays: the replacement captured at receipt is not captured twice")
    func receiptReplay() throws {
        let (h, order) = try Self.delivered()
        try h.apply(Self.returning(2, Self.exchange(Net.skuB, 1, price: 2_500, reserveAt: .atReceipt)), to: order.orderID)
        let receive = OrderCommand.receiveReturn(returnID: "RMA-1", locationID: Net.whEast, lines: [ReturnLine(lineID: "L1", quantity: 2, disposition: .restock)])
        let context = h.context(requestID: "rcv-1", fingerprint: fingerprint("\(receive)"))
        let first = try h.engine.apply(receive, to: order.orderID, context: context, storage: h.storage)
        let orders = h.storage.orders.count
        let again = try h.engine.apply(receive, to: order.orderID, context: context, storage: h.storage)
        #expect(again.replayed && again.order.returns[0].exchange?.replacementOrderID == first.order.returns[0].exchange?.replacementOrderID)
        #expect(h.storage.orders.count == orders && h.balance(Net.skuB, Net.whEast).reserved == 1)
    }

    @Test("a chosen external id already captured with other content is ALREADY_EXISTS naming exchange.external_order_id")
    func externalIDConflict() throws {
        let (h, order) = try Self.delivered()
        try h.capture(Net.draft("WEB-TAKEN", [(Net.skuB, 1)]))
        var exchange = Self.exchange(Net.skuB, 1, price: 2_000, reserveAt: .atCreation)
        exchange.externalOrderID = "WEB-TAKEN"
        let error = expectDomainError(.alreadyExists, field: "exchange.external_order_id") {
            try h.apply(Self.returning(1, exchange), to: order.orderID)
        }
        #expect(error?.existingOrderID != nil)
        #expect(h.order(order.orderID).returns.isEmpty)
        exchange.externalOrderID = "WEB-NEW"
        let after = try h.apply(Self.returning(1, exchange), to: order.orderID)
        #expect(h.order(try #require(after.returns[0].exchange?.replacementOrderID)).externalOrderID == "WEB-NEW")
    }
}
