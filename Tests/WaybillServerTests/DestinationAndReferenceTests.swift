// Issue 16 over the wire: ship-tos without coordinates, references checked when written, the
// snapshot answer after its re-route, and ReallocateOrders.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Destinations and references", .timeLimit(.minutes(3)))
struct DestinationAndReferenceTests {
    static func seattleOrder(_ external: String, city: String = "Seattle", lines: [(String, Int32)] = [("SKU-A", 1)]) -> Waybill_V1_Order {
        var order = Fixture.order(external, lines: lines)
        order.shipTo.city = city
        order.shipTo.region = "WA"
        order.shipTo.postalCode = "98101"
        order.shipTo.clearCoordinates()
        return order
    }

    @Test("a Seattle order without coordinates is routed from Seattle's centroid and says so (was: 300 km band, 1 day)")
    func cityCentroid() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let order = try await client.captureOrder(Self.seattleOrder("SEA-1")).order
            #expect(order.status == .allocated)
            #expect(!order.shipTo.hasCoordinates, "the address is stored as sent")
            let fulfillment = try #require(order.fulfillments.first)
            // Newark → Seattle ~3,870 km and Reno → Seattle ~910 km are both in the 5,000 km band (4 days).
            #expect(fulfillment.transitDaysEstimate == 4)
            #expect(fulfillment.shippingCostEstimate.minorUnits >= 1_500)
            #expect(order.routingDecisions.first?.destinationApproximation == "destination approximated from city centroid Seattle, WA")
            let stored = try await client.getOrder(order.orderID)
            #expect(stored.routingDecisions.first?.destinationApproximation == "destination approximated from city centroid Seattle, WA")
        }
    }

    @Test("the compiled US gazetteer knows the places people type, spelled as they type them")
    func compiledGazetteer() {
        let g = Gazetteer.unitedStatesCities
        #expect(g.count > 3_400, "every row of simulator/data/us-cities.csv (3,407), plus \" City\" aliases")
        #expect(g.place(city: "Seattle", region: "WA", country: "US")?.coordinates == Coordinates(latitude: 47.6062, longitude: -122.3321))
        #expect(g.place(city: "new york", region: "NY", country: "USA")?.name == "New York City")
        #expect(g.place(city: "Saint Louis", region: "MO", country: "")?.name == "St. Louis")
        #expect(g.place(city: "Fort Worth", region: "TX", country: "US")?.name == "Fort Worth")
        #expect(g.place(city: "Ft. Worth", region: "TX", country: "US")?.name == "Fort Worth")
        #expect(g.place(city: "Winston Salem", region: "NC", country: "US")?.name == "Winston-Salem")
        #expect(g.place(city: "Springfield", region: "IL", country: "US")?.coordinates.latitude == 39.8017)
        #expect(g.place(city: "Seattle", region: "WA", country: "CA") == nil)
        #expect(ServerConfiguration().gazetteer.count == g.count, "servers route with it by default")
    }

    @Test("a ship order with neither coordinates nor a known city is INVALID_ARGUMENT on order.ship_to.coordinates")
    func unknownDestination() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let error = await expectStatus(.invalidArgument, field: "order.ship_to.coordinates") {
                try await client.captureOrder(Self.seattleOrder("ATL-1", city: "Atlantis"))
            }
            #expect(error?.message.contains("\"Atlantis, WA, US\" is not a known city") == true, "\(error?.message ?? "")")
            await expectStatus(.notFound) { try await client.getOrder(channel: .web, externalOrderID: "ATL-1") }
        }
    }

    @Test("a capture before LoadNetwork is FAILED_PRECONDITION naming the call to make (was: accepted, backordered)")
    func captureWithoutNetwork() async throws {
        try await withServer { server in
            let client = try await server.client()
            let error = await expectStatus(.failedPrecondition) { try await client.captureOrder(Fixture.order("EARLY-1")) }
            #expect(error?.message.contains("no network loaded: call LoadNetwork first") == true, "\(error?.message ?? "")")
        }
    }

    @Test("a policy whose region filter matches no location is refused by SetRoutingPolicy and by LoadNetwork")
    func regionFilterMatchingNothing() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var policy = RoutingPolicy.standard
            policy.filters.append(.region(["ZZ"], sameRegionAsShipTo: false))
            let error = await expectStatus(.invalidArgument, field: "filters[2].regions") { try await client.setRoutingPolicy(policy.proto) }
            #expect(error?.message.contains("[\"ZZ\"] matches no location") == true, "\(error?.message ?? "")")
            var model = Fixture.network
            model.routingPolicy = policy.proto
            await expectStatus(.invalidArgument, field: "routing_policy.filters[2].regions") { try await client.loadNetwork(model) }
            #expect(try await client.call(Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest(),
                                          as: Waybill_V1_RoutingPolicy.self).version == 0)
        }
    }

    @Test("ConfirmShipment with a carrier not in the network is INVALID_ARGUMENT naming carrier_id and the value (was: stored)")
    func unknownCarrier() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let order = try await client.captureOrder(Fixture.order("SHIP-1")).order
            let fulfillmentID = try #require(order.fulfillments.first).fulfillmentID
            _ = try await client.release(order.orderID, request: "r1")
            _ = try await client.fulfillmentStep(Method.OrderService.confirmPick, order.orderID, fulfillmentID, request: "r2")
            _ = try await client.fulfillmentStep(Method.OrderService.confirmPack, order.orderID, fulfillmentID, request: "r3")
            let error = await expectStatus(.invalidArgument, field: "carrier_id") {
                try await client.ship(order.orderID, fulfillmentID, request: "r4", carrier: "FEDX-TYPO")
            }
            #expect(error?.message.contains("unknown carrier \"FEDX-TYPO\" (known: PARCELCO)") == true, "\(error?.message ?? "")")
            #expect(try await client.ship(order.orderID, fulfillmentID, request: "r5").order.fulfillments.first?.carrierID == "PARCELCO")
        }
    }

    @Test("receiving an item the item master does not know is NOT_FOUND naming the SKU (was: stock created)")
    func unknownItem() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var change = Fixture.stock("NEW-SKU-1", "WH-EAST", 5)
            change.changeID = "receipt-1"
            let result = try #require(try await client.receive([change]).results.first)
            #expect(result.status.code == .notFound)
            #expect(result.status.details.field == "sku")
            #expect(result.status.message.contains("unknown item NEW-SKU-1"), "\(result.status.message)")
            #expect(try await client.position("NEW-SKU-1", "WH-EAST").onHand == 0)
        }
    }

    @Test("ApplyStockSnapshot answers the positions after the re-route it made (was: onHand 1, reserved 2)")
    func snapshotAnswer() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let first = try await client.captureOrder(Fixture.order("SNAP-1")).order
            let second = try await client.captureOrder(Fixture.order("SNAP-2")).order
            #expect(first.fulfillments.first?.locationID == "WH-EAST" && second.fulfillments.first?.locationID == "WH-EAST")
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 2)
            var message = Waybill_V1_StockSnapshotMessage()
            message.messageID = "count-1"
            message.locationID = "WH-EAST"
            message.asOfUnixMs = server.clock.now
            var level = Waybill_V1_StockLevel()
            level.sku = "SKU-A"
            level.onHand = 1
            message.levels = [level]
            let result: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, message)
            let answered = try #require(result.positions.first { $0.sku == "SKU-A" && $0.locationID == "WH-EAST" })
            #expect(answered.onHand == 1)
            #expect(answered.reserved == 1, "the newest holder was re-routed by the same command")
            let committed = try await client.position("SKU-A", "WH-EAST")
            #expect(answered.onHand == committed.onHand && answered.reserved == committed.reserved)
        }
    }

    @Test("ReallocateOrders serves backorders after a policy fix, idempotently, with a feed event")
    func reallocate() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var nevadaOnly = RoutingPolicy.standard
            nevadaOnly.filters.append(.region(["NV"], sameRegionAsShipTo: false))
            _ = try await client.setRoutingPolicy(nevadaOnly.proto)
            // SKU-B is stocked in New Jersey only.
            let order = try await client.captureOrder(Fixture.order("BO-1", lines: [("SKU-B", 2)])).order
            #expect(order.status == .backordered)
            _ = try await client.setRoutingPolicy(RoutingPolicy.standard.proto)
            #expect(try await client.getOrder(order.orderID).status == .backordered, "a policy change alone serves nobody")

            let head = try await client.feedInfo().headOffset
            let response = try await client.reallocateOrders([order.orderID, "W-99999999"], requestID: "fix-1")
            #expect(!response.replayed)
            #expect(response.results.map(\.orderID) == [order.orderID, "W-99999999"])
            #expect(response.results[0].status.code == .ok)
            #expect(response.results[0].unitsAllocated == 2 && response.results[0].unitsStillBackordered == 0)
            #expect(response.results[0].order.status == .allocated)
            #expect(response.results[0].order == (try await client.getOrder(order.orderID)), "the answer is the committed order")
            #expect(response.results[1].status.code == .notFound)
            #expect(try await client.feedInfo().headOffset == head + 1, "one event for the one order that changed")

            let replay = try await client.reallocateOrders([order.orderID, "W-99999999"], requestID: "fix-1")
            #expect(replay.replayed && replay.results[0].unitsAllocated == 0)
            await expectStatus(.alreadyExists, field: "request_id") { try await client.reallocateOrders([], allBackorders: true, requestID: "fix-1") }
            let all = try await client.reallocateOrders([], allBackorders: true, requestID: "fix-2")
            #expect(all.results.isEmpty && all.backordersNotExamined == 0)
            await expectStatus(.invalidArgument, field: "order_ids") { try await client.reallocateOrders([], requestID: "fix-3") }
            await expectStatus(.invalidArgument, field: "request_id") { try await client.reallocateOrders([order.orderID], requestID: "") }
            #expect(try await client.feedInfo().headOffset == head + 1)
        }
    }

    @Test("reallocateOrdersPerCallMax is reported by GetServerInfo and enforced with its name")
    func reallocateLimit() async throws {
        try await withServer({ $0.domain.reallocateOrdersPerCallMax = 2 }) { server in
            let client = try await server.client()
            let info = try await client.serverInfo()
            #expect(info.limits.first { $0.name == "reallocateOrdersPerCallMax" }?.value == 2)
            let error = await expectStatus(.invalidArgument, field: "order_ids") {
                try await client.reallocateOrders(["W-00000001", "W-00000002", "W-00000003"], requestID: "too-many")
            }
            #expect(error?.details.limitName == "reallocateOrdersPerCallMax" && error?.details.limitValue == 2)
        }
    }
}
