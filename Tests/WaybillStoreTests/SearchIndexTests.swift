// The order search index's own file and its indexer (SearchIndex): searches stay exact while it is
// behind (the outbox supplies what it has not covered), its limits (lagEventsMax, queuedOrdersMax),
// catching up after a process died with work in memory, rebuilding a file it cannot trust, and the
// feed pruner keeping what it has not covered. The stores here run without the indexer thread:
// each test decides when the index works (`indexPending()`).

import Foundation
import GRDB
import Testing
import WaybillCore
@testable import WaybillStore

private func head(_ database: WaybillDatabase) throws -> Int64 { Int64(try StoreReader(database: database).feedBounds().head) }

private func postings(_ database: WaybillDatabase, _ term: String) throws -> Int {
    try database.searchIndex.count(matching: [term], cap: 1_000)
}

@Suite("Order search index (its own file, its indexer)")
struct SearchIndexTests {
    @Test("orders the index has not covered are found from the outbox; indexed, they are found from the index alone")
    func behindThenCaughtUp() async throws {
        let (_, database, writer, reader, _) = try await stockedStore("index-behind", searchIndexer: false)
        let before = database.searchIndex.indexedThrough
        var ids: [String] = []
        for index in 0..<4 { ids.append(try await capture(writer, customerDraft("IB-\(index)", customer: 1, lines: [("SKU-1", 1)])).order.orderID.rawValue) }
        #expect(database.searchIndex.indexedThrough == before, "nothing indexed: the writer only handed the orders over")
        #expect(try postings(database, "e:grace@example.com") == 0)
        #expect(try searchAll(reader) { $0.email = "grace@example.com" } == ids.reversed())
        #expect(try searchAll(reader) { $0.query = "hopper" } == ids.reversed())

        try database.searchIndex.indexPending()
        #expect(database.searchIndex.indexedThrough == (try head(database)))
        #expect(try postings(database, "e:grace@example.com") == 4)
        #expect(try searchAll(reader) { $0.email = "grace@example.com" } == ids.reversed())
        writer.stop()
        database.close()
    }

    @Test("searchIndexLagEventsMax: past it a term search is refused naming the limit; a status-only search still answers; caught up, both do")
    func lagLimit() async throws {
        var limits = SearchIndexLimits()
        limits.lagEventsMax = 3
        let (_, database, writer, reader, _) = try await stockedStore("index-lag", searchIndexer: false, searchLimits: limits)
        try database.searchIndex.indexPending()
        for index in 0..<4 { _ = try await capture(writer, customerDraft("LAG-\(index)", customer: 0, lines: [("SKU-2", 1)])) }
        let lag = try head(database) - database.searchIndex.indexedThrough
        #expect(lag > 3)
        do {
            _ = try searchAll(reader) { $0.email = "ada@example.com" }
            Issue.record("a search behind the limit must be refused")
        } catch let error as SearchIndexBehind {
            #expect(error.lagEvents == lag && error.lagEventsMax == 3)
            #expect(error.description.contains("searchIndexLagEventsMax = 3"))
        }
        #expect(try searchAll(reader) { $0.statuses = [.allocated] }.count == 4, "no term: the orders table answers")
        try database.searchIndex.indexPending()
        #expect(try searchAll(reader) { $0.email = "ada@example.com" }.count == 4)
        writer.stop()
        database.close()
    }

    @Test("searchIndexQueuedOrdersMax: hand-overs past it are dropped from memory and read back from the database")
    func queuedOrdersLimit() async throws {
        var limits = SearchIndexLimits()
        limits.queuedOrdersMax = 2
        let (_, database, writer, reader, _) = try await stockedStore("index-queue", searchIndexer: false, searchLimits: limits)
        var ids: [String] = []
        for index in 0..<6 { ids.append(try await capture(writer, customerDraft("QM-\(index)", customer: 3, lines: [("SKU-3", 1)])).order.orderID.rawValue) }
        try database.searchIndex.indexPending()
        #expect(database.searchIndex.indexedThrough == (try head(database)))
        #expect(try postings(database, "e:alan@example.com") == 6, "every order indexed, those dropped from memory too")
        #expect(try searchAll(reader) { $0.email = "ALAN@example.com" } == ids.reversed())
        writer.stop()
        database.close()
    }

    @Test("a process that died with orders not yet indexed: the next open indexes them before it serves")
    func catchesUpOnOpen() async throws {
        let (directory, database, writer, _, _) = try await stockedStore("index-reopen", searchIndexer: false)
        try database.searchIndex.indexPending()
        for index in 0..<5 { _ = try await capture(writer, customerDraft("RO-\(index)", customer: 4, lines: [("SKU-4", 1)])) }
        // The hand-over was only in memory: the file still stands where it was.
        writer.stop()
        database.close()
        let path = directory.path("store.sqlite")
        let reopened = try WaybillDatabase(path: path, startsSearchIndexer: false)
        #expect(reopened.searchIndex.indexedThrough == (try head(reopened)))
        #expect(try postings(reopened, "n:dijkstra") == 5)
        reopened.close()
    }

    @Test("the index file is rebuilt when missing, unreadable, another database's or ahead of the database")
    func rebuildsWhatItCannotTrust() async throws {
        let (directory, database, writer, _, _) = try await stockedStore("index-rebuild", searchIndexer: false)
        for index in 0..<3 { _ = try await capture(writer, customerDraft("RB-\(index)", customer: 1, lines: [("SKU-1", 1)])) }
        try database.searchIndex.indexPending()
        writer.stop()
        database.close()
        let path = directory.path("store.sqlite"), indexPath = path + "-search"
        func reopenAndCheck(_ what: Comment) throws {
            let reopened = try WaybillDatabase(path: path, startsSearchIndexer: false)
            #expect(reopened.searchIndex.indexedThrough == (try head(reopened)), what)
            #expect(try postings(reopened, "e:grace@example.com") == 3, what)
            #expect(try postings(reopened, "e:stranger@example.com") == 0, what)
            reopened.close()
        }

        // Ahead of the database (a database restored from an older backup beside a newer index).
        let queue = try DatabaseQueue(path: indexPath)
        try await queue.write { db in try db.execute(sql: "UPDATE search_index_state SET indexed_through = indexed_through + 1000") }
        try queue.close()
        try reopenAndCheck("ahead")

        // Another database's index: its terms must not stand in for this one's.
        let other = try TemporaryDirectory("index-other")
        let (otherDatabase, otherWriter) = try openStore(other.path("other.sqlite"), clock: ManualClock(), searchIndexer: false)
        try await StoreNet.setUp(otherWriter)
        _ = try await receive(otherWriter, "stock", "SKU-1", StoreNet.locations[0].rawValue, 10)
        var stranger = customerDraft("OTHER-1", customer: 0, lines: [("SKU-1", 1)])
        stranger.customer.email = "stranger@example.com"
        _ = try await capture(otherWriter, stranger)
        try otherDatabase.searchIndex.indexPending()
        otherWriter.stop()
        otherDatabase.close()
        SearchIndex.removeFiles(indexPath)
        try FileManager.default.copyItem(atPath: other.path("other.sqlite") + "-search", toPath: indexPath)
        try reopenAndCheck("another database's")

        // Unreadable.
        SearchIndex.removeFiles(indexPath)
        try Data(repeating: 0x5A, count: 8_192).write(to: URL(fileURLWithPath: indexPath))
        try reopenAndCheck("garbage")

        // Missing.
        SearchIndex.removeFiles(indexPath)
        try reopenAndCheck("missing")
    }

    @Test("the feed pruner keeps the events the index has not covered; indexed, they go")
    func prunerKeepsUncovered() async throws {
        let (_, database, writer, _, clock) = try await stockedStore("index-prune", searchIndexer: false)
        try database.searchIndex.indexPending()
        let covered = database.searchIndex.indexedThrough
        for index in 0..<3 { _ = try await capture(writer, customerDraft("PR-\(index)", customer: 2, lines: [("SKU-2", 1)])) }
        let last = try head(database)
        clock.advance(milliseconds: 3_600_000)
        let retained = clock.now.adding(milliseconds: -60_000)
        let first = try await writer.run { try $0.pruneOutbox(retainedAfter: retained, limit: 1_000_000) }
        #expect(first == Int(covered), "through the index's position, not past it")
        #expect(try StoreReader(database: database).feedBounds().earliest == UInt64(covered) + 1)
        try database.searchIndex.indexPending()
        let second = try await writer.run { try $0.pruneOutbox(retainedAfter: retained, limit: 1_000_000) }
        // Batches after the captures (the prune itself writes none) moved the position to the head.
        #expect(Int64(first + second) == last)
        writer.stop()
        database.close()
    }
}
