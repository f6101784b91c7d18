// Router.route on hand-built situations whose optimal plan is obvious by construction.
// Scores under RoutingPolicy.standard on the standard network, light parcel:
// ST-CENTER 4.25 (4.00 + 0 + 0.25), ST-SUBURB 4.75, WH-EAST 9.50 (8.00 + 1.00 + 0.50), WH-WEST 17.00 (15.00 + 1.00 + 1.00).
import Testing
import PropertyBased
import WaybillCore

/// A network, balances and capacity to route against, without an engine.
struct RoutingWorld {
    var network = NetworkState()
    var inventory = InventoryBook()
    var capacity = CapacityBook()
    var now = Net.start

    init(locations: [Location] = Net.locations, carriers: [Carrier] = [Net.carrier], items: [Item] = Net.items) {
        for location in locations { network.upsert(location) }
        for carrier in carriers { network.upsert(carrier) }
        for item in items { network.upsert(item) }
    }

    mutating func stock(_ sku: SKU, _ location: LocationID, _ onHand: Int64, reserved: Int64 = 0, safety: Int64 = 0) {
        inventory.apply(Movement(kind: .received, sku: sku, locationID: location, onHandDelta: onHand, at: now))
        if reserved > 0 { inventory.apply(Movement(kind: .reserved, sku: sku, locationID: location, reservedDelta: reserved, at: now)) }
        if safety > 0 { inventory.update(sku, location) { $0.safetyStock = safety } }
    }

    mutating func use(_ location: LocationID, _ fulfillments: Int32, day: Int64? = nil) {
        capacity.apply(CapacityUse(key: CapacityKey(locationID: location, day: day ?? now.day), delta: fulfillments,
                                   orderID: OrderID("W-X"), reference: "test"))
    }

    func route(_ lines: [(SKU, Int32)], policy: RoutingPolicy = .standard, channel: Channel = .web,
               method: FulfillmentMethod = .ship, pickup: LocationID? = nil, serviceLevel: ServiceLevel = .standard,
               excluded: [LocationID] = [], router: Router = Router()) -> AllocationPlan {
        let request = RoutingRequest(
            lines: lines.enumerated().map { RoutingLine(lineID: "L\($0.offset + 1)", sku: $0.element.0, quantity: $0.element.1) },
            channel: channel, shipTo: Net.philadelphia, shipToRegion: "PA", method: method, pickupLocationID: pickup,
            serviceLevel: serviceLevel, excludedLocationIDs: excluded, now: now, currency: Net.currency)
        return router.route(request, policy: policy, network: network, inventory: inventory, capacity: capacity)
    }
}

extension AllocationPlan {
    var locations: [LocationID] { shipments.map(\.locationID) }
    /// Units planned per (line id, location).
    func units(_ lineID: String, at location: LocationID) -> Int32 {
        shipments.filter { $0.locationID == location }.flatMap(\.lines).filter { $0.lineID == lineID }.reduce(0) { $0 + $1.quantity }
    }
    var unallocatedByLine: [String: Int32] { Dictionary(unallocated.map { ($0.lineID, $0.quantity) }, uniquingKeysWith: +) }
    func decision(for location: LocationID) -> LocationDecision? { decision.locations.first { $0.locationID == location } }
}

struct RoutingScenarioTests {
    @Test("one location covering everything beats a cheaper split: fewer shipments first")
    func singleLocationBeatsCheaperSplit() {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuB, Net.stSuburb, 5)
        // The split ST-CENTER (A) + ST-SUBURB (B) costs 4.00 + (4.00 + 0.50) = 8.50.
        let split = world.route([(Net.skuA, 1), (Net.skuB, 1)])
        #expect(Set(split.locations) == [Net.stCenter, Net.stSuburb])
        #expect(split.decision.totalCostEstimate == Net.money(400 + 400 + 50))
        // WH-WEST alone: 15.00 + 1.00 = 16.00, nearly twice as much, but one parcel.
        world.stock(Net.skuA, Net.whWest, 5)
        world.stock(Net.skuB, Net.whWest, 5)
        let plan = world.route([(Net.skuA, 1), (Net.skuB, 1)])
        #expect(plan.locations == [Net.whWest])
        #expect(plan.shipments[0].lines.map(\.quantity) == [1, 1])
        #expect(plan.decision.totalCostEstimate == Net.money(1_500 + 100))
        #expect(plan.unallocated.isEmpty && plan.decision.shipments == 1)
    }

    @Test("among single locations the cheapest wins; ties go to priority, then distance, then id")
    func cheapestSingleAndTieBreakers() {
        var world = RoutingWorld()
        for location in Net.allLocations { world.stock(Net.skuA, location, 5) }
        #expect(world.route([(Net.skuA, 2)]).locations == [Net.stCenter])
        // Two clones of a location, identical but for id and priority.
        var twinA = Net.location(LocationID("TWIN-A"), .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, pickup: false)
        var twinB = twinA
        twinB.locationID = LocationID("TWIN-B")
        var twins = RoutingWorld(locations: [twinA, twinB])
        twins.stock(Net.skuA, twinA.locationID, 5)
        twins.stock(Net.skuA, twinB.locationID, 5)
        #expect(twins.route([(Net.skuA, 1)]).locations == [twinA.locationID], "equal in all but id: the lower id")
        twinA.priority = 2
        twinB.priority = 1
        twins.network.upsert(twinA)
        twins.network.upsert(twinB)
        #expect(twins.route([(Net.skuA, 1)]).locations == [twinB.locationID], "lower priority number preferred")
    }

    @Test("capacity exhausted at the best location moves the choice to the next one")
    func capacityExhaustion() {
        var locations = Net.locations
        locations[0].dailyOrderCapacity = 2  // ST-CENTER
        var world = RoutingWorld(locations: locations)
        world.stock(Net.skuA, Net.stCenter, 50)
        world.stock(Net.skuA, Net.whEast, 50)
        world.use(Net.stCenter, 1)
        #expect(world.route([(Net.skuA, 1)]).locations == [Net.stCenter], "one fulfillment of two left")
        world.use(Net.stCenter, 1)
        let plan = world.route([(Net.skuA, 1)])
        #expect(plan.locations == [Net.whEast], "ST-SUBURB has no stock: the warehouse is next")
        #expect(plan.decision(for: Net.stCenter)?.code == .capacityExhausted)
        #expect(plan.decision(for: Net.stCenter)?.chosen == false)
        // Yesterday's use does not count today.
        world.now = world.now.adding(days: 1)
        #expect(world.route([(Net.skuA, 1)]).locations == [Net.stCenter])
    }

    @Test("capacity through the engine: the store takes one order a day, the next goes to the warehouse")
    func capacityThroughEngine() throws {
        var locations = Net.locations
        locations[0].dailyOrderCapacity = 1
        let h = try Harness(locations: locations, stock: [(Net.skuA, Net.stCenter, 50), (Net.skuA, Net.whEast, 50)])
        #expect(try h.capture(Net.draft("E1", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.stCenter])
        #expect(try h.capture(Net.draft("E2", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.whEast])
        let first = h.order(OrderID(sequence: 1))
        try h.apply(.cancelOrder(reason: "gives the slot back"), to: first.orderID)
        #expect(try h.capture(Net.draft("E3", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.stCenter])
        h.tick(Timestamp.millisecondsPerDay)
        #expect(try h.capture(Net.draft("E4", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.stCenter])
    }

    @Test("past its cutoff a location ships tomorrow: it loses a next-day order to one that ships today, not a standard one")
    func cutoffAndLatePromise() {
        var locations = Net.locations
        locations[0].cutoffMinuteUTC = 12 * 60  // ST-CENTER: noon
        var world = RoutingWorld(locations: locations)
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuA, Net.stSuburb, 5)
        let day = Net.start.day
        world.now = Timestamp.startOfDay(day).adding(milliseconds: 11 * 3_600_000)
        let before = world.route([(Net.skuA, 1)], serviceLevel: .nextDay)
        #expect(before.locations == [Net.stCenter] && before.shipments[0].processingDay == day)
        world.now = Timestamp.startOfDay(day).adding(milliseconds: 13 * 3_600_000)
        // ST-CENTER: 1 day of processing delay + 1 transit day against a 1-day promise: 1 day late, +5.00.
        let after = world.route([(Net.skuA, 1)], serviceLevel: .nextDay)
        #expect(after.locations == [Net.stSuburb] && after.shipments[0].processingDay == day)
        #expect(abs((after.decision(for: Net.stCenter)?.score ?? 0) - 9.25) < 1e-9)
        let standard = world.route([(Net.skuA, 1)], serviceLevel: .standard)
        #expect(standard.locations == [Net.stCenter] && standard.shipments[0].processingDay == day + 1)
    }

    @Test("a carrier service's daily parcels per location are capacity too")
    func carrierCapacity() throws {
        var carrier = Net.carrier
        carrier.services[0].dailyCapacityPerLocation = 1
        var world = RoutingWorld(carriers: [carrier])
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuA, Net.stSuburb, 5)
        world.capacity.apply(CapacityUse(key: CapacityKey(locationID: Net.stCenter, resource: "PARCELCO/ground", day: world.now.day), delta: 1,
                                         orderID: OrderID("W-X"), reference: "earlier"))
        let plan = world.route([(Net.skuA, 1)])
        #expect(plan.locations == [Net.stSuburb])
        #expect(plan.decision(for: Net.stCenter)?.code == .noCarrierCapacity)
        // Through the engine: the parcel slot is used by an order and given back when it is cancelled.
        let h = try Harness(carriers: [carrier], stock: [(Net.skuA, Net.stCenter, 5), (Net.skuA, Net.stSuburb, 5)])
        let first = try h.capture(Net.draft("E1", [(Net.skuA, 1)]))
        #expect(first.fulfillments.map(\.locationID) == [Net.stCenter])
        let slot = CapacityKey(locationID: Net.stCenter, resource: "PARCELCO/ground", day: h.now.day)
        #expect(h.engine.state.capacity.used(slot) == 1)
        #expect(try h.capture(Net.draft("E2", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.stSuburb])
        try h.apply(.cancelOrder(reason: "frees the slot"), to: first.orderID)
        #expect(h.engine.state.capacity.used(slot) == 0)
        #expect(try h.capture(Net.draft("E3", [(Net.skuA, 1)])).fulfillments.map(\.locationID) == [Net.stCenter])
    }

    @Test("store pickup: only the pickup store, whatever is cheaper; what it lacks is backordered")
    func pickup() {
        var world = RoutingWorld()
        for location in Net.allLocations { world.stock(Net.skuA, location, 5) }
        world.stock(Net.skuB, Net.whEast, 5)
        let plan = world.route([(Net.skuA, 2), (Net.skuB, 1)], method: .pickup, pickup: Net.stSuburb)
        #expect(plan.locations == [Net.stSuburb])
        #expect(plan.units("L1", at: Net.stSuburb) == 2)
        #expect(plan.unallocatedByLine == ["L2": 1])
        #expect(plan.shipments[0].carrierID.isEmpty && plan.shipments[0].shippingCost.minorUnits == 0)
        let empty = world.route([(Net.skuB, 1)], method: .pickup, pickup: Net.stSuburb)
        #expect(empty.shipments.isEmpty && empty.unallocatedByLine == ["L1": 1])
        #expect(empty.decision(for: Net.stSuburb)?.code == .pickupStoreHasNoStock)
    }

    @Test("what nobody has is backordered; the rest is allocated")
    func backorderOfWhatNobodyHas() {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuC, Net.whEast, 1)
        let plan = world.route([(Net.skuA, 1), (Net.skuD, 2), (Net.skuC, 3)])
        #expect(plan.unallocatedByLine == ["L2": 2, "L3": 2])
        #expect(plan.units("L1", at: Net.stCenter) == 1 && plan.units("L3", at: Net.whEast) == 1)
        #expect(plan.decision.backorderedUnits == 4)
    }

    @Test("maxShipments caps the plan; what does not fit is backordered, largest lines served first", arguments: [1, 2, 3, 4])
    func maxShipments(limit: Int32) {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 5)   // only here
        world.stock(Net.skuB, Net.whEast, 5)     // only here
        world.stock(Net.skuC, Net.whWest, 5)     // only here
        var policy = RoutingPolicy.standard
        policy.maxShipments = limit
        let plan = world.route([(Net.skuA, 3), (Net.skuB, 2), (Net.skuC, 1)], policy: policy)
        #expect(plan.shipments.count == min(Int(limit), 3))
        let expectedBackorder: [String: Int32] = switch limit {
        case 1: ["L2": 2, "L3": 1]
        case 2: ["L3": 1]
        default: [:]
        }
        #expect(plan.unallocatedByLine == expectedBackorder)
    }

    @Test("channel eligibility: a location that does not sell to the channel is filtered, with the reason")
    func channelEligibility() {
        var locations = Net.locations
        locations[2].channels = [.marketplace]  // WH-EAST sells to the marketplace only
        var world = RoutingWorld(locations: locations)
        world.stock(Net.skuA, Net.whEast, 5)
        world.stock(Net.skuA, Net.whWest, 5)
        let web = world.route([(Net.skuA, 1)], channel: .web)
        #expect(web.locations == [Net.whWest])
        #expect(web.decision(for: Net.whEast)?.code == .policyChannel)
        #expect(web.decision(for: Net.whEast)?.reason == "filtered: does not sell to web", "the reason names the channel for people")
        #expect(world.route([(Net.skuA, 1)], channel: .marketplace).locations == [Net.whEast])
        // The filter is the policy's: without it, the cheaper warehouse is used.
        var noFilter = RoutingPolicy.standard
        noFilter.filters = []
        #expect(world.route([(Net.skuA, 1)], policy: noFilter, channel: .web).locations == [Net.whEast])
    }

    @Test("available to promise: reservations and safety stock are not offered")
    func availableToPromise() {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 10, reserved: 6, safety: 3)  // 1 available
        world.stock(Net.skuA, Net.whEast, 10)
        let plan = world.route([(Net.skuA, 2)])
        #expect(plan.locations == [Net.whEast])
        let small = world.route([(Net.skuA, 1)])
        #expect(small.locations == [Net.stCenter])
    }

    @Test("excluded, inactive and non-shipping locations are filtered with their reasons; stock at unknown locations is ignored")
    func filters() {
        var locations = Net.locations
        locations[1].active = false    // ST-SUBURB
        locations[2].ships = false     // WH-EAST
        var world = RoutingWorld(locations: locations)
        for location in Net.allLocations { world.stock(Net.skuA, location, 5) }
        world.stock(Net.skuA, LocationID("GHOST"), 500)
        let plan = world.route([(Net.skuA, 1)], excluded: [Net.stCenter])
        #expect(plan.locations == [Net.whWest])
        #expect(plan.decision(for: Net.stCenter)?.code == .excluded)
        #expect(plan.decision(for: Net.stSuburb)?.code == .inactive)
        #expect(plan.decision(for: Net.whEast)?.code == .doesNotShip)
        #expect(plan.decision(for: LocationID("GHOST"))?.code == .unknownLocation)
    }

    @Test("the explanation: the chosen location with chosen = true, every other one with a reason")
    func explanation() {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuA, Net.stSuburb, 1)
        world.stock(Net.skuA, Net.whEast, 5)
        world.stock(Net.skuA, Net.whWest, 5)
        let plan = world.route([(Net.skuA, 2)])
        #expect(plan.locations == [Net.stCenter])
        let chosen = plan.decision.locations.filter(\.chosen)
        #expect(chosen.map(\.locationID) == [Net.stCenter])
        #expect(chosen.first?.reason.hasPrefix("chosen:") == true && chosen.first?.reason.contains("PARCELCO/ground") == true)
        #expect(abs((chosen.first?.score ?? 0) - 4.25) < 1e-9, "4.00 shipping + 0.25 for one transit day")
        let others = plan.decision.locations.filter { !$0.chosen }
        #expect(Set(others.map(\.locationID)) == [Net.stSuburb, Net.whEast, Net.whWest])
        #expect(others.allSatisfy { $0.reason.hasPrefix("not chosen:") })
        #expect(plan.decision(for: Net.stSuburb)?.code == .outranked)
        #expect(plan.decision(for: Net.stSuburb)?.reason.contains("covers 1 unit(s)") == true, "the reason gives the figures")
        // Cheaper rejected candidates come first among the full-coverage ones.
        #expect(others.map(\.locationID) == [Net.whEast, Net.whWest, Net.stSuburb])
    }

    @Test("the explanation is capped, the chosen entries always kept, the rest summarised by reason")
    func explanationCap() {
        var world = RoutingWorld()
        var many: [Location] = []
        for index in 0..<10 {
            var location = Net.location(LocationID("WH-\(index)"), .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, pickup: false)
            location.active = index % 2 == 0
            many.append(location)
            world.network.upsert(location)
            world.stock(Net.skuA, location.locationID, 5)
        }
        let plan = world.route([(Net.skuA, 1)], router: Router(explanationLocationsMax: 3))
        #expect(plan.locations == [LocationID("WH-0")])
        let listed = plan.decision.locations.filter { $0.locationID.rawValue != "*" }
        #expect(listed.count == 3 && listed[0].chosen && listed[0].locationID == LocationID("WH-0"))
        let summaries = plan.decision.locations.filter { $0.locationID.rawValue == "*" }.map(\.reason)
        // 10 locations: 1 chosen + 2 listed; 7 summarised (5 inactive and 4 not chosen, less the 2 listed).
        let summarised = summaries.compactMap { Int($0.prefix { $0.isNumber }) }.reduce(0, +)
        #expect(summarised == 7, "\(summaries)")
    }

    @Test("past the cap, the explanation names the partial holders covering the most units (then by id) and counts the rest")
    func partialHoldersNamedByCoverage() {
        var world = RoutingWorld()
        let full = Net.location(LocationID("WH-FULL"), .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, pickup: false)
        world.network.upsert(full)
        world.stock(Net.skuA, full.locationID, 5)
        world.stock(Net.skuB, full.locationID, 5)
        for index in 0..<6 {
            let partial = Net.location(LocationID("P-\(index)"), .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, pickup: false)
            world.network.upsert(partial)
            world.stock(Net.skuA, partial.locationID, Int64(index % 3 + 1))
        }
        let plan = world.route([(Net.skuA, 3), (Net.skuB, 3)], router: Router(explanationLocationsMax: 4))
        #expect(plan.locations == [full.locationID])
        let named = plan.decision.locations.filter { !$0.chosen && $0.locationID.rawValue != "*" }
        #expect(named.map(\.locationID.rawValue) == ["P-2", "P-5", "P-1"], "\(named)")
        #expect(named.allSatisfy { $0.reason.hasSuffix("another location holds the whole order") })
        #expect(plan.decision.locations.filter { $0.locationID.rawValue == "*" }.map(\.reason) == ["3 more: not chosen"])
        #expect(plan.decision.locations.filter { $0.locationID.rawValue == "*" }.map(\.code) == [.summarised])
    }

    @Test("explanation texts (written straight into string storage) read as the interpolated text would")
    func explanationTexts() async {
        await propertyCheck(count: 300, input: Gen.int32(in: Int32.min...Int32.max), Gen.int64(in: Int64.min...Int64.max),
                            Gen.int(in: 0...2_000), Gen.bool) { units, cost, lines, rated in
            let resource = rated ? "UPX/ground-économie" : nil
            #expect(Router.coverage(units, Int32(lines), lines + 1, "; tail ✓")
                        == "not chosen: covers \(units) unit(s) of \(lines)/\(lines + 1) line(s); tail ✓")
            let chosen = Router.chosenReason(units: units, lines: lines, resource: resource, cost: cost, currency: "USD",
                                             transitDays: units, score: Double(cost) / 7)
            #expect(chosen == "chosen: ships \(units) units of \(lines) line(s), \(resource.map { "\($0), " } ?? "")cost \(cost) USD minor, "
                        + "\(units) transit day(s), score \(Router.format(Double(cost) / 7))")
        }
    }

    @Test("a parcel no rate band covers still ships, but any rated location wins")
    func unratedParcel() {
        // London is ~5,700 km from Philadelphia: beyond every band.
        let london = Net.location(LocationID("WH-EU"), .warehouse, 51.5072, -0.1276, region: "LDN", processingCost: 0, pickup: false)
        var world = RoutingWorld(locations: Net.locations + [london])
        world.stock(Net.skuA, london.locationID, 5)
        let plan = world.route([(Net.skuA, 1)])
        #expect(plan.locations == [london.locationID] && plan.unallocated.isEmpty)
        #expect(plan.shipments[0].score >= 1e6)
        world.stock(Net.skuA, Net.whWest, 5)
        #expect(world.route([(Net.skuA, 1)]).locations == [Net.whWest], "the costliest rated location beats an unrated one")
    }

    @Test("lines sharing a SKU draw on the same stock")
    func duplicateSKULines() {
        var world = RoutingWorld()
        world.stock(Net.skuA, Net.stCenter, 5)
        world.stock(Net.skuA, Net.whEast, 5)
        // 8 units of SKU-A on two lines: no location has 8, the two together have 10.
        let plan = world.route([(Net.skuA, 4), (Net.skuA, 4)])
        for location in [Net.stCenter, Net.whEast] {
            let units = plan.units("L1", at: location) + plan.units("L2", at: location)
            #expect(units <= 5, "\(units) units planned at \(location), 5 available")
        }
        #expect(plan.unallocated.isEmpty, "two locations can serve all 8 units: \(plan.unallocated)")
        #expect(plan.shipments.count == 2)
        // One location with enough for both lines serves them in one parcel.
        world.stock(Net.skuA, Net.whWest, 8)
        let single = world.route([(Net.skuA, 4), (Net.skuA, 4)])
        #expect(single.locations == [Net.whWest] && single.unallocated.isEmpty)
    }

    @Test("lines sharing a SKU through the engine: no reservation beyond what is available")
    func duplicateSKULinesThroughEngine() throws {
        let h = try Harness(stock: [(Net.skuA, Net.stCenter, 5), (Net.skuA, Net.whEast, 5)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 4), (Net.skuA, 4)]))
        #expect(order.backorderedUnits == 0)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved <= 5 && h.balance(Net.skuA, Net.whEast).reserved <= 5)
        #expect(h.balance(Net.skuA, Net.stCenter).reserved + h.balance(Net.skuA, Net.whEast).reserved == 8)
        #expect(lineBookkeepingProblems(order).isEmpty)
    }
}
