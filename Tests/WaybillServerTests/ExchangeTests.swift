// Exchanges over the protocol: CreateReturn with an exchange captures a replacement linked both
// ways (GetOrder of each shows it), the feed carries the events in order, a retry replays, and
// the link survives a restart.

import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("Exchanges over the protocol")
struct ExchangeSocketTests {
    static func request(_ orderID: String, id: String, reserveAt: Waybill_V1_ExchangeReservation) -> Waybill_V1_CreateReturnRequest {
        var request = Waybill_V1_CreateReturnRequest()
        request.requestID = "ret-\(id)"
        request.orderID = orderID
        request.returnID = id
        request.lines = [EveryEvent.lineQuantity("L1", 1)]
        request.reason = "wrong size"
        request.exchange.lines = [Fixture.line("1", "SKU-B", 1, price: 2_500)]
        request.exchange.reserveAt = reserveAt
        return request
    }

    /// A delivered order of 2 × SKU-A.
    static func delivered(_ client: WaybillClient, _ external: String) async throws -> String {
        let order = try await client.captureOrder(Fixture.order(external, lines: [("SKU-A", 2)])).order
        let fulfillmentID = try #require(order.fulfillments.first).fulfillmentID
        _ = try await client.release(order.orderID, request: "\(external)-release")
        _ = try await client.ship(order.orderID, fulfillmentID, request: "\(external)-ship")
        return order.orderID
    }

    @Test("an exchange at creation: both orders show the link, the feed has the events, a retry replays, a restart keeps it")
    func exchangeAtCreation() async throws {
        let directory = try TemporaryDirectory("exchanges-restart")
        let (originalID, replacementID) = try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let originalID = try await Self.delivered(client, "EX-1")
            let request = Self.request(originalID, id: "R1", reserveAt: .atCreation)
            let answer = try await client.lifecycle(Method.OrderService.createReturn, request)
            let exchange = try #require(answer.order.returns.first).exchange
            #expect(exchange.status == .created && exchange.reserveAt == .atCreation)
            #expect(exchange.priceDifference.minorUnits == 2_500 - answer.order.lines[0].unitPrice.minorUnits)
            let replacementID = exchange.replacementOrderID
            let replacement = try await client.getOrder(replacementID)
            #expect(replacement.exchangeOf.orderID == originalID && replacement.exchangeOf.returnID == "R1")
            #expect(replacement.externalOrderID == "EX-1/exchange/R1" && replacement.channel == .web)
            #expect(!replacement.fulfillments.isEmpty, "the replacement was routed and reserved")

            let again = try await client.lifecycle(Method.OrderService.createReturn, request)
            #expect(again.replayed && again.order.returns[0].exchange.replacementOrderID == replacementID)
            await expectStatus(.alreadyExists, field: "request_id") {
                var other = request
                other.exchange.lines[0].quantity = 2
                _ = try await client.lifecycle(Method.OrderService.createReturn, other)
            }
            await expectStatus(.invalidArgument, field: "exchange.lines[0].unit_price.currency") {
                var euros = Self.request(originalID, id: "R2", reserveAt: .atCreation)
                euros.exchange.lines[0].unitPrice.currency = "EUR"
                _ = try await client.lifecycle(Method.OrderService.createReturn, euros)
            }

            let head = try await client.feedInfo().headOffset
            let feed = try FeedCollector.subscribe(client, consumer: "exchanges", from: 1)
            defer { feed.cancel() }
            let events = try await feed.waitForEvents(Int(head))
            let tail = events.suffix(3).map { "\($0.type) \($0.aggregateID)" }
            #expect(tail == ["order.captured \(replacementID)", "order.return_created \(originalID)", "order.exchange_created \(originalID)"])
            #expect(events.last?.order.returns.first?.exchange.replacementOrderID == replacementID)
            #expect(events.first { $0.aggregateID == replacementID }?.order.exchangeOf.orderID == originalID)
            return (originalID, replacementID)
        }
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            #expect(try await client.getOrder(replacementID).exchangeOf.orderID == originalID)
            #expect(try await client.getOrder(originalID).returns.first?.exchange.replacementOrderID == replacementID)
        }
    }

    @Test("an exchange at receipt reserves nothing until ReceiveReturn; the policy's default is visible in GetRoutingPolicy")
    func exchangeAtReceipt() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let policy: Waybill_V1_RoutingPolicy = try await client.call(Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest())
            #expect(policy.exchangeReservation == .atReceipt)
            let originalID = try await Self.delivered(client, "EX-2")
            let created = try await client.lifecycle(Method.OrderService.createReturn, Self.request(originalID, id: "R1", reserveAt: .unspecified))
            #expect(created.order.returns[0].exchange.status == .pending && created.order.returns[0].exchange.replacementOrderID.isEmpty)
            let received = try await client.lifecycle(Method.OrderService.receiveReturn,
                                                      EveryEvent.receiveReturn(originalID, "R1", request: "rcv-R1", restocking: [("L1", 1)]))
            let exchange = received.order.returns[0].exchange
            #expect(exchange.status == .created && !exchange.replacementOrderID.isEmpty)
            #expect(try await client.getOrder(exchange.replacementOrderID).exchangeOf.returnID == "R1")
        }
    }
}
