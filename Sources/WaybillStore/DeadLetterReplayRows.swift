// The `dead_letter_replays` table (migration v14): every replay of dead letters asked of an ERP
// bridge (ErpService.RequestDeadLetterReplay), by request id, with its consumer, status and time in
// columns and the waybill.v1.DeadLetterReplay (request and, once done, outcome) as its body. The
// bridge receives the pending ones in the answer to its next ReportBridgeStatus and reports their
// outcome in a later one; being rows, they survive a restart of the server or of the bridge.

import Foundation
import GRDB
import WaybillProto

extension Schema {
    static func registerDeadLetterReplays(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v14: dead-letter replay requests") { db in
            try db.execute(sql: """
                CREATE TABLE dead_letter_replays (
                    request_id TEXT NOT NULL PRIMARY KEY,
                    consumer TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    requested_at INTEGER NOT NULL,
                    body BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX dead_letter_replays_by_consumer ON dead_letter_replays (consumer, status, requested_at);
                """)
        }
    }
}

enum DeadLetterReplayRows {
    static let pending = Int64(Waybill_V1_DeadLetterReplayStatus.pending.rawValue)
    static let done = Int64(Waybill_V1_DeadLetterReplayStatus.done.rawValue)

    static func decode(_ body: Data) throws -> Waybill_V1_DeadLetterReplay {
        do {
            return try Waybill_V1_DeadLetterReplay(serializedBytes: body)
        } catch {
            throw StorageError("a stored dead-letter replay request does not decode: \(error)")
        }
    }

    static func one(_ db: Database, requestID: String) throws -> Waybill_V1_DeadLetterReplay? {
        try Data.fetchOne(db, sql: "SELECT body FROM dead_letter_replays WHERE request_id = ?", arguments: [requestID]).map(decode)
    }

    /// The consumer's pending requests, oldest first, at most `limit`.
    static func pending(_ db: Database, consumer: String, limit: Int) throws -> [Waybill_V1_DeadLetterReplay] {
        try Data.fetchAll(db, sql: """
            SELECT body FROM dead_letter_replays WHERE consumer = ? AND status = ? ORDER BY requested_at, request_id LIMIT ?
            """, arguments: [consumer, pending, limit]).map(decode)
    }

    static func pendingCount(_ db: Database, consumer: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letter_replays WHERE consumer = ? AND status = ?",
                         arguments: [consumer, pending]) ?? 0
    }

    /// The consumer's latest finished requests, newest first, at most `limit`.
    static func finished(_ db: Database, consumer: String, limit: Int) throws -> [Waybill_V1_DeadLetterReplay] {
        try Data.fetchAll(db, sql: """
            SELECT body FROM dead_letter_replays WHERE consumer = ? AND status = ? ORDER BY requested_at DESC, request_id DESC LIMIT ?
            """, arguments: [consumer, done, limit]).map(decode)
    }

    static func save(_ db: Database, _ replay: Waybill_V1_DeadLetterReplay) throws {
        var stored = replay
        stored.alreadyRequested = false
        try db.execute(sql: """
            INSERT OR REPLACE INTO dead_letter_replays (request_id, consumer, status, requested_at, body) VALUES (?, ?, ?, ?, ?)
            """, arguments: [stored.requestID, stored.consumer, Int64(stored.status.rawValue), stored.requestedAtUnixMs,
                             Data(try stored.serializedBytes() as [UInt8])])
    }
}

extension StoreReader {
    /// The consumer's pending replay requests (oldest first, at most `pendingMax`), then its latest
    /// finished ones (newest first, at most `finishedMax`).
    public func deadLetterReplays(consumer: String, pendingMax: Int, finishedMax: Int) throws -> [Waybill_V1_DeadLetterReplay] {
        try readNow { db in
            try DeadLetterReplayRows.pending(db, consumer: consumer, limit: pendingMax)
                + DeadLetterReplayRows.finished(db, consumer: consumer, limit: finishedMax)
        }
    }
}

extension WriteContext {
    public func deadLetterReplay(requestID: String) throws -> Waybill_V1_DeadLetterReplay? {
        try withDatabase { try DeadLetterReplayRows.one($0, requestID: requestID) }
    }

    public func pendingDeadLetterReplays(consumer: String, limit: Int) throws -> [Waybill_V1_DeadLetterReplay] {
        try withDatabase { try DeadLetterReplayRows.pending($0, consumer: consumer, limit: limit) }
    }

    public func pendingDeadLetterReplayCount(consumer: String) throws -> Int {
        try withDatabase { try DeadLetterReplayRows.pendingCount($0, consumer: consumer) }
    }

    public func saveDeadLetterReplay(_ replay: Waybill_V1_DeadLetterReplay) throws {
        try withDatabase { try DeadLetterReplayRows.save($0, replay) }
    }

    /// Whether a bridge of this consumer ever reported its status.
    public func bridgeReported(consumer: String) throws -> Bool {
        try withDatabase { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bridge_status WHERE consumer = ?)", arguments: [consumer]) ?? false
        }
    }
}
