// `waybill sim`: the discrete-event simulator (simulator/README.md).

import ArgumentParser
import Foundation
import WaybillBenchmarks
import WaybillFaultInjection
import WaybillSimulator

struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a traffic simulation: in-process in virtual time, or live against a server.",
        discussion: """
        Examples:
          waybill sim simulator/scenarios/omnichannel-day.json
          waybill sim simulator/scenarios/smoke.json --driver in-process --seed 7
          waybill sim simulator/scenarios/black-friday.json --driver live --time-scale 240
          waybill sim simulator/scenarios/kill-restart.json    # kill -9 of the server mid-run (live)
          waybill sim simulator/scenarios/omnichannel-day.json --driver in-process \\
              --compare simulator/policies/cheapest.json simulator/policies/fastest.json --replications 5
          waybill sim simulator/scenarios/smoke.json --write-credentials sim-credentials.json
          waybill sim simulator/scenarios/smoke.json --target 10.0.0.5:7400 --tls-ca ca.pem --credentials sim-credentials.json
        Live runs call as the model's actors, each with its own credential (a channel credential per
        channel, a fulfillment credential per location, the ERP, an admin for set-up); an embedded
        server gets fresh ones and TLS with a throwaway CA. Exits non-zero when any correctness check
        fails; report.json and report.html go to --report-dir.
        """)

    @Argument(help: "Scenario JSON (see simulator/scenarios/).")
    var scenario: String?

    @Option(help: "live (against a server: embedded, or --target) or in-process (WaybillCore in virtual time).")
    var driver = "live"

    @Option(help: "HOST:PORT of a running server with an empty database (live driver); default: an embedded server.")
    var target: String?

    @Option(help: ArgumentHelp("With --target: the actors' credentials, a JSON array of {name, role, channels, locations, token} (what the server was given with `waybill serve --credentials-file`).", valueName: "file"))
    var credentials: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("With --target: speak TLS and verify the server's certificate against this CA bundle (PEM).", valueName: "pem"))
    var tlsCA: String?

    @Option(name: .customLong("write-credentials"), help: ArgumentHelp("Write a credential for every actor of the scenario (fresh tokens, mode 0600) to this new file and exit: give it to `waybill serve --credentials-file` and to --credentials.", valueName: "file"))
    var writeCredentials: String?

    @Option(help: "Seed of every random choice (default: the scenario's).")
    var seed: UInt64?

    @Option(name: .customLong("time-scale"), help: "Live: simulated seconds per wall second (default: the scenario's).")
    var timeScale: Double?

    @Option(name: .customLong("duration-hours"), help: "Override the scenario's arrival period, in simulated hours.")
    var durationHours: Double?

    @Option(name: .customLong("drain-hours"), help: "Override how long the lifecycle runs on after arrivals stop, in simulated hours.")
    var drainHours: Double?

    @Option(name: .customLong("report-dir"), help: "Where report.json and report.html go.")
    var reportDirectory = "sim-report"

    @Option(help: "Routing policy (protobuf JSON of waybill.v1.RoutingPolicy) instead of the scenario's.")
    var policy: String?

    @Option(parsing: .upToNextOption, help: "Two policy files: run the same seeded traffic under both and compare KPIs.")
    var compare: [String] = []

    @Option(help: "Run on N seeds (the seed, seed+1, ...; with --compare the same for both policies) and report each KPI's mean with its 95% interval. 1...\(ReplicationPlan.replicationsMax).")
    var replications = 1

    @Option(help: "With --replications, in-process: runs at a time (default: the active processor count; results do not depend on it).")
    var parallelism = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Benchmark hook (embedded server): microseconds added to every write, through WaybillFaultInjection's WriteDelay (proves load-regression checks catch a slower write path).")
    var injectWriteDelayMicroseconds = 0

    @Flag(help: "No live progress lines.")
    var quiet = false

    @Option(name: .customLong("engine-benchmark"), help: "Measure the event engine alone (queue + clock + PRNG on an M/M/c model) for N events, then exit.")
    var engineBenchmark: UInt64?

    func run() async throws {
        if let events = engineBenchmark {
            _ = EngineBenchmark.run(events: min(events, 1_000_000), seed: 1)  // warm-up
            let started = Date()
            let result = EngineBenchmark.run(events: events, seed: seed ?? 1)
            let seconds = Date().timeIntervalSince(started)
            print("engine: \(result.events) events (\(result.customers) customers served) in "
                  + String(format: "%.3f s = %.2f M events/s", seconds, Double(result.events) / seconds / 1e6) + " (trace \(result.digest))")
            return
        }
        guard let path = scenario else { throw ValidationError("give a scenario file, e.g. simulator/scenarios/smoke.json") }
        guard let chosen = Driver(rawValue: driver) else { throw ValidationError("--driver must be live or in-process") }
        if !compare.isEmpty && compare.count != 2 { throw ValidationError("--compare takes two policy files") }
        let plan = ReplicationPlan(replications: replications, parallelism: parallelism)
        do { try plan.validate() } catch { throw ValidationError("\(error)") }
        let loaded: Scenario
        do {
            loaded = try Scenario.load(path: path)
        } catch {
            throw CLIError("\(error)")
        }
        var options = SimulationOptions()
        options.driver = chosen
        options.seed = seed
        options.timeScale = timeScale
        options.durationHours = durationHours
        options.drainHours = drainHours
        options.target = target
        options.credentialsFile = credentials
        options.tlsCAFile = tlsCA
        options.policyFile = policy
        if let writeCredentials {
            do {
                let count = try Simulation.writeCredentials(for: loaded, options: options, to: writeCredentials)
                print("\(writeCredentials): \(count) credentials for \(loaded.name)'s actors (tokens: keep this file private)")
            } catch {
                throw CLIError("\(error)")
            }
            return
        }
        guard injectWriteDelayMicroseconds >= 0 else { throw ValidationError("--inject-write-delay-microseconds must be at least 0") }
        options.writeJobInterceptor = WriteDelay.forOption(injectWriteDelayMicroseconds)
        if !quiet {
            options.progress = { line in FileHandle.standardError.write(Data(("  " + line + "\n").utf8)) }
        }
        let mode = chosen == .live ? (target.map { "live against \($0)" } ?? "live against an embedded server") : "in-process"
        let firstSeed = seed ?? loaded.seed
        let runs = (compare.isEmpty ? 1 : 2) * replications
        let seeds = runs == 1 ? "seed \(firstSeed)" : "seeds \(firstSeed)…\(firstSeed &+ UInt64(replications - 1)), \(runs) runs, "
            + (chosen == .live ? "one at a time" : "\(min(parallelism, runs)) at a time")
        FileHandle.standardError.write(Data("simulating \(loaded.name) (\(mode), \(seeds))...\n".utf8))
        let outcome: SimulationOutcome
        do {
            outcome = compare.count == 2
                ? try await Simulation.compare(loaded, policyA: compare[0], policyB: compare[1], options: options, plan: plan)
                : try await Simulation.replicate(loaded, options: options, plan: plan)
        } catch {
            throw CLIError("\(error)")
        }
        let directory = URL(fileURLWithPath: reportDirectory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let json = directory.appendingPathComponent("report.json")
        let html = directory.appendingPathComponent("report.html")
        try outcome.report.json().write(to: json)
        try Data(outcome.report.html.utf8).write(to: html)
        print(outcome.report.summary)
        print("report: \(json.path)")
        print("report: \(html.path)")
        if !outcome.report.passed { throw ExitCode(1) }
    }
}
