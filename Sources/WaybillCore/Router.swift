// The routing engine: which locations fulfil which units of an order. Pure: a function of the
// order, the network, the balances, the capacity used and the policy.
//
// Objective, lexicographic: fewest shipments, then the lowest total score (the policy's weighted
// cost). Exact for single-shipment plans over every candidate; for splits, exact over the best
// `routingCandidatesMax` candidates, enumerating at most `routingSearchSetsMax` location sets
// so the time per decision is bounded whatever the order's size.
//
// The parts: NetworkIndex.swift (the network as routing sees it), RoutingRequest.swift and
// AllocationPlan.swift (question and answer), Router+Candidates.swift (filters), Router+Scoring.swift,
// RoutingExplanation.swift (why each location was chosen or not). This file: the search.

public struct RoutingLimits: Hashable, Sendable {
    /// Candidate locations kept for the split search (the single-shipment scan sees them all).
    public var routingCandidatesMax = 24
    /// Location sets evaluated per decision before the search stops with the best plan so far.
    public var routingSearchSetsMax = 4_000
    /// Candidates kept per line when pruning for the split search.
    public var routingCandidatesPerLineMax = 8
    public init() {}
}

public struct Router: Sendable {
    public var limits: RoutingLimits
    public var explanationLocationsMax: Int
    /// City centroids for ship-tos that come without coordinates (injected: the core reads no files).
    public var gazetteer: Gazetteer

    /// The distance used where none can be measured (a destination or a location without
    /// coordinates): farther than any two points on Earth, so every distance filter and every
    /// band with a real distance limit excludes it. Never 0: "unknown" is not "here".
    public static let unknownDistanceKilometres = 40_075.0

    public init(limits: RoutingLimits = RoutingLimits(), explanationLocationsMax: Int = 8, gazetteer: Gazetteer = Gazetteer()) {
        self.limits = limits
        self.explanationLocationsMax = explanationLocationsMax
        self.gazetteer = gazetteer
    }

    /// Where a shipment to this request's ship-to goes: its coordinates, else its city's centroid.
    /// Pickup orders need no destination (they leave from the store they are collected at).
    public func destination(of request: RoutingRequest) -> Destination? {
        if let coordinates = request.shipTo { return .exact(coordinates) }
        guard request.method == .ship else { return nil }
        if let place = gazetteer.place(city: request.shipToCity, region: request.shipToRegion, country: request.shipToCountry) {
            return .cityCentroid(place)
        }
        return .unknown
    }

    public func route(_ request: RoutingRequest, policy: RoutingPolicy, network: NetworkState,
                      inventory: InventoryBook, capacity: CapacityBook) -> AllocationPlan {
        // Lines sharing a SKU draw on the same stock: route one line per SKU, then hand each
        // shipment's units back to those lines in line order.
        let lines = request.lines
        var repeated = false
        if lines.count <= 16 {
            // Few lines (the common case): compare pairs rather than hash every SKU.
            search: for index in lines.indices.dropFirst() {
                for earlier in 0..<index where lines[earlier].sku == lines[index].sku { repeated = true; break search }
            }
        } else {
            repeated = Set(lines.map(\.sku)).count != lines.count
        }
        if !repeated {
            return routeLines(request, policy: policy, network: network, inventory: inventory, capacity: capacity)
        }
        var merged: [RoutingLine] = []
        var mergedIndex: [SKU: Int] = [:]
        for line in request.lines {
            if let index = mergedIndex[line.sku] { merged[index].quantity += line.quantity; continue }
            mergedIndex[line.sku] = merged.count
            merged.append(line)
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

    /// The locations that passed every filter, as parallel arrays indexed by candidate number:
    /// the search passes indices around, never copies of locations.
    struct Candidates {
        let lineCount: Int
        /// Units each candidate can supply per line (candidate × lineCount + line): min(available, need).
        var supply: [Int32] = []
        var available: [Int64] = []
        var covered: [Int32] = []
        var day: [Int64] = []
        /// What scoring a shipment from the candidate needs besides its units.
        var terms: [Terms] = []
        /// Score for shipping everything it can: ranks candidates.
        var proxy: [Double] = []
        /// Locations not scored because another holds the whole order: (site, units, lines covered).
        var partialHolders: [(site: Int, covered: Int32, lines: Int32)] = []

        var count: Int { terms.count }
        func site(_ candidate: Int) -> Int { terms[candidate].site }
        func units(_ candidate: Int, _ line: Int) -> Int32 { supply[candidate * lineCount + line] }
        func distance(_ candidate: Int) -> Double { terms[candidate].distance }
    }

    /// A candidate's score terms that do not depend on what it ships.
    struct Terms {
        var site: Int
        /// Carrier options usable today (bit i = the site's option i); 0 = unrated.
        var optionMask: UInt64
        var distance: Double
        var delayDays: Int32
        /// Processing, distance, capacity and priority terms.
        var fixedScore: Double
        /// Score of a parcel with no rate (pickup, or a network without carriers).
        var unratedScore: Double
    }

    /// The policy's scoring weights, looked up once per decision.
    struct Weights {
        var shipping, processing, distance, transit, late, capacity, depth, priority: Double
        init(_ policy: RoutingPolicy) {
            shipping = policy.weight(of: .shippingCost)
            processing = policy.weight(of: .processingCost)
            distance = policy.weight(of: .distance)
            transit = policy.weight(of: .transitDays)
            late = policy.weight(of: .latePromise)
            capacity = policy.weight(of: .capacityBalance)
            depth = policy.weight(of: .inventoryDepth)
            priority = policy.weight(of: .locationPriority)
        }
    }

    struct Scored {
        var score: Double
        /// Index into the site's options, or -1 when unrated.
        var option: Int
        var shippingCostMinor: Int64
        var transitDays: Int32
    }

    private func routeLines(_ request: RoutingRequest, policy: RoutingPolicy, network: NetworkState,
                            inventory: InventoryBook, capacity: CapacityBook) -> AllocationPlan {
        var explanation = Explanation(limit: explanationLocationsMax)
        let lineCount = request.lines.count
        let weights = request.lines.map { network.weightGrams($0.sku) }
        let scoring = Weights(policy)
        let need = request.lines.map(\.quantity)
        let totalNeed = need.reduce(0, +)
        // When some location holds the whole order, only those can win (fewest shipments first):
        // the others are not scored. If filters then remove all of them, evaluate everyone.
        var candidates = gatherCandidates(request, policy: policy, scoring: scoring, network: network, inventory: inventory,
                                          capacity: capacity, weights: weights, wholeOrderOnly: true, explanation: &explanation)
        if !candidates.covered.contains(totalNeed) {
            explanation = Explanation(limit: explanationLocationsMax)
            candidates = gatherCandidates(request, policy: policy, scoring: scoring, network: network, inventory: inventory,
                                          capacity: capacity, weights: weights, wholeOrderOnly: false, explanation: &explanation)
        }
        var setsExamined: Int32 = 0
        var truncated = false
        var best: [Int] = []
        var bestAssignment: [[Int32]] = []

        // One shipment: scan every candidate (its proxy score is its score for the whole order).
        var bestSingle: Int?
        for candidate in 0..<candidates.count where candidates.covered[candidate] == totalNeed {
            setsExamined += 1
            if let current = bestSingle {
                if isBetter(candidate, than: current, candidates, network: network, policy: policy) { bestSingle = candidate }
            } else {
                bestSingle = candidate
            }
        }
        if let single = bestSingle, totalNeed > 0 {
            best = [single]
            bestAssignment = [need]
        } else if candidates.count > 0 && totalNeed > 0 {
            // Splits: exact over the pruned candidate list, fewest shipments first.
            let pruned = prune(candidates, network: network)
            let maxShipments = Int(max(1, policy.maxShipments))
            search: for size in stride(from: 2, through: min(maxShipments, pruned.count), by: 1) {
                var bestScore = Double.infinity
                var indices = Array(0..<size)
                var set = Array(repeating: 0, count: size)
                while true {
                    if setsExamined >= limits.routingSearchSetsMax { truncated = true; break }
                    setsExamined += 1
                    for slot in 0..<size { set[slot] = pruned[indices[slot]] }
                    if covers(set, need: need, candidates), let assignment = assign(set, need: need, candidates) {
                        var total = 0.0
                        for (slot, candidate) in set.enumerated() {
                            total += score(candidate, candidates, network, request, weights: weights, scoring: scoring) { assignment[slot][$0] }.score
                        }
                        if total < bestScore - 1e-9 {
                            bestScore = total
                            best = set
                            bestAssignment = assignment
                        }
                    }
                    if !Self.advance(&indices, count: pruned.count) { break }
                }
                if !best.isEmpty || truncated { break search }
            }
            if best.isEmpty {
                // No set within maxShipments covers the order: take the most units we can.
                (best, bestAssignment) = greedyPartial(pruned, need: need, maxShipments: maxShipments, candidates)
            }
        }

        var shipments: [PlannedShipment] = []
        var allocated = Array(repeating: Int32(0), count: lineCount)
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
            let site = candidates.site(candidate)
            let scored = score(candidate, candidates, network, request, weights: weights, scoring: scoring) { units[$0] }
            let option: NetworkState.ServiceOption? = scored.option >= 0 ? network.sites[site].options[scored.option] : nil
            let processingMinor = network.sites[site].location.processingCost?.minorUnits ?? 0
            let locationID = network.siteIDs[site]
            let shipment = PlannedShipment(
                locationID: locationID, lines: lines,
                carrierID: option?.carrierID ?? "", carrierService: option?.service.service ?? "",
                carrierResource: option?.resource ?? "",
                shippingCost: Money(minorUnits: scored.shippingCostMinor, currency: request.currency),
                processingCost: Money(minorUnits: processingMinor, currency: request.currency),
                transitDays: scored.transitDays, processingDay: candidates.day[candidate], score: scored.score)
            totalCost += shipment.shippingCost.minorUnits + shipment.processingCost.minorUnits
            shipments.append(shipment)
            explanation.chosen(locationID, score: scored.score,
                               reason: Self.chosenReason(units: lines.reduce(0) { $0 + $1.quantity }, lines: lines.count, resource: option?.resource,
                                                         cost: scored.shippingCostMinor + processingMinor, currency: request.currency,
                                                         transitDays: scored.transitDays, score: scored.score))
        }
        let others = (0..<candidates.count).filter { !best.contains($0) }.sorted {
            (candidates.covered[$0], -candidates.proxy[$0]) > (candidates.covered[$1], -candidates.proxy[$1])
        }
        for candidate in others {
            func lineCovered() -> Int { (0..<lineCount).filter { candidates.units(candidate, $0) > 0 }.count }
            explanation.rejected(network.siteIDs[candidates.site(candidate)], score: candidates.proxy[candidate],
                                 reason: Self.coverage(candidates.covered[candidate], Int32(lineCovered()), lineCount,
                                                       ", score " + Self.format(candidates.proxy[candidate])))
        }

        // Most units first (then location id): only the ones the explanation has room for are named.
        let room = explanation.room
        if room > 0 {
            let holders = Self.first(room, of: candidates.partialHolders) { ($0.covered, $1.site) > ($1.covered, $0.site) }
            for holder in holders {
                explanation.rejected(network.siteIDs[holder.site], score: 0,
                                     reason: Self.coverage(holder.covered, holder.lines, lineCount, "; another location holds the whole order"))
            }
            explanation.omit(summary: "not chosen", count: candidates.partialHolders.count - holders.count)
        } else {
            explanation.omit(summary: "not chosen", count: candidates.partialHolders.count)
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
            candidateSetsExamined: setsExamined, searchTruncated: truncated,
            destinationApproximation: destination(of: request)?.approximation ?? "")
        return AllocationPlan(shipments: shipments, unallocated: unallocated, decision: decision)
    }

    private func isBetter(_ candidate: Int, than other: Int, _ candidates: Candidates, network: NetworkState,
                          policy: RoutingPolicy) -> Bool {
        let score = candidates.proxy[candidate], otherScore = candidates.proxy[other]
        if abs(score - otherScore) > 1e-9 { return score < otherScore }
        let site = candidates.site(candidate), otherSite = candidates.site(other)
        let priority = network.sites[site].priority, otherPriority = network.sites[otherSite].priority
        // Sites are in location-id order: comparing positions compares ids.
        for tieBreaker in policy.tieBreakers {
            switch tieBreaker {
            case .locationPriority where priority != otherPriority:
                return priority < otherPriority
            case .distance where abs(candidates.distance(candidate) - candidates.distance(other)) > 1e-9:
                return candidates.distance(candidate) < candidates.distance(other)
            case .locationID where site != otherSite:
                return site < otherSite
            default: continue
            }
        }
        return site < otherSite
    }

    // MARK: split search

    /// Keeps the best candidates per line and overall, ranked by score, at most routingCandidatesMax.
    private func prune(_ candidates: Candidates, network: NetworkState) -> [Int] {
        // Site order is location-id order: a deterministic tie-break.
        let ranked = (0..<candidates.count).sorted {
            (candidates.proxy[$0], candidates.site($0)) < (candidates.proxy[$1], candidates.site($1))
        }
        if ranked.count <= limits.routingCandidatesMax { return ranked }
        var keep = Set<Int>()
        for line in 0..<candidates.lineCount {
            var taken = 0
            for candidate in ranked where candidates.units(candidate, line) > 0 && taken < limits.routingCandidatesPerLineMax {
                keep.insert(candidate)
                taken += 1
            }
        }
        for candidate in ranked.sorted(by: { (candidates.covered[$0], -candidates.proxy[$0]) > (candidates.covered[$1], -candidates.proxy[$1]) })
        where keep.count < limits.routingCandidatesMax {
            keep.insert(candidate)
        }
        return Array(ranked.filter { keep.contains($0) }.prefix(limits.routingCandidatesMax))
    }

    private func covers(_ set: [Int], need: [Int32], _ candidates: Candidates) -> Bool {
        for line in need.indices {
            var total: Int32 = 0
            for candidate in set { total += candidates.units(candidate, line) }
            if total < need[line] { return false }
        }
        return true
    }

    /// Fills each line from the set's locations, best score first. Nil when a location would ship
    /// nothing (the set is not minimal; a smaller set covers the order).
    private func assign(_ set: [Int], need: [Int32], _ candidates: Candidates) -> [[Int32]]? {
        let order = set.indices.sorted { candidates.proxy[set[$0]] < candidates.proxy[set[$1]] }
        var assignment = Array(repeating: Array(repeating: Int32(0), count: need.count), count: set.count)
        for line in need.indices {
            var remaining = need[line]
            for slot in order where remaining > 0 {
                let take = min(remaining, candidates.units(set[slot], line))
                assignment[slot][line] = take
                remaining -= take
            }
        }
        for units in assignment where units.allSatisfy({ $0 == 0 }) { return nil }
        return assignment
    }

    private func greedyPartial(_ pool: [Int], need: [Int32], maxShipments: Int, _ candidates: Candidates) -> ([Int], [[Int32]]) {
        var remaining = need
        var chosen: [Int] = []
        var assignment: [[Int32]] = []
        while chosen.count < maxShipments {
            var bestCandidate: Int?
            var bestUnits: Int32 = 0
            for candidate in pool where !chosen.contains(candidate) {
                var units: Int32 = 0
                for line in need.indices { units += min(remaining[line], candidates.units(candidate, line)) }
                if units > bestUnits || (units == bestUnits && units > 0 && bestCandidate != nil
                                         && candidates.proxy[candidate] < candidates.proxy[bestCandidate!]) {
                    bestUnits = units
                    bestCandidate = candidate
                }
            }
            guard let candidate = bestCandidate, bestUnits > 0 else { break }
            var units = Array(repeating: Int32(0), count: need.count)
            for line in need.indices {
                units[line] = min(remaining[line], candidates.units(candidate, line))
                remaining[line] -= units[line]
            }
            chosen.append(candidate)
            assignment.append(units)
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
}
