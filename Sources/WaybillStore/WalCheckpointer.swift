// WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside whichever commit
// crosses the WAL size threshold, copying pages into the database file and fsyncing it: a commit
// that should take a fraction of a millisecond then takes hundreds. Waybill turns the automatic
// checkpoint off and runs PASSIVE checkpoints from this thread's own connection instead: they never
// block the writer or the readers, and keep the WAL from growing (SQLite rewinds it once it has
// been fully copied back).
//
// With the automatic checkpoint off, nothing else shrinks the WAL: a checkpointer that cannot open
// its connection or whose checkpoints fail is an error, logged, counted and reported through
// `problem` (the server's /readyz), never silent. It retries every interval and recovers by itself.

import CoreMetrics
import Foundation
import GRDBSQLite
import Logging
import Metrics
import Synchronization

final class WalCheckpointer: Sendable {
    private let path: String
    private let intervalMilliseconds: Int
    private let logger: Logger
    private let stopping = Mutex(false)
    /// Whether `start()` ran: `stop()` of a checkpointer never started has no thread to join.
    private let started = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let checkpoints = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)
    /// Why the last attempt to open the connection or to checkpoint failed; nil after a success.
    private let lastFailure = Mutex<String?>(nil)
    private let metrics = WalCheckpointerMetrics()

    init(path: String, intervalMilliseconds: Int, logger: Logger) {
        self.path = path
        self.intervalMilliseconds = intervalMilliseconds
        self.logger = logger
    }

    /// Starts the checkpointer's thread (once; later calls do nothing).
    func start() {
        let first = started.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        thread.name = "waybill-checkpoint"
        thread.start()
    }

    /// Successful checkpoints so far.
    var count: Int { checkpoints.load(ordering: .relaxed) }
    /// Failed attempts (opening the connection or checkpointing) so far.
    var failureCount: Int { failures.load(ordering: .relaxed) }
    /// Why the checkpointer is not keeping the WAL short, or nil while it is.
    var problem: String? { lastFailure.withLock { $0 } }

    private func loop() {
        var db: OpaquePointer?
        defer { if let db { sqlite3_close_v2(db) } }
        while !stopping.withLock({ $0 }) {
            if db == nil { db = open() }
            usleep(UInt32(intervalMilliseconds) * 1_000)
            guard let connection = db else { continue }
            var logFrames: Int32 = 0, checkpointed: Int32 = 0
            let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
            if code == SQLITE_OK {
                checkpoints.wrappingAdd(1, ordering: .relaxed)
                metrics.checkpoints.increment()
                metrics.walFrames.record(Int(logFrames))
                metrics.uncheckpointedFrames.record(Int(max(0, logFrames - checkpointed)))
                succeeded()
            } else {
                failed("checkpoint failed: \(String(cString: sqlite3_errstr(code))) (code \(code))")
            }
        }
        // A last checkpoint when stopping cleanly.
        if let db { sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) }
    }

    /// The checkpointer's own connection, or nil (counted and logged) when it cannot be opened.
    private func open() -> OpaquePointer? {
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            if let db { sqlite3_close_v2(db) }
            failed("cannot open its connection to \(path): \(message) (code \(code))")
            return nil
        }
        sqlite3_busy_timeout(db, 1_000)
        // The checkpoint's own fsync of the database file: the WAL is only rewound after it.
        sqlite3_exec(db, "PRAGMA synchronous = FULL", nil, nil, nil)
        return db
    }

    private func failed(_ reason: String) {
        failures.wrappingAdd(1, ordering: .relaxed)
        metrics.failures.increment()
        let first = lastFailure.withLock { last -> Bool in
            defer { last = reason }
            return last != reason
        }
        metrics.healthy.record(0)
        // Once per distinct reason: a failure repeated every interval would flood the log.
        if first { logger.error("WAL checkpointer \(reason); the WAL grows until it recovers (retrying every \(intervalMilliseconds) ms)") }
    }

    private func succeeded() {
        let recovered = lastFailure.withLock { last -> Bool in
            defer { last = nil }
            return last != nil
        }
        if recovered {
            metrics.healthy.record(1)
            logger.notice("WAL checkpointer recovered")
        }
    }

    /// Stops the thread after its last checkpoint and waits for it (blocking: call off the
    /// cooperative pool). Idempotent; a checkpointer never started returns at once.
    func stop() {
        let wasStopping = stopping.withLock { stopping -> Bool in
            defer { stopping = true }
            return stopping
        }
        guard !wasStopping, started.withLock({ $0 }) else { return }
        finished.wait()
    }
}

/// The checkpointer's instruments (swift-metrics; the executable serves them on /metrics).
struct WalCheckpointerMetrics: Sendable {
    let checkpoints = Counter(label: "waybill_wal_checkpoints_total")
    /// Failed attempts to open the checkpointer's connection or to checkpoint.
    let failures = Counter(label: "waybill_wal_checkpoint_failures_total")
    /// 1 while checkpoints succeed, 0 from a failure until the next success.
    let healthy = Gauge(label: "waybill_wal_checkpointer_healthy")
    /// Frames in the WAL at the last checkpoint (× page size = its bytes).
    let walFrames = Gauge(label: "waybill_wal_frames")
    /// Frames the last checkpoint could not copy back (readers still using them).
    let uncheckpointedFrames = Gauge(label: "waybill_wal_uncheckpointed_frames")

    init() { healthy.record(1) }
}
