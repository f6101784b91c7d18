// How the router scores a shipment: the best carrier rate for its distance and weight, plus
// the location's fixed terms (processing, distance, capacity, priority, inventory depth).

extension Router {
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
}
