// The `reconciliation_runs` table (migration v15): every finished reconciliation (ErpService
// Reconcile and FinishReconciliation, dry run or repair), by its sequence, with its id, time and
// who ran it in columns and the waybill.v1.ReconciliationRun (scope, figures, the first kept
// discrepancies) as its body. Recorded by the writer before the report is answered; the latest
// `runsKeptMax` are kept, older ones deleted in the same transaction.
// ListReconciliationRuns and GetReconciliationRun read them.

import Foundation
import GRDB
import WaybillProto

extension Schema {
    static func registerReconciliationRuns(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15: reconciliation runs") { db in
            // AUTOINCREMENT: a sequence (and so a run id) is never reused after older runs are pruned.
            try db.execute(sql: """
                CREATE TABLE reconciliation_runs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL UNIQUE,
                    finished_at INTEGER NOT NULL,
                    run_by TEXT NOT NULL,
                    body BLOB NOT NULL
                );
                """)
        }
    }
}

enum ReconciliationRunRows {
    /// "run-00000042": the run's sequence, as order ids are made from theirs.
    static func runID(sequence: Int64) -> String {
        let digits = String(sequence)
        return "run-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    static func decode(_ body: Data) throws -> Waybill_V1_ReconciliationRun {
        do {
            return try Waybill_V1_ReconciliationRun(serializedBytes: body)
        } catch {
            throw StorageError("a stored reconciliation run does not decode: \(error)")
        }
    }

    /// Records `run` under the next sequence (its id and finish time set here), at most
    /// `discrepanciesKeptMax` of its discrepancies kept, then deletes all but the latest
    /// `runsKeptMax` runs. Returns the run as recorded.
    static func record(_ db: Database, _ run: Waybill_V1_ReconciliationRun, finishedAt: Int64,
                       runsKeptMax: Int, discrepanciesKeptMax: Int) throws -> Waybill_V1_ReconciliationRun {
        var stored = run
        let kept = max(0, discrepanciesKeptMax)
        if stored.discrepancies.count > kept { stored.discrepancies.removeLast(stored.discrepancies.count - kept) }
        stored.discrepanciesDropped = max(0, stored.discrepanciesTotal - Int64(stored.discrepancies.count))
        stored.finishedAtUnixMs = finishedAt
        let last = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'reconciliation_runs'") ?? 0
        let sequence = last + 1
        stored.runID = runID(sequence: sequence)
        try db.execute(sql: """
            INSERT INTO reconciliation_runs (seq, run_id, finished_at, run_by, body) VALUES (?, ?, ?, ?, ?)
            """, arguments: [sequence, stored.runID, finishedAt, stored.runBy, Data(try stored.serializedBytes() as [UInt8])])
        try db.execute(sql: "DELETE FROM reconciliation_runs WHERE seq <= ?", arguments: [sequence - Int64(max(1, runsKeptMax))])
        return stored
    }

    static func one(_ db: Database, runID: String) throws -> Waybill_V1_ReconciliationRun? {
        try Data.fetchOne(db, sql: "SELECT body FROM reconciliation_runs WHERE run_id = ?", arguments: [runID]).map(decode)
    }

    /// Newest first, those recorded before `beforeSequence` (nil: from the newest), at most `limit`,
    /// without their discrepancies; with each run's sequence (the page's cursor).
    static func page(_ db: Database, beforeSequence: Int64?, limit: Int) throws -> [(sequence: Int64, run: Waybill_V1_ReconciliationRun)] {
        try Row.fetchAll(db, sql: """
            SELECT seq, body FROM reconciliation_runs WHERE seq < ? ORDER BY seq DESC LIMIT ?
            """, arguments: [beforeSequence ?? Int64.max, limit]).map { row in
            var run = try decode(row["body"])
            run.discrepancies = []
            return (row["seq"], run)
        }
    }
}

/// A page of recorded reconciliation runs, newest first.
public struct ReconciliationRunPage: Sendable {
    public var runs: [Waybill_V1_ReconciliationRun]
    /// The sequence to continue before (nil: no more runs).
    public var nextBeforeSequence: Int64?
}

extension StoreReader {
    /// Recorded runs newest first (summaries: no discrepancies), those before `beforeSequence`.
    public func reconciliationRuns(beforeSequence: Int64?, limit: Int) throws -> ReconciliationRunPage {
        try readNow { db in
            let rows = try ReconciliationRunRows.page(db, beforeSequence: beforeSequence, limit: limit + 1)
            let shown = rows.prefix(limit)
            return ReconciliationRunPage(runs: shown.map(\.run), nextBeforeSequence: rows.count > limit ? shown.last?.sequence : nil)
        }
    }

    /// One recorded run with its kept discrepancies (nil: no such run, or pruned).
    public func reconciliationRun(id: String) throws -> Waybill_V1_ReconciliationRun? {
        try readNow { try ReconciliationRunRows.one($0, runID: id) }
    }
}

extension WriteContext {
    /// Records a finished reconciliation (ReconciliationRunRows.record): its id and finish time
    /// are the writer's (`now`).
    public func recordReconciliationRun(_ run: Waybill_V1_ReconciliationRun, runsKeptMax: Int,
                                        discrepanciesKeptMax: Int) throws -> Waybill_V1_ReconciliationRun {
        try withDatabase { db in
            try ReconciliationRunRows.record(db, run, finishedAt: now.millisecondsSinceEpoch, runsKeptMax: runsKeptMax,
                                             discrepanciesKeptMax: discrepanciesKeptMax)
        }
    }
}
