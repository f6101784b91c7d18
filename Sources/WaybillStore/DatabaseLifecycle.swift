// Starting and stopping the database's background parts one by one, for a service lifecycle that
// stops them in order (the writer before the WAL checkpointer, the checkpointer before the file is
// closed), and the clean close at the end of a graceful shutdown.

import GRDB
import Logging

extension WaybillDatabase {
    /// Starts the background WAL checkpointer if the database has one and it is not running yet.
    public func startCheckpointer() { checkpointer?.start() }

    /// Stops the background WAL checkpointer after its last checkpoint and waits for its thread
    /// (blocking: call it off the cooperative pool). Idempotent.
    public func stopCheckpointer() { checkpointer?.stop() }

    /// Copies the whole WAL back into the database file and truncates it to zero bytes (SQLite's
    /// TRUNCATE checkpoint), so that the next start needs no WAL recovery. Call it once the writer
    /// and the checkpointer stopped; blocking. Throws when a reader still holds a snapshot (the WAL
    /// could not be emptied).
    public func checkpointCompletely() throws {
        try pool.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            // (busy, log frames, checkpointed frames): busy = 1 means the checkpoint could not finish.
            if let busy: Int = row?[0], busy != 0 {
                throw DatabaseError(resultCode: .SQLITE_BUSY, message: "the WAL could not be checkpointed completely: a reader is still open")
            }
        }
    }

    /// The end of a graceful shutdown: the search index brought up to date, a complete checkpoint (an empty WAL), then every connection
    /// closed. Blocking; nothing may use the database afterwards. Failures are logged, not thrown:
    /// the data is durable either way (every commit was fsynced), only the next start may have a
    /// WAL to replay.
    public func closeCleanly(logger: Logger) {
        // The writer stopped: what it handed the search indexer is indexed before the files close.
        searchIndex.stop()
        try? searchIndex.pool.close()
        stopCheckpointer()
        do {
            try checkpointCompletely()
        } catch {
            logger.warning("database: final checkpoint incomplete (the next start replays the WAL): \(error)")
        }
        do {
            try pool.close()
            logger.info("database closed", metadata: ["path": "\(path)"])
        } catch {
            logger.warning("database: closing the connections failed: \(error)")
        }
    }
}
