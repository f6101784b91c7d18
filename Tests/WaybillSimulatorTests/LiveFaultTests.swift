// Server faults in live runs (kill -9 and restart, SIGSTOP/SIGCONT of `waybill serve` as a child
// process) and the live drain that skips idle simulated time.

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

/// The `waybill` executable next to the test bundle (built by `swift build --build-tests`).
enum SimulatorWaybillExecutable {
    static let path: String? = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["WAYBILL_EXECUTABLE"] { candidates.append(explicit) }
        if let first = CommandLine.arguments.first {
            candidates.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("waybill").path)
        }
        candidates.append(simulatorDirectory.deletingLastPathComponent().appendingPathComponent(".build/debug/waybill").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}

func faultScenario(_ name: String) throws -> Scenario {
    try Scenario.load(path: simulatorDirectory.appendingPathComponent("scenarios/\(name).json").path)
}

func runLive(_ scenario: Scenario) async throws -> SimulationOutcome {
    var options = SimulationOptions()
    options.driver = .live
    let executable: String = try #require(SimulatorWaybillExecutable.path, "the waybill executable was not found (swift build first)")
    options.serverExecutable = executable
    return try await Simulation.run(scenario, options: options)
}

@Suite(.serialized) struct LiveServerFaultTests {
    /// What both faults must leave behind: nothing lost, duplicated or oversold, the feed whole,
    /// every check passed, and an outage the driver saw.
    func expectSurvived(_ outcome: SimulationOutcome, kind: String, serverStarts: Int) throws {
        let report = outcome.report
        for check in report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        let faults = try #require(report.faults, "a live run with server faults reports them")
        #expect(faults.lost == 0)
        #expect(faults.duplicated == 0)
        #expect(faults.oversold == 0)
        #expect(faults.feedGapFree, "\(faults.feedDetail)")
        #expect(faults.feedHead > 0 && faults.feedEventsRead == faults.feedHead)
        #expect(faults.serverStarts == serverStarts)
        let fault = try #require(faults.injected.first)
        #expect(faults.injected.count == 1)
        #expect(fault.kind == kind)
        #expect(fault.injected)
        #expect(fault.outageSeconds > 0, "the driver saw no outage")
        #expect(fault.unansweredAttempts > 0)
        #expect(faults.resentCalls > 0, "calls without an answer are sent again")
        #expect(report.orders.acknowledged > 200)
        #expect(report.orders.lost == 0)
        #expect(report.checks.contains { $0.name == "survived_server_faults" && $0.passed })
        // report.json carries the section.
        let object = try JSONSerialization.jsonObject(with: try report.json()) as! [String: Any]
        let section = try #require(object["faults"] as? [String: Any])
        for key in ["lost", "duplicated", "oversold", "feed_gap_free", "injected", "resent_calls"] { #expect(section[key] != nil, "faults.\(key)") }
        let injected = try #require((section["injected"] as? [[String: Any]])?.first)
        #expect((injected["outage_seconds"] as? Double ?? 0) > 0)
    }

    @Test("kill -9 mid-run, restarted on the same database: 0 lost, 0 duplicated, 0 oversold, feed gap-free, the outage measured")
    func killAndRestart() async throws {
        let scenario = try faultScenario("kill-restart")
        let outcome = try await runLive(scenario)
        try expectSurvived(outcome, kind: "kill9", serverStarts: 2)
        let fault = try #require(outcome.report.faults?.injected.first)
        // The server was dead for down_seconds, then had to start: the driver saw at least that.
        #expect(fault.outageSeconds >= 2 * 0.9, "outage \(fault.outageSeconds) s for a 2 s kill")
        #expect(fault.serverBackSeconds >= 2)
        #expect((outcome.report.faults?.reconnects ?? 0) > 0)
        // The child server follows the simulation's clock across the restart (serve --clock):
        // every order was captured in simulated time, none at today's date. (The child's clock runs
        // on wall time at the scale, so on a loaded machine it may run ahead of the driver: a day
        // of slack, far from the wall clock's date.)
        let end = scenario.startMilliseconds + Int64((scenario.durationHours + scenario.drainHours) * 3_600_000) + 86_400_000
        #expect(end < Int64(Date().timeIntervalSince1970 * 1_000) - 86_400_000, "the scenario's simulated time is far from today")
        for order in outcome.waybill.orders {
            #expect(order.capturedAt.millisecondsSinceEpoch >= scenario.startMilliseconds && order.capturedAt.millisecondsSinceEpoch <= end,
                    "\(order.orderID) captured at \(order.capturedAt.millisecondsSinceEpoch), outside the simulated run")
        }
        // Orders were captured after the restart too.
        let killedAt = scenario.startMilliseconds + Int64(0.4 * 3_600_000)
        #expect(outcome.waybill.orders.contains { $0.capturedAt.millisecondsSinceEpoch > killedAt + 600_000 })
    }

    @Test("SIGSTOP for 4 s then SIGCONT: calls time out and are sent again; nothing lost or doubled")
    func pauseAndContinue() async throws {
        let outcome = try await runLive(try faultScenario("pause"))
        try expectSurvived(outcome, kind: "pause", serverStarts: 1)
        let fault = try #require(outcome.report.faults?.injected.first)
        #expect(fault.outageSeconds >= 4 * 0.9, "outage \(fault.outageSeconds) s for a 4 s pause")
    }
}

@Suite struct ServerFaultConfigTests {
    func load(_ faults: String) throws -> Scenario {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json")
        try Data(#"{"channels": [{"channel": "web", "orders_per_hour": 1}], "faults": \#(faults)}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Scenario.load(path: file.path)
    }

    @Test func serverFaultsParseAndAreValidated() throws {
        let scenario = try load(#"[{"target": "server", "mode": "kill9", "start_hour": 1.5, "down_seconds": 3}, {"target": "server", "mode": "pause", "start_hour": 2}]"#)
        let modes = scenario.faults.map { $0.mode }
        let downSeconds = scenario.faults.map { $0.downSeconds }
        let allServer = scenario.faults.allSatisfy { $0.isServerFault }
        #expect(modes == ["kill9", "pause"])
        #expect(downSeconds == [3, 2])
        #expect(allServer)
        for bad in [#"[{"target": "server", "start_hour": 1}]"#,
                    #"[{"target": "server", "mode": "down", "start_hour": 1}]"#,
                    #"[{"target": "server", "mode": "kill9", "start_hour": 1, "duration_minutes": 5}]"#,
                    #"[{"target": "server", "mode": "pause", "start_hour": 1, "down_seconds": 0}]"#,
                    #"[{"target": "server", "mode": "pause", "start_hour": 1, "down_seconds": 31}]"#,
                    #"[{"target": "erp", "mode": "kill9", "start_hour": 1, "duration_minutes": 5}]"#,
                    #"[{"target": "disk", "mode": "down", "start_hour": 1, "duration_minutes": 5}]"#] {
            #expect(throws: ScenarioError.self, "\(bad)") { try load(bad) }
        }
    }

    @Test func serverFaultsAreRefusedAgainstATarget() async throws {
        var options = SimulationOptions()
        options.driver = .live
        options.target = "127.0.0.1:1"
        await #expect(throws: ScenarioError.self) { try await Simulation.run(try faultScenario("kill-restart"), options: options) }
    }
}

@Suite struct LiveDrainTests {
    @Test("the drain skips idle simulated time: 12 drain hours at 240x take far less than their 180 wall seconds")
    func drainSkipsIdleTime() async throws {
        var scenario = try smokeScenario()
        scenario.durationHours = 0.25
        scenario.drainHours = 12
        scenario.faults = []
        scenario.live.timeScale = 240
        var options = SimulationOptions()
        options.driver = .live
        let outcome = try await Simulation.run(scenario, options: options)
        for check in outcome.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        // At the time scale alone the drain would take 12 h × 3600 / 240 = 180 wall seconds; its
        // work (100 orders' lifecycles, ERP reviews and snapshots) takes a few.
        let drainAtScale = scenario.drainHours * 3_600 / scenario.live.timeScale
        #expect(outcome.report.throughput.wallSeconds < drainAtScale, "\(outcome.report.throughput.wallSeconds) s wall")
        // The lifecycle went on in the skipped time: orders were shipped in the drain.
        #expect(outcome.report.kpis.deliveries + outcome.report.delivery.parcels > 0)
        // Same traffic as in process: skipping time does not change what is generated.
        let reference = try await inProcess(scenario)
        #expect(outcome.report.digests.schedule == reference.report.digests.schedule)
        // The embedded server's clock jumped with the model's: what it stamped lies within the run.
        let end = scenario.startMilliseconds + Int64((scenario.durationHours + scenario.drainHours) * 3_600_000) + 3_600_000
        for order in outcome.waybill.orders {
            #expect(order.updatedAt.millisecondsSinceEpoch <= end, "\(order.orderID) updated after the simulated run")
        }
        #expect(outcome.waybill.orders.contains { $0.updatedAt.millisecondsSinceEpoch > scenario.startMilliseconds + 3_600_000 },
                "some order changed in the drain's second hour: simulated time did advance")
    }
}
