// `waybill bench ...`: measured, not guessed. Results go to docs/PERFORMANCE.md with their commands.

import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: capture throughput and latency, routing, availability, change-feed latency.",
        subcommands: [FeedBench.self])
}
