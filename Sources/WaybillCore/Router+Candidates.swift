// The router's first step: the locations that may ship an order (every filter, with the reason
// each location was filtered out) and their fixed score terms.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Router {
    func gatherCandidates(_ request: RoutingRequest, policy: RoutingPolicy, scoring: Weights, network: NetworkState,
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
            explanation.filtered(.pickupStoreHasNoStock, "pickup store has no stock of any line", pickup)
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
                explanation.filtered(.unknownLocation, "unknown location (not in the network)", unknown[unknownIndex])
                unknownIndex += 1
            }
            let slot = Int(slotOfSite[site])
            let base = slot * lineCount
            var covered: Int32 = 0
            for line in 0..<lineCount { covered += rawSupply[base + line] }
            let flags = siteFlags[site]
            if !flags.contains(.active) { explanation.filtered(.inactive, "inactive", locationID); continue }
            if !request.excludedLocationIDs.isEmpty && request.excludedLocationIDs.contains(locationID) {
                explanation.filtered(.excluded, "excluded: rejected this order before", locationID); continue
            }
            switch request.method {
            case .ship where !flags.contains(.ships): explanation.filtered(.doesNotShip, "does not ship", locationID); continue
            case .pickup where !flags.contains(.pickup): explanation.filtered(.doesNotServePickup, "does not serve pickup", locationID); continue
            default: break
            }
            if covered == 0 { explanation.filtered(.noAvailableStock, "no available stock", locationID); continue }
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
            if capacityLeft <= 0 { explanation.filtered(.capacityExhausted, "capacity exhausted for day \(day)", locationID); continue }
            var optionMask: UInt64 = 0
            if request.method == .ship && network.hasCarriers {
                for (index, option) in sites[site].options.enumerated() where index < 64
                    && (option.service.dailyCapacityPerLocation == 0
                        || capacity.used(CapacityKey(locationID: locationID, resource: option.resource, day: day)) < option.service.dailyCapacityPerLocation) {
                    optionMask |= 1 << UInt64(index)
                }
                if optionMask == 0 { explanation.filtered(.noCarrierCapacity, "no carrier service with capacity", locationID); continue }
            }
            // A shipment needs both ends located; pickup (no destination) travels nowhere.
            var distance = destination == nil ? 0.0 : Self.unknownDistanceKilometres
            if to != nil && sites[site].hasCoordinates {
                let sinLatitude = sin((toLatitude - sites[site].latitudeRadians) / 2)
                let sinLongitude = sin((toLongitude - sites[site].longitudeRadians) / 2)
                let a = sinLatitude * sinLatitude + sites[site].cosineLatitude * toCosine * sinLongitude * sinLongitude
                distance = 2 * 6371.0088 * asin(min(1, a.squareRoot()))
            }
            var rejectedBy: (code: LocationDecision.Code, reason: String)?
            for filter in policy.filters {
                switch filter {
                case .locationType(let types):
                    let type = sites[site].location.type
                    if !types.contains(type) { rejectedBy = (.policyLocationType, "location type \(type.name)") }
                case .region(let regions, let sameRegion):
                    let region = sites[site].location.region
                    if sameRegion && region != request.shipToRegion { rejectedBy = (.policyRegion, "region \(region) is not the ship-to region") }
                    if !regions.isEmpty && !regions.contains(region) { rejectedBy = (.policyRegion, "region \(region) not allowed") }
                case .channelEligibility: if !sites[site].location.sells(to: request.channel) { rejectedBy = (.policyChannel, "does not sell to \(request.channel.name)") }
                case .capacityLeft(let minimum): if capacityLeft < minimum { rejectedBy = (.policyCapacityLeft, "capacity left \(capacityLeft) < \(minimum)") }
                case .enoughStock(let wholeOrder):
                    var full = 0
                    for line in 0..<lineCount where rawSupply[base + line] == request.lines[line].quantity { full += 1 }
                    if wholeOrder ? full < lineCount : full == 0 { rejectedBy = (.policyStock, wholeOrder ? "cannot ship the whole order" : "cannot fully supply any line") }
                case .maxDistance(let kilometres):
                    if distance > kilometres {
                        rejectedBy = (.policyDistance, distance >= Self.unknownDistanceKilometres
                            ? "distance unknown (\(to == nil ? "destination" : "location") has no coordinates) > \(Int(kilometres)) km"
                            : "\(Int(distance)) km > \(Int(kilometres)) km")
                    }
                }
                if rejectedBy != nil { break }
            }
            if let (code, reason) = rejectedBy { explanation.filtered(code, "filtered: " + reason, locationID); continue }

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
            explanation.filtered(.unknownLocation, "unknown location (not in the network)", unknown[unknownIndex])
            unknownIndex += 1
        }
        return candidates
    }
}
