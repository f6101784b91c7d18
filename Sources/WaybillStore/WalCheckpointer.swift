// WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside whichever commit
// crosses the WAL size threshold, copying pages into the database file and fsyncing it: a commit
// that should take a fraction of a millisecond then takes hundreds. Waybill turns the automatic
// checkpoint off and runs PASSIVE checkpoints from this thread's own connection instead: they never
// block the writer or the readers, and keep the WAL from growing (SQLite rewinds it once it has
// been fully copied back).

import Foundation
import GRDBSQLite
import Synchronization

final class WalCheckpointer: Sendable {
    private let path: String
    private let intervalMilliseconds: Int
    private let stopping = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let checkpoints = Atomic<Int>(0)

    init(path: String, intervalMilliseconds: Int) {
        self.path = path
        self.intervalMilliseconds = intervalMilliseconds
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        thread.name = "waybill-checkpoint"
        thread.start()
    }

    var count: Int { checkpoints.load(ordering: .relaxed) }

    private func loop() {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { return }
        defer { sqlite3_close_v2(db) }
        sqlite3_busy_timeout(db, 1_000)
        // The checkpoint's own fsync of the database file: the WAL is only rewound after it.
        sqlite3_exec(db, "PRAGMA synchronous = FULL", nil, nil, nil)
        while !stopping.withLock({ $0 }) {
            usleep(UInt32(intervalMilliseconds) * 1_000)
            var logFrames: Int32 = 0, checkpointed: Int32 = 0
            if sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed) == SQLITE_OK {
                checkpoints.wrappingAdd(1, ordering: .relaxed)
            }
        }
        // A last full checkpoint when stopping cleanly.
        sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    }

    func stop() {
        stopping.withLock { $0 = true }
        finished.wait()
    }
}
