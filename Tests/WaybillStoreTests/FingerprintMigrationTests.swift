// Request fingerprints became 32-byte SHA-256 BLOBs (issue 12). A database written before (a
// 64-bit integer per request) still opens; its old rows never match a new request, so a retry
// across the upgrade is refused rather than applied twice; new rows round-trip.

import Foundation
import GRDB
import Testing
import WaybillCore
@testable import WaybillStore

@Suite("Fingerprint migration")
struct FingerprintMigrationTests {
    @Test("a database from before SHA-256 fingerprints opens; its integer rows read as matching nothing; new rows round-trip")
    func oldDatabaseOpens() async throws {
        let directory = try TemporaryDirectory("fingerprint-migration")
        let path = directory.path("old.sqlite")
        do {
            // The schema as it was before v9, with a row as the old server wrote it.
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v8: change-feed consumer owners")
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO requests (key, fingerprint, subject, at) VALUES ('lifecycle:old', ?, 'W-1', 1)",
                               arguments: [Int64(bitPattern: 0x1234_5678_9ABC_DEF0)])
            }
            try queue.close()
        }
        let clock = ManualClock()
        let (database, writer) = try openStore(path, clock: clock)
        let sha = Fingerprint(bytes: (0..<32).map { UInt8($0 * 7 % 256) })!
        let (old, fresh) = try await writer.run { context -> (RequestRecord?, RequestRecord?) in
            try context.engineStorage.recordRequest(RequestRecord(key: "lifecycle:new", fingerprint: sha, subject: "W-2", at: context.now))
            return (try context.engineStorage.requestRecord("lifecycle:old"), try context.engineStorage.requestRecord("lifecycle:new"))
        }
        #expect(old?.subject == "W-1", "the old row is kept")
        #expect(old?.fingerprint != Fingerprint(0x1234_5678_9ABC_DEF0), "an old fingerprint matches nothing")
        #expect(old?.fingerprint != sha)
        #expect(fresh?.fingerprint == sha, "a 32-byte fingerprint round-trips")
        writer.stop()
        database.close()
    }
}
