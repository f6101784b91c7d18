// Replications: one scenario on N seeds (seed, seed + 1, …), `parallelism` runs at a time, results in
// seed order whatever order the runs finish in; and, for a single policy, each KPI's mean with its 95%
// interval (`--replications N` without `--compare`). The two-policy comparison is Comparison.swift.

import Foundation

/// The replications of an experiment (one policy, or a comparison of two).
public struct ReplicationPlan: Sendable {
    /// More replications than this is a mistake, not a plan: at 100 an interval is already a fifth of the spread between seeds.
    public static let replicationsMax = 100
    /// Runs of the in-process driver at a time; more than this oversubscribes any machine we run on.
    public static let parallelismMax = 64

    public var replications = 1
    /// Runs at a time (in-process; the live driver runs one at a time, each against its own embedded server).
    public var parallelism = ProcessInfo.processInfo.activeProcessorCount

    public init(replications: Int = 1, parallelism: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.replications = replications
        self.parallelism = parallelism
    }

    public func validate() throws {
        guard (1...Self.replicationsMax).contains(replications) else {
            throw ReplicationError("--replications must be 1...\(Self.replicationsMax) (got \(replications))")
        }
        guard (1...Self.parallelismMax).contains(parallelism) else {
            throw ReplicationError("--parallelism must be 1...\(Self.parallelismMax) (got \(parallelism))")
        }
    }

    /// seed, seed + 1, … (wrapping).
    public func seeds(from seed: UInt64) -> [UInt64] { (0..<replications).map { seed &+ UInt64($0) } }
}

public struct ReplicationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One run of a replicated experiment: a policy file (nil: the options' own) on a seed.
public struct ReplicationJob: Sendable {
    public var policyFile: String?
    public var seed: UInt64
}

/// One KPI of one policy over the replications.
public struct KPIEstimate: Codable, Sendable {
    public var key: String
    public var name: String
    public var section: String
    public var unit: KPIUnit
    public var estimate: Estimate
    /// Per replication, in seed order.
    public var values: [Double]
}

/// A single policy over N seeds (`report.json` `replicated`).
public struct Replicated: Codable, Sendable {
    public var replications: Int
    public var seeds: [UInt64]
    public var parallelism: Int
    public var estimates: [KPIEstimate]
    public var runs: [ReplicationRun]

    public var allPassed: Bool { runs.allSatisfy(\.passed) }
}

extension ReplicationRun {
    init(_ report: Report, seed: UInt64) {
        self.init(policy: report.policy, seed: seed, passed: report.passed, failedChecks: report.checks.filter { !$0.passed }.map(\.name),
                  wallSeconds: report.throughput.wallSeconds, digests: report.digests)
    }
}

extension Simulation {
    /// Runs the jobs, `plan.parallelism` at a time (one at a time live: each run starts its own embedded
    /// server on simulated time). Returns the first job's whole outcome, every job's report in job order
    /// (series kept for the first seed only, to keep report.json small) and how many ran at a time.
    static func runReplications(_ scenario: Scenario, jobs: [ReplicationJob], options: SimulationOptions,
                                plan: ReplicationPlan) async throws -> (first: SimulationOutcome, reports: [Report], parallelism: Int) {
        precondition(!jobs.isEmpty, "no runs to make")
        if jobs.count > 1, let target = options.target {
            // The checks account for every order and event: each run needs an empty database.
            throw ReplicationError("--target \(target): \(jobs.count) runs need \(jobs.count) empty databases; "
                                   + "use the embedded server (no --target) or one run at a time with a fresh server")
        }
        let width = Swift.min(options.driver == .live ? 1 : plan.parallelism, jobs.count)
        let chartedSeed = jobs[0].seed
        var reports = [Report?](repeating: nil, count: jobs.count)
        var first: SimulationOutcome?
        try await withThrowingTaskGroup(of: (Int, SimulationOutcome).self) { group in
            var next = 0
            func start(_ group: inout ThrowingTaskGroup<(Int, SimulationOutcome), any Error>) {
                let index = next
                next += 1
                var jobOptions = options
                if let policy = jobs[index].policyFile { jobOptions.policyFile = policy }
                jobOptions.seed = jobs[index].seed
                if index > 0 { jobOptions.traceLines = 0 }
                group.addTask { (index, try await run(scenario, options: jobOptions)) }
            }
            while next < width { start(&group) }
            while let (index, outcome) = try await group.next() {
                var report = outcome.report
                if index == 0 { first = outcome }
                if jobs[index].seed != chartedSeed { report.series = [] }
                reports[index] = report
                if next < jobs.count { start(&group) }
            }
        }
        return (first!, reports.map { $0! }, width)
    }

    /// One policy (the options' or the scenario's) on `plan.replications` seeds: the first seed's report,
    /// with `replicated` holding each KPI's mean and 95% interval. One replication is a plain run.
    public static func replicate(_ scenario: Scenario, options: SimulationOptions, plan: ReplicationPlan) async throws -> SimulationOutcome {
        try plan.validate()
        if plan.replications == 1 { return try await run(scenario, options: options) }
        let seeds = plan.seeds(from: options.seed ?? scenario.seed)
        let (first, reports, width) = try await runReplications(scenario, jobs: seeds.map { ReplicationJob(policyFile: nil, seed: $0) },
                                                                options: options, plan: plan)
        let replicated = makeReplicated(reports, seeds: seeds, parallelism: width)
        var outcome = first
        outcome.report.replicated = replicated
        outcome.report.passed = replicated.allPassed
        return outcome
    }

    public static func makeReplicated(_ reports: [Report], seeds: [UInt64], parallelism: Int) -> Replicated {
        precondition(!reports.isEmpty && reports.count == seeds.count, "one report per seed")
        let estimates = KPICatalogue.applicable(reports).map { kpi -> KPIEstimate in
            let values = reports.map(kpi.value)
            return KPIEstimate(key: kpi.key, name: kpi.name, section: kpi.section, unit: kpi.unit, estimate: Statistics.estimate(values), values: values)
        }
        return Replicated(replications: seeds.count, seeds: seeds, parallelism: parallelism, estimates: estimates,
                          runs: zip(reports, seeds).map { ReplicationRun($0, seed: $1) })
    }
}
