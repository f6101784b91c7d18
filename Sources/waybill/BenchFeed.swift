// `waybill bench feed` (being built: change-feed latency from commit to consumer).

import ArgumentParser

struct FeedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "feed", abstract: "Change-feed latency from commit to consumer (not built yet).")
    func run() async throws { throw CLIError("bench feed is not built yet") }
}
