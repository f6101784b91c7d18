// The routing engine: which locations fulfil which units of an order. Pure: a function of the
// order, the network, the balances, the capacity used and the policy.
//
// Objective, lexicographic: fewest shipments, then the lowest total score (the policy's weighted
// cost). Exact for single-shipment plans over every candidate; for splits, exact over the best
// `routingCandidatesMax` candidates, enumerating at most `routingSearchSetsMax` location sets
// so the time per decision is bounded whatever the order's size.

/// The network as routing sees it: locations and carriers indexed for fast lookup.
public struct NetworkState: Sendable {
    public private(set) var locations: [LocationID: Location] = [:]
    public private(set) var carriers: [String: Carrier] = [:]
    public private(set) var items: [SKU: Item] = [:]
    /// Carrier services usable at each location (sorted by carrier id, then service).
    private var servicesByLocation: [LocationID: [ServiceOption]] = [:]

    public struct ServiceOption: Hashable, Sendable {
        public var carrierID: String
        public var service: CarrierService
        /// "carrier/service": the capacity resource name.
        public var resource: String
    }

    public init() {}

    public var hasCarriers: Bool { !carriers.isEmpty }

    public mutating func upsert(_ location: Location) {
        locations[location.locationID] = location
        rebuildServices()
    }
    public mutating func upsert(_ carrier: Carrier) {
        var carrier = carrier
        for index in carrier.services.indices {
            carrier.services[index].rates.sort {
                ($0.maxDistanceKilometres, $0.maxWeightGrams, $0.cost.minorUnits)
                    < ($1.maxDistanceKilometres, $1.maxWeightGrams, $1.cost.minorUnits)
            }
        }
        carriers[carrier.carrierID] = carrier
        rebuildServices()
    }
    public mutating func upsert(_ item: Item) { items[item.sku] = item }

    public func services(at location: LocationID) -> [ServiceOption] { servicesByLocation[location] ?? [] }
    public func weightGrams(_ sku: SKU) -> Int32 { items[sku]?.weightGrams ?? 0 }

    private mutating func rebuildServices() {
        servicesByLocation = [:]
        let sortedCarriers = carriers.values.filter(\.active).sorted { $0.carrierID < $1.carrierID }
        for location in locations.values where location.ships {
            var options: [ServiceOption] = []
            for carrier in sortedCarriers {
                for service in carrier.services where service.locationIDs.isEmpty || service.locationIDs.contains(location.locationID) {
                    options.append(ServiceOption(carrierID: carrier.carrierID, service: service,
                                                 resource: carrier.carrierID + "/" + service.service))
                }
            }
            servicesByLocation[location.locationID] = options
        }
    }
}

public struct RoutingLimits: Hashable, Sendable {
    /// Candidate locations kept for the split search (the single-shipment scan sees them all).
    public var routingCandidatesMax = 24
    /// Location sets evaluated per decision before the search stops with the best plan so far.
    public var routingSearchSetsMax = 4_000
    /// Candidates kept per line when pruning for the split search.
    public var routingCandidatesPerLineMax = 8
    public init() {}
}

public struct RoutingLine: Hashable, Sendable {
    public var lineID: String
    public var sku: SKU
    public var quantity: Int32
    public init(lineID: String, sku: SKU, quantity: Int32) {
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
    }
}

public struct RoutingRequest: Sendable {
    public var lines: [RoutingLine]
    public var channel: Channel
    public var shipTo: Coordinates?
    public var shipToRegion: String
    public var method: FulfillmentMethod
    public var pickupLocationID: LocationID?
    public var serviceLevel: ServiceLevel
    public var excludedLocationIDs: [LocationID]
    public var now: Timestamp
    public var currency: String
    public var trigger: String

    public init(lines: [RoutingLine], channel: Channel, shipTo: Coordinates?, shipToRegion: String = "",
                method: FulfillmentMethod = .ship, pickupLocationID: LocationID? = nil, serviceLevel: ServiceLevel = .standard,
                excludedLocationIDs: [LocationID] = [], now: Timestamp, currency: String = "USD", trigger: String = "capture") {
        self.lines = lines
        self.channel = channel
        self.shipTo = shipTo
        self.shipToRegion = shipToRegion
        self.method = method
        self.pickupLocationID = pickupLocationID
        self.serviceLevel = serviceLevel
        self.excludedLocationIDs = excludedLocationIDs
        self.now = now
        self.currency = currency
        self.trigger = trigger
    }
}

public struct PlannedShipment: Hashable, Sendable {
    public var locationID: LocationID
    public var lines: [FulfillmentLine]
    public var carrierID: String
    public var carrierService: String
    /// "carrier/service" capacity resource, "" when unrated.
    public var carrierResource: String
    public var shippingCost: Money
    public var processingCost: Money
    public var transitDays: Int32
    public var processingDay: Int64
    public var score: Double
}

public struct AllocationPlan: Sendable {
    public var shipments: [PlannedShipment]
    /// Units no location can supply now, per line id (in line order).
    public var unallocated: [(lineID: String, quantity: Int32)]
    public var decision: RoutingDecision

    public var unallocatedUnits: Int32 { unallocated.reduce(0) { $0 + $1.quantity } }
}

public struct Router: Sendable {
    public var limits: RoutingLimits
    public var explanationLocationsMax: Int

    public init(limits: RoutingLimits = RoutingLimits(), explanationLocationsMax: Int = 8) {
        self.limits = limits
        self.explanationLocationsMax = explanationLocationsMax
    }

    /// A location that passed every filter, with what it can supply.
    struct Candidate {
        var location: Location
        var distanceKilometres: Double
        /// Units it can supply per request line: min(available, quantity).
        var supply: [Int32]
        var available: [Int64]
        var coveredUnits: Int32
        var capacityUtilisation: Double
        var processingDay: Int64
        /// Score for shipping everything it can (ranks candidates).
        var proxyScore: Double
        var options: [NetworkState.ServiceOption]
    }

    public func route(_ request: RoutingRequest, policy: RoutingPolicy, network: NetworkState,
                      inventory: InventoryBook, capacity: CapacityBook) -> AllocationPlan {
        // Lines sharing a SKU draw on the same stock: route one line per SKU, then hand each
        // shipment's units back to those lines in line order.
        var merged: [RoutingLine] = []
        var mergedIndex: [SKU: Int] = [:]
        for line in request.lines {
            if let index = mergedIndex[line.sku] { merged[index].quantity += line.quantity; continue }
            mergedIndex[line.sku] = merged.count
            merged.append(line)
        }
        if merged.count == request.lines.count {
            return routeLines(request, policy: policy, network: network, inventory: inventory, capacity: capacity)
        }
        var mergedRequest = request
        mergedRequest.lines = merged
        var plan = routeLines(mergedRequest, policy: policy, network: network, inventory: inventory, capacity: capacity)
        var remaining = request.lines.map(\.quantity)
        for slot in plan.shipments.indices {
            var lines: [FulfillmentLine] = []
            for planned in plan.shipments[slot].lines {
                var units = planned.quantity
                for (index, line) in request.lines.enumerated() where line.sku == planned.sku && units > 0 && remaining[index] > 0 {
                    let take = min(units, remaining[index])
                    lines.append(FulfillmentLine(lineID: line.lineID, sku: line.sku, quantity: take))
                    remaining[index] -= take
                    units -= take
                }
            }
            plan.shipments[slot].lines = lines
        }
        plan.unallocated = request.lines.indices.filter { remaining[$0] > 0 }.map { (request.lines[$0].lineID, remaining[$0]) }
        return plan
    }

    private func routeLines(_ request: RoutingRequest, policy: RoutingPolicy, network: NetworkState,
                            inventory: InventoryBook, capacity: CapacityBook) -> AllocationPlan {
        var explanation = Explanation(limit: explanationLocationsMax)
        let weights = request.lines.map { network.weightGrams($0.sku) }
        let candidates = gatherCandidates(request, policy: policy, network: network, inventory: inventory,
                                          capacity: capacity, weights: weights, explanation: &explanation)
        let need = request.lines.map(\.quantity)
        var setsExamined: Int32 = 0
        var truncated = false
        var best: [Candidate] = []
        var bestAssignment: [[Int32]] = []

        // One shipment: scan every candidate.
        var bestSingle: (Int, Double)?
        for (index, candidate) in candidates.enumerated() where candidate.coveredUnits == need.reduce(0, +) {
            setsExamined += 1
            let score = shipmentScore(candidate, units: candidate.supply, weights: weights, request: request, policy: policy).score
            if let current = bestSingle {
                if isBetter(score, candidate, than: current.1, candidates[current.0], policy: policy) { bestSingle = (index, score) }
            } else {
                bestSingle = (index, score)
            }
        }
        if let (index, _) = bestSingle, need.reduce(0, +) > 0 {
            best = [candidates[index]]
            bestAssignment = [need]
        } else if !candidates.isEmpty && need.reduce(0, +) > 0 {
            // Splits: exact over the pruned candidate list, fewest shipments first.
            let pruned = prune(candidates, lineCount: need.count)
            let maxShipments = Int(max(1, policy.maxShipments))
            search: for size in stride(from: 2, through: min(maxShipments, pruned.count), by: 1) {
                var bestScore = Double.infinity
                var indices = Array(0..<size)
                while true {
                    if setsExamined >= limits.routingSearchSetsMax { truncated = true; break }
                    setsExamined += 1
                    if covers(indices.map { pruned[$0] }, need: need) {
                        let set = indices.map { pruned[$0] }
                        if let assignment = assign(set, need: need) {
                            var total = 0.0
                            for (slot, candidate) in set.enumerated() {
                                total += shipmentScore(candidate, units: assignment[slot], weights: weights,
                                                       request: request, policy: policy).score
                            }
                            if total < bestScore - 1e-9 {
                                bestScore = total
                                best = set
                                bestAssignment = assignment
                            }
                        }
                    }
                    if !Self.advance(&indices, count: pruned.count) { break }
                }
                if !best.isEmpty || truncated { break search }
            }
            if best.isEmpty {
                // No set within maxShipments covers the order: take the most units we can.
                (best, bestAssignment) = greedyPartial(pruned, need: need, maxShipments: maxShipments)
            }
        }

        var shipments: [PlannedShipment] = []
        var allocated = Array(repeating: Int32(0), count: need.count)
        var totalCost: Int64 = 0
        for (slot, candidate) in best.enumerated() {
            let units = bestAssignment[slot]
            var lines: [FulfillmentLine] = []
            for (lineIndex, quantity) in units.enumerated() where quantity > 0 {
                let line = request.lines[lineIndex]
                lines.append(FulfillmentLine(lineID: line.lineID, sku: line.sku, quantity: quantity))
                allocated[lineIndex] += quantity
            }
            guard !lines.isEmpty else { continue }
            let scored = shipmentScore(candidate, units: units, weights: weights, request: request, policy: policy)
            let shipment = PlannedShipment(
                locationID: candidate.location.locationID, lines: lines,
                carrierID: scored.option?.carrierID ?? "", carrierService: scored.option?.service.service ?? "",
                carrierResource: scored.option?.resource ?? "",
                shippingCost: Money(minorUnits: scored.shippingCostMinor, currency: request.currency),
                processingCost: Money(minorUnits: candidate.location.processingCost?.minorUnits ?? 0, currency: request.currency),
                transitDays: scored.transitDays, processingDay: candidate.processingDay, score: scored.score)
            totalCost += shipment.shippingCost.minorUnits + shipment.processingCost.minorUnits
            shipments.append(shipment)
            explanation.chosen(candidate.location.locationID, score: scored.score,
                               reason: "chosen: ships \(lines.reduce(0) { $0 + $1.quantity }) units of \(lines.count) line(s), "
                                   + "\(scored.option.map { "\($0.resource), " } ?? "")cost \(scored.shippingCostMinor + (candidate.location.processingCost?.minorUnits ?? 0)) "
                                   + "\(request.currency) minor, \(scored.transitDays) transit day(s), score \(Self.format(scored.score))")
        }
        let chosenIDs = Set(shipments.map(\.locationID))
        for candidate in candidates.sorted(by: { ($0.coveredUnits, -$0.proxyScore) > ($1.coveredUnits, -$1.proxyScore) })
        where !chosenIDs.contains(candidate.location.locationID) {
            let lineCount = candidate.supply.filter { $0 > 0 }.count
            explanation.rejected(candidate.location.locationID, score: candidate.proxyScore,
                                 reason: "not chosen: covers \(candidate.coveredUnits) unit(s) of \(lineCount)/\(need.count) line(s), score \(Self.format(candidate.proxyScore))")
        }

        var unallocated: [(lineID: String, quantity: Int32)] = []
        for (index, line) in request.lines.enumerated() where allocated[index] < line.quantity {
            unallocated.append((line.lineID, line.quantity - allocated[index]))
        }
        let decision = RoutingDecision(
            policyVersion: policy.version, decidedAt: request.now, trigger: request.trigger,
            locations: explanation.finish(), shipments: Int32(shipments.count),
            totalCostEstimate: Money(minorUnits: totalCost, currency: request.currency),
            backorderedUnits: unallocated.reduce(0) { $0 + $1.quantity },
            candidateSetsExamined: setsExamined, searchTruncated: truncated)
        return AllocationPlan(shipments: shipments, unallocated: unallocated, decision: decision)
    }

    // MARK: candidates and filters

    private func gatherCandidates(_ request: RoutingRequest, policy: RoutingPolicy, network: NetworkState,
                                  inventory: InventoryBook, capacity: CapacityBook, weights: [Int32],
                                  explanation: inout Explanation) -> [Candidate] {
        // Every location holding any of the SKUs, in location-id order (deterministic).
        var supplyByLocation: [LocationID: ([Int32], [Int64])] = [:]
        for (lineIndex, line) in request.lines.enumerated() {
            for entry in inventory.entries(for: line.sku) {
                if request.method == .pickup && entry.locationID != request.pickupLocationID { continue }
                let available = entry.balance.available
                var pair = supplyByLocation[entry.locationID]
                    ?? (Array(repeating: 0, count: request.lines.count), Array(repeating: 0, count: request.lines.count))
                pair.0[lineIndex] += Int32(clamping: min(available, Int64(line.quantity)))
                pair.1[lineIndex] += available
                supplyByLocation[entry.locationID] = pair
            }
        }
        if request.method == .pickup, let pickup = request.pickupLocationID, supplyByLocation[pickup] == nil {
            explanation.rejected(pickup, score: 0, reason: "pickup store has no stock of any line")
        }

        var candidates: [Candidate] = []
        for locationID in supplyByLocation.keys.sorted() {
            let (rawSupply, available) = supplyByLocation[locationID]!
            var supply = rawSupply
            for index in supply.indices { supply[index] = min(supply[index], request.lines[index].quantity) }
            guard let location = network.locations[locationID] else {
                explanation.filtered("unknown location (not in the network)", locationID)
                continue
            }
            if !location.active { explanation.filtered("inactive", locationID); continue }
            if request.excludedLocationIDs.contains(locationID) {
                explanation.filtered("excluded: rejected this order before", locationID); continue
            }
            switch request.method {
            case .ship where !location.ships: explanation.filtered("does not ship", locationID); continue
            case .pickup where !location.pickup: explanation.filtered("does not serve pickup", locationID); continue
            default: break
            }
            let covered = supply.reduce(0, +)
            if covered == 0 { explanation.filtered("no available stock", locationID); continue }
            let day = location.processingDay(at: request.now)
            let used = capacity.used(CapacityKey(locationID: locationID, day: day))
            let capacityLeft = location.dailyOrderCapacity > 0 ? location.dailyOrderCapacity - used : Int32.max
            if capacityLeft <= 0 { explanation.filtered("capacity exhausted for day \(day)", locationID); continue }
            var options: [NetworkState.ServiceOption] = []
            if request.method == .ship && network.hasCarriers {
                options = network.services(at: locationID).filter { option in
                    option.service.dailyCapacityPerLocation == 0
                        || capacity.used(CapacityKey(locationID: locationID, resource: option.resource, day: day))
                            < option.service.dailyCapacityPerLocation
                }
                if options.isEmpty { explanation.filtered("no carrier service with capacity", locationID); continue }
            }
            let distance = request.shipTo.flatMap { to in location.coordinates.map { $0.distanceKilometres(to: to) } } ?? 0
            var rejectedBy: String?
            for filter in policy.filters {
                switch filter {
                case .locationType(let types): if !types.contains(location.type) { rejectedBy = "location type \(location.type.name)" }
                case .region(let regions, let sameRegion):
                    if sameRegion && location.region != request.shipToRegion { rejectedBy = "region \(location.region) is not the ship-to region" }
                    if !regions.isEmpty && !regions.contains(location.region) { rejectedBy = "region \(location.region) not allowed" }
                case .channelEligibility: if !location.sells(to: request.channel) { rejectedBy = "does not sell to \(request.channel.name)" }
                case .capacityLeft(let minimum): if capacityLeft < minimum { rejectedBy = "capacity left \(capacityLeft) < \(minimum)" }
                case .enoughStock(let wholeOrder):
                    let full = zip(supply, request.lines).filter { $0.0 == $0.1.quantity }.count
                    if wholeOrder ? full < request.lines.count : full == 0 { rejectedBy = wholeOrder ? "cannot ship the whole order" : "cannot fully supply any line" }
                case .maxDistance(let kilometres): if distance > kilometres { rejectedBy = "\(Int(distance)) km > \(Int(kilometres)) km" }
                }
                if rejectedBy != nil { break }
            }
            if let reason = rejectedBy { explanation.filtered("filtered: " + reason, locationID); continue }
            let utilisation = location.dailyOrderCapacity > 0 ? Double(used) / Double(location.dailyOrderCapacity) : 0
            var candidate = Candidate(location: location, distanceKilometres: distance, supply: supply, available: available,
                                      coveredUnits: covered, capacityUtilisation: utilisation, processingDay: day,
                                      proxyScore: 0, options: options)
            candidate.proxyScore = shipmentScore(candidate, units: supply, weights: weights, request: request, policy: policy).score
            candidates.append(candidate)
        }
        return candidates
    }

    // MARK: scoring

    struct ScoredShipment {
        var score: Double
        var option: NetworkState.ServiceOption?
        var shippingCostMinor: Int64
        var transitDays: Int32
    }

    func shipmentScore(_ candidate: Candidate, units: [Int32], weights: [Int32], request: RoutingRequest,
                       policy: RoutingPolicy) -> ScoredShipment {
        var weight: Int32 = 0
        var depth = 0.0
        var depthLines = 0
        for index in units.indices where units[index] > 0 {
            weight &+= units[index] &* weights[index]
            depth += Double(units[index]) / Double(max(1, candidate.available[index]))
            depthLines += 1
        }
        let delayDays = Int32(candidate.processingDay - request.now.day)
        let promised = request.serviceLevel.promisedTransitDays
        var best: ScoredShipment?
        let shippingWeight = policy.weight(of: .shippingCost)
        let transitWeight = policy.weight(of: .transitDays)
        let lateWeight = policy.weight(of: .latePromise)
        if candidate.options.isEmpty {
            // Pickup, or a network without carriers: unrated.
            let late = Double(max(0, delayDays - promised))
            best = ScoredShipment(score: lateWeight * late, option: nil, shippingCostMinor: 0, transitDays: 0)
        } else {
            for option in candidate.options {
                guard let band = option.service.rate(distanceKilometres: candidate.distanceKilometres, weightGrams: weight) else { continue }
                let late = Double(max(0, delayDays + band.transitDays - promised))
                let score = shippingWeight * band.cost.majorUnitsApproximation + transitWeight * Double(band.transitDays) + lateWeight * late
                if best == nil || score < best!.score {
                    best = ScoredShipment(score: score, option: option, shippingCostMinor: band.cost.minorUnits, transitDays: band.transitDays)
                }
            }
        }
        // No rate band covers the distance and weight: the location can still ship, at a penalty
        // large enough that any rated location wins.
        var result = best ?? ScoredShipment(score: 1e6, option: candidate.options.first, shippingCostMinor: 0, transitDays: 0)
        result.score += policy.weight(of: .processingCost) * (candidate.location.processingCost?.majorUnitsApproximation ?? 0)
        result.score += policy.weight(of: .distance) * candidate.distanceKilometres / 100
        result.score += policy.weight(of: .capacityBalance) * candidate.capacityUtilisation
        result.score += policy.weight(of: .inventoryDepth) * (depthLines > 0 ? depth / Double(depthLines) : 0)
        result.score += policy.weight(of: .locationPriority) * Double(candidate.location.priority)
        return result
    }

    private func isBetter(_ score: Double, _ candidate: Candidate, than otherScore: Double, _ other: Candidate,
                          policy: RoutingPolicy) -> Bool {
        if abs(score - otherScore) > 1e-9 { return score < otherScore }
        for tieBreaker in policy.tieBreakers {
            switch tieBreaker {
            case .locationPriority where candidate.location.priority != other.location.priority:
                return candidate.location.priority < other.location.priority
            case .distance where abs(candidate.distanceKilometres - other.distanceKilometres) > 1e-9:
                return candidate.distanceKilometres < other.distanceKilometres
            case .locationID where candidate.location.locationID != other.location.locationID:
                return candidate.location.locationID < other.location.locationID
            default: continue
            }
        }
        return candidate.location.locationID < other.location.locationID
    }

    // MARK: split search

    /// Keeps the best candidates per line and overall, ranked by score, at most routingCandidatesMax.
    private func prune(_ candidates: [Candidate], lineCount: Int) -> [Candidate] {
        let ranked = candidates.sorted { ($0.proxyScore, $0.location.locationID) < ($1.proxyScore, $1.location.locationID) }
        if ranked.count <= limits.routingCandidatesMax { return ranked }
        var keep: Set<LocationID> = []
        for line in 0..<lineCount {
            var taken = 0
            for candidate in ranked where candidate.supply[line] > 0 && taken < limits.routingCandidatesPerLineMax {
                keep.insert(candidate.location.locationID)
                taken += 1
            }
        }
        for candidate in ranked.sorted(by: { ($0.coveredUnits, -$0.proxyScore) > ($1.coveredUnits, -$1.proxyScore) })
        where keep.count < limits.routingCandidatesMax {
            keep.insert(candidate.location.locationID)
        }
        return Array(ranked.filter { keep.contains($0.location.locationID) }.prefix(limits.routingCandidatesMax))
    }

    private func covers(_ set: [Candidate], need: [Int32]) -> Bool {
        for line in need.indices {
            var total: Int32 = 0
            for candidate in set { total += candidate.supply[line] }
            if total < need[line] { return false }
        }
        return true
    }

    /// Fills each line from the set's locations, best score first. Nil when a location would ship
    /// nothing (the set is not minimal; a smaller set covers the order).
    private func assign(_ set: [Candidate], need: [Int32]) -> [[Int32]]? {
        let order = set.indices.sorted { set[$0].proxyScore < set[$1].proxyScore }
        var assignment = Array(repeating: Array(repeating: Int32(0), count: need.count), count: set.count)
        for line in need.indices {
            var remaining = need[line]
            for slot in order where remaining > 0 {
                let take = min(remaining, set[slot].supply[line])
                assignment[slot][line] = take
                remaining -= take
            }
        }
        for units in assignment where units.allSatisfy({ $0 == 0 }) { return nil }
        return assignment
    }

    private func greedyPartial(_ candidates: [Candidate], need: [Int32], maxShipments: Int) -> ([Candidate], [[Int32]]) {
        var remaining = need
        var chosen: [Candidate] = []
        var assignment: [[Int32]] = []
        var used: Set<LocationID> = []
        while chosen.count < maxShipments {
            var bestIndex: Int?
            var bestUnits: Int32 = 0
            for (index, candidate) in candidates.enumerated() where !used.contains(candidate.location.locationID) {
                var units: Int32 = 0
                for line in need.indices { units += min(remaining[line], candidate.supply[line]) }
                if units > bestUnits || (units == bestUnits && units > 0 && bestIndex != nil
                                         && candidate.proxyScore < candidates[bestIndex!].proxyScore) {
                    bestUnits = units
                    bestIndex = index
                }
            }
            guard let index = bestIndex, bestUnits > 0 else { break }
            let candidate = candidates[index]
            var units = Array(repeating: Int32(0), count: need.count)
            for line in need.indices {
                units[line] = min(remaining[line], candidate.supply[line])
                remaining[line] -= units[line]
            }
            chosen.append(candidate)
            assignment.append(units)
            used.insert(candidate.location.locationID)
        }
        return (chosen, assignment)
    }

    /// Next k-combination of 0..<count in lexicographic order; false after the last.
    static func advance(_ indices: inout [Int], count: Int) -> Bool {
        let k = indices.count
        var position = k - 1
        while position >= 0 && indices[position] == count - k + position { position -= 1 }
        if position < 0 { return false }
        indices[position] += 1
        for next in (position + 1)..<k { indices[next] = indices[next - 1] + 1 }
        return true
    }

    static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int64(scaled)) : String(scaled)
    }
}

/// Collects why locations were chosen or not, keeping at most `limit` entries and a count of
/// the rest by reason.
struct Explanation {
    let limit: Int
    var decisions: [LocationDecision] = []
    /// The summary each entry of `decisions` is counted under if the cap drops it ("" for chosen ones).
    var summaries: [String] = []
    var omitted: [String: Int] = [:]
    var omittedOrder: [String] = []

    init(limit: Int) { self.limit = limit }

    mutating func chosen(_ location: LocationID, score: Double, reason: String) {
        let index = decisions.firstIndex { !$0.chosen } ?? decisions.endIndex
        decisions.insert(LocationDecision(locationID: location, chosen: true, reason: reason, score: score), at: index)
        summaries.insert("", at: index)
    }
    mutating func rejected(_ location: LocationID, score: Double, reason: String) {
        add(LocationDecision(locationID: location, chosen: false, reason: reason, score: score), summary: "not chosen")
    }
    mutating func filtered(_ reason: String, _ location: LocationID) {
        add(LocationDecision(locationID: location, chosen: false, reason: reason, score: 0), summary: reason)
    }
    private mutating func add(_ decision: LocationDecision, summary: String) {
        if decisions.count < limit {
            decisions.append(decision)
            summaries.append(summary)
        } else {
            if omitted[summary] == nil { omittedOrder.append(summary) }
            omitted[summary, default: 0] += 1
        }
    }
    func finish() -> [LocationDecision] {
        var result = decisions
        var omitted = omitted, omittedOrder = omittedOrder
        // Chosen entries always survive; the cap applies to the rest, which are still counted.
        let chosenCount = result.filter(\.chosen).count
        if result.count > max(limit, chosenCount) {
            for summary in summaries[max(limit, chosenCount)...] {
                if omitted[summary] == nil { omittedOrder.append(summary) }
                omitted[summary, default: 0] += 1
            }
            result = Array(result.prefix(max(limit, chosenCount)))
        }
        for reason in omittedOrder {
            result.append(LocationDecision(locationID: LocationID("*"), chosen: false,
                                           reason: "\(omitted[reason]!) more: \(reason)", score: 0))
        }
        return result
    }
}
