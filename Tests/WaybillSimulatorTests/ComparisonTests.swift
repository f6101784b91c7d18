// Policy comparison: the interval arithmetic against values computed by hand, the replication limits,
// delivery-speed and cost figures moving the expected way between the cheapest and the fastest policy,
// both policies in every table and chart, and aggregates that do not depend on the parallelism.

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

private func policy(_ name: String) -> String { simulatorDirectory.appendingPathComponent("policies/\(name).json").path }

private func compareShort(replications: Int, parallelism: Int) async throws -> SimulationOutcome {
    var options = SimulationOptions()
    options.driver = .inProcess
    options.measureLatency = false
    return try await Simulation.compare(try shortScenario(), policyA: policy("cheapest"), policyB: policy("fastest"), options: options,
                                        plan: ReplicationPlan(replications: replications, parallelism: parallelism))
}

@Suite struct StatisticsTests {
    @Test func intervalMatchesHandComputedValues() {
        // 10, 12, 14, 16, 18: mean 14; squared deviations 16+4+0+4+16 = 40, s² = 40/4 = 10, s = 3.16228;
        // t(0.975, 4) = 2.776; half-width = 2.776 × 3.16228 / √5 = 3.92587.
        let estimate = Statistics.estimate([10, 12, 14, 16, 18])
        #expect(estimate.mean == 14)
        #expect(abs(estimate.standardDeviation! - 3.16228) < 1e-5)
        #expect(abs(estimate.halfWidth! - 3.92587) < 1e-4)
        #expect(abs(estimate.low! - 10.07413) < 1e-4 && abs(estimate.high! - 17.92587) < 1e-4)
        #expect(estimate.replications == 5)
    }

    @Test func pairedDifferenceMatchesHandComputedValues() {
        // Differences b − a = 1, 2, 2: mean 5/3; squared deviations 4/9 + 1/9 + 1/9 = 2/3, s² = 1/3, s = 0.57735;
        // t(0.975, 2) = 4.303; half-width = 4.303 × 0.57735 / √3 = 1.43433: [0.23233, 3.10100], above 0.
        let difference = Statistics.pairedDifference(a: [1, 2, 3], b: [2, 4, 5])
        #expect(abs(difference.mean - 1.66667) < 1e-5)
        #expect(abs(difference.halfWidth! - 1.43433) < 1e-4)
        #expect(abs(difference.low! - 0.23233) < 1e-4)
        #expect(DifferenceVerdict(difference) == .higher)
        // Differences 1, −1, 1: mean 1/3, s² = (4/9 + 16/9 + 4/9) / 2 = 4/3, s = 1.15470; half-width 4.303 × 1.15470 / √3 = 2.86867.
        let noisy = Statistics.pairedDifference(a: [10, 12, 14], b: [11, 11, 15])
        #expect(abs(noisy.halfWidth! - 2.86867) < 1e-4)
        #expect(DifferenceVerdict(noisy) == .withinNoise)
        #expect(DifferenceVerdict(Statistics.pairedDifference(a: [5, 6], b: [4, 5])) == .lower)
        #expect(DifferenceVerdict(Statistics.pairedDifference(a: [3, 4], b: [3, 4])) == .identical)
    }

    @Test func tQuantilesFromTheTableThenTheNormal() {
        #expect(Statistics.tCritical95(degreesOfFreedom: 1) == 12.706)
        #expect(Statistics.tCritical95(degreesOfFreedom: 4) == 2.776)
        #expect(Statistics.tCritical95(degreesOfFreedom: 30) == 2.042)
        #expect(Statistics.tCritical95(degreesOfFreedom: 31) == 1.96)
    }

    @Test func oneReplicationHasNoInterval() {
        let estimate = Statistics.estimate([0.25])
        #expect(estimate.mean == 0.25 && estimate.halfWidth == nil && estimate.low == nil && estimate.high == nil)
        #expect(!estimate.contains(0.25))
        #expect(DifferenceVerdict(Statistics.pairedDifference(a: [1], b: [2])) == .noInterval)
        #expect(KPIText.estimate(estimate, .rate, currency: "USD") == "25.0%")
    }

    @Test func valuesPrintWithTheirUnits() {
        #expect(money(1234.5, "USD") == "USD 1,234.50")
        #expect(money(-0.05, "EUR") == "-EUR 0.05")
        #expect(KPIText.value(812, .count, currency: "USD") == "812")
        #expect(KPIText.value(0.9731, .rate, currency: "USD") == "97.3%")
        #expect(KPIText.value(1.519, .days, currency: "USD") == "1.52 d")
        #expect(KPIText.difference(-0.0161, .rate, currency: "USD") == "-1.6 pts")
        let estimate = Estimate(mean: 17.99, low: 17.5, high: 18.48, halfWidth: 0.49, standardDeviation: 0.4, replications: 5)
        #expect(KPIText.estimate(estimate, .money, currency: "USD") == "USD 17.99 ± 0.49")
    }

    @Test func verdictSaysBetterOrWorseOnlyBeyondNoise() {
        func row(_ better: KPIPreference, a: [Double], b: [Double]) -> KPIComparison {
            let difference = Statistics.pairedDifference(a: a, b: b)
            return KPIComparison(key: "k", name: "K", section: "S", unit: .money, better: better, a: Statistics.estimate(a), b: Statistics.estimate(b),
                                 difference: difference, verdict: DifferenceVerdict(difference), valuesA: a, valuesB: b)
        }
        #expect(row(.lower, a: [10, 11, 12], b: [20, 21, 23]).verdictText == "B higher (worse)")
        #expect(row(.higher, a: [10, 11, 12], b: [20, 21, 23]).verdictText == "B higher (better)")
        #expect(row(.lower, a: [20, 21, 23], b: [10, 11, 12]).verdictText == "B lower (better)")
        #expect(row(.neither, a: [10, 11, 12], b: [20, 21, 23]).verdictText == "B higher")
        #expect(row(.lower, a: [10, 12, 14], b: [11, 11, 15]).verdictText == "within noise")
    }

    @Test func replicationLimitsAreEnforced() throws {
        try ReplicationPlan(replications: 1, parallelism: 1).validate()
        try ReplicationPlan(replications: ReplicationPlan.replicationsMax, parallelism: ReplicationPlan.parallelismMax).validate()
        #expect(throws: ReplicationError.self) { try ReplicationPlan(replications: 0, parallelism: 1).validate() }
        #expect(throws: ReplicationError.self) { try ReplicationPlan(replications: ReplicationPlan.replicationsMax + 1, parallelism: 1).validate() }
        #expect(throws: ReplicationError.self) { try ReplicationPlan(replications: 2, parallelism: 0).validate() }
        do {
            try ReplicationPlan(replications: 0, parallelism: 1).validate()
        } catch {
            #expect("\(error)".contains("--replications must be 1...\(ReplicationPlan.replicationsMax)"))
        }
        #expect(ReplicationPlan(replications: 3).seeds(from: 42) == [42, 43, 44])
    }

    @Test func severalRunsAgainstOneTargetServerAreRefused() async throws {
        var options = SimulationOptions()
        options.driver = .live
        options.target = "127.0.0.1:1"
        await #expect(throws: ReplicationError.self) {
            _ = try await Simulation.compare(try shortScenario(), policyA: policy("cheapest"), policyB: policy("fastest"), options: options,
                                             plan: ReplicationPlan(replications: 1, parallelism: 1))
        }
        await #expect(throws: ReplicationError.self) {
            _ = try await Simulation.replicate(try shortScenario(), options: options, plan: ReplicationPlan(replications: 2, parallelism: 1))
        }
    }
}

@Suite struct ComparisonTests {
    @Test func singleRunReportsSpeedCostAndChannels() async throws {
        let outcome = try await inProcess(try shortScenario())
        let object = try JSONSerialization.jsonObject(with: try outcome.report.json()) as! [String: Any]
        let delivery = try #require(object["delivery"] as? [String: Any])
        for key in ["parcels", "mean_transit_days", "mean_order_to_delivery_days", "next_day_share", "two_day_share",
                    "mean_promised_days", "mean_actual_days", "on_promise_share", "delivered_by_day"] {
            #expect(delivery[key] != nil, "delivery.\(key)")
        }
        let cost = try #require(object["cost"] as? [String: Any])
        #expect(cost["currency"] as? String == "USD")
        let report = outcome.report
        #expect(report.delivery.parcels > 0)
        #expect(report.cost.totalMinor == report.cost.shippingMinor + report.cost.processingMinor && report.cost.totalMinor > 0)
        #expect(report.delivery.deliveredByDay.reduce(0, +) == report.delivery.parcels)
        // Every channel of the scenario that captured orders, and the channels add up to the run.
        #expect(Set(report.channels.map(\.channel)) == Set(try shortScenario().channels.map(\.channel)))
        #expect(Int(report.channels.reduce(0) { $0 + $1.orders }) == report.orders.acknowledged)
        #expect(Int(report.channels.reduce(0) { $0 + $1.parcels }) == report.delivery.parcels)
        #expect(report.summary.contains("fulfillment cost: USD "))
    }

    @Test func fastestDeliversSoonerAndCostsMoreThanCheapest() async throws {
        let comparison = try #require(try await compareShort(replications: 1, parallelism: 2).report.comparison)
        func kpi(_ key: String) throws -> KPIComparison { try #require(comparison.estimates.first { $0.key == key }) }
        #expect(comparison.policyA == "cheapest" && comparison.policyB == "fastest")
        #expect(try kpi("mean_order_to_delivery_days").b.mean < kpi("mean_order_to_delivery_days").a.mean)
        #expect(try kpi("mean_transit_days").b.mean < kpi("mean_transit_days").a.mean)
        #expect(try kpi("next_day_share").b.mean > kpi("next_day_share").a.mean)
        #expect(try kpi("cost_per_order").b.mean > kpi("cost_per_order").a.mean)
        // Both run the same traffic: the same orders submitted.
        #expect(try kpi("orders_submitted").difference.mean == 0)
        // One replication: no interval anywhere, and the report says so.
        #expect(comparison.estimates.allSatisfy { $0.verdict == .noInterval && $0.a.halfWidth == nil && $0.difference.halfWidth == nil })
        let outcome = try await compareShort(replications: 1, parallelism: 1)
        #expect(outcome.report.summary.contains("one replication: no interval"))
        #expect(outcome.report.html.contains("One replication: no interval"))
    }

    @Test func everyTableAndChartShowsBothPolicies() async throws {
        let report = try await compareShort(replications: 2, parallelism: 2).report
        let html = report.html
        let tables = html.components(separatedBy: "<table>").dropFirst().map { $0.components(separatedBy: "</table>")[0] }
        #expect(tables.count >= 4)
        for table in tables { #expect(table.contains("cheapest") && table.contains("fastest"), "a table without both policies: \(table.prefix(200))") }
        let charts = html.components(separatedBy: "<svg").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
        #expect(charts.count >= 6)
        for chart in charts {
            #expect(chart.contains("A: cheapest") && chart.contains("B: fastest"), "a chart without both policies: \(chart.prefix(200))")
        }
        // The terminal: every block (separated by blank lines) names both policies.
        let blocks = report.summary.components(separatedBy: "\n\n")
        #expect(blocks.count >= 6)
        for block in blocks { #expect(block.contains("cheapest") && block.contains("fastest"), "a block without both policies: \(block.prefix(200))") }
        // Every KPI row has a human name and a key; no four-decimal numbers.
        #expect(report.comparison!.estimates.allSatisfy { !$0.name.isEmpty && !$0.key.contains(" ") })
        #expect(report.summary.range(of: #"\d\.\d{4}"#, options: .regularExpression) == nil)
        #expect(report.summary.contains("USD "))
    }

    @Test func onePolicyReplicatedGivesIntervalsOverPlainRuns() async throws {
        var options = SimulationOptions()
        options.driver = .inProcess
        options.measureLatency = false
        options.policyFile = policy("fastest")
        let report = try await Simulation.replicate(try shortScenario(), options: options, plan: ReplicationPlan(replications: 2, parallelism: 2)).report
        let replicated = try #require(report.replicated)
        #expect(replicated.seeds == [42, 43] && replicated.runs.map(\.seed) == [42, 43])
        // Each replication is the plain run of its seed.
        options.seed = 43
        let plain = try await Simulation.run(try shortScenario(), options: options).report
        let fill = try #require(replicated.estimates.first { $0.key == "fill_rate" })
        #expect(fill.values[1] == plain.kpis.fillRate)
        let days = try #require(replicated.estimates.first { $0.key == "mean_order_to_delivery_days" })
        #expect(days.values[1] == plain.delivery.meanOrderToDeliveryDays && days.estimate.halfWidth != nil)
        #expect(report.summary.contains("Over 2 replications") && report.html.contains("Over 2 replications"))
        // One replication is a plain run.
        let single = try await Simulation.replicate(try shortScenario(), options: options, plan: ReplicationPlan(replications: 1, parallelism: 2)).report
        #expect(single.replicated == nil && single.digests.trace == plain.digests.trace)
    }

    @Test func aggregatesDoNotDependOnParallelism() async throws {
        let one = try #require(try await compareShort(replications: 2, parallelism: 1).report.comparison)
        let two = try #require(try await compareShort(replications: 2, parallelism: 2).report.comparison)
        #expect(one.seeds == [42, 43] && two.seeds == one.seeds)
        #expect(one.estimates.map(\.valuesA) == two.estimates.map(\.valuesA))
        #expect(one.estimates.map(\.valuesB) == two.estimates.map(\.valuesB))
        #expect(one.estimates.map(\.difference) == two.estimates.map(\.difference))
        #expect(one.channels.map(\.a) == two.channels.map(\.a) && one.channels.map(\.b) == two.channels.map(\.b))
        #expect(one.replicationRuns.map(\.digests.state) == two.replicationRuns.map(\.digests.state))
        // Two different seeds per policy: a real spread, so an interval.
        #expect(Set(one.replicationRuns.prefix(2).map(\.digests.trace)).count == 2)
        #expect(one.estimates.allSatisfy { $0.a.halfWidth != nil && $0.verdict != .noInterval })
    }
}
