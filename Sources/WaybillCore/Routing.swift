// The routing engine: which locations fulfil which units of an order. Pure: a function of the
// order, the network, the balances, the capacity used and the policy.
//
// Objective, lexicographic: fewest shipments, then the lowest total score (the policy's weighted
// cost). Exact for single-shipment plans over every candidate; for splits, exact over the best
// `routingCandidatesMax` candidates, enumerating at most `routingSearchSetsMax` location sets
// so the time per decision is bounded whatever the order's size.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The network as routing sees it: locations and carriers indexed for fast lookup.
public struct NetworkState: Sendable {
    public private(set) var locations: [LocationID: Location] = [:]
    public private(set) var carriers: [String: Carrier] = [:]
    public private(set) var items: [SKU: Item] = [:]
    /// How many times each item was upserted: its change-feed sequence.
    public private(set) var itemVersions: [SKU: Int64] = [:]
    /// Channels with settings of their own; the others have `ChannelSettings`' defaults.
    public private(set) var channelSettings: [Channel: ChannelSettings] = [:]
    /// Locations sorted by id with what routing precomputes for them; `siteIndex` finds one.
    private(set) var sites: [Site] = []
    private(set) var siteIndex: [LocationID: Int] = [:]
    /// The sites' location ids, densely packed for the routing hot loop.
    private(set) var siteIDs: [LocationID] = []
    /// The sites' active/ships/pickup flags, densely packed for the same loop.
    private(set) var siteFlags: [SiteFlags] = []

    struct SiteFlags: OptionSet {
        let rawValue: UInt8
        static let active = SiteFlags(rawValue: 1)
        static let ships = SiteFlags(rawValue: 2)
        static let pickup = SiteFlags(rawValue: 4)
    }

    public struct ServiceOption: Hashable, Sendable {
        public var carrierID: String
        public var service: CarrierService
        /// "carrier/service": the capacity resource name.
        public var resource: String
    }

    /// A location with its coordinates in radians and the carrier services that collect there.
    struct Site: Sendable {
        var location: Location
        var latitudeRadians: Double
        var longitudeRadians: Double
        var cosineLatitude: Double
        /// Sorted by carrier id, then service.
        var options: [ServiceOption]
        /// Every option's rate bands, flattened into plain values (no reference counting in the hot loop).
        var rates: [RateRow]
        var processingCostMajor: Double
        /// Copies of the location's plain fields: the hot loop reads these without touching strings.
        var active: Bool
        var ships: Bool
        var pickup: Bool
        var hasCoordinates: Bool
        var dailyOrderCapacity: Int32
        var cutoffMinuteUTC: Int32
        var priority: Int32

        func processingDay(at now: Timestamp) -> Int64 {
            cutoffMinuteUTC > 0 && now.minuteOfDay >= cutoffMinuteUTC ? now.day + 1 : now.day
        }
    }

    struct RateRow: Sendable {
        var option: Int
        var maxDistanceKilometres: Double
        var maxWeightGrams: Int32
        var costMinor: Int64
        var costMajor: Double
        var transitDays: Int32
    }

    public init() {}

    public var hasCarriers: Bool { !carriers.isEmpty }

    public mutating func upsert(_ location: Location) {
        locations[location.locationID] = location
        rebuildSites()
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
        rebuildSites()
    }
    public mutating func upsert(_ item: Item) {
        items[item.sku] = item
        itemVersions[item.sku, default: 0] += 1
    }

    public mutating func set(_ settings: ChannelSettings) {
        channelSettings[settings.channel] = settings
    }

    public func settings(of channel: Channel) -> ChannelSettings {
        channelSettings[channel] ?? ChannelSettings(channel: channel)
    }

    /// An item as stored, with the number of upserts it has had (start-up).
    public mutating func restore(_ item: Item, version: Int64) {
        items[item.sku] = item
        itemVersions[item.sku] = version
    }

    public func services(at location: LocationID) -> [ServiceOption] { siteIndex[location].map { sites[$0].options } ?? [] }
    public func weightGrams(_ sku: SKU) -> Int32 { items[sku]?.weightGrams ?? 0 }

    private mutating func rebuildSites() {
        let sortedCarriers = carriers.values.filter(\.active).sorted { $0.carrierID < $1.carrierID }
        let radiansPerDegree = Double.pi / 180
        sites = locations.keys.sorted().map { id in
            let location = locations[id]!
            var options: [ServiceOption] = []
            if location.ships {
                for carrier in sortedCarriers {
                    for service in carrier.services where service.locationIDs.isEmpty || service.locationIDs.contains(id) {
                        options.append(ServiceOption(carrierID: carrier.carrierID, service: service,
                                                     resource: carrier.carrierID + "/" + service.service))
                    }
                }
            }
            let latitude = (location.coordinates?.latitude ?? 0) * radiansPerDegree
            var rates: [RateRow] = []
            for (index, option) in options.enumerated() {
                for band in option.service.rates {
                    rates.append(RateRow(option: index, maxDistanceKilometres: band.maxDistanceKilometres, maxWeightGrams: band.maxWeightGrams,
                                         costMinor: band.cost.minorUnits, costMajor: band.cost.majorUnitsApproximation,
                                         transitDays: band.transitDays))
                }
            }
            return Site(location: location, latitudeRadians: latitude,
                        longitudeRadians: (location.coordinates?.longitude ?? 0) * radiansPerDegree,
                        cosineLatitude: cos(latitude), options: options, rates: rates,
                        processingCostMajor: location.processingCost?.majorUnitsApproximation ?? 0,
                        active: location.active, ships: location.ships, pickup: location.pickup,
                        hasCoordinates: location.coordinates != nil, dailyOrderCapacity: location.dailyOrderCapacity,
                        cutoffMinuteUTC: location.cutoffMinuteUTC, priority: location.priority)
        }
        siteIDs = sites.map(\.location.locationID)
        siteFlags = sites.map { site in
            var flags: SiteFlags = []
            if site.active { flags.insert(.active) }
            if site.ships { flags.insert(.ships) }
            if site.pickup { flags.insert(.pickup) }
            return flags
        }
        siteIndex = Dictionary(uniqueKeysWithValues: siteIDs.enumerated().map { ($1, $0) })
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
    /// City and country of the ship-to: where distances are measured from when `shipTo` is nil
    /// (the city's centroid, from the router's gazetteer).
    public var shipToCity: String
    public var shipToCountry: String
    public var method: FulfillmentMethod
    public var pickupLocationID: LocationID?
    public var serviceLevel: ServiceLevel
    public var excludedLocationIDs: [LocationID]
    public var now: Timestamp
    public var currency: String
    public var trigger: String

    public init(lines: [RoutingLine], channel: Channel, shipTo: Coordinates?, shipToRegion: String = "",
                shipToCity: String = "", shipToCountry: String = "", method: FulfillmentMethod = .ship, pickupLocationID: LocationID? = nil, serviceLevel: ServiceLevel = .standard,
                excludedLocationIDs: [LocationID] = [], now: Timestamp, currency: String = "USD", trigger: String = "capture") {
        self.lines = lines
        self.channel = channel
        self.shipTo = shipTo
        self.shipToRegion = shipToRegion
        self.shipToCity = shipToCity
        self.shipToCountry = shipToCountry
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

    // MARK: candidates and filters

    private func gatherCandidates(_ request: RoutingRequest, policy: RoutingPolicy, scoring: Weights, network: NetworkState,
                                  inventory: InventoryBook, capacity: CapacityBook, weights: [Int32], wholeOrderOnly: Bool,
                                  explanation: inout Explanation) -> Candidates {
        let lineCount = request.lines.count
        let sites = network.sites
        let siteIDs = network.siteIDs
        let siteFlags = network.siteFlags
        // Every location holding any of the SKUs: raw slots in first-seen order, then sorted by site
        // (sites are in location-id order, so the result is deterministic).
        var slotOfSite = [Int32](repeating: -1, count: sites.count)
        let entryLists = request.lines.map { inventory.entries(for: $0.sku) }
        // Slots are handed out densely, one per stock-holding site: at most this many.
        let slotsMax = min(sites.count, entryLists.reduce(0) { $0 + $1.count })
        var slotCount = 0
        var rawSupply = [Int32](repeating: 0, count: slotsMax * lineCount)
        var rawAvailable = [Int64](repeating: 0, count: slotsMax * lineCount)
        var unknown: [LocationID] = []
        let pickupSite = request.method == .pickup ? request.pickupLocationID.flatMap { network.siteIndex[$0] } : nil
        for (lineIndex, list) in entryLists.enumerated() {
            let quantity = Int64(request.lines[lineIndex].quantity)
            // Fields are read in place through a pointer: copying an entry (or its balance, to
            // call `available`) would retain the balance's arrays on every iteration.
            list.withUnsafeBufferPointer { entries in
                for position in entries.indices {
                    if request.method == .pickup && entries[position].locationID != request.pickupLocationID { continue }
                    let hint = Int(entries[position].siteHint)
                    let site: Int
                    if hint >= 0 && hint < siteIDs.count && siteIDs[hint] == entries[position].locationID {
                        site = hint
                    } else if let found = network.siteIndex[entries[position].locationID] {
                        site = found
                    } else {
                        let locationID = entries[position].locationID
                        if !unknown.contains(locationID) { unknown.append(locationID) }
                        continue
                    }
                    var slot = Int(slotOfSite[site])
                    if slot < 0 {
                        slot = slotCount
                        slotCount += 1
                        slotOfSite[site] = Int32(slot)
                    }
                    // Balance.available, from the three counters.
                    let available = max(0, entries[position].balance.onHand - entries[position].balance.reserved
                                            - entries[position].balance.safetyStock)
                    rawSupply[slot * lineCount + lineIndex] = Int32(clamping: min(available, quantity))
                    rawAvailable[slot * lineCount + lineIndex] = available
                }
            }
        }
        if request.method == .pickup, let pickup = request.pickupLocationID, pickupSite.map({ slotOfSite[$0] < 0 }) ?? true {
            explanation.rejected(pickup, score: 0, reason: "pickup store has no stock of any line")
        }
        unknown.sort()
        let promised = request.serviceLevel.promisedTransitDays
        var totalNeed: Int32 = 0
        for line in request.lines { totalNeed += line.quantity }
        var someoneHoldsEverything = false
        if wholeOrderOnly {
            for slot in 0..<slotCount {
                var covered: Int32 = 0
                for line in 0..<lineCount { covered += rawSupply[slot * lineCount + line] }
                if covered == totalNeed { someoneHoldsEverything = true; break }
            }
        }
        let radiansPerDegree = Double.pi / 180
        let destination = self.destination(of: request)
        let to = destination?.coordinates
        let toLatitude = (to?.latitude ?? 0) * radiansPerDegree
        let toLongitude = (to?.longitude ?? 0) * radiansPerDegree
        let toCosine = cos(toLatitude)

        var candidates = Candidates(lineCount: lineCount)
        candidates.supply.reserveCapacity(slotCount * lineCount)
        candidates.available.reserveCapacity(slotCount * lineCount)
        candidates.covered.reserveCapacity(slotCount)
        candidates.day.reserveCapacity(slotCount)
        candidates.terms.reserveCapacity(slotCount)
        candidates.proxy.reserveCapacity(slotCount)
        if someoneHoldsEverything { candidates.partialHolders.reserveCapacity(slotCount) }
        var unknownIndex = 0
        // In site order (location-id order), without sorting: slotOfSite has one entry per site.
        for site in 0..<sites.count where slotOfSite[site] >= 0 {
            let locationID = siteIDs[site]
            while unknownIndex < unknown.count && unknown[unknownIndex] < locationID {
                explanation.filtered("unknown location (not in the network)", unknown[unknownIndex])
                unknownIndex += 1
            }
            let slot = Int(slotOfSite[site])
            let base = slot * lineCount
            var covered: Int32 = 0
            for line in 0..<lineCount { covered += rawSupply[base + line] }
            let flags = siteFlags[site]
            if !flags.contains(.active) { explanation.filtered("inactive", locationID); continue }
            if !request.excludedLocationIDs.isEmpty && request.excludedLocationIDs.contains(locationID) {
                explanation.filtered("excluded: rejected this order before", locationID); continue
            }
            switch request.method {
            case .ship where !flags.contains(.ships): explanation.filtered("does not ship", locationID); continue
            case .pickup where !flags.contains(.pickup): explanation.filtered("does not serve pickup", locationID); continue
            default: break
            }
            if covered == 0 { explanation.filtered("no available stock", locationID); continue }
            if someoneHoldsEverything && covered < totalNeed {
                var lines: Int32 = 0
                for line in 0..<lineCount where rawSupply[base + line] > 0 { lines += 1 }
                candidates.partialHolders.append((site, covered, lines))
                continue
            }
            let day = sites[site].processingDay(at: request.now)
            let dailyCapacity = sites[site].dailyOrderCapacity
            // Unlimited locations skip the capacity lookup.
            let used = dailyCapacity > 0 ? capacity.used(CapacityKey(locationID: locationID, day: day)) : 0
            let capacityLeft = dailyCapacity > 0 ? dailyCapacity - used : Int32.max
            if capacityLeft <= 0 { explanation.filtered("capacity exhausted for day \(day)", locationID); continue }
            var optionMask: UInt64 = 0
            if request.method == .ship && network.hasCarriers {
                for (index, option) in sites[site].options.enumerated() where index < 64
                    && (option.service.dailyCapacityPerLocation == 0
                        || capacity.used(CapacityKey(locationID: locationID, resource: option.resource, day: day)) < option.service.dailyCapacityPerLocation) {
                    optionMask |= 1 << UInt64(index)
                }
                if optionMask == 0 { explanation.filtered("no carrier service with capacity", locationID); continue }
            }
            // A shipment needs both ends located; pickup (no destination) travels nowhere.
            var distance = destination == nil ? 0.0 : Self.unknownDistanceKilometres
            if to != nil && sites[site].hasCoordinates {
                let sinLatitude = sin((toLatitude - sites[site].latitudeRadians) / 2)
                let sinLongitude = sin((toLongitude - sites[site].longitudeRadians) / 2)
                let a = sinLatitude * sinLatitude + sites[site].cosineLatitude * toCosine * sinLongitude * sinLongitude
                distance = 2 * 6371.0088 * asin(min(1, a.squareRoot()))
            }
            var rejectedBy: String?
            for filter in policy.filters {
                switch filter {
                case .locationType(let types):
                    let type = sites[site].location.type
                    if !types.contains(type) { rejectedBy = "location type \(type.name)" }
                case .region(let regions, let sameRegion):
                    let region = sites[site].location.region
                    if sameRegion && region != request.shipToRegion { rejectedBy = "region \(region) is not the ship-to region" }
                    if !regions.isEmpty && !regions.contains(region) { rejectedBy = "region \(region) not allowed" }
                case .channelEligibility: if !sites[site].location.sells(to: request.channel) { rejectedBy = "does not sell to \(request.channel.name)" }
                case .capacityLeft(let minimum): if capacityLeft < minimum { rejectedBy = "capacity left \(capacityLeft) < \(minimum)" }
                case .enoughStock(let wholeOrder):
                    var full = 0
                    for line in 0..<lineCount where rawSupply[base + line] == request.lines[line].quantity { full += 1 }
                    if wholeOrder ? full < lineCount : full == 0 { rejectedBy = wholeOrder ? "cannot ship the whole order" : "cannot fully supply any line" }
                case .maxDistance(let kilometres):
                    if distance > kilometres {
                        rejectedBy = distance >= Self.unknownDistanceKilometres
                            ? "distance unknown (\(to == nil ? "destination" : "location") has no coordinates) > \(Int(kilometres)) km"
                            : "\(Int(distance)) km > \(Int(kilometres)) km"
                    }
                }
                if rejectedBy != nil { break }
            }
            if let reason = rejectedBy { explanation.filtered("filtered: " + reason, locationID); continue }

            let delayDays = Int32(day - request.now.day)
            let utilisation = dailyCapacity > 0 ? Double(used) / Double(dailyCapacity) : 0
            let terms = Terms(
                site: site, optionMask: optionMask, distance: distance, delayDays: delayDays,
                fixedScore: scoring.processing * sites[site].processingCostMajor + scoring.distance * distance / 100
                    + scoring.capacity * utilisation + scoring.priority * Double(sites[site].priority),
                unratedScore: scoring.late * Double(max(0, delayDays - promised)))
            let proxy = score(terms, lineCount: lineCount, network: network, request: request, weights: weights, scoring: scoring,
                              available: { rawAvailable[base + $0] }, units: { rawSupply[base + $0] }).score
            candidates.supply.append(contentsOf: rawSupply[base..<(base + lineCount)])
            candidates.available.append(contentsOf: rawAvailable[base..<(base + lineCount)])
            candidates.covered.append(covered)
            candidates.day.append(day)
            candidates.terms.append(terms)
            candidates.proxy.append(proxy)
        }
        while unknownIndex < unknown.count {
            explanation.filtered("unknown location (not in the network)", unknown[unknownIndex])
            unknownIndex += 1
        }
        return candidates
    }

    // MARK: scoring

    /// The score of a shipment from `candidate` carrying `units(line)` of each line: the best
    /// carrier option for its distance and weight, plus the location's fixed terms.
    func score(_ candidate: Int, _ candidates: Candidates, _ network: NetworkState, _ request: RoutingRequest,
               weights: [Int32], scoring: Weights, units: (Int) -> Int32) -> Scored {
        let base = candidate * candidates.lineCount
        return score(candidates.terms[candidate], lineCount: candidates.lineCount, network: network, request: request, weights: weights,
                     scoring: scoring, available: { candidates.available[base + $0] }, units: units)
    }

    func score(_ terms: Terms, lineCount: Int, network: NetworkState, request: RoutingRequest, weights: [Int32], scoring: Weights,
               available: (Int) -> Int64, units: (Int) -> Int32) -> Scored {
        var weight: Int32 = 0
        var depth = 0.0
        var depthLines = 0
        for line in 0..<lineCount {
            let count = units(line)
            guard count > 0 else { continue }
            weight &+= count &* weights[line]
            depth += Double(count) / Double(max(1, available(line)))
            depthLines += 1
        }
        let mask = terms.optionMask
        var result: Scored
        if mask == 0 {
            result = Scored(score: terms.unratedScore, option: -1, shippingCostMinor: 0, transitDays: 0)
        } else {
            // No rate band covers the distance and weight: the location can still ship, at a penalty
            // large enough that any rated location wins.
            result = Scored(score: 1e6, option: -1, shippingCostMinor: 0, transitDays: 0)
            let distance = terms.distance
            let delay = terms.delayDays
            let promised = request.serviceLevel.promisedTransitDays
            var bestCost = Int64.max
            network.sites[terms.site].rates.withUnsafeBufferPointer { rates in
                for rate in rates where mask & (1 << UInt64(rate.option)) != 0
                    && rate.maxDistanceKilometres >= distance && rate.maxWeightGrams >= weight {
                    let late = Double(max(0, delay + rate.transitDays - promised))
                    let value = scoring.shipping * rate.costMajor + scoring.transit * Double(rate.transitDays) + scoring.late * late
                    if value < result.score || (value == result.score && rate.costMinor < bestCost) {
                        result = Scored(score: value, option: rate.option, shippingCostMinor: rate.costMinor, transitDays: rate.transitDays)
                        bestCost = rate.costMinor
                    }
                }
            }
        }
        result.score += terms.fixedScore
        result.score += scoring.depth * (depthLines > 0 ? depth / Double(depthLines) : 0)
        return result
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

    /// The first `count` elements of `items` in `areInIncreasingOrder`, sorted: the same as
    /// `items.sorted(by:).prefix(count)` for a strict total order, without sorting everything
    /// (the explanation names a few locations out of many).
    static func first<T>(_ count: Int, of items: [T], by areInIncreasingOrder: (T, T) -> Bool) -> [T] {
        guard count > 0 else { return [] }
        var kept: [T] = []
        kept.reserveCapacity(min(count, items.count))
        for item in items {
            if kept.count == count {
                guard areInIncreasingOrder(item, kept[count - 1]) else { continue }
                kept.removeLast()
            }
            var position = kept.count
            while position > 0 && areInIncreasingOrder(item, kept[position - 1]) { position -= 1 }
            kept.insert(item, at: position)
        }
        return kept
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

    /// "not chosen: covers U unit(s) of L/N line(s)" + tail.
    public static func coverage(_ units: Int32, _ lines: Int32, _ lineCount: Int, _ tail: String) -> String {
        ReasonText.make(extra: tail.utf8.count) { text in
            text.put("not chosen: covers ")
            text.put(Int64(units))
            text.put(" unit(s) of ")
            text.put(Int64(lines))
            text.put("/")
            text.put(Int64(lineCount))
            text.put(" line(s)")
            text.put(tail)
        }
    }

    /// "chosen: ships U units of L line(s), [resource, ]cost C CUR minor, T transit day(s), score S".
    public static func chosenReason(units: Int32, lines: Int, resource: String?, cost: Int64, currency: String, transitDays: Int32,
                             score: Double) -> String {
        let score = format(score)
        return ReasonText.make(extra: (resource?.utf8.count ?? 0) + currency.utf8.count + score.utf8.count) { text in
            text.put("chosen: ships ")
            text.put(Int64(units))
            text.put(" units of ")
            text.put(Int64(lines))
            text.put(" line(s), ")
            if let resource {
                text.put(resource)
                text.put(", ")
            }
            text.put("cost ")
            text.put(cost)
            text.put(" ")
            text.put(currency)
            text.put(" minor, ")
            text.put(Int64(transitDays))
            text.put(" transit day(s), score ")
            text.put(score)
        }
    }

    public static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int64(scaled)) : String(scaled)
    }
}

/// Builds an explanation's text straight into a new string's storage: one allocation, no
/// regrowth (string interpolation cost a quarter of a routing decision in profiles).
struct ReasonText {
    /// Room for the literal parts and up to six numbers; `extra` covers the variable strings.
    static let literalCapacity = 192

    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    static func make(extra: Int, _ body: (inout ReasonText) -> Void) -> String {
        String(unsafeUninitializedCapacity: literalCapacity + extra) { buffer in
            var text = ReasonText(buffer: buffer)
            body(&text)
            return text.count
        }
    }

    private init(buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func put(_ literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    mutating func put(_ string: String) {
        if string.utf8.withContiguousStorageIfAvailable({ append($0) }) == nil {
            for byte in string.utf8 { append(CollectionOfOne(byte)) }
        }
    }

    private mutating func append(_ bytes: CollectionOfOne<UInt8>) {
        guard count < buffer.count else { return }
        buffer[count] = bytes.first!
        count += 1
    }

    mutating func put(_ value: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var magnitude = value.magnitude
        var length = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                scratch[19 - length] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                length += 1
            } while magnitude > 0
            if value < 0 {
                scratch[19 - length] = UInt8(ascii: "-")
                length += 1
            }
            append(UnsafeRawBufferPointer(rebasing: scratch[(20 - length)...]).assumingMemoryBound(to: UInt8.self))
        }
    }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        // The capacity is sized by the caller; never write past it whatever happens.
        let room = min(bytes.count, buffer.count - count)
        guard room > 0, let source = bytes.baseAddress, let target = buffer.baseAddress else { return }
        (target + count).update(from: source, count: room)
        count += room
    }
}

/// Collects why locations were chosen or not, keeping at most `limit` entries and a count of
/// the rest by reason.
struct Explanation {
    let limit: Int
    var decisions: [LocationDecision] = []
    /// The summary each entry of `decisions` is counted under if the cap drops it ("" for chosen ones).
    var summaries: [String] = []
    /// Entries past the cap, counted per summary in first-seen order (few distinct summaries).
    var omitted: [(summary: String, count: Int)] = []

    init(limit: Int) { self.limit = limit }

    /// Entries that can still be named before the cap.
    var room: Int { max(0, limit - decisions.count) }

    /// Counts `count` entries past the cap under `summary` without building them.
    mutating func omit(summary: String, count: Int) {
        guard count > 0 else { return }
        if let index = omitted.firstIndex(where: { $0.summary == summary }) {
            omitted[index].count += count
        } else {
            omitted.append((summary, count))
        }
    }

    mutating func chosen(_ location: LocationID, score: Double, reason: String) {
        let index = decisions.firstIndex { !$0.chosen } ?? decisions.endIndex
        decisions.insert(LocationDecision(locationID: location, chosen: true, reason: reason, score: score), at: index)
        summaries.insert("", at: index)
    }
    mutating func rejected(_ location: LocationID, score: Double, reason: @autoclosure () -> String) {
        // Past the cap only the count survives: do not format the reason.
        guard decisions.count < limit else {
            add(LocationDecision(locationID: location, chosen: false, reason: "", score: score), summary: "not chosen")
            return
        }
        add(LocationDecision(locationID: location, chosen: false, reason: reason(), score: score), summary: "not chosen")
    }
    mutating func filtered(_ reason: String, _ location: LocationID) {
        add(LocationDecision(locationID: location, chosen: false, reason: reason, score: 0), summary: reason)
    }
    private mutating func add(_ decision: LocationDecision, summary: String) {
        if decisions.count < limit {
            decisions.append(decision)
            summaries.append(summary)
        } else {
            Self.count(summary, in: &omitted)
        }
    }

    private static func count(_ summary: String, in omitted: inout [(summary: String, count: Int)]) {
        if let index = omitted.firstIndex(where: { $0.summary == summary }) {
            omitted[index].count += 1
        } else {
            omitted.append((summary, 1))
        }
    }
    func finish() -> [LocationDecision] {
        var result = decisions
        var omitted = omitted
        // Chosen entries always survive; the cap applies to the rest, which are still counted.
        let chosenCount = result.filter(\.chosen).count
        if result.count > max(limit, chosenCount) {
            for summary in summaries[max(limit, chosenCount)...] { Self.count(summary, in: &omitted) }
            result = Array(result.prefix(max(limit, chosenCount)))
        }
        for (summary, count) in omitted {
            result.append(LocationDecision(locationID: LocationID("*"), chosen: false, reason: "\(count) more: \(summary)", score: 0))
        }
        return result
    }
}
