// Router.route on random networks and orders, checked against oracles written from the
// routing contract: plans never exceed availability or capacity, account for every unit, respect
// maxShipments and eligibility, use one shipment whenever one eligible location can serve
// everything (and the fewest shipments whenever some set can), and are deterministic.
import Testing
import PropertyBased
import WaybillCore

/// A random routing situation: up to 6 locations around the customer, 4 SKUs, balances with
/// reservations and safety stock, capacity already used today, and an order of 1–5 lines
/// (SKUs may repeat across lines).
struct RandomRoutingCase: Sendable, CustomTestStringConvertible {
    struct Site: Sendable {
        var location: Location
        var used: Int32
        var onHand: [Int64]
        var reserved: [Int64]
        var safety: [Int64]
    }
    var sites: [Site]
    var ghostStock: Int64
    var lines: [(sku: Int, quantity: Int32)]
    var channel: Channel
    var method: FulfillmentMethod
    var pickupSite: Int
    var excluded: [Int]
    var maxShipments: Int32
    var channelFilter: Bool
    var carriers: Bool
    var minuteOfDay: Int64

    static let skus = Net.allSKUs

    var testDescription: String {
        var text = "\(method) order, \(channel.name), maxShipments \(maxShipments), channel filter \(channelFilter), carriers \(carriers)"
        if method == .pickup { text += ", pickup at \(sites[pickupSite].location.locationID)" }
        text += "\n  lines: " + lines.map { "\(Self.skus[$0.sku])×\($0.quantity)" }.joined(separator: ", ")
        text += "\n  excluded: \(excluded.map { sites[$0].location.locationID.rawValue })"
        for site in sites {
            let l = site.location
            text += "\n  \(l.locationID) \(l.type.name) active \(l.active) ships \(l.ships) pickup \(l.pickup) cap \(l.dailyOrderCapacity) used \(site.used) channels \(l.channels.map(\.name)) on hand \(site.onHand) reserved \(site.reserved) safety \(site.safety)"
        }
        return text
    }

    static let generator = Generator<RandomRoutingCase, Shrink.None<RandomRoutingCase>>(run: { rng in
        func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        func chance(_ percent: Int) -> Bool { int(1...100) <= percent }
        let siteCount = int(1...6)
        var sites: [Site] = []
        for index in 0..<siteCount {
            var location = Location(locationID: LocationID("LOC-\(index)"))
            location.type = chance(50) ? .store : .warehouse
            location.coordinates = Coordinates(latitude: 39.9526 + Double(int(-400...400)) / 100, longitude: -75.1652 + Double(int(-800...800)) / 100)
            location.processingCost = Net.money(Int64(int(0...4) * 50))
            location.dailyOrderCapacity = chance(40) ? Int32(int(1...3)) : 0
            location.ships = chance(85)
            location.pickup = location.type == .store && chance(80)
            location.active = chance(90)
            location.priority = Int32(int(0...2))
            location.channels = chance(30) ? Channel.allCases.filter { _ in chance(50) } : []
            let used = location.dailyOrderCapacity > 0 ? Int32(int(0...Int(location.dailyOrderCapacity))) : Int32(int(0...5))
            var onHand: [Int64] = [], reserved: [Int64] = [], safety: [Int64] = []
            for _ in skus {
                let held = chance(75) ? Int64(int(0...12)) : 0
                onHand.append(held)
                reserved.append(chance(30) ? Int64(int(0...Int(held))) : 0)
                safety.append(chance(15) ? Int64(int(0...2)) : 0)
            }
            sites.append(Site(location: location, used: used, onHand: onHand, reserved: reserved, safety: safety))
        }
        let lines = (0..<int(1...4)).map { _ in (sku: int(0...(skus.count - 1)), quantity: Int32(int(1...5))) }
        let pickupCandidates = sites.indices.filter { sites[$0].location.pickup }
        let method: FulfillmentMethod = !pickupCandidates.isEmpty && chance(20) ? .pickup : .ship
        return RandomRoutingCase(
            sites: sites, ghostStock: Int64(int(0...20)), lines: lines, channel: Channel.allCases[int(0...(Channel.allCases.count - 1))],
            method: method, pickupSite: method == .pickup ? pickupCandidates[int(0...(pickupCandidates.count - 1))] : 0,
            excluded: sites.indices.filter { _ in chance(10) }, maxShipments: Int32(int(1...4)), channelFilter: chance(80),
            carriers: chance(85), minuteOfDay: Int64(int(0...1439)))
    })

    var now: Timestamp { Timestamp.startOfDay(20_000).adding(milliseconds: minuteOfDay * Timestamp.millisecondsPerMinute) }

    var policy: RoutingPolicy {
        var policy = RoutingPolicy.standard
        if !channelFilter { policy.filters = [.capacityLeft(minimum: 1)] }
        policy.maxShipments = maxShipments
        return policy
    }

    var request: RoutingRequest {
        RoutingRequest(lines: lines.enumerated().map { RoutingLine(lineID: "L\($0.offset + 1)", sku: Self.skus[$0.element.sku], quantity: $0.element.quantity) },
                       channel: channel, shipTo: Net.philadelphia, shipToRegion: "PA", method: method,
                       pickupLocationID: method == .pickup ? sites[pickupSite].location.locationID : nil,
                       excludedLocationIDs: excluded.map { sites[$0].location.locationID }, now: now, currency: Net.currency)
    }

    /// Network, balances and capacity; `reversed` inserts everything in the opposite order.
    func world(reversed: Bool = false) -> (NetworkState, InventoryBook, CapacityBook) {
        var network = NetworkState(), inventory = InventoryBook(), capacity = CapacityBook()
        let order = reversed ? Array(sites.indices.reversed()) : Array(sites.indices)
        if carriers { network.upsert(Net.carrier) }
        for item in (reversed ? Net.items.reversed() : Net.items) { network.upsert(item) }
        for index in order {
            let site = sites[index]
            network.upsert(site.location)
            capacity.apply(CapacityUse(key: CapacityKey(locationID: site.location.locationID, day: now.day), delta: site.used,
                                       orderID: OrderID("W-0"), reference: "earlier"))
            for (skuIndex, sku) in (reversed ? Array(Self.skus.enumerated().reversed()) : Array(Self.skus.enumerated())) {
                if site.onHand[skuIndex] > 0 {
                    inventory.apply(Movement(kind: .received, sku: sku, locationID: site.location.locationID, onHandDelta: site.onHand[skuIndex], at: now))
                }
                if site.reserved[skuIndex] > 0 {
                    inventory.apply(Movement(kind: .reserved, sku: sku, locationID: site.location.locationID, reservedDelta: site.reserved[skuIndex], at: now))
                }
                if site.safety[skuIndex] > 0 { inventory.update(sku, site.location.locationID) { $0.safetyStock = site.safety[skuIndex] } }
            }
        }
        if ghostStock > 0 {
            inventory.apply(Movement(kind: .received, sku: Self.skus[0], locationID: LocationID("GHOST"), onHandDelta: ghostStock, at: now))
        }
        return (network, inventory, capacity)
    }

    // MARK: oracles

    func available(_ site: Int, _ sku: Int) -> Int64 {
        max(0, sites[site].onHand[sku] - sites[site].reserved[sku] - sites[site].safety[sku])
    }

    func eligible(_ index: Int) -> Bool {
        let site = sites[index], location = site.location
        guard location.active, !excluded.contains(index) else { return false }
        switch method {
        case .ship: guard location.ships else { return false }
        case .pickup: guard index == pickupSite, location.pickup else { return false }
        }
        if location.dailyOrderCapacity > 0 && site.used >= location.dailyOrderCapacity { return false }
        if channelFilter && !location.channels.isEmpty && !location.channels.contains(channel) { return false }
        return Self.skus.indices.contains { available(index, $0) > 0 && demand[$0] > 0 }
    }

    /// Units ordered per SKU index.
    var demand: [Int64] {
        var demand = Array(repeating: Int64(0), count: Self.skus.count)
        for line in lines { demand[line.sku] += Int64(line.quantity) }
        return demand
    }

    func covers(_ set: [Int]) -> Bool {
        Self.skus.indices.allSatisfy { sku in set.reduce(0) { $0 + available($1, sku) } >= demand[sku] }
    }

    /// The fewest eligible locations that together can serve every unit, if at most maxShipments do.
    var fewestCoveringShipments: Int? {
        let eligibleSites = sites.indices.filter(eligible)
        guard !eligibleSites.isEmpty else { return nil }
        for size in 1...min(Int(maxShipments), eligibleSites.count) {
            var found = false
            func choose(_ start: Int, _ chosen: [Int]) {
                if found { return }
                if chosen.count == size { found = covers(chosen); return }
                guard start < eligibleSites.count else { return }
                for next in start..<eligibleSites.count { choose(next + 1, chosen + [eligibleSites[next]]) }
            }
            choose(0, [])
            if found { return size }
        }
        return nil
    }
}

/// The parts of a plan that must be reproducible.
struct PlanDigest: Equatable {
    var shipments: [PlannedShipment]
    var unallocated: [String]
    var decision: RoutingDecision
    init(_ plan: AllocationPlan) {
        shipments = plan.shipments
        unallocated = plan.unallocated.map { "\($0.lineID)×\($0.quantity)" }
        decision = plan.decision
    }
}

struct RoutingPropertyTests {
    /// What is wrong with the plan for `routingCase` (empty when nothing is).
    static func problems(_ routingCase: RandomRoutingCase) -> [String] {
        var problems: [String] = []
        func expect(_ condition: Bool, _ message: @autoclosure () -> String) { if !condition { problems.append(message()) } }
        let (network, inventory, capacity) = routingCase.world()
        let request = routingCase.request
        let plan = Router().route(request, policy: routingCase.policy, network: network, inventory: inventory, capacity: capacity)
        let siteIndex = Dictionary(uniqueKeysWithValues: routingCase.sites.enumerated().map { ($0.element.location.locationID, $0.offset) })

        // Never more than available per SKU × location, never at an ineligible location, one parcel per location.
        var planned: [InventoryKey: Int64] = [:]
        for shipment in plan.shipments {
            guard let index = siteIndex[shipment.locationID] else {
                problems.append("planned at \(shipment.locationID), which is not in the network")
                continue
            }
            expect(routingCase.eligible(index), "planned at ineligible \(shipment.locationID)")
            expect(!shipment.lines.isEmpty, "empty parcel from \(shipment.locationID)")
            for line in shipment.lines {
                expect(line.quantity > 0, "\(line.quantity) units of \(line.lineID) at \(shipment.locationID)")
                expect(request.lines.first { $0.lineID == line.lineID }?.sku == line.sku, "line \(line.lineID) shipped as \(line.sku)")
                planned[InventoryKey(sku: line.sku, locationID: shipment.locationID), default: 0] += Int64(line.quantity)
            }
        }
        for (key, units) in planned {
            let available = routingCase.available(siteIndex[key.locationID]!, RandomRoutingCase.skus.firstIndex(of: key.sku)!)
            expect(units <= available, "\(units) \(key.sku) planned at \(key.locationID), \(available) available")
        }
        expect(Set(plan.locations).count == plan.shipments.count, "two parcels from one location")
        // Capacity: each parcel takes one of the location's fulfillments today.
        for location in plan.locations {
            let site = routingCase.sites[siteIndex[location]!]
            if site.location.dailyOrderCapacity > 0 {
                expect(site.used + 1 <= site.location.dailyOrderCapacity, "\(location) has no capacity left (\(site.used) of \(site.location.dailyOrderCapacity) used)")
            }
        }
        // Every unit is accounted for: allocated + unallocated = ordered.
        for line in request.lines {
            let allocated = plan.shipments.flatMap(\.lines).filter { $0.lineID == line.lineID }.reduce(0) { $0 + $1.quantity }
            expect(allocated + (plan.unallocatedByLine[line.lineID] ?? 0) == line.quantity, "line \(line.lineID): \(allocated) allocated + \(plan.unallocatedByLine[line.lineID] ?? 0) unallocated ≠ \(line.quantity)")
        }
        expect(plan.unallocated.allSatisfy { $0.quantity > 0 }, "non-positive unallocated quantity \(plan.unallocated)")
        expect(plan.shipments.count <= Int(routingCase.maxShipments), "\(plan.shipments.count) shipments > maxShipments \(routingCase.maxShipments)")
        // One parcel whenever one location can serve everything; the fewest whenever some set can.
        if routingCase.sites.indices.contains(where: { routingCase.eligible($0) && routingCase.covers([$0]) }) {
            expect(plan.shipments.count == 1 && plan.unallocated.isEmpty, "a single eligible location covers the order")
        }
        if let fewest = routingCase.fewestCoveringShipments {
            expect(plan.unallocated.isEmpty, "\(fewest) location(s) can serve every unit, yet \(plan.unallocated) left over")
            expect(plan.shipments.count == fewest, "\(plan.shipments.count) shipments where \(fewest) suffice")
        } else {
            expect(!plan.unallocated.isEmpty, "no set of ≤ \(routingCase.maxShipments) locations serves the order, yet nothing is left over")
        }
        // The decision agrees with the plan.
        expect(plan.decision.shipments == Int32(plan.shipments.count), "decision says \(plan.decision.shipments) shipments, plan has \(plan.shipments.count)")
        expect(plan.decision.backorderedUnits == plan.unallocatedUnits, "decision says \(plan.decision.backorderedUnits) backordered, plan \(plan.unallocatedUnits)")
        expect(Set(plan.decision.locations.filter(\.chosen).map(\.locationID)) == Set(plan.locations), "explanation marks \(plan.decision.locations.filter(\.chosen).map(\.locationID)) chosen, plan uses \(plan.locations)")
        expect(!plan.decision.searchTruncated, "search truncated on a small network")
        // Deterministic: again, and with everything inserted in the opposite order.
        let again = Router().route(request, policy: routingCase.policy, network: network, inventory: inventory, capacity: capacity)
        expect(PlanDigest(again) == PlanDigest(plan), "routing twice gave different plans")
        let (network2, inventory2, capacity2) = routingCase.world(reversed: true)
        let mirrored = Router().route(request, policy: routingCase.policy, network: network2, inventory: inventory2, capacity: capacity2)
        expect(PlanDigest(mirrored) == PlanDigest(plan), "the plan depends on insertion order")
        // Site hints (how routing skips hashing location ids) never change a plan: fresh ones,
        // and stale ones taken from a network whose site positions differ.
        var hinted = inventory
        hinted.follow(network)
        let withHints = Router().route(request, policy: routingCase.policy, network: network, inventory: hinted, capacity: capacity)
        expect(PlanDigest(withHints) == PlanDigest(plan), "routing with site hints gave a different plan")
        var shifted = NetworkState()
        shifted.upsert(Location(locationID: LocationID("LOC-")))
        for site in routingCase.sites.dropFirst() { shifted.upsert(site.location) }
        var stale = inventory
        stale.follow(shifted)
        let withStaleHints = Router().route(request, policy: routingCase.policy, network: network, inventory: stale, capacity: capacity)
        expect(PlanDigest(withStaleHints) == PlanDigest(plan), "routing with stale site hints gave a different plan")
        return problems
    }

    @Test("random networks and orders: feasible, complete, bounded, minimal, deterministic plans")
    func randomPlans() async {
        await propertyCheck(count: 400, input: RandomRoutingCase.generator) { routingCase in
            let problems = Self.problems(routingCase)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test("the same properties on fixed seeds", arguments: [UInt64(1), 7, 42, 2024, 31_337])
    func fixedSeeds(seed: UInt64) {
        var rng = seededRNG(seed)
        for _ in 0..<100 {
            let routingCase = RandomRoutingCase.generator.run(using: &rng)
            let problems = Self.problems(routingCase)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n\(routingCase.testDescription)")
        }
    }
}
