// The scenario's `live.server` section: settings of the embedded server a live run starts
// (feed retention and outbox pruning), so a scenario can make the server prune many times
// within its run, and an optional log of slow writer batches and calls to attribute a tail.
// Every key is optional: an absent one keeps ServerConfiguration's default.

import Logging
import WaybillServer

public struct LiveServerConfig: Codable, Sendable, Equatable {
    /// Outbox events acknowledged by every consumer and older than this (simulated time: the
    /// embedded server's clock is the scenario's) are pruned. nil = the server's default (24 h).
    public var feedRetentionMilliseconds: Int64?
    /// How often pruning runs, in WALL milliseconds (the server's timer runs on the wall clock
    /// even when its clock is simulated). nil = the server's default (60 s).
    public var pruneIntervalMilliseconds: Int64?
    /// Balance rows one prune may checkpoint (the fix of the pruning stall, 512 by default). A
    /// huge value lifts the bound (every balance behind its row since before the prune point is
    /// written in one prune) for before/after measurements with the same binary; the code before
    /// the fix wrote every balance behind its row, whatever its age (docs/PERFORMANCE.md).
    public var pruneCheckpointRowsMax: Int?
    /// When positive, the embedded server's writer batches and calls slower than this are logged
    /// to standard error with their wall time, next to the server's info log (each prune), so a
    /// slow call can be attributed to the job that held the writer. 0 = off.
    public var slowLogMilliseconds = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case feedRetentionMilliseconds, pruneIntervalMilliseconds, pruneCheckpointRowsMax, slowLogMilliseconds
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "live.server")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&feedRetentionMilliseconds, .feedRetentionMilliseconds)
        try c.fill(&pruneIntervalMilliseconds, .pruneIntervalMilliseconds)
        try c.fill(&pruneCheckpointRowsMax, .pruneCheckpointRowsMax)
        try c.fill(&slowLogMilliseconds, .slowLogMilliseconds)
        if let value = feedRetentionMilliseconds, value < 0 {
            throw ScenarioError("live.server.feed_retention_milliseconds must not be negative")
        }
        if let value = pruneIntervalMilliseconds, value < 1 {
            throw ScenarioError("live.server.prune_interval_milliseconds must be at least 1")
        }
        if let value = pruneCheckpointRowsMax, value < 1 {
            throw ScenarioError("live.server.prune_checkpoint_rows_max must be at least 1")
        }
        if !(slowLogMilliseconds >= 0) { throw ScenarioError("live.server.slow_log_milliseconds must not be negative") }
    }

    /// Applies the settings to the embedded server's configuration and returns the logger it
    /// runs with: warnings only, or (with the slow log on) info lines with wall times.
    public func prepare(_ configuration: inout ServerConfiguration) -> Logger {
        if let value = feedRetentionMilliseconds { configuration.feedRetentionMilliseconds = value }
        if let value = pruneIntervalMilliseconds { configuration.pruneIntervalMilliseconds = value }
        if let value = pruneCheckpointRowsMax { configuration.pruneCheckpointRowsMax = value }
        guard slowLogMilliseconds > 0 else {
            var logger = Logger(label: "waybill-sim-server")
            logger.logLevel = .warning
            return logger
        }
        SlowSampleLog.start(thresholdMilliseconds: slowLogMilliseconds)
        SlowSampleLog.note("server: feed retention \(configuration.feedRetentionMilliseconds) ms, prune every "
                           + "\(configuration.pruneIntervalMilliseconds) ms (wall), at most \(configuration.pruneCheckpointRowsMax) "
                           + "checkpoint rows per prune; logging writer batches and calls slower than \(slowLogMilliseconds) ms")
        var logger = Logger(label: "waybill-sim-server") { label in SlowSampleLog.Handler(label: label) }
        logger.logLevel = .info
        return logger
    }
}
