// What the single writer is doing, as swift-metrics instruments: the main bottleneck's queue,
// batch sizes, phase times and CPU, balance checkpoints and their backlog, failed commits: every
// figure of WriterStatistics that `waybill bench` reads, for operators too. The library only
// records; the executable bootstraps a backend (Prometheus) and the admin listener serves it.

import CoreMetrics
import Metrics

final class WriterMetrics: Sendable {
    /// Jobs waiting for the writer, after each batch is taken.
    let queueDepth = Gauge(label: "waybill_writer_queue_depth")
    /// Jobs per committed batch (group commit).
    let batchJobs = Recorder(label: "waybill_writer_batch_jobs", aggregate: true)
    /// Running a batch's jobs inside the transaction (engine and SQL statements).
    let runTime = Timer(label: "waybill_writer_run_seconds")
    /// COMMIT, which includes the fsync of the WAL.
    let commitTime = Timer(label: "waybill_writer_commit_seconds")
    /// Publishing what committed (balances, the feed) and answering the batch's jobs.
    let publishTime = Timer(label: "waybill_writer_publish_seconds")
    /// A whole batch: run, commit, publish and answer.
    let batchTime = Timer(label: "waybill_writer_batch_seconds")
    /// CPU time of the writer thread per batch (all phases): what a batch costs, whatever else the machine runs.
    let batchCPUTime = Timer(label: "waybill_writer_batch_cpu_seconds")
    /// Balances newer than their checkpoint row (start-up replays their movements).
    let checkpointBacklog = Gauge(label: "waybill_writer_balance_checkpoint_backlog")
    let checkpointRows = Counter(label: "waybill_writer_balance_checkpoint_rows_total")
    /// Each balance checkpoint written inside a batch.
    let checkpointTime = Timer(label: "waybill_writer_balance_checkpoint_seconds")
    let committedJobs = Counter(label: "waybill_writer_jobs_committed_total")
    /// Batches whose transaction failed (nothing of them applied).
    let failedBatches = Counter(label: "waybill_writer_failed_batches_total")
    /// 1 while the writer can commit, 0 after a failed commit until one succeeds again.
    let healthy = Gauge(label: "waybill_writer_healthy")

    init() { healthy.record(1) }
}
