// The simulator's own tests: determinism, each correctness check catching a planted violation,
// the smoke scenario in-process and live, and the report's required fields.

import Foundation
import Testing
import WaybillBenchmarks
import WaybillCore
@testable import WaybillSimulator

/// simulator/ in this checkout.
let simulatorDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("simulator")

func smokeScenario() throws -> Scenario {
    try Scenario.load(path: simulatorDirectory.appendingPathComponent("scenarios/smoke.json").path)
}

/// The smoke scenario, shortened further for tests that run it several times.
func shortScenario() throws -> Scenario {
    var scenario = try smokeScenario()
    scenario.durationHours = 1
    scenario.drainHours = 0.5
    return scenario
}

func inProcess(_ scenario: Scenario, seed: UInt64? = nil, traceLines: Int = 0) async throws -> SimulationOutcome {
    var options = SimulationOptions()
    options.driver = .inProcess
    options.seed = seed
    options.traceLines = traceLines
    options.measureLatency = false
    return try await Simulation.run(scenario, options: options)
}

@Suite struct EngineTests {
    @Test func eventsComeOutInTimePriorityAndInsertionOrder() {
        var queue = EventQueue<Int>(start: 0)
        queue.schedule(at: 10, priority: 5, 1)
        queue.schedule(at: 5, priority: 9, 2)
        queue.schedule(at: 10, priority: 1, 3)
        queue.schedule(at: 10, priority: 5, 4)
        queue.schedule(at: 5, priority: 9, 5)
        var order: [Int] = []
        while let event = queue.pop() { order.append(event.payload) }
        #expect(order == [2, 5, 3, 1, 4])
        #expect(queue.now == 10)
    }

    @Test func streamsAreIndependentAndSeeded() {
        var a = SimRandom(seed: 7, stream: "arrivals")
        var b = SimRandom(seed: 7, stream: "arrivals")
        var c = SimRandom(seed: 7, stream: "basket")
        var d = SimRandom(seed: 8, stream: "arrivals")
        let first = (0..<4).map { _ in a.next() }
        #expect(first == (0..<4).map { _ in b.next() })
        #expect(first != (0..<4).map { _ in c.next() })
        #expect(first != (0..<4).map { _ in d.next() })
    }

    @Test func aliasTableFollowsItsWeights() {
        let table = AliasTable(weights: [1, 0, 3])
        var random = SimRandom(seed: 1)
        var counts = [0, 0, 0]
        for _ in 0..<40_000 { counts[table.draw(&random)] += 1 }
        #expect(counts[1] == 0)
        #expect(abs(Double(counts[2]) / Double(counts[0]) - 3) < 0.2)
    }

    @Test func engineBenchmarkIsDeterministic() {
        let a = EngineBenchmark.run(events: 50_000, seed: 3)
        let b = EngineBenchmark.run(events: 50_000, seed: 3)
        #expect(a.events == 50_000)
        #expect(a.digest == b.digest)
        #expect(a.customers > 0)
    }
}

@Suite struct ScenarioTests {
    @Test func everyShippedScenarioLoads() throws {
        let directory = simulatorDirectory.appendingPathComponent("scenarios")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(names == ["black-friday.json", "erp-outage.json", "kill-restart.json", "omnichannel-day.json", "pause.json", "product-drop.json",
                          "smoke.json", "store-rejections.json", "three-days.json"])
        for name in names { _ = try Scenario.load(path: directory.appendingPathComponent(name).path) }
    }

    @Test func unknownKeysAreErrors() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("typo-\(getpid()).json")
        try Data(#"{"channels": [{"channel": "web", "orders_per_hour": 1}], "duration_hourz": 3}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: ScenarioError.self) { try Scenario.load(path: file.path) }
    }

    /// Every time field past `Scenario.timeSpanHoursMax`, negative, or 1e308 is refused naming the
    /// field; the scenario fuzz target's finding (duration_hours 18446744073709551615 trapped in
    /// durationMilliseconds) is one of them. At the limit the scenario loads.
    @Test func timesPastTheLimitAreRefusedNamingTheField() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spans-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ fields: String) throws -> Scenario {
            let file = directory.appendingPathComponent("scenario.json")
            try Data(#"{"channels": [{"channel": "web", "orders_per_hour": 1, "bursts": [{"start_hour": 1, "duration_hours": 1}]}], "# .utf8
                + Data(fields.utf8) + Data("}".utf8)).write(to: file)
            return try Scenario.load(path: file.path)
        }
        func refusal(_ fields: String) -> String? {
            do { _ = try load(fields); return nil } catch let error as ScenarioError { return error.description } catch { return "\(error)" }
        }
        let cases: [(String, String)] = [
            (#""duration_hours": 18446744073709551615"#, "duration_hours"),
            (#""duration_hours": 8785"#, "duration_hours"),
            (#""drain_hours": -1"#, "drain_hours"),
            (#""peaks": [{"start_hour": 1e300, "duration_hours": 1}]"#, "peaks[0].start_hour"),
            (#""peaks": [{"start_hour": 1, "duration_minutes": 1e12}]"#, "peaks[0].duration_hours"),
            (#""lifecycle": {"pick_minutes": 1e308}"#, "lifecycle.pick_minutes"),
            (#""lifecycle": {"return_after_days": 367}"#, "lifecycle.return_after_days"),
            (#""erp": {"poll_interval_ms": 9223372036854775807}"#, "erp.poll_interval_ms"),
            (#""clients": {"retry_backoff_ms": -5}"#, "clients.retry_backoff_ms"),
            (#""faults": [{"target": "erp", "start_hour": 2, "duration_minutes": 1e20}]"#, "faults[0].duration_minutes"),
        ]
        for (fields, name) in cases {
            let message = refusal(fields)
            #expect(message?.hasPrefix(name + " must be a time between 0 and 8784 hours") == true, "\(fields): \(message ?? "accepted")")
        }
        let atLimit = try load(#""duration_hours": 8784, "drain_hours": 0, "lifecycle": {"return_after_days": 366}"#)
        #expect(atLimit.durationMilliseconds == 8_784 * 3_600_000)
        let burst = #""channels": [{"channel": "web", "orders_per_hour": 1, "bursts": [{"start_hour": -3, "duration_hours": 1}]}]"#
        let file = directory.appendingPathComponent("burst.json")
        try Data("{\(burst)}".utf8).write(to: file)
        #expect { try Scenario.load(path: file.path) } throws: { ($0 as? ScenarioError)?.description.hasPrefix("web.bursts[0].start_hour must be") == true }
    }
}

@Suite struct DeterminismTests {
    @Test func sameSeedSameTraceAndState() async throws {
        let scenario = try shortScenario()
        let a = try await inProcess(scenario, traceLines: 500)
        let b = try await inProcess(scenario, traceLines: 500)
        #expect(a.traceLines == b.traceLines)
        #expect(a.report.digests.trace == b.report.digests.trace)
        #expect(a.report.digests.schedule == b.report.digests.schedule)
        #expect(a.report.digests.state == b.report.digests.state)
        #expect(a.report.orders.submitted == b.report.orders.submitted)
        #expect(a.report.orders.submitted > 100)
    }

    @Test func differentSeedDifferentRun() async throws {
        let scenario = try shortScenario()
        let a = try await inProcess(scenario, seed: 1)
        let b = try await inProcess(scenario, seed: 2)
        #expect(a.report.digests.trace != b.report.digests.trace)
        #expect(a.report.digests.schedule != b.report.digests.schedule)
        #expect(a.report.digests.state != b.report.digests.state)
    }
}

@Suite struct SmokeTests {
    @Test func smokePassesInProcess() async throws {
        let outcome = try await inProcess(try smokeScenario())
        for check in outcome.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect(outcome.report.passed)
        #expect(outcome.report.orders.acknowledged > 500)
        #expect(outcome.report.orders.duplicates == 0)
        #expect(outcome.report.calls.timeouts > 0, "the smoke scenario loses some answers so retries are exercised")
        #expect(outcome.report.sync.reconciliationDiscrepancies == 0)
    }

    @Test func smokePassesLiveAgainstAnEmbeddedServer() async throws {
        var scenario = try smokeScenario()
        scenario.durationHours = 0.5
        scenario.drainHours = 0.25
        scenario.faults = []
        scenario.live.timeScale = 900
        var options = SimulationOptions()
        options.driver = .live
        let outcome = try await Simulation.run(scenario, options: options)
        for check in outcome.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect(outcome.report.orders.acknowledged > 50)
        #expect(outcome.report.latencyMs["CaptureOrder"] != nil)
        // Both drivers play the same generated traffic.
        let reference = try await inProcess(scenario)
        #expect(outcome.report.digests.schedule == reference.report.digests.schedule)
        // The embedded server lives in simulated time: its orders were captured during the
        // scenario's simulated hours, not at today's wall-clock date. (On a loaded machine the
        // server sheds captures with retry_after_ms and the driver sends them again later in
        // simulated time, so a day of slack: still far from today.)
        let end = scenario.startMilliseconds + Int64((scenario.durationHours + scenario.drainHours) * 3_600_000) + 86_400_000
        #expect(end < Int64(Date().timeIntervalSince1970 * 1_000) - 86_400_000, "the scenario's simulated time is far from today")
        #expect(!outcome.waybill.orders.isEmpty)
        for order in outcome.waybill.orders {
            #expect(order.capturedAt.millisecondsSinceEpoch >= scenario.startMilliseconds && order.capturedAt.millisecondsSinceEpoch <= end,
                    "\(order.orderID) captured at \(order.capturedAt.millisecondsSinceEpoch), outside the simulated run")
        }
    }

    @Test func compressedClockStandsUntilStartedThenRunsScaled() async throws {
        let clock = CompressedClock(virtualStart: 1_000_000, scale: 1_000)
        #expect(clock.now() == 1_000_000)
        let started = wallNanoseconds()
        clock.start(at: started)
        try await Task.sleep(for: .milliseconds(20))
        let before = wallNanoseconds()
        let elapsed = clock.now() - 1_000_000
        let after = wallNanoseconds()
        // 1,000 virtual ms per wall ms since the start, whatever the machine's load.
        func scaled(_ wall: UInt64) -> Int64 { Int64(Double(wall - started) / 1e6 * 1_000) }
        #expect(elapsed >= 20_000)
        #expect(elapsed >= scaled(before) && elapsed <= scaled(after) + 1, "elapsed \(elapsed) virtual ms")
    }

    @Test func reportHasTheRequiredFields() async throws {
        let outcome = try await inProcess(try shortScenario())
        let object = try JSONSerialization.jsonObject(with: try outcome.report.json()) as! [String: Any]
        for key in ["scenario", "seed", "driver", "orders", "checks", "latency_ms", "throughput", "kpis", "sync"] {
            #expect(object[key] != nil, "report.json lacks \(key)")
        }
        let orders = object["orders"] as! [String: Any]
        for key in ["submitted", "acknowledged", "rejected", "duplicates", "lost"] { #expect(orders[key] != nil, "orders.\(key)") }
        let checks = object["checks"] as! [[String: Any]]
        #expect(!checks.isEmpty)
        for check in checks { #expect(check["name"] != nil && check["passed"] != nil && check["detail"] != nil) }
        let kpis = object["kpis"] as! [String: Any]
        for key in ["fill_rate", "split_rate", "average_shipping_cost", "on_time_rate", "backorder_rate"] { #expect(kpis[key] != nil, "kpis.\(key)") }
        #expect((object["throughput"] as! [String: Any])["orders_per_second"] != nil)
        let sync = object["sync"] as! [String: Any]
        #expect(sync["reconciliation_discrepancies"] != nil)
        let lag = sync["lag_ms"] as! [String: Any]
        #expect(lag["p50"] != nil && lag["p99"] != nil)
        // In-process latencies are the engine's service times; the live test covers the wire.
        var options = SimulationOptions()
        options.driver = .inProcess
        let measured = try await Simulation.run(try shortScenario(), options: options)
        let latency = try JSONSerialization.jsonObject(with: try measured.report.json()) as! [String: Any]
        let capture = (latency["latency_ms"] as! [String: Any])["CaptureOrder"] as! [String: Any]
        for key in ["p50", "p90", "p99", "p999", "max"] { #expect(capture[key] != nil, "latency_ms.CaptureOrder.\(key)") }
        #expect(outcome.report.html.contains("<svg"))
        #expect(!outcome.report.html.contains("http://") || outcome.report.html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    }
}

/// Each check must fail on a planted violation and name the culprit.
@Suite struct CheckTests {
    /// One short in-process run shared by the tests that plant violations in its results.
    actor Baseline {
        static let shared = Baseline()
        private var task: Task<SimulationOutcome, Error>?
        func outcome() async throws -> SimulationOutcome {
            if task == nil { task = Task { try await inProcess(try shortScenario()) } }
            return try await task!.value
        }
    }

    func check(_ name: String, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        Checks.run(record, waybill).first { $0.name == name }!
    }

    @Test func baselinePasses() async throws {
        let baseline = try await Baseline.shared.outcome()
        for result in Checks.run(baseline.record, baseline.waybill) { #expect(result.passed, "\(result.name): \(result.detail)") }
    }

    @Test func oversellIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        let key = waybill.balances.keys.sorted()[0]
        waybill.balances[key]!.reserved = waybill.balances[key]!.onHand + 3
        let result = check("no_oversell", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("\(key.sku.rawValue)@\(key.locationID.rawValue)"))
    }

    @Test func stockDriftIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let key = record.book.keys.sorted()[3]
        record.book[key]! += 2
        let result = check("stock_conserved", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("\(key.sku.rawValue)@\(key.locationID.rawValue)"))
    }

    @Test func missingOrChangedOrderIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        let index = waybill.orders.firstIndex { !$0.lines.isEmpty }!
        let victim = waybill.orders[index]
        waybill.orders[index].lines[0].quantity += 1
        var result = check("acknowledged_orders_exist", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(victim.orderID.rawValue))
        waybill = baseline.waybill
        waybill.orders.remove(at: index)
        result = check("acknowledged_orders_exist", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(victim.externalOrderID))
    }

    @Test func duplicateOrderIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        var copy = waybill.orders[0]
        copy.orderID = OrderID(sequence: 999_999)
        copy.captureSequence = 999_999
        waybill.orders.append(copy)
        let result = check("no_duplicate_orders", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(copy.externalOrderID) && result.detail.contains("W-00999999"))
    }

    @Test func unresolvedTimeoutIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let index = record.orders.firstIndex { $0.state == "acknowledged" }!
        record.orders[index].state = "lost"
        let result = check("timed_out_calls_resolved", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(record.orders[index].externalID))
    }

    @Test func stuckOrderIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let waybill = baseline.waybill
        let stuck = waybill.orders.first { !$0.status.isTerminal && $0.backorderedUnits == 0 }
        try #require(stuck != nil, "the short smoke run leaves some orders under way")
        for index in record.orders.indices where record.orders[index].sequence == stuck!.captureSequence { record.orders[index].pending = false }
        let result = check("orders_terminal_or_explained", record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(stuck!.orderID.rawValue))
    }

    @Test func feedGapIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        record.feedConsumers[1].1 -= 1
        var result = check("change_feed_complete", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("sim-erp"))
        record = baseline.record
        record.violations.append((check: "change_feed_complete", detail: "sim-wms received offset 12 after 10 (order.captured W-00000007)"))
        result = check("change_feed_complete", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("W-00000007"))
    }

    @Test func reconciliationDiscrepancyIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let order = baseline.waybill.orders[0]
        record.reconciliation = [Discrepancy(kind: .statusMismatch, orderID: order.orderID, key: nil, waybillValue: "shipped",
                                             erpValue: "captured", detail: "order \(order.orderID) is shipped in Waybill but captured in the ERP",
                                             repairAction: Reconciler.RepairAction.reemit)]
        let result = check("erp_reconciled", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(order.orderID.rawValue))
    }

    @Test func unexpectedCallFailureIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        record.violations.append((check: "calls_answered_as_expected", detail: "pick of web-12 failed: NOT_FOUND: fulfillment W-00000012-F1 not found"))
        let result = check("calls_answered_as_expected", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("web-12"))
    }
}
