// The `reconciliation_runs` table (v15): a run recorded with its id from the sequence and the
// writer's time, its discrepancies capped with the dropped count, the oldest runs deleted past the
// kept maximum in the same transaction, pages newest first, ids never reused after a restart.

import Foundation
import GRDB
import Testing
import WaybillCore
import WaybillProto
import WaybillStore

@Suite("Reconciliation runs in the store")
struct ReconciliationRunStoreTests {
    /// A run that found `found` quantity mismatches, all of them listed.
    static func run(by caller: String, found: Int) -> Waybill_V1_ReconciliationRun {
        var run = Waybill_V1_ReconciliationRun()
        run.runBy = caller
        run.method = "Reconcile"
        run.scope.stock = .compare
        run.stockPositionsCompared = Int32(found)
        run.counts = [.with { $0.kind = .quantityMismatch; $0.count = Int32(found) }]
        run.discrepanciesTotal = Int64(found)
        run.discrepancies = (0..<found).map { index in
            .with { $0.kind = .quantityMismatch; $0.sku = "SKU-\(index)"; $0.locationID = "WH-1"; $0.waybillValue = "1"; $0.erpValue = "2" }
        }
        return run
    }

    @Test("a run is recorded with its id and time; its discrepancies are capped with the dropped count; past the kept maximum the oldest go")
    func recordCapAndPrune() async throws {
        let directory = try TemporaryDirectory("runs")
        let path = directory.path("waybill.sqlite")
        let clock = ManualClock()
        let start = clock.now.millisecondsSinceEpoch
        do {
            let (database, writer) = try openStore(path, clock: clock)
            defer { writer.stop() }
            let reader = StoreReader(database: database)
            for number in 1...4 {
                clock.advance(milliseconds: 1_000)
                let recorded = try await writer.run { context in
                    try context.recordReconciliationRun(Self.run(by: "caller-\(number)", found: number), runsKeptMax: 3, discrepanciesKeptMax: 2)
                }
                #expect(recorded.runID == "run-0000000\(number)")
                #expect(recorded.finishedAtUnixMs == start + Int64(number) * 1_000)
                #expect(recorded.discrepancies.count == min(number, 2))
                #expect(recorded.discrepanciesDropped == Int64(max(0, number - 2)))
            }
            // The first run went with the fourth (runsKeptMax = 3).
            #expect(try reader.reconciliationRun(id: "run-00000001") == nil)
            let kept = try #require(try reader.reconciliationRun(id: "run-00000004"))
            #expect(kept.runBy == "caller-4" && kept.discrepanciesTotal == 4 && kept.discrepanciesDropped == 2)
            #expect(kept.discrepancies.map(\.sku) == ["SKU-0", "SKU-1"])

            // Pages newest first, summaries only.
            let first = try reader.reconciliationRuns(beforeSequence: nil, limit: 2)
            #expect(first.runs.map(\.runID) == ["run-00000004", "run-00000003"])
            #expect(first.runs.allSatisfy { $0.discrepancies.isEmpty })
            let next = try #require(first.nextBeforeSequence)
            let second = try reader.reconciliationRuns(beforeSequence: next, limit: 2)
            #expect(second.runs.map(\.runID) == ["run-00000002"] && second.nextBeforeSequence == nil)
            let rows = try reader.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM reconciliation_runs") }
            #expect(rows == 3)
        }
        // Re-opened: the runs are there and the sequence goes on (an id is never reused).
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        #expect(try StoreReader(database: database).reconciliationRuns(beforeSequence: nil, limit: 10).runs.count == 3)
        let fifth = try await writer.run { context in
            try context.recordReconciliationRun(Self.run(by: "caller-5", found: 0), runsKeptMax: 3, discrepanciesKeptMax: 2)
        }
        #expect(fifth.runID == "run-00000005" && fifth.discrepanciesDropped == 0)
        #expect(try StoreReader(database: database).reconciliationRuns(beforeSequence: nil, limit: 10).runs.map(\.runID)
            == ["run-00000005", "run-00000004", "run-00000003"])
    }
}
