// Issue 16, "wrong answers": a ship-to without coordinates must never be routed as if it were at
// distance 0. Explicit coordinates first, then the city's centroid (marked approximate in the
// routing decision), else the capture is refused; a location without coordinates cannot meet a
// distance limit either.
import Testing
import WaybillCore

struct DestinationTests {
    static let seattle = Gazetteer.Place(name: "Seattle", region: "WA", country: "US",
                                         coordinates: Coordinates(latitude: 47.6062, longitude: -122.3321))
    static let gazetteer = Gazetteer(places: [
        seattle,
        Gazetteer.Place(name: "New York City", region: "NY", country: "US", coordinates: Coordinates(latitude: 40.7143, longitude: -74.006)),
        Gazetteer.Place(name: "Saint Louis", region: "MO", country: "US", coordinates: Coordinates(latitude: 38.6273, longitude: -90.1979)),
        Gazetteer.Place(name: "Springfield", region: "IL", country: "US", coordinates: Coordinates(latitude: 39.8017, longitude: -89.6437)),
        Gazetteer.Place(name: "Springfield", region: "MA", country: "US", coordinates: Coordinates(latitude: 42.1015, longitude: -72.5898)),
        // A second, smaller Springfield in Illinois: the first (most populous) wins.
        Gazetteer.Place(name: "Springfield", region: "IL", country: "US", coordinates: Coordinates(latitude: 1, longitude: 1)),
    ])

    static func seattleDraft(_ externalID: String) -> OrderDraft {
        var draft = Net.draft(externalID, [(Net.skuA, 1)])
        draft.shipTo.city = "Seattle"
        draft.shipTo.region = "WA"
        draft.shipTo.postalCode = "98101"
        draft.shipTo.coordinates = nil
        return draft
    }

    @Test("the gazetteer finds a city by normalised name, region and country; the most populous of a name wins")
    func gazetteerLookup() {
        let g = Self.gazetteer
        #expect(g.place(city: "seattle", region: "wa", country: "US") == Self.seattle)
        #expect(g.place(city: "  SEATTLE ", region: "WA", country: "USA") == Self.seattle)
        #expect(g.place(city: "Seattle", region: "WA", country: "") == Self.seattle, "an empty country matches an unambiguous place")
        #expect(g.place(city: "New York", region: "NY", country: "US")?.name == "New York City", "known without \" City\"")
        #expect(g.place(city: "St. Louis", region: "MO", country: "US")?.name == "Saint Louis")
        #expect(g.place(city: "Springfield", region: "IL", country: "US")?.coordinates.latitude == 39.8017)
        #expect(g.place(city: "Springfield", region: "MA", country: "US")?.coordinates.latitude == 42.1015)
        #expect(g.place(city: "Seattle", region: "OR", country: "US") == nil, "the region is part of the key")
        #expect(g.place(city: "Seattle", region: "WA", country: "CA") == nil)
        #expect(g.place(city: "", region: "WA", country: "US") == nil)
        #expect(Gazetteer().place(city: "Seattle", region: "WA", country: "US") == nil)
    }

    @Test("a Seattle ship-to without coordinates is routed from Seattle's centroid, marked approximate (was: distance 0, 1 day)")
    func cityCentroid() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)], gazetteer: Self.gazetteer)
        let order = try h.capture(Self.seattleDraft("SEA-1"))
        #expect(order.status == .allocated)
        let fulfillment = try #require(order.fulfillments.first)
        #expect(fulfillment.locationID == Net.stCenter)
        // Philadelphia → Seattle is ~3,860 km: the 5,000 km band (15.00, 4 days), not the 50 km one (4.00, 1 day).
        #expect(fulfillment.transitDaysEstimate == 4)
        #expect(fulfillment.shippingCostEstimate?.minorUnits == 1_500)
        #expect(order.routingDecisions.last?.destinationApproximation == "destination approximated from city centroid Seattle, WA")
        #expect(order.shipTo.coordinates == nil, "the customer's address is kept as sent")
    }

    @Test("explicit coordinates win over the city, and the decision is not marked approximate")
    func explicitCoordinates() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)], gazetteer: Self.gazetteer)
        var draft = Self.seattleDraft("SEA-2")
        draft.shipTo.coordinates = Net.philadelphia  // the address says Seattle; the coordinates decide
        let order = try h.capture(draft)
        #expect(order.fulfillments.first?.transitDaysEstimate == 1)
        #expect(order.routingDecisions.last?.destinationApproximation == "")
    }

    @Test("a ship order with neither coordinates nor a known city is refused, naming order.ship_to.coordinates")
    func unknownDestinationRefused() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)])  // no gazetteer
        let error = expectDomainError(.invalidArgument, field: "order.ship_to.coordinates") {
            _ = try h.capture(Self.seattleDraft("SEA-3"))
        }
        #expect(error?.message.contains("Seattle, WA, US") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("send order.ship_to.coordinates") == true)
        #expect(h.storage.orders.isEmpty)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved == 0)
    }

    @Test("a pickup order needs no destination")
    func pickupWithoutCoordinates() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)])
        var draft = Net.draft("PICK-1", [(Net.skuA, 1)], channel: .clickAndCollect, method: .pickup, pickup: Net.stCenter)
        draft.shipTo = Address()
        let order = try h.capture(draft)
        #expect(order.status == .allocated)
        #expect(order.fulfillments.first?.locationID == Net.stCenter)
    }

    @Test("routing an order whose destination is unknown (a re-route) rates no distance band and meets no distance limit")
    func unknownDestinationInRouter() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5)])
        let request = RoutingRequest(lines: [RoutingLine(lineID: "L1", sku: Net.skuA, quantity: 1)], channel: .web, shipTo: nil,
                                     shipToRegion: "WA", shipToCity: "Nowhere", shipToCountry: "US", now: h.now)
        let plan = h.engine.router.route(request, policy: h.engine.policy, network: h.engine.network,
                                         inventory: h.engine.inventory, capacity: h.engine.state.capacity)
        let shipment = try #require(plan.shipments.first)
        #expect(shipment.carrierID == "" && shipment.transitDays == 0, "no band covers an unknown distance: unrated, not the 50 km band")
        #expect(plan.decision.destinationApproximation.hasPrefix("destination unknown"))

        var policy = RoutingPolicy.standard
        policy.filters.append(.maxDistance(kilometres: 300))
        let limited = h.engine.router.route(request, policy: policy, network: h.engine.network,
                                            inventory: h.engine.inventory, capacity: h.engine.state.capacity)
        #expect(limited.shipments.isEmpty)
        #expect(limited.decision.locations.contains { $0.code == .policyDistance && $0.reason.contains("distance unknown (destination has no coordinates)") },
                "\(limited.decision.locations.map(\.reason))")
    }

    @Test("a location without coordinates fails a distance limit instead of passing it at 0 km")
    func locationWithoutCoordinates() throws {
        var nowhere = Net.location(LocationID("WH-NOWHERE"), .warehouse, 0, 0, region: "PA", processingCost: 0, pickup: false)
        nowhere.coordinates = nil
        var policy = RoutingPolicy.standard
        policy.filters.append(.maxDistance(kilometres: 300))
        let h = try Harness(policy: policy, locations: Net.locations + [nowhere], stock: [(Net.skuA, nowhere.locationID, 5)])
        let order = try h.capture(Net.draft("NOWHERE-1", [(Net.skuA, 1)]))
        #expect(order.fulfillments.isEmpty)
        #expect(order.backorderedUnits == 1)
        #expect(order.routingDecisions.last?.locations.contains {
            $0.locationID == nowhere.locationID && $0.reason.contains("distance unknown (location has no coordinates)")
        } == true)
    }
}
