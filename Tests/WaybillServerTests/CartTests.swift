// Carts over the wire: ReserveCart holds stock and answers the promise, a capture naming the cart
// takes exactly what it held, the writer releases a cart at its deadline on its own (with a feed
// event), concurrent shoppers racing for scarce stock never hold more than there is, and each
// request is checked (TTL limit, channel scope, a converted cart).

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Carts", .timeLimit(.minutes(3)))
struct CartTests {
    static func reserve(_ id: String, channel: Waybill_V1_Channel = .web, lines: [(String, Int32)], ttl: Int32 = 600) -> Waybill_V1_ReserveCartRequest {
        let order = Fixture.order(id, channel: channel, lines: lines)
        return Waybill_V1_ReserveCartRequest.with {
            $0.cartID = id
            $0.channel = channel
            $0.lines = order.lines
            $0.shipTo = order.shipTo
            $0.ttlSeconds = ttl
        }
    }

    static func cartRequest(_ id: String, channel: Waybill_V1_Channel = .web) -> Waybill_V1_CartRequest {
        .with { $0.cartID = id; $0.channel = channel }
    }

    @Test("a cart holds its stock; a capture naming it takes exactly those reservations and the cart is CONVERTED")
    func convertsAsHeld() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let held = try await client.reserveCart(Self.reserve("CART-1", lines: [("SKU-A", 3), ("SKU-B", 2)])).cart
            #expect(held.status == .active)
            #expect(held.reservations.map(\.locationID) == ["WH-EAST"])
            #expect(held.promisedDeliveryUnixMs > 0)
            #expect(held.expiresAtUnixMs > held.createdAtUnixMs)
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 3, "the cart's units are reserved")
            let again = try await client.reserveCart(Self.reserve("CART-1", lines: [("SKU-A", 3), ("SKU-B", 2)]))
            #expect(again.replayed, "the same content is answered as it is")
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 3)

            var order = Fixture.order("CART-ORDER-1", lines: [("SKU-A", 3), ("SKU-B", 2)])
            order.cartID = "CART-1"
            let captured = try await client.captureOrder(order).order
            #expect(captured.cartID == "CART-1")
            #expect(captured.fulfillments.map(\.locationID) == held.reservations.map(\.locationID))
            #expect(captured.fulfillments.map(\.promisedDeliveryUnixMs) == held.reservations.map(\.promisedDeliveryUnixMs))
            #expect(captured.routingDecisions.last?.trigger == "capture from cart CART-1", "\(captured.routingDecisions.last?.trigger ?? "")")
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 3, "the cart's units became the order's, not reserved twice")
            let after = try await client.getCart(Self.cartRequest("CART-1")).cart
            #expect(after.status == .converted && after.orderID == captured.orderID && after.reservations.isEmpty)
            let error = await expectStatus(.failedPrecondition) { try await client.reserveCart(Self.reserve("CART-1", lines: [("SKU-A", 1)])) }
            #expect(error?.details.currentState == "CONVERTED")
            await expectStatus(.notFound) { try await client.getCart(Self.cartRequest("NO-SUCH-CART")) }
        }
    }

    @Test("replacing, releasing: what a cart gave up is available again at once")
    func replaceAndRelease() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            _ = try await client.reserveCart(Self.reserve("CART-R", lines: [("SKU-B", 15)]))
            #expect(try await client.position("SKU-B", "WH-EAST").reserved == 15)
            let replaced = try await client.reserveCart(Self.reserve("CART-R", lines: [("SKU-B", 18)])).cart
            #expect(replaced.unallocated.isEmpty, "its own 15 units were available to the new content")
            #expect(try await client.position("SKU-B", "WH-EAST").reserved == 18)
            let released = try await client.releaseCart(Self.cartRequest("CART-R"))
            #expect(released.cart.status == .released && !released.replayed)
            #expect(try await client.position("SKU-B", "WH-EAST").reserved == 0)
            #expect(try await client.releaseCart(Self.cartRequest("CART-R")).replayed)
            let error = await expectStatus(.failedPrecondition) {
                try await client.extendCart(.with { $0.cartID = "CART-R"; $0.channel = .web; $0.ttlSeconds = 60 })
            }
            #expect(error?.details.currentState == "RELEASED")
        }
    }

    @Test("the writer releases a cart at its deadline on its own, with a cart.expired event; its capture then routes afresh")
    func expiresAtTheDeadline() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let feed = try FeedCollector.subscribe(client, consumer: "cart-expiry")
            let held = try await client.reserveCart(Self.reserve("CART-E", lines: [("SKU-C", 4)], ttl: 1)).cart
            #expect(try await client.position("SKU-C", "WH-WEST").reserved == 4)
            #expect(held.expiresAtUnixMs == ManualClock.start + 1_000)
            // The server's clock passes the deadline; the sweep (every 250 ms of real time) sees it.
            server.clock.advance(milliseconds: 1_001)
            var cart = held
            let giveUp = Date().addingTimeInterval(20)
            while cart.status == .active && Date() < giveUp {
                try await Task.sleep(for: .milliseconds(50))
                cart = try await client.getCart(Self.cartRequest("CART-E")).cart
            }
            #expect(cart.status == .expired)
            #expect(cart.updatedAtUnixMs == held.expiresAtUnixMs + 1, "released by the writer at the server time it first saw past the deadline")
            #expect(try await client.position("SKU-C", "WH-WEST").reserved == 0)
            // The fixture's item and stock events (13), then the cart's two: reserved, expired.
            let events = try await feed.waitForEvents(15).filter { $0.aggregateType == "cart" }
            #expect(events.map(\.type) == ["cart.reserved", "cart.expired"], "\(events.map(\.type))")
            let expired = try #require(events.last)
            #expect(expired.aggregateType == "cart" && expired.aggregateID == "web/CART-E" && expired.cart.status == .expired)
            #expect(expired.aggregateSequence == 2)
            feed.cancel()

            var order = Fixture.order("CART-E-ORDER", lines: [("SKU-C", 4)])
            order.cartID = "CART-E"
            let captured = try await client.captureOrder(order).order
            #expect(captured.routingDecisions.last?.trigger.contains("expired: routed afresh") == true)
        }
    }

    @Test("a cart survives a restart: still held, and released at its deadline by the restarted server")
    func survivesRestart() async throws {
        let directory = try TemporaryDirectory("carts-restart")
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            _ = try await client.reserveCart(Self.reserve("CART-K", lines: [("SKU-C", 2)], ttl: 5))
        }
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            #expect(try await client.getCart(Self.cartRequest("CART-K")).cart.status == .active)
            #expect(try await client.position("SKU-C", "WH-WEST").reserved == 2)
            server.clock.advance(milliseconds: 5_001)
            let released = try await eventually("CART-K expired") {
                try await client.getCart(Self.cartRequest("CART-K")).cart.status == .expired
            }
            #expect(released)
            #expect(try await client.position("SKU-C", "WH-WEST").reserved == 0)
        }
    }

    @Test("shoppers racing for scarce stock over many connections never hold more than there is")
    func concurrentShoppers() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            // SKU-D: 3 units, all at ST-PHL (click and collect).
            let outcomes = try await withThrowingTaskGroup(of: Int64.self) { group in
                for shopper in 0..<12 {
                    let client = try await server.client("shopper-\(shopper)")
                    group.addTask {
                        var request = Self.reserve("RACE-\(shopper)", channel: .clickAndCollect, lines: [("SKU-D", 1)])
                        request.fulfillment.method = .pickup
                        request.fulfillment.pickupLocationID = "ST-PHL"
                        let cart = try await client.reserveCart(request).cart
                        return cart.reservations.reduce(0) { $0 + $1.lines.reduce(0) { $0 + Int64($1.quantity) } }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(outcomes.reduce(0, +) == 3, "exactly the 3 units are held: \(outcomes)")
            #expect(try await admin.position("SKU-D", "ST-PHL").reserved == 3)
        }
    }

    @Test("requests are checked: TTL bounds, the channel scope, a malformed cart")
    func requestsAreChecked() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let tooLong = await expectStatus(.invalidArgument, field: "ttl_seconds") {
                try await admin.reserveCart(Self.reserve("CART-T", lines: [("SKU-A", 1)], ttl: 86_401))
            }
            #expect(tooLong?.details.limitName == "cartTtlSecondsMax")
            await expectStatus(.invalidArgument, field: "ttl_seconds") { try await admin.reserveCart(Self.reserve("CART-T", lines: [("SKU-A", 1)], ttl: 0)) }
            await expectStatus(.invalidArgument, field: "lines[0].quantity") { try await admin.reserveCart(Self.reserve("CART-T", lines: [("SKU-A", 0)])) }
            await expectStatus(.invalidArgument, field: "lines[0].sku") { try await admin.reserveCart(Self.reserve("CART-T", lines: [("NEW-SKU", 1)])) }
            let web = try await server.client("web", as: TestCredentials.web)
            _ = try await web.reserveCart(Self.reserve("CART-W", lines: [("SKU-A", 1)]))
            await expectStatus(.permissionDenied) { try await web.reserveCart(Self.reserve("CART-M", channel: .marketplace, lines: [("SKU-A", 1)])) }
            await expectStatus(.permissionDenied) { try await web.getCart(Self.cartRequest("CART-W", channel: .marketplace)) }
            #expect(try await web.getCart(Self.cartRequest("CART-W")).cart.status == .active)
            #expect(try await admin.position("SKU-A", "WH-EAST").reserved == 1, "nothing refused holds stock")
        }
    }
}
