// Outbox pruning on the writer: a prune writes at most a bounded number of balance checkpoint rows
// (never every balance that is behind in one go) and never deletes an event whose balance row does
// not hold its sequence yet, so sequences survive a restart after any number of partial prunes.

import Foundation
import GRDB
import Testing
import WaybillCore
import WaybillStore

@Suite("Outbox pruning")
struct OutboxPruningTests {
    static let skus = (100..<140).map { SKU("SKU-\($0)") }

    /// 40 extra SKUs at StoreNet's three locations: 120 balances, each changed by one receipt.
    static func receiveEverywhere(_ writer: StoreWriter) async throws {
        try await writer.run { context in
            for sku in skus {
                var item = Item(sku: sku)
                item.weightGrams = 100
                try context.engine.upsert(item: item, context: CommandContext(now: context.now), storage: context.engineStorage)
            }
            context.networkChanged = true
        }
        for sku in skus {
            for location in StoreNet.locations {
                _ = try await receive(writer, "r-\(sku.rawValue)-\(location.rawValue)", sku.rawValue, location.rawValue, 3)
            }
        }
    }

    /// Each balance's live event sequence, by "SKU@LOCATION".
    static func eventSequences(_ writer: StoreWriter) async throws -> [String: Int64] {
        var sequences: [String: Int64] = [:]
        for (key, balance) in try await balances(writer) where balance.eventSequence > 0 {
            sequences["\(key.sku.rawValue)@\(key.locationID.rawValue)"] = balance.eventSequence
        }
        return sequences
    }

    static func checkpointRows(_ reader: StoreReader) throws -> [String: Int64] {
        try reader.readNow { db in
            var rows: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT sku, location_id, event_sequence FROM balance_checkpoints") {
                rows["\(row[0] as String)@\(row[1] as String)"] = row[2]
            }
            return rows
        }
    }

    /// The newest sequence the outbox still holds per inventory aggregate.
    static func outboxSequences(_ reader: StoreReader) throws -> [String: Int64] {
        try reader.readNow { db in
            var sequences: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT aggregate_id, MAX(aggregate_sequence) FROM outbox WHERE aggregate_type = 'inventory' GROUP BY aggregate_id
                """) {
                sequences[row[0]] = row[1]
            }
            return sequences
        }
    }

    @Test("each prune writes at most checkpointRowsMax rows; every live sequence stays in a row or the outbox; a restart keeps them")
    func boundedPrunes() async throws {
        let directory = try TemporaryDirectory("pruning")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        var live: [String: Int64] = [:]
        do {
            let (database, writer) = try openStore(path, clock: clock)
            defer { writer.stop() }
            try await StoreNet.setUp(writer)
            try await Self.receiveEverywhere(writer)
            let reader = StoreReader(database: database)
            let head = try reader.feedBounds().head
            _ = try await writer.run { try $0.acknowledge(consumer: "erp", offset: head) }
            clock.advance(milliseconds: 120_000)
            live = try await Self.eventSequences(writer)
            #expect(live.count >= Self.skus.count * StoreNet.locations.count)

            try waitForSearchIndex(database)
            let rowsMax = 25
            var prunes = 0
            var deletedTotal = 0
            while true {
                let rowsBefore = try Self.checkpointRows(reader).count
                let deleted = try await writer.run {
                    try $0.pruneOutbox(retainedAfter: clock.now.adding(milliseconds: -60_000), limit: 1_000_000, checkpointRowsMax: rowsMax)
                }
                prunes += 1
                let rows = try Self.checkpointRows(reader)
                #expect(rows.count - rowsBefore <= rowsMax, "prune \(prunes) wrote \(rows.count - rowsBefore) rows")
                // What the rows and the remaining events hold still gives every live sequence.
                let events = try Self.outboxSequences(reader)
                for (aggregate, sequence) in live {
                    let kept = max(rows[aggregate] ?? 0, events[aggregate] ?? 0)
                    #expect(kept == sequence, "\(aggregate): rows and outbox hold \(kept), live \(sequence)")
                }
                deletedTotal += deleted
                if deleted == 0 && prunes > 1 { break }
                try #require(prunes < 20, "pruning converges")
            }
            // The first prune could not delete everything (120 rows behind, 25 per prune); in the end all went.
            #expect(prunes >= live.count / rowsMax)
            #expect(try reader.eventsNow(from: 0, limit: 10).isEmpty)
            #expect(deletedTotal == Int(head))
        }
        // After a restart the sequences come back from the rows alone.
        let (_, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        let restored = try await Self.eventSequences(writer)
        #expect(restored == live)
    }

    @Test("a restart between partial prunes loses no sequence")
    func restartBetweenPrunes() async throws {
        let directory = try TemporaryDirectory("pruning-restart")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        var live: [String: Int64] = [:]
        do {
            let (database, writer) = try openStore(path, clock: clock)
            defer { writer.stop() }
            try await StoreNet.setUp(writer)
            try await Self.receiveEverywhere(writer)
            let head = try StoreReader(database: database).feedBounds().head
            _ = try await writer.run { try $0.acknowledge(consumer: "erp", offset: head) }
            clock.advance(milliseconds: 120_000)
            live = try await Self.eventSequences(writer)
            try waitForSearchIndex(database)
            let deleted = try await writer.run {
                try $0.pruneOutbox(retainedAfter: clock.now.adding(milliseconds: -60_000), limit: 1_000_000, checkpointRowsMax: 10)
            }
            #expect(deleted > 0 && deleted < Int(head), "a partial prune: \(deleted) of \(head)")
        }
        do {
            let (_, writer) = try openStore(path, clock: clock)
            defer { writer.stop() }
            let restored = try await Self.eventSequences(writer)
            #expect(restored == live)
            // Balances loaded behind their rows block pruning until written, a slice at a time.
            _ = try await writer.run {
                try $0.pruneOutbox(retainedAfter: clock.now.adding(milliseconds: -60_000), limit: 1_000_000, checkpointRowsMax: 10)
            }
        }
        let (_, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        let restored = try await Self.eventSequences(writer)
        #expect(restored == live)
    }

    @Test("a prune deletes the events past retention, a prefix of the outbox, at most `limit` of them; none when none are old enough")
    func prunesThePrefixPastRetention() async throws {
        let directory = try TemporaryDirectory("pruning-prefix")
        let clock = ManualClock()
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: clock)
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        for index in 0..<4 { _ = try await receive(writer, "old-\(index)", "SKU-1", "WH-1", 1) }
        clock.advance(milliseconds: 2 * 3_600_000)
        let cutoff = clock.now.adding(milliseconds: -3_600_000)
        for index in 0..<4 { _ = try await receive(writer, "new-\(index)", "SKU-2", "WH-1", 1) }
        let reader = StoreReader(database: database)
        let head = try reader.feedBounds().head
        _ = try await writer.run { try $0.acknowledge(consumer: "erp", offset: head) }
        let old = try await writer.run { context in
            try context.withDatabase { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE committed_at < ?", arguments: [cutoff.millisecondsSinceEpoch]) ?? 0 }
        }
        #expect(old >= 4)
        try waitForSearchIndex(database)
        let first = try await writer.run { try $0.pruneOutbox(retainedAfter: cutoff, limit: 3) }
        #expect(first == 3, "at most `limit`, from the oldest")
        #expect(try reader.feedBounds().earliest == 4)
        let rest = try await writer.run { try $0.pruneOutbox(retainedAfter: cutoff, limit: 1_000) }
        #expect(rest == old - 3, "the rest of the old prefix, nothing younger")
        #expect(try await writer.run { try $0.pruneOutbox(retainedAfter: cutoff, limit: 1_000) } == 0)
        let bounds = try reader.feedBounds()
        #expect(bounds.earliest == UInt64(old + 1) && bounds.head == head)
    }
}
