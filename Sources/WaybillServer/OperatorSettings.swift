// The operator's settings that GetServerInfo reports beside the limits, under the names their
// errors, flags and docs use (docs/OPERATIONS.md), so a client or an operator can read what this
// server was started with.

import WaybillStore

/// Retention and pruning, the WAL checkpointer, the admin listener, backup pacing (the defaults of
/// `waybill backup`), storage-failure and shutdown answers, and the shutdown drain bound.
func operatorSettings(_ configuration: ServerConfiguration) -> [(name: String, value: Int64, description: String)] {
    let backup = BackupLimits()
    return [
        ("feedMemoryEventsMax", Int64(configuration.feedMemoryEventsMax), "change-feed events kept in memory for subscribers"),
        ("feedRetentionMilliseconds", configuration.feedRetentionMilliseconds, "change-feed events are kept this long once every consumer acknowledged them"),
        ("pruneIntervalMilliseconds", configuration.pruneIntervalMilliseconds, "how often change-feed retention runs"),
        ("cartExpirySweepIntervalMilliseconds", configuration.cartExpirySweepIntervalMilliseconds,
         "how often carts past their deadline are released (when one is due)"),
        ("pruneBatchMax", Int64(configuration.pruneBatchMax), "events deleted per pruning transaction"),
        ("pruneSlicesPerRoundMax", Int64(configuration.pruneSlicesPerRoundMax), "pruning transactions per round"),
        ("pruneCheckpointRowsMax", Int64(configuration.pruneCheckpointRowsMax), "balance checkpoint rows one prune may write"),
        ("snapshotLevelsPerWriterJobMax", Int64(configuration.snapshotLevelsPerWriterJobMax), "stock levels of an ERP snapshot applied per writer job"),
        ("walCheckpointIntervalMilliseconds", Int64(configuration.walCheckpointIntervalMilliseconds), "how often the WAL checkpointer runs"),
        ("adminConnectionsMax", Int64(configuration.adminConnectionsMax), "admin HTTP connections open at once"),
        ("adminIdleTimeoutMilliseconds", configuration.adminIdleTimeoutMilliseconds, "an admin connection without a whole request is closed after this"),
        ("backupPagesPerStep", Int64(backup.backupPagesPerStep), "pages `waybill backup` copies per step (its default)"),
        ("backupPauseMilliseconds", Int64(backup.backupPauseMilliseconds), "pause between backup steps (the default of `waybill backup`)"),
        ("storageFailureRetryAfterMilliseconds", Int64(storageFailureRetryAfterMilliseconds), "retry_after_ms of UNAVAILABLE after a failed commit (disk full, I/O error)"),
        ("drainTimeoutMilliseconds", configuration.drainTimeoutMilliseconds, "a graceful shutdown waits this long for calls in flight before closing connections"),
        ("shutdownRetryAfterMilliseconds", configuration.shutdownRetryAfterMilliseconds, "retry_after_ms of UNAVAILABLE while the server shuts down"),
    ]
}
