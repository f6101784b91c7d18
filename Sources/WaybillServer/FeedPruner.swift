// Change-feed retention on the single writer, in slices: each round deletes the events older than
// the retention (and acknowledged by every consumer) `pruneBatchMax` at a time, each slice its own
// writer job and transaction, the next one queued only when the previous has committed. Captures
// queued meanwhile run between the slices, so a prune holds the writer for one slice, never for
// the whole backlog (three simulated days showed single prunes of 15–46k events holding the writer
// 57–395 ms: docs/PERFORMANCE.md).

import Logging
import Synchronization
import WaybillCore
import WaybillStore

final class FeedPruner: Sendable {
    private let writer: StoreWriter
    private let logger: Logger
    private let retentionMilliseconds: Int64
    private let sliceEventsMax: Int
    private let slicesPerRoundMax: Int
    private let checkpointRowsMax: Int
    /// A round still running when the timer fires again is not doubled.
    private let running = Atomic<Bool>(false)

    init(writer: StoreWriter, configuration: ServerConfiguration, logger: Logger) {
        self.writer = writer
        self.logger = logger
        retentionMilliseconds = configuration.feedRetentionMilliseconds
        sliceEventsMax = configuration.pruneBatchMax
        slicesPerRoundMax = configuration.pruneSlicesPerRoundMax
        checkpointRowsMax = configuration.pruneCheckpointRowsMax
    }

    /// Starts a round unless one is running; `done` gets the events the round deleted.
    func runRound(done: (@Sendable (Int) -> Void)? = nil) {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        slice(number: 1, deletedSoFar: 0, done: done)
    }

    private func slice(number: Int, deletedSoFar: Int, done: (@Sendable (Int) -> Void)?) {
        let retention = retentionMilliseconds, limit = sliceEventsMax, rowsMax = checkpointRowsMax
        writer.submit(Job(kind: "prune", { context in
            try context.pruneOutbox(retainedAfter: context.now.adding(milliseconds: -retention), limit: limit, checkpointRowsMax: rowsMax)
        }) { [self] result in
            let deleted: Int
            switch result {
            case .success(let count): deleted = count
            case .failure(let error):
                logger.warning("change-feed pruning stopped for this round", metadata: ["error": "\(error)"])
                deleted = 0
            }
            let total = deletedSoFar + deleted
            // A full slice may have more behind it; a short one (or none) ends the round.
            if deleted >= limit && number < slicesPerRoundMax {
                slice(number: number + 1, deletedSoFar: total, done: done)
                return
            }
            if total > 0 { logger.info("pruned \(total) change-feed events", metadata: ["slices": "\(number)"]) }
            running.store(false, ordering: .releasing)
            done?(total)
        })
    }
}
