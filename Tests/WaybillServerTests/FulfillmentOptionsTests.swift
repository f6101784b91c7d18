// GetFulfillmentOptions over the wire: a cart's options at every service level and pickup store,
// what each outcome means, that a capture made at once keeps the promise, that nothing is
// reserved, and that each query fails on its own (fields, limits, channel scope).

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Fulfillment options", .timeLimit(.minutes(3)))
struct FulfillmentOptionsTests {
    /// A cart of `order`: its channel, lines and ship-to.
    static func query(_ order: Waybill_V1_Order, id: String = "cart", levels: [Waybill_V1_ServiceLevel] = [],
                      stores: [String] = [], nearby: Int32 = 0, pickupOnly: Bool = false) -> Waybill_V1_FulfillmentOptionsQuery {
        var query = Waybill_V1_FulfillmentOptionsQuery()
        query.queryID = id
        query.channel = order.channel
        query.lines = order.lines
        if order.hasShipTo { query.shipTo = order.shipTo }
        query.serviceLevels = levels
        query.pickupLocationIds = stores
        query.nearbyPickupStores = nearby
        query.pickupOnly = pickupOnly
        return query
    }

    static func options(_ client: WaybillClient, _ queries: [Waybill_V1_FulfillmentOptionsQuery]) async throws -> [Waybill_V1_FulfillmentOptionsResult] {
        try await client.getFulfillmentOptions(.with { $0.queries = queries }).results
    }

    /// What a fulfillment and a quoted shipment have in common, comparable.
    static func shape(_ fulfillment: Waybill_V1_Fulfillment) -> String {
        "\(fulfillment.locationID) \(fulfillment.lines.map { "\($0.lineID)x\($0.quantity)" }) \(fulfillment.carrierID)/\(fulfillment.carrierService) "
            + "\(fulfillment.shippingCostEstimate.minorUnits) \(fulfillment.promisedDeliveryUnixMs)"
    }
    static func shape(_ shipment: Waybill_V1_OptionShipment) -> String {
        "\(shipment.locationID) \(shipment.lines.map { "\($0.lineID)x\($0.quantity)" }) \(shipment.carrierID)/\(shipment.carrierService) "
            + "\(shipment.shippingCost.minorUnits) \(shipment.promisedDeliveryUnixMs)"
    }

    @Test("a web cart: one ship option per level from WH-EAST; each capture made at once keeps its option's promise; nothing is reserved")
    func shipOptionsAreKept() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let cart = Fixture.order("OPT-ALL", lines: [("SKU-A", 2), ("SKU-B", 1)])
            let all = try await Self.options(client, [Self.query(cart)])
            #expect(all.count == 1)
            #expect(all[0].status.code == .ok)
            #expect(all[0].queryID == "cart")
            #expect(all[0].policyVersion == (try await client.getRoutingPolicy(Waybill_V1_GetRoutingPolicyRequest())).version)
            #expect(all[0].options.map(\.serviceLevel) == [.standard, .expedited, .nextDay])
            #expect(all[0].options.allSatisfy { $0.method == .ship && $0.outcome == .complete })
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 0, "options reserve nothing")

            for level in [Waybill_V1_ServiceLevel.standard, .expedited, .nextDay] {
                let result = try await Self.options(client, [Self.query(cart, levels: [level])])[0]
                let option = try #require(result.options.first)
                #expect(result.options.count == 1)
                #expect(option.shipments.map(\.locationID) == ["WH-EAST"], "\(option)")
                #expect(option.shipmentCount == 1)
                #expect(option.promisedDeliveryUnixMs > 0)
                #expect(option.shippingCost.minorUnits == option.shipments.reduce(0) { $0 + $1.shippingCost.minorUnits })
                var order = cart
                order.externalOrderID = "OPT-\(level.rawValue)"
                order.fulfillment.serviceLevel = level
                let captured = try await client.captureOrder(order).order
                #expect(captured.fulfillments.map(Self.shape) == option.shipments.map(Self.shape))
                #expect(captured.fulfillments.map(\.promisedDeliveryUnixMs).max() == option.promisedDeliveryUnixMs)
            }
        }
    }

    @Test("pickup: a named store that serves pickup, one that does not, and the nearest pickup stores of the channel")
    func pickupOptions() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var cart = Fixture.order("OPT-PICKUP", channel: .clickAndCollect, lines: [("SKU-D", 2)])
            let result = try await Self.options(client, [Self.query(cart, stores: ["WH-EAST", "NOWHERE"], nearby: 3, pickupOnly: true)])[0]
            #expect(result.status.code == .ok)
            #expect(result.options.map(\.method) == [.pickup, .pickup, .pickup], "pickup_only: no ship options")
            #expect(result.options.map(\.pickupLocationID) == ["WH-EAST", "NOWHERE", "ST-PHL"], "named, then the one pickup store")
            #expect(result.options[0].outcome == .unavailable)
            #expect(result.options[0].reason.contains("does not serve store pickup"), "\(result.options[0].reason)")
            #expect(result.options[1].outcome == .unavailable)
            #expect(result.options[1].reason.contains("unknown location NOWHERE"), "\(result.options[1].reason)")
            let store = result.options[2]
            #expect(store.outcome == .complete)
            #expect(store.shipments.map(\.locationID) == ["ST-PHL"])
            #expect(store.distanceKilometres > 0 && store.distanceKilometres < 5, "Philadelphia to ST-PHL: \(store.distanceKilometres) km")

            // The web channel may not sell from ST-PHL: no nearby store for it.
            let web = try await Self.options(client, [Self.query(Fixture.order("OPT-WEB", lines: [("SKU-D", 1)]), nearby: 3, pickupOnly: true)])[0]
            #expect(web.options.isEmpty, "\(web.options)")

            // A capture at once is served where the option said, on the promised day.
            cart.fulfillment.method = .pickup
            cart.fulfillment.pickupLocationID = "ST-PHL"
            let captured = try await client.captureOrder(cart).order
            #expect(captured.fulfillments.map(Self.shape) == store.shipments.map(Self.shape))
        }
    }

    @Test("outcomes follow the policy: PARTIAL and BACKORDER by default; UNAVAILABLE with the capture's reason when no backorder is allowed")
    func outcomesFollowThePolicy() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let partialCart = Fixture.order("OPT-PART", lines: [("SKU-A", 1), ("SKU-E", 2)])
            let backorderCart = Fixture.order("OPT-BO", lines: [("SKU-E", 1)])
            let standard = try await Self.options(client, [Self.query(partialCart, id: "p", levels: [.standard]),
                                                           Self.query(backorderCart, id: "b", levels: [.standard])])
            #expect(standard.map(\.queryID) == ["p", "b"])
            let partial = try #require(standard[0].options.first)
            #expect(partial.outcome == .partial)
            #expect(partial.unallocated.map { "\($0.lineID)x\($0.quantity)" } == ["L2x2"])
            #expect(partial.reason.contains("line L2 short by 2"), "\(partial.reason)")
            let backorder = try #require(standard[1].options.first)
            #expect(backorder.outcome == .backorder)
            #expect(backorder.shipments.isEmpty && backorder.promisedDeliveryUnixMs == 0)

            var policy = Waybill_V1_RoutingPolicy()
            policy.name = "no-backorder"
            var cost = Waybill_V1_ScoringCriterion()
            cost.kind = .shippingCost
            cost.weight = 1
            policy.scoring = [cost]
            policy.maxShipments = 2
            policy.allowPartialAllocation = false
            policy.allowBackorder = false
            _ = try await client.setRoutingPolicy(policy)
            let strict = try await Self.options(client, [Self.query(backorderCart, levels: [.standard])])[0]
            let refused = try #require(strict.options.first)
            #expect(refused.outcome == .unavailable)
            #expect(refused.reason.contains("insufficient stock") && refused.reason.contains("allows no backorder"), "\(refused.reason)")
            let error = await expectStatus(.failedPrecondition) { try await client.captureOrder(backorderCart) }
            #expect(error?.message == refused.reason, "the option's reason is the capture's refusal")
        }
    }

    @Test("each query fails on its own, naming its field; too many queries or stores are refused by their limits")
    func queriesFailOnTheirOwn() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let good = Self.query(Fixture.order("OPT-GOOD"), id: "good")
            var noChannel = good
            noChannel.queryID = "no-channel"
            noChannel.channel = .unspecified
            let unknownItem = Self.query(Fixture.order("OPT-UNK", lines: [("SKU-A", 1), ("NEW-SKU", 1)]), id: "unknown")
            var noPostalCode = good
            noPostalCode.queryID = "no-postal-code"
            noPostalCode.shipTo.postalCode = ""
            var tooManyStores = good
            tooManyStores.queryID = "stores"
            tooManyStores.pickupLocationIds = (0..<15).map { "S\($0)" }
            tooManyStores.nearbyPickupStores = 6
            var badQuantity = good
            badQuantity.queryID = "quantity"
            badQuantity.lines[0].quantity = 0
            let results = try await Self.options(client, [good, noChannel, unknownItem, noPostalCode, tooManyStores, badQuantity])
            #expect(results.map(\.queryID) == ["good", "no-channel", "unknown", "no-postal-code", "stores", "quantity"])
            #expect(results[0].status.code == .ok)
            #expect(results[1].status.code == .invalidArgument && results[1].status.details.field == "queries[1].channel", "\(results[1].status)")
            #expect(results[2].status.code == .invalidArgument && results[2].status.details.field == "queries[2].lines[1].sku", "\(results[2].status)")
            #expect(results[2].status.details.currentState == "ITEM_UNKNOWN")
            #expect(results[2].status.message.hasPrefix("queries[2].lines[1].sku: unknown item NEW-SKU"), "\(results[2].status.message)")
            #expect(results[3].status.details.field == "queries[3].ship_to.postal_code", "\(results[3].status)")
            #expect(results[4].status.code == .invalidArgument && results[4].status.details.limitName == "pickupStoresPerQueryMax", "\(results[4].status)")
            #expect(results[4].status.details.limitValue == 20)
            #expect(results[5].status.details.field == "queries[5].lines[0].quantity", "\(results[5].status)")
            #expect(results.dropFirst().allSatisfy { $0.options.isEmpty })

            let limit = TransportLimits().fulfillmentOptionQueriesPerCallMax
            let error = await expectStatus(.invalidArgument) {
                try await Self.options(client, Array(repeating: good, count: limit + 1))
            }
            #expect(error?.details.limitName == "fulfillmentOptionQueriesPerCallMax")
            #expect(try await Self.options(client, Array(repeating: good, count: limit)).count == limit)
        }
    }

    @Test("a channel credential quotes only for its own channels; a fulfillment credential not at all")
    func channelScope() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let web = try await server.client("web", as: TestCredentials.web)
            let results = try await Self.options(web, [Self.query(Fixture.order("OPT-W")),
                                                       Self.query(Fixture.order("OPT-M", channel: .marketplace))])
            #expect(results[0].status.code == .ok && !results[0].options.isEmpty)
            #expect(results[1].status.code == .permissionDenied, "\(results[1].status)")
            #expect(results[1].options.isEmpty)
            let warehouse = try await server.client("wh", as: TestCredentials.eastWarehouse)
            await expectStatus(.permissionDenied) { try await Self.options(warehouse, [Self.query(Fixture.order("OPT-F"))]) }
        }
    }
}
