// `--compare A B --replications N`: both policies on the same N seeds (common random numbers, run by
// Replication.swift), each KPI's mean with a 95% interval and the paired interval of B − A.
// Aggregates depend only on the seeds, never on the parallelism or the order runs finish in.

import Foundation

/// How a KPI's value reads.
public enum KPIUnit: String, Codable, Sendable {
    /// A number of things (printed as an integer).
    case count
    /// A share in 0...1 (printed as a percentage with one decimal; differences in percentage points).
    case rate
    /// Major units of the run's currency (printed "USD 1,234.56").
    case money
    /// Simulated days (two decimals).
    case days
}

/// One KPI of the comparison: the key scripts use, the name people read, and where its value is.
struct KPIDefinition: Sendable {
    let key: String
    let name: String
    let section: String
    let unit: KPIUnit
    let better: KPIPreference
    let value: @Sendable (Report) -> Double
}

/// Which way a KPI is better, so the verdict can say "better" or "worse" (neither: a volume, not a quality).
public enum KPIPreference: String, Codable, Sendable {
    case higher, lower, neither
}

enum KPICatalogue {
    static let orders = "Orders"
    static let speed = "Delivery speed (customer's order → delivery, whatever was promised)"
    static let promise = "Promise (what the policy promised, and whether it kept it)"
    static let cost = "Fulfillment cost (shipping + processing)"
    static let operations = "Operations"
    static let checkout = "Checkout (scenario checkout: options and carts)"

    /// The KPIs the reports have (the checkout's only when a shopper checked out).
    static func applicable(_ reports: [Report]) -> [KPIDefinition] {
        let checkouts = reports.contains { $0.kpis.checkout != nil }
        return all.filter { checkouts || $0.section != checkout }
    }

    static let all: [KPIDefinition] = [
        KPIDefinition(key: "orders_submitted", name: "Orders submitted", section: orders, unit: .count, better: .neither) { Double($0.orders.submitted) },
        KPIDefinition(key: "orders_acknowledged", name: "Orders captured", section: orders, unit: .count, better: .neither) { Double($0.orders.acknowledged) },
        KPIDefinition(key: "fill_rate", name: "Fill rate (units allocated at capture)", section: orders, unit: .rate, better: .higher) { $0.kpis.fillRate },
        KPIDefinition(key: "backorder_rate", name: "Orders with backordered units", section: orders, unit: .rate, better: .lower) { $0.kpis.backorderRate },
        KPIDefinition(key: "split_rate", name: "Orders split into several shipments", section: orders, unit: .rate, better: .lower) { $0.kpis.splitRate },
        KPIDefinition(key: "mean_order_to_delivery_days", name: "Mean order-to-delivery time", section: speed, unit: .days, better: .lower) { $0.delivery.meanOrderToDeliveryDays },
        KPIDefinition(key: "mean_transit_days", name: "Mean carrier transit (handover → delivery)", section: speed, unit: .days, better: .lower) { $0.delivery.meanTransitDays },
        KPIDefinition(key: "next_day_share", name: "Delivered by the next day", section: speed, unit: .rate, better: .higher) { $0.delivery.nextDayShare },
        KPIDefinition(key: "two_day_share", name: "Delivered within 2 days", section: speed, unit: .rate, better: .higher) { $0.delivery.twoDayShare },
        KPIDefinition(key: "mean_promised_days", name: "Mean promised days (order → promised day)", section: promise, unit: .days, better: .lower) { $0.delivery.meanPromisedDays },
        KPIDefinition(key: "mean_actual_days", name: "Mean actual days (order → delivery day)", section: promise, unit: .days, better: .lower) { $0.delivery.meanActualDays },
        KPIDefinition(key: "on_time_rate", name: "On time vs the policy's own promise", section: promise, unit: .rate, better: .higher) { $0.kpis.onTimeRate },
        KPIDefinition(key: "total_fulfillment_cost", name: "Total fulfillment cost", section: cost, unit: .money, better: .lower) { Double($0.cost.totalMinor) / 100 },
        KPIDefinition(key: "shipping_cost", name: "Shipping (carrier rates)", section: cost, unit: .money, better: .lower) { Double($0.cost.shippingMinor) / 100 },
        KPIDefinition(key: "processing_cost", name: "Processing (locations)", section: cost, unit: .money, better: .lower) { Double($0.cost.processingMinor) / 100 },
        KPIDefinition(key: "cost_per_order", name: "Fulfillment cost per order handed over", section: cost, unit: .money, better: .lower) { $0.cost.perOrder },
        KPIDefinition(key: "average_shipping_cost", name: "Estimated cost per shipping order at capture", section: cost, unit: .money, better: .lower) { $0.kpis.averageShippingCost },
        KPIDefinition(key: "parcels", name: "Parcels handed to the carrier", section: operations, unit: .count, better: .neither) { Double($0.delivery.parcels) },
        KPIDefinition(key: "deliveries", name: "Deliveries confirmed before the horizon", section: operations, unit: .count, better: .neither) { Double($0.kpis.deliveries) },
        KPIDefinition(key: "store_rejections", name: "Store rejections (re-routed)", section: operations, unit: .count, better: .lower) { Double($0.kpis.storeRejections) },
        KPIDefinition(key: "cancellations", name: "Cancellations", section: operations, unit: .count, better: .lower) { Double($0.kpis.cancellations) },
        KPIDefinition(key: "cart_conversion_rate", name: "Carts converted into orders / carts reserved", section: checkout, unit: .rate, better: .higher) { $0.kpis.checkout?.conversionRate ?? 0 },
        KPIDefinition(key: "option_promise_agreement", name: "Orders given the promise their option showed", section: checkout, unit: .rate, better: .higher) { $0.kpis.checkout?.optionOrderPromiseAgreement ?? 0 },
    ]
}

/// One KPI under both policies over the replications.
public struct KPIComparison: Codable, Sendable {
    /// For scripts (snake_case, stable).
    public var key: String
    /// For people.
    public var name: String
    public var section: String
    public var unit: KPIUnit
    /// Which way is better.
    public var better: KPIPreference
    public var a: Estimate
    public var b: Estimate
    /// B − A, paired per seed.
    public var difference: Estimate
    public var verdict: DifferenceVerdict
    /// Per replication, in seed order.
    public var valuesA: [Double]
    public var valuesB: [Double]

    /// The verdict, and whether B is better or worse on this KPI when the difference is beyond noise.
    public var verdictText: String {
        switch (verdict, better) {
        case (.higher, .higher), (.lower, .lower): verdict.rawValue + " (better)"
        case (.higher, .lower), (.lower, .higher): verdict.rawValue + " (worse)"
        default: verdict.rawValue
        }
    }
}

/// One channel under both policies: means over the replications (nil: no orders in that channel).
public struct ChannelComparison: Codable, Sendable {
    public var channel: String
    public var a: ChannelFigures?
    public var b: ChannelFigures?
}

/// One run of a replicated experiment (one policy on one seed).
public struct ReplicationRun: Codable, Sendable {
    public var policy: String
    public var seed: UInt64
    public var passed: Bool
    public var failedChecks: [String]
    public var wallSeconds: Double
    public var digests: Digests
}

public struct KPIDifference: Codable, Sendable {
    public var name: String
    public var a: Double
    public var b: Double
    public var difference: Double
}

public struct Comparison: Codable, Sendable {
    public var policyA: String
    public var policyB: String
    /// Means over the replications, B − A (kept from the one-seed comparison; `estimates` has the intervals).
    public var kpis: [KPIDifference]
    public var replications: Int
    /// seed, seed + 1, …: the same for both policies.
    public var seeds: [UInt64]
    /// Runs at a time (the results do not depend on it).
    public var parallelism: Int
    public var currency: String
    public var estimates: [KPIComparison]
    public var channels: [ChannelComparison]
    /// Cumulative share of parcels delivered within k calendar days of the order, k = 0…7, all replications.
    public var deliveredWithinDaysA: [Double]
    public var deliveredWithinDaysB: [Double]
    /// Every run, A's then B's, in seed order.
    public var replicationRuns: [ReplicationRun]
    /// The first seed's full reports, A then B (the charts' series).
    public var runs: [Report]

    public var allPassed: Bool { replicationRuns.allSatisfy(\.passed) }
}

extension Simulation {
    /// The same seeded traffic under two policies, `plan.replications` seeds each, KPIs side by side.
    public static func compare(_ scenario: Scenario, policyA: String, policyB: String, options: SimulationOptions,
                               plan: ReplicationPlan = ReplicationPlan()) async throws -> SimulationOutcome {
        try plan.validate()
        let seeds = plan.seeds(from: options.seed ?? scenario.seed)
        let jobs: [ReplicationJob] = [policyA, policyB].flatMap { policy in seeds.map { ReplicationJob(policyFile: policy, seed: $0) } }
        let (first, done, width) = try await runReplications(scenario, jobs: jobs, options: options, plan: plan)
        let comparison = makeComparison(reportsA: Array(done[..<seeds.count]), reportsB: Array(done[seeds.count...]),
                                        seeds: seeds, parallelism: width)
        var outcome = first
        outcome.report.comparison = comparison
        outcome.report.passed = comparison.allPassed
        outcome.report.policy = "\(comparison.policyA) vs \(comparison.policyB)"
        return outcome
    }

    /// The comparison of two policies' reports, paired by position (the same seed at the same index).
    public static func makeComparison(reportsA: [Report], reportsB: [Report], seeds: [UInt64], parallelism: Int) -> Comparison {
        precondition(!reportsA.isEmpty && reportsA.count == reportsB.count && reportsA.count == seeds.count, "one report per seed and policy")
        let estimates = KPICatalogue.applicable(reportsA + reportsB).map { kpi -> KPIComparison in
            let valuesA = reportsA.map(kpi.value), valuesB = reportsB.map(kpi.value)
            let difference = Statistics.pairedDifference(a: valuesA, b: valuesB)
            return KPIComparison(key: kpi.key, name: kpi.name, section: kpi.section, unit: kpi.unit, better: kpi.better,
                                 a: Statistics.estimate(valuesA), b: Statistics.estimate(valuesB), difference: difference,
                                 verdict: DifferenceVerdict(difference), valuesA: valuesA, valuesB: valuesB)
        }
        var channelNames: [String] = []
        for report in reportsA + reportsB { for figures in report.channels where !channelNames.contains(figures.channel) { channelNames.append(figures.channel) } }
        let channels = channelNames.map { name in
            ChannelComparison(channel: name, a: meanChannel(name, reportsA), b: meanChannel(name, reportsB))
        }
        let runs = zip(reportsA + reportsB, seeds + seeds).map { ReplicationRun($0, seed: $1) }
        return Comparison(policyA: reportsA[0].policy, policyB: reportsB[0].policy,
                          kpis: estimates.map { KPIDifference(name: $0.key, a: $0.a.mean, b: $0.b.mean, difference: $0.difference.mean) },
                          replications: seeds.count, seeds: seeds, parallelism: parallelism, currency: reportsA[0].cost.currency,
                          estimates: estimates, channels: channels,
                          deliveredWithinDaysA: cumulativeShares(reportsA), deliveredWithinDaysB: cumulativeShares(reportsB),
                          replicationRuns: runs, runs: [reportsA[0], reportsB[0]])
    }

    /// Means over the replications; a replication without the channel counts as zero orders.
    static func meanChannel(_ name: String, _ reports: [Report]) -> ChannelFigures? {
        let found = reports.map { report in report.channels.first { $0.channel == name } }
        guard found.contains(where: { $0 != nil }) else { return nil }
        let present = found.compactMap { $0 }
        // Counts: over every replication (absent = 0); ratios: over the replications that had the channel.
        func mean(_ value: (ChannelFigures) -> Double) -> Double { present.reduce(0) { $0 + value($1) } / Double(reports.count) }
        func meanPresent(_ value: (ChannelFigures) -> Double) -> Double { present.reduce(0) { $0 + value($1) } / Double(present.count) }
        return ChannelFigures(channel: name, orders: mean(\.orders), fillRate: meanPresent(\.fillRate), parcels: mean(\.parcels),
                              meanDeliveryDays: meanPresent(\.meanDeliveryDays), costPerOrder: meanPresent(\.costPerOrder))
    }

    static func cumulativeShares(_ reports: [Report]) -> [Double] {
        var counts = Array(repeating: 0, count: deliveredByDayBuckets)
        for report in reports { for (day, count) in report.delivery.deliveredByDay.enumerated() where day < counts.count { counts[day] += count } }
        let total = counts.reduce(0, +)
        var running = 0
        return counts.map { count in running += count; return total == 0 ? 0 : Double(running) / Double(total) }
    }
}
