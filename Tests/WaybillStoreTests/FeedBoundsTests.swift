// The change feed's bounds (earliest and head offsets: GetFeedInfo, Subscribe's registration on the
// writer, the server's start) are read from the ends of the outbox's primary key, never by a scan.
import Foundation
import GRDB
import Testing
import WaybillCore
@testable import WaybillStore

@Suite("Change-feed bounds")
struct FeedBoundsTests {
    @Test("earliest and head follow the outbox; an empty outbox is (0, 0); the query searches the primary key, it does not scan")
    func boundsFromTheKeyEnds() async throws {
        let directory = try TemporaryDirectory("feed-bounds")
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: ManualClock())
        defer { writer.stop() }
        let reader = StoreReader(database: database)
        let empty = try reader.feedBounds()
        #expect(empty.earliest == 0 && empty.head == 0)
        try await StoreNet.setUp(writer)
        _ = try await receive(writer, "r-1", "SKU-1", "WH-1", 5)
        _ = try await receive(writer, "r-2", "SKU-2", "WH-1", 5)
        let bounds = try reader.feedBounds()
        let (low, high) = try await writer.run { context in
            try context.withDatabase { db in
                (try Int64.fetchOne(db, sql: "SELECT offset FROM outbox ORDER BY offset LIMIT 1") ?? -1,
                 try Int64.fetchOne(db, sql: "SELECT offset FROM outbox ORDER BY offset DESC LIMIT 1") ?? -1)
            }
        }
        #expect(bounds.earliest == UInt64(low) && bounds.head == UInt64(high) && high > low)
        let plan = try await writer.run { context in
            try context.withDatabase { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + StoreReader.feedBoundsSQL).map { $0["detail"] as String }
            }
        }
        #expect(!plan.contains { $0.hasPrefix("SCAN outbox") }, "a full scan of the outbox: \(plan)")
        #expect(plan.filter { $0.hasPrefix("SEARCH outbox") }.count == 2, "\(plan)")
    }
}
