// The SQLite store for real: files in a temporary directory, the group-commit writer thread,
// readers on their own connections.

import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing
import WaybillCore
import WaybillProto
import WaybillStore

@Suite("Database file and migrations")
struct MigrationTests {
    @Test("migrations apply on a new file, and re-opening keeps schema and data")
    func migrateAndReopen() async throws {
        let directory = try TemporaryDirectory("migrate")
        let path = directory.path("waybill.sqlite")
        #expect(!FileManager.default.fileExists(atPath: path))
        let clock = ManualClock()
        do {
            let (database, writer) = try openStore(path, clock: clock)
            #expect(try database.schemaVersion == "v16: order search index in its own file")
            let tables = try StoreReader(database: database).readNow { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            }
            for table in ["orders", "order_lines", "movements", "capacity_ledger", "balance_checkpoints", "inventory_settings",
                          "outbox", "requests", "locations", "carriers", "items", "routing_policies", "consumers", "bridge_status", "meta", "dead_letter_replays", "reconciliation_runs"] {
                #expect(tables.contains(table), "table \(table) exists")
            }
            let mode = try StoreReader(database: database).readNow { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(mode?.lowercased() == "wal")
            try await StoreNet.setUp(writer)
            _ = try await capture(writer, draft("E-1", lines: [("SKU-1", 2)]))
            writer.stop()
        }
        #expect(FileManager.default.fileExists(atPath: path))
        // Re-open: migrations are not re-applied, data is there.
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        #expect(try database.schemaVersion == "v16: order search index in its own file")
        let reader = StoreReader(database: database)
        let order = try #require(try reader.order(id: "W-00000001"))
        #expect(order.externalOrderID == "E-1")
        #expect(try reader.locations().map(\.locationID) == StoreNet.locations.sorted())
        // The sequence continues after the stored orders.
        #expect(try await capture(writer, draft("E-2", lines: [("SKU-1", 1)])).order.orderID == OrderID("W-00000002"))
    }
}

extension MigrationTests {
    @Test("upgrading a v3 file fills reserved_units from the stored orders, swaps the reservation index, keeps the balances")
    func upgradeFromV3() async throws {
        let directory = try TemporaryDirectory("upgrade")
        let path = directory.path("waybill.sqlite")
        let clock = ManualClock()
        do {
            let (_, writer) = try openStore(path, clock: clock)
            try await StoreNet.setUp(writer)
            _ = try await receive(writer, "R-1", "SKU-1", "WH-1", 10)
            _ = try await capture(writer, draft("E-1", lines: [("SKU-1", 2)]))  // reserves 2
            _ = try await capture(writer, draft("E-2", lines: [("SKU-2", 1)]))  // nothing in stock: backordered
            writer.stop()
        }
        // Put the file back as v3 left it: no reserved_units column, the movements index, no v4 record.
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.writeWithoutTransaction { db in
                try db.execute(sql: """
                    DROP INDEX orders_reserving;
                    ALTER TABLE orders DROP COLUMN reserved_units;
                    CREATE INDEX movements_reservations ON movements (sku, location_id) WHERE kind = 'reserved';
                    ALTER TABLE balance_checkpoints DROP COLUMN movement_id;
                    ALTER TABLE capacity_ledger DROP COLUMN carrier_resource;
                    DELETE FROM grdb_migrations
                    WHERE identifier IN ('v4: orders holding reservations', 'v5: incremental balance checkpoints', 'v6: paired capacity rows');
                    """)
            }
        }
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        #expect(try database.schemaVersion == "v16: order search index in its own file")
        let reader = StoreReader(database: database)
        let units = try reader.readNow { db in
            try Row.fetchAll(db, sql: "SELECT external_order_id, reserved_units FROM orders ORDER BY seq")
                .map { "\($0[0] as String)=\($0[1] as Int64)" }
        }
        #expect(units == ["E-1=2", "E-2=0"])
        let indexes = try reader.readNow { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('orders_reserving', 'movements_reservations')")
        }
        #expect(indexes == ["orders_reserving"])
        let balance = try await balances(writer)[InventoryKey(sku: SKU("SKU-1"), locationID: LocationID("WH-1"))]
        #expect(balance?.onHand == 10 && balance?.reserved == 2)
        // Capacity rows written before v6 (no carrier_resource) still count.
        let used = try await writer.run { $0.engine.state.capacity.used.filter { $0.value != 0 } }
        #expect(used.count == 1 && used.first?.key.locationID == LocationID("WH-1") && used.first?.value == 1)
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    @Test("jobs submitted from many threads all commit, each answered after its commit, in few transactions")
    func manyThreads() async throws {
        let directory = try TemporaryDirectory("group")
        let clock = ManualClock()
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: clock)
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        let reader = StoreReader(database: database)
        let threads = 8, perThread = 150
        let batches = BatchCounter()
        let replies = Replies<(OrderID, Bool)>()

        // Hold the writer so every job is queued before the first batch runs: the batches are
        // then formed by group commit alone, deterministically.
        let gate = Gate()
        await gate.close(writer)
        for _ in 0..<(threads * perThread) { replies.expect() }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                let n = thread * perThread + index
                writer.submit(Job({ context -> OrderID in
                    batches.saw(context)
                    let result = try context.engine.capture(draft("T\(thread)-\(index)", lines: [("SKU-\(1 + n % 6)", 1)]),
                                                            context: CommandContext(now: context.now), storage: context.engineStorage)
                    return result.order.orderID
                }) { result in
                    // Answered only after the commit: a reader connection already sees the order.
                    let visible = result.map { id in (id, ((try? reader.order(id: id.rawValue)) ?? nil) != nil) }
                    replies.record(n, visible)
                })
            }
        }
        #expect(writer.queueDepth == threads * perThread)
        gate.open()
        let results = await replies.wait()
        #expect(results.count == threads * perThread)
        var ids: Set<OrderID> = []
        for (n, result) in results {
            let (id, visible) = try result.get()
            #expect(visible, "job \(n) was answered before its order was readable")
            ids.insert(id)
        }
        #expect(ids.count == threads * perThread, "every job got its own order")
        // 1,200 jobs with writeBatchMax 1,000 after the gate: two transactions.
        let transactions = batches.count
        #expect(transactions <= 2, "group commit: \(transactions) transactions for \(threads * perThread) jobs")
        #expect(try reader.allOrders().count == threads * perThread)
    }

    @Test("the gate holds: with the writer busy nothing queued behind it is visible")
    func queuedJobsAreNotVisible() async throws {
        let directory = try TemporaryDirectory("queued")
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: ManualClock())
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        let reader = StoreReader(database: database)
        let gate = Gate()
        await gate.close(writer)
        let replies = Replies<CaptureResult>()
        replies.expect()
        writer.submit(Job({ context in
            try context.engine.capture(draft("Q-1", lines: [("SKU-1", 1)]), context: CommandContext(now: context.now),
                                       storage: context.engineStorage)
        }) { replies.record(0, $0) })
        #expect(try reader.allOrders().isEmpty)
        gate.open()
        let result = try #require(await replies.wait()[0])
        #expect(try result.get().order.externalOrderID == "Q-1")
        #expect(try reader.allOrders().count == 1)
    }

    @Test("a job failing with a DomainError does not abort the other jobs of its batch")
    func domainErrorIsolated() async throws {
        let directory = try TemporaryDirectory("domain")
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: ManualClock())
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        let reader = StoreReader(database: database)
        let batches = BatchCounter()
        let gate = Gate()
        await gate.close(writer)
        let replies = Replies<String>()
        let jobs: [(WriteContext) throws -> String] = [
            { context in
                try context.engine.capture(draft("OK-1", lines: [("SKU-1", 1)]), context: CommandContext(now: context.now),
                                           storage: context.engineStorage).order.orderID.rawValue
            },
            { context in
                // Invalid: no lines.
                try context.engine.capture(draft("BAD-1", lines: []), context: CommandContext(now: context.now),
                                           storage: context.engineStorage).order.orderID.rawValue
            },
            { context in
                // A multi-record change that fails half-way: `atomically` rolls back its first write too.
                try context.atomically {
                    var good = Location(locationID: LocationID("NEW-1"))
                    good.name = "new"
                    try context.engine.upsert(location: good, context: CommandContext(now: context.now), storage: context.engineStorage)
                    var bad = Location(locationID: LocationID("NEW-2"))
                    bad.cutoffMinuteUTC = 5_000
                    try context.engine.upsert(location: bad, context: CommandContext(now: context.now), storage: context.engineStorage)
                    context.networkChanged = true
                }
                return "locations"
            },
            { context in
                // Unknown location: NOT_FOUND, nothing written.
                _ = try context.engine.applyInventoryChange(
                    InventoryChange(changeID: "nowhere", kind: .receipt, sku: SKU("SKU-1"), locationID: LocationID("NOPE"), quantity: 3),
                    context: CommandContext(now: context.now), storage: context.engineStorage)
                return "receipt"
            },
            { context in
                try context.engine.capture(draft("OK-2", lines: [("SKU-2", 2)]), context: CommandContext(now: context.now),
                                           storage: context.engineStorage).order.orderID.rawValue
            },
        ]
        for (index, body) in jobs.enumerated() {
            replies.expect()
            writer.submit(Job({ context -> String in
                batches.saw(context)
                return try body(context)
            }) { replies.record(index, $0) })
        }
        gate.open()
        let results = await replies.wait()
        #expect(batches.count == 1, "all five jobs ran in one batch")
        #expect(try results[0]!.get() == "W-00000001")
        #expect(try results[4]!.get() == "W-00000002", "the failed capture did not use up an order number")
        for index in [1, 2, 3] {
            #expect(throws: DomainError.self) { try results[index]!.get() }
        }
        if case .failure(let error as DomainError) = results[1]! { #expect(error.field == "order.lines") }
        if case .failure(let error as DomainError) = results[2]! { #expect(error.field == "cutoff_minute_utc") }
        if case .failure(let error as DomainError) = results[3]! { #expect(error.code == .notFound) }
        #expect(try reader.allOrders().map(\.externalOrderID) == ["OK-1", "OK-2"])
        #expect(!(try reader.locations().map(\.locationID.rawValue)).contains("NEW-1"), "the savepoint rolled back the first upsert")
        #expect(try await writer.run { $0.engine.network.locations[LocationID("NEW-1")] } == nil, "and the engine forgot it")
        #expect(writer.committed.networkSnapshot.locations[LocationID("NEW-1")] == nil)
        #expect(try reader.ledgerOnHand().isEmpty)
    }

    @Test("a storage failure aborts the whole batch, and the writer rebuilds memory from the file")
    func storageFailureAbortsBatch() async throws {
        let directory = try TemporaryDirectory("abort")
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: ManualClock())
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        _ = try await receive(writer, "r-0", "SKU-1", "WH-1", 10)
        let reader = StoreReader(database: database)
        let before = try await balances(writer)
        let gate = Gate()
        await gate.close(writer)
        let replies = Replies<String>()
        replies.expect()
        writer.submit(Job({ context in
            try context.engine.capture(draft("A-1", lines: [("SKU-1", 4)]), context: CommandContext(now: context.now),
                                       storage: context.engineStorage).order.orderID.rawValue
        }) { replies.record(0, $0) })
        replies.expect()
        writer.submit(Job({ _ -> String in throw StorageError("disk on fire") }) { replies.record(1, $0) })
        replies.expect()
        writer.submit(Job({ context in
            _ = try context.engine.applyInventoryChange(
                InventoryChange(changeID: "r-1", kind: .receipt, sku: SKU("SKU-1"), locationID: LocationID("WH-1"), quantity: 5),
                context: CommandContext(now: context.now), storage: context.engineStorage)
            return "r-1"
        }) { replies.record(2, $0) })
        gate.open()
        let results = await replies.wait()
        for index in 0..<3 {
            #expect(throws: WriterError.self, "job \(index) fails with the batch") { try results[index]!.get() }
        }
        #expect(try reader.allOrders().isEmpty)
        #expect(try await balances(writer) == before, "the reservation and the receipt of the aborted batch are gone from memory")
        #expect(writer.committed.withInventory { $0.balance(SKU("SKU-1"), at: LocationID("WH-1")) } == before[InventoryKey(sku: SKU("SKU-1"), locationID: LocationID("WH-1"))])
        // The writer goes on: the same requests succeed now, with the order number reused.
        #expect(try await capture(writer, draft("A-1", lines: [("SKU-1", 4)])).order.orderID == OrderID("W-00000001"))
        #expect(try await receive(writer, "r-1", "SKU-1", "WH-1", 5).replayed == false)
    }
}

@Suite("Idempotency records")
struct IdempotencyRecordTests {
    @Test("lifecycle request ids, inventory change ids and capture keys survive a restart")
    func recordsSurviveRestart() async throws {
        let directory = try TemporaryDirectory("idem")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        var orderID = OrderID("")
        do {
            let (_, writer) = try openStore(path, clock: clock)
            try await StoreNet.setUp(writer)
            #expect(try await receive(writer, "chg-1", "SKU-1", "WH-1", 10).replayed == false)
            #expect(try await receive(writer, "chg-1", "SKU-1", "WH-1", 10).replayed == true)
            orderID = try await capture(writer, draft("IDEM-1", lines: [("SKU-1", 3)])).order.orderID
            let hold = try await writer.run { context in
                try context.engine.apply(.hold(.payment, note: "verify"), to: orderID,
                                         context: CommandContext(now: context.now, requestID: "req-hold", fingerprint: 11),
                                         storage: context.engineStorage)
            }
            #expect(hold.replayed == false)
            #expect(hold.order.version == 2)
            writer.stop()
        }
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        // Same keys, same content: replayed, nothing applied twice.
        #expect(try await receive(writer, "chg-1", "SKU-1", "WH-1", 10).replayed == true)
        #expect(try await balances(writer)[InventoryKey(sku: SKU("SKU-1"), locationID: LocationID("WH-1"))]?.onHand == 10)
        let again = try await capture(writer, draft("IDEM-1", lines: [("SKU-1", 3)]))
        #expect(again.replayed && again.order.orderID == orderID)
        let hold = try await writer.run { context in
            try context.engine.apply(.hold(.payment, note: "verify"), to: orderID,
                                     context: CommandContext(now: context.now, requestID: "req-hold", fingerprint: 11),
                                     storage: context.engineStorage)
        }
        #expect(hold.replayed && hold.order.version == 2)
        // Same keys, other content: ALREADY_EXISTS.
        await #expect(throws: DomainError.self) { _ = try await receive(writer, "chg-1", "SKU-1", "WH-1", 11) }
        do {
            _ = try await capture(writer, draft("IDEM-1", lines: [("SKU-1", 4)]))
            Issue.record("a different order under the same key was accepted")
        } catch let error as DomainError {
            #expect(error.code == .alreadyExists)
            #expect(error.existingOrderID == orderID)
        }
        do {
            _ = try await writer.run { context in
                try context.engine.apply(.hold(.fraud, note: "other"), to: orderID,
                                         context: CommandContext(now: context.now, requestID: "req-hold", fingerprint: 12),
                                         storage: context.engineStorage)
            }
            Issue.record("a different change under the same request id was accepted")
        } catch let error as DomainError {
            #expect(error.code == .alreadyExists)
            #expect(error.field == "request_id")
        }
        let stored = try #require(try StoreReader(database: database).order(id: orderID.rawValue))
        #expect(stored.version == 2)
        #expect(stored.holds.map(\.reason) == [.payment])
        let keys = try StoreReader(database: database).readNow { db in try String.fetchAll(db, sql: "SELECT key FROM requests ORDER BY key") }
        #expect(keys == ["inventory:chg-1", "order:req-hold"])
    }
}

@Suite("Balances rebuilt on start")
struct RebuildTests {
    @Test("after a long random workload, balances rebuilt from the file equal the live ones", arguments: [UInt64(7), 2_024])
    func rebuildEqualsLive(seed: UInt64) async throws {
        let directory = try TemporaryDirectory("rebuild")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        let live: [InventoryKey: Balance]
        let liveBackorders: Int
        let liveNext: Int64
        let liveCapacity: [CapacityKey: Int32]
        do {
            let (database, writer) = try openStore(path, clock: clock)
            try await StoreNet.setUp(writer, capacity: 40, carrierCapacity: 30)
            let stats = try await runRandomWorkload(writer, clock: clock, seed: seed, operations: 1_500)
            for kind in ["receipt", "adjustment", "capture", "release", "ship", "reject", "cancel", "receive-return"] {
                #expect((stats.applied[kind] ?? 0) > 0, "the workload applied some \(kind) (stats \(stats))")
            }
            #expect(!stats.refused.isEmpty, "and had some refused")
            live = try await balances(writer)
            (liveBackorders, liveNext, liveCapacity) = try await writer.run {
                ($0.engine.state.backorders.count, $0.engine.state.nextOrderSequence, $0.engine.state.capacity.used.filter { $0.value != 0 })
            }
            try expectConsistent(live, reader: StoreReader(database: database))
            #expect(liveCapacity.keys.contains { !$0.resource.isEmpty }, "carrier service capacity was used")
            let paired = try StoreReader(database: database).readNow { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(carrier_resource) FROM capacity_ledger WHERE delta > 0") ?? 0
            }
            #expect(paired > 0, "a location's and its carrier service's uses shared rows")
            writer.stop()
        }
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        #expect(try await balances(writer) == live)
        let (backorders, next, capacity) = try await writer.run {
            ($0.engine.state.backorders.count, $0.engine.state.nextOrderSequence, $0.engine.state.capacity.used.filter { $0.value != 0 })
        }
        #expect(backorders == liveBackorders)
        #expect(next == liveNext)
        #expect(capacity == liveCapacity)
        #expect(writer.committed.withInventory { book in Dictionary(uniqueKeysWithValues: book.allBalances) } == live,
                "readers start from the rebuilt balances")
        try expectConsistent(live, reader: StoreReader(database: database))
    }

    @Test("checkpoint + replay: with a small checkpoint interval, a restart replays only the movements after the checkpoint")
    func checkpointAndReplay() async throws {
        let directory = try TemporaryDirectory("checkpoint")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        var limits = WriterLimits()
        limits.checkpointMovementsInterval = 25
        let (database, writer) = try openStore(path, clock: clock, limits: limits)
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        _ = try await runRandomWorkload(writer, clock: clock, seed: 99, operations: 600, wave: 40)
        // A tail of movements the checkpoint does not cover. Where the workload left the interval
        // depends on how its batches formed, and a receipt that crosses it checkpoints everything
        // (fewer than checkpointRowsPerBatch balances): the receipt after that one is the tail.
        let reader = StoreReader(database: database)
        func figures() throws -> (Int64, Int64, Int) {
            try reader.readNow { db in
                (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'checkpoint_movement_id'") ?? 0,
                 try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM movements") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM balance_checkpoints") ?? 0)
            }
        }
        _ = try await receive(writer, "tail-1", "SKU-1", "WH-1", 3)
        if try figures().0 == figures().1 { _ = try await receive(writer, "tail-2", "SKU-2", "ST-1", 4) }
        let (checkpoint, lastMovement, checkpointRows) = try figures()
        #expect(checkpoint > 0, "checkpoints were taken during the workload")
        #expect(checkpoint < lastMovement, "the tail of the ledger is newer than the checkpoint")
        #expect(checkpointRows > 0)
        let live = try await balances(writer)

        // A second writer on the same file, as after a crash (the first never wrote a final checkpoint).
        let (_, restarted) = try openStore(path, clock: clock, limits: limits)
        #expect(try await balances(restarted) == live)
        restarted.stop()
        try expectConsistent(live, reader: reader)
    }

    @Test("incremental checkpoints: a few rows per batch, each with its own watermark; a crash restart rebuilds the same balances")
    func incrementalCheckpoints() async throws {
        let directory = try TemporaryDirectory("incremental")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        var limits = WriterLimits()
        limits.checkpointDirtyBalancesMax = 4
        limits.checkpointRowsPerBatch = 1
        let (database, writer) = try openStore(path, clock: clock, limits: limits)
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        _ = try await runRandomWorkload(writer, clock: clock, seed: 41, operations: 500, wave: 1)
        let stats = writer.statistics
        #expect(stats.checkpoints > 20, "many batches checkpointed")
        #expect(stats.checkpointRows < stats.checkpoints * 8, "a few rows each (one more than the batch's movements), not every changed balance")
        let reader = StoreReader(database: database)
        let (watermark, lastMovement, stamps) = try reader.readNow { db in
            (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'checkpoint_movement_id'") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM movements") ?? 0,
             try Int64.fetchAll(db, sql: "SELECT DISTINCT movement_id FROM balance_checkpoints"))
        }
        #expect(watermark > 0 && watermark < lastMovement, "the watermark moves, behind the balances still unwritten")
        #expect(stamps.count > 1, "rows written in different batches cover different movements")
        let live = try await balances(writer)
        // A second writer on the same file, as after a crash: no final checkpoint.
        let (_, restarted) = try openStore(path, clock: clock, limits: limits)
        #expect(try await balances(restarted) == live)
        // It goes on checkpointing from there, and a clean stop writes everything.
        _ = try await receive(restarted, "after-1", "SKU-3", "WH-2", 5)
        let expected = try await balances(restarted)
        restarted.stop()
        let (_, reopened) = try openStore(path, clock: clock, limits: limits)
        #expect(try await balances(reopened) == expected)
        reopened.stop()
    }

    @Test("a checkpoint taken after a crash restart still covers the balances replayed at start")
    func checkpointAfterCrashRestart() async throws {
        let directory = try TemporaryDirectory("crash-checkpoint")
        let path = directory.path("db.sqlite")
        let crashCopy = directory.path("crashed.sqlite")
        let clock = ManualClock()
        var limits = WriterLimits()
        limits.checkpointMovementsInterval = 10
        do {
            let (_, writer) = try openStore(path, clock: clock, limits: limits)
            try await StoreNet.setUp(writer)
            // 12 movements on SKU-1: a checkpoint; then 3 more on SKU-1 that no checkpoint covers.
            for n in 0..<12 { _ = try await receive(writer, "a-\(n)", "SKU-1", "WH-1", 1) }
            for n in 0..<3 { _ = try await receive(writer, "b-\(n)", "SKU-1", "WH-1", 5) }
            // The process dies here: copy the committed file as it is (WAL included), without the
            // final checkpoint a clean stop writes.
            try FileManager.default.copyItem(atPath: path, toPath: crashCopy)
            if FileManager.default.fileExists(atPath: path + "-wal") {
                try FileManager.default.copyItem(atPath: path + "-wal", toPath: crashCopy + "-wal")
            }
            writer.stop()
        }
        let key = InventoryKey(sku: SKU("SKU-1"), locationID: LocationID("WH-1"))
        let expected: Int64 = 12 + 15
        do {
            let (_, writer) = try openStore(crashCopy, clock: clock, limits: limits)
            #expect(try await balances(writer)[key]?.onHand == expected, "replay after the crash")
            // Enough movements on another SKU to take a checkpoint in this run.
            for n in 0..<12 { _ = try await receive(writer, "c-\(n)", "SKU-2", "WH-2", 1) }
            writer.stop()
        }
        let (_, writer) = try openStore(crashCopy, clock: clock, limits: limits)
        defer { writer.stop() }
        #expect(try await balances(writer)[key]?.onHand == expected, "the later checkpoint did not freeze SKU-1 at its pre-crash checkpoint")
    }
}

@Suite("Change-feed outbox")
struct OutboxTests {
    private func offsets(_ reader: StoreReader) throws -> [UInt64] {
        try reader.eventsNow(from: 0, limit: 1_000_000).map(\.offset)
    }

    @Test("offsets are strictly increasing and gap-free across restarts and pruning")
    func offsetsAcrossRestartsAndPruning() async throws {
        let directory = try TemporaryDirectory("outbox")
        let path = directory.path("db.sqlite")
        let clock = ManualClock()
        let observed = Mutex<[UInt64]>([])
        let observer = CommitObserver { events in observed.withLock { $0 += events.map(\.offset) } }
        var all: [UInt64] = []

        do {
            let (database, writer) = try openStore(path, clock: clock, observer: observer)
            try await StoreNet.setUp(writer)
            _ = try await runRandomWorkload(writer, clock: clock, seed: 5, operations: 300, prefix: "a-")
            let stored = try offsets(StoreReader(database: database))
            #expect(stored == Array(1...UInt64(stored.count)), "1, 2, 3, ... in the first run")
            #expect(observed.withLock { $0 } == stored, "the observer saw every committed event once, in order")
            all = stored
            writer.stop()
        }
        do {
            let (database, writer) = try openStore(path, clock: clock, observer: observer)
            _ = try await runRandomWorkload(writer, clock: clock, seed: 6, operations: 200, prefix: "b-")
            let stored = try offsets(StoreReader(database: database))
            #expect(stored.first == 1)
            #expect(stored == Array(1...UInt64(stored.count)), "the second run continues where the first stopped")
            #expect(stored.count > all.count)
            all = stored
            // A consumer acknowledged half: pruning keeps everything after its offset.
            let half = all[all.count / 2]
            _ = try await writer.run { try $0.acknowledge(consumer: "erp", offset: half) }
            try waitForSearchIndex(database)
            let deleted = try await writer.run { try $0.pruneOutbox(retainedAfter: clock.now.adding(days: 1), limit: 1_000_000) }
            #expect(deleted == Int(half))
            let kept = try offsets(StoreReader(database: database))
            #expect(kept == Array((half + 1)...all.last!))
            let bounds = try StoreReader(database: database).feedBounds()
            #expect(bounds.earliest == half + 1 && bounds.head == all.last!)
            // Then everything.
            _ = try await writer.run { try $0.acknowledge(consumer: "erp", offset: all.last!) }
            _ = try await writer.run { try $0.pruneOutbox(retainedAfter: clock.now.adding(days: 1), limit: 1_000_000) }
            #expect(try offsets(StoreReader(database: database)).isEmpty)
            #expect(try StoreReader(database: database).feedBounds().head == all.last!, "the head survives an empty outbox")
            writer.stop()
        }
        do {
            let (database, writer) = try openStore(path, clock: clock, observer: observer)
            defer { writer.stop() }
            _ = try await receive(writer, "after-prune", "SKU-3", "WH-1", 2)
            // The receipt (and any backorder it released) continues after the pruned offsets, never reusing one.
            let stored = try offsets(StoreReader(database: database))
            #expect(!stored.isEmpty)
            #expect(stored == Array((all.last! + 1)...(all.last! + UInt64(max(1, stored.count)))))
        }
        let seen = observed.withLock { $0 }
        #expect(seen == Array(1...UInt64(seen.count)), "across three runs the observer saw 1...\(seen.count) with no gap or repeat")
    }

    @Test("retention keeps events younger than the retention time and events a consumer still needs")
    func retentionRules() async throws {
        let directory = try TemporaryDirectory("retention")
        let clock = ManualClock()
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: clock)
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        let head = try StoreReader(database: database).feedBounds().head
        clock.advance(milliseconds: 60_000)
        _ = try await receive(writer, "young", "SKU-1", "WH-1", 1)
        _ = try await writer.run { try $0.acknowledge(consumer: "slow", offset: 2) }
        try waitForSearchIndex(database)
        // Old enough: the network events. Acknowledged: only 1 and 2.
        #expect(try await writer.run { try $0.pruneOutbox(retainedAfter: clock.now.adding(milliseconds: -30_000), limit: 100) } == 2)
        _ = try await writer.run { try $0.acknowledge(consumer: "slow", offset: head + 1) }
        // Everything acknowledged, but the receipt is younger than the retention time.
        #expect(try await writer.run { try $0.pruneOutbox(retainedAfter: clock.now.adding(milliseconds: -30_000), limit: 100) } == Int(head) - 2)
        #expect(try StoreReader(database: database).eventsNow(from: 0, limit: 10).map(\.offset) == [head + 1])
    }

    @Test("event bodies are ChangeEvents carrying their offset, with per-aggregate sequences 1, 2, 3, ...")
    func eventBodies() async throws {
        let directory = try TemporaryDirectory("bodies")
        let clock = ManualClock()
        let path = directory.path("db.sqlite")
        do {
            let (_, writer) = try openStore(path, clock: clock)
            try await StoreNet.setUp(writer)
            _ = try await runRandomWorkload(writer, clock: clock, seed: 31, operations: 400)
            writer.stop()
        }
        // A restart in the middle: inventory sequences continue from the stored ones.
        let (database, writer) = try openStore(path, clock: clock)
        defer { writer.stop() }
        _ = try await runRandomWorkload(writer, clock: clock, seed: 32, operations: 200, prefix: "second-")
        var lastSequence: [String: Int64] = [:]
        for stored in try StoreReader(database: database).eventsNow(from: 0, limit: 100_000) {
            let event = try Waybill_V1_ChangeEvent(serializedBytes: stored.body)
            #expect(event.offset == stored.offset)
            #expect(event.eventID == "evt-\(stored.offset)")
            let aggregate = event.aggregateType + ":" + event.aggregateID
            if event.aggregateType != "item" {
                #expect(event.aggregateSequence == (lastSequence[aggregate] ?? 0) + 1, "\(aggregate) at offset \(stored.offset)")
            }
            lastSequence[aggregate] = event.aggregateSequence
            if event.aggregateType == "order" {
                #expect(event.order.orderID == event.aggregateID)
                #expect(event.order.version == event.aggregateSequence)
            }
        }
        #expect(lastSequence.keys.contains { $0.hasPrefix("inventory:") })
        #expect(lastSequence.keys.contains { $0.hasPrefix("order:") })
    }
}

@Suite("Readers")
struct ReaderIsolationTests {
    @Test("StoreReader and committed balances never see a batch before it commits")
    func uncommittedIsInvisible() async throws {
        let directory = try TemporaryDirectory("isolation")
        let (database, writer) = try openStore(directory.path("db.sqlite"), clock: ManualClock())
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        _ = try await receive(writer, "stock", "SKU-1", "WH-1", 10)
        let reader = StoreReader(database: database)
        let headBefore = try reader.feedBounds().head
        let key = InventoryKey(sku: SKU("SKU-1"), locationID: LocationID("WH-1"))
        let gate = Gate()
        // The gate job writes an order, a reservation and events, then waits inside the open transaction.
        await gate.close(writer) { context in
            _ = try context.engine.capture(draft("INVISIBLE", lines: [("SKU-1", 4)]), context: CommandContext(now: context.now),
                                           storage: context.engineStorage)
            _ = try context.engine.applyInventoryChange(
                InventoryChange(changeID: "in-flight", kind: .receipt, sku: SKU("SKU-1"), locationID: LocationID("WH-1"), quantity: 5),
                context: CommandContext(now: context.now), storage: context.engineStorage)
        }
        #expect(try reader.order(id: "W-00000001") == nil)
        #expect(try reader.allOrders().isEmpty)
        #expect(try reader.ledgerOnHand()[key] == 10)
        #expect(try reader.feedBounds().head == headBefore)
        #expect(try reader.eventsNow(from: headBefore + 1, limit: 10).isEmpty)
        let asyncResult = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            reader.orderBytes(id: "W-00000001") { result in
                switch result {
                case .success(let bytes): continuation.resume(returning: bytes == nil ? "not found" : "found")
                case .failure(let error): continuation.resume(returning: "failed: \(error)")
                }
            }
        }
        #expect(asyncResult == "not found", "the asynchronous read path does not see it either")
        let committed = writer.committed.withInventory { $0.balance(key.sku, at: key.locationID) }
        #expect(committed.onHand == 10 && committed.reserved == 0, "committed balances are the last commit's")
        gate.open()
        // After the commit everything is visible at once.
        _ = try await writer.run { _ in }
        #expect(try reader.order(id: "W-00000001")?.externalOrderID == "INVISIBLE")
        #expect(try reader.ledgerOnHand()[key] == 15)
        let after = writer.committed.withInventory { $0.balance(key.sku, at: key.locationID) }
        #expect(after.onHand == 15 && after.reserved == 4)
        #expect(try reader.feedBounds().head > headBefore)
    }
}
