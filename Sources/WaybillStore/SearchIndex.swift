// The order search index — the candidates of OrderService.SearchOrders' term filters (email, phone,
// name, SKU, tracking number, location) — kept in a file of its own beside the database
// (`<database>-search`) and written by an indexer thread, never by the writer: the writer hands
// over, after each commit, the orders the batch wrote (in memory, no encoding), and the indexer
// writes their terms (OrderSearchTerms) in big transactions of its own. Capture pays nothing for
// search but an array append (docs/PERFORMANCE.md: the index on the writer cost 10–12% of capture).
//
// Answers stay exact while the index is behind: the file records the change-feed offset it covers
// (`indexed_through`: every order change up to that outbox offset has its terms in the file), and a
// search adds every order changed after it — read from the outbox — to its candidates
// (`changedOrdersAfter`). Every candidate is verified against the decoded order, so terms left
// behind by an edit, a re-route, a rolled-back job or a hash collision are harmless: the index only
// has to hold a superset. A search behind by more than `lagEventsMax` events answers UNAVAILABLE.
//
// The file is derived data, rebuilt whenever it cannot be trusted: missing, unreadable, another
// format, another database's (a token shared with the database's meta table), or ahead of the
// database (a restored backup). On open the index catches up synchronously with what it missed
// (a kill -9 loses the in-memory hand-over, never a commit): the orders changed after its
// position, read back from the outbox and the orders table — or, when the outbox was pruned past
// it, every order. The feed pruner never deletes events the index has not covered.

import Foundation
import GRDB
import Logging
import Metrics
import Synchronization
import WaybillCore

public struct SearchIndexLimits: Hashable, Sendable {
    /// Orders written by committed batches and not yet indexed that the index keeps in memory.
    /// Past it they are dropped, and the indexer reads those changes back from the database
    /// (outbox and orders) instead: memory stays bounded however far behind the indexer falls.
    public var queuedOrdersMax = 100_000
    /// Change-feed events the index may be behind the database before a SearchOrders call with a
    /// term filter answers UNAVAILABLE (the call reads every order changed after the index's
    /// position: an unbounded backlog would make every search slow).
    public var lagEventsMax = 100_000
    /// The indexer gathers hand-overs until it holds this many orders or the oldest has waited
    /// `indexBatchWindowMilliseconds`: FTS5 costs less per order in bigger transactions (fewer,
    /// larger segments to flush and merge), and the wake-ups are fewer. Searches are exact
    /// meanwhile (they read what the index has not covered).
    public var indexBatchOrders = 2_000
    public var indexBatchWindowMilliseconds = 50
    /// Outbox events read back per indexer transaction when catching up from the database.
    public var catchUpEventsPerTransaction = 20_000
    public init() {}
}

/// SearchOrders with a term filter while the index is more than `lagEventsMax` events behind.
public struct SearchIndexBehind: Error, CustomStringConvertible {
    public let lagEvents: Int64
    public let lagEventsMax: Int
    public var description: String {
        "the order search index is \(lagEvents) change-feed events behind (searchIndexLagEventsMax = \(lagEventsMax)); it is catching up: retry shortly"
    }
}

/// One order as a committed batch wrote it: all its terms when it was inserted, else the terms
/// its update may have added.
struct WrittenOrder {
    let order: Order
    let inserted: Bool
}

public final class SearchIndex: @unchecked Sendable {
    public let path: String
    public let limits: SearchIndexLimits
    let pool: DatabasePool
    private let database: DatabasePool
    private let logger: Logger
    /// The outbox offset the file covers (committed there), for searches and the feed pruner.
    private let indexed: Atomic<Int64>
    /// The newest outbox offset handed over (the database's head as the index knows it).
    private let head = Atomic<Int64>(0)
    /// Change-feed events committed and not yet covered by the index (alert when it keeps growing).
    private let lagGauge = Gauge(label: "waybill_search_index_lag_events")
    /// Failed indexing transactions (each retried by reading the changes back from the database).
    private let failures = Counter(label: "waybill_search_index_failures_total")
    /// CPU the indexing took (on whichever thread ran it) and the order documents it wrote: what
    /// search costs per order now that the writer does not pay it (the capture benchmark reports it).
    private let work = Mutex<(cpuNanoseconds: UInt64, documents: Int)>((0, 0))
    public var indexingCost: (cpuNanoseconds: UInt64, documents: Int) { work.withLock { $0 } }

    // Hand-over from the writer, guarded by `condition` (the indexer thread waits on it).
    private let condition = NSCondition()
    /// When the oldest order now queued was handed over (uptime nanoseconds).
    private var firstQueuedAt: UInt64 = 0
    /// `waitUntilIndexed` callers wait on this one, broadcast after each indexing transaction.
    private let progress = NSCondition()
    private var queued: [(orders: [WrittenOrder], through: Int64)] = []
    private var queuedOrders = 0
    /// Changes through this offset were dropped from memory (or failed to index): the indexer reads
    /// them back from the database.
    private var readBackThrough: Int64 = 0
    private var stopping = false
    private var threadStarted = false
    /// Whether the first hand-over starts the indexer thread (else `indexPending()` does the work).
    private let startsThread: Bool
    private let stopped = DispatchSemaphore(value: 0)

    static let format: Int64 = 1

    /// Opens (creating or rebuilding when needed) the index of `database` at `path` and brings it
    /// up to the database's change feed, synchronously.
    init(path: String, database: DatabasePool, limits: SearchIndexLimits, startsThread: Bool = true, logger: Logger) throws {
        self.path = path
        self.startsThread = startsThread
        self.database = database
        self.limits = limits
        self.logger = logger
        let token = try Self.databaseToken(database)
        var stored: (through: Int64, token: String)?
        var opened: DatabasePool?
        do {
            opened = try Self.openFile(path)
            stored = try opened!.read(Self.storedState)
        } catch {
            logger.warning("order search index unusable, rebuilding it", metadata: ["path": "\(path)", "error": "\(error)"])
            opened = nil
        }
        if opened == nil {
            Self.removeFiles(path)
            opened = try Self.openFile(path)
        }
        pool = opened!
        let (head, pruned) = try database.read { db in
            (try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(offset), 0) FROM outbox") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.prunedThroughOffset]) ?? 0)
        }
        indexed = Atomic(stored?.through ?? 0)
        if let stored, stored.token == token, stored.through >= pruned, stored.through <= max(head, pruned) {
            try catchUp(through: head)
        } else {
            try rebuild(token: token, head: max(head, pruned))
        }
    }

    /// The outbox offset through which every order change is in the file.
    public var indexedThrough: Int64 { indexed.load(ordering: .acquiring) }

    // MARK: the writer's side

    /// After a commit: the orders the batch wrote, and the batch's last outbox offset. A batch that
    /// wrote no order is handed over too: the index's position moves past its events (else the
    /// feed pruner, which keeps what the index has not covered, would stop at the last order).
    func committed(_ orders: [WrittenOrder], through: Int64) {
        head.max(through, ordering: .relaxed)
        lagGauge.record(max(0, through - indexedThrough))
        condition.lock()
        defer { condition.unlock() }
        if stopping { return }
        let entries = max(orders.count, 1)
        if queuedOrders + entries > limits.queuedOrdersMax {
            // Too far behind to hold it all: drop what waits; the indexer reads it back.
            readBackThrough = through
            queued.removeAll()
            queuedOrders = 0
        } else {
            if queued.isEmpty { firstQueuedAt = DispatchTime.now().uptimeNanoseconds }
            queued.append((orders, through))
            queuedOrders += entries
        }
        if startsThread && !threadStarted {
            threadStarted = true
            startThread()
        }
        // Woken when there is something to time (the first hand-over) or a batch is full; in
        // between it sleeps until the window ends.
        if queued.count == 1 || queuedOrders - entries < limits.indexBatchOrders && queuedOrders >= limits.indexBatchOrders
            || readBackThrough > indexedThrough {
            condition.signal()
        }
    }

    /// Indexes what was handed over, then stops the indexer thread (blocking). Idempotent.
    func stop() {
        condition.lock()
        let started = threadStarted
        stopping = true
        condition.signal()
        condition.unlock()
        if started {
            stopped.wait()
            stopped.signal()
        }
    }

    private func startThread() {
        let thread = Thread { [weak self] in
            Self.lowerPriority()
            while let index = self, index.step() {}
            self?.stopped.signal()
        }
        thread.name = "waybill-search-indexer"
        thread.start()
    }

    /// Waits for work (a full batch, or the window's end), then indexes it; false once stopping
    /// with nothing left.
    private func step() -> Bool {
        condition.lock()
        while queued.isEmpty && readBackThrough <= indexedThrough && !stopping {
            // Timed: the thread holds the index only while it works (a dropped index ends it).
            if !condition.wait(until: Date(timeIntervalSinceNow: 1)) {
                condition.unlock()
                return true
            }
        }
        let window = UInt64(limits.indexBatchWindowMilliseconds) * 1_000_000
        while !queued.isEmpty && queuedOrders < limits.indexBatchOrders && readBackThrough <= indexedThrough && !stopping {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < firstQueuedAt + window else { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(firstQueuedAt + window - now) / 1e9))
        }
        let last = stopping && queued.isEmpty && readBackThrough <= indexedThrough
        condition.unlock()
        if last { return false }
        do {
            try indexPending()
        } catch {
            failures.increment()
            logger.error("order search index: indexing failed; reading the changes back from the database later",
                         metadata: ["error": "\(error)"])
            condition.lock()
            let giveUp = stopping
            condition.unlock()
            if giveUp { return false }
            Thread.sleep(forTimeInterval: 1)
        }
        return true
    }

    /// Indexes everything handed over or to be read back, on the calling thread (the indexer
    /// thread's work; a store opened with `startsThread: false` is brought up to date by calling
    /// it). On failure the work is left to be read back from the database.
    func indexPending() throws {
        let cpuAtStart = threadCPUTimeNanoseconds()
        defer {
            let spent = threadCPUTimeNanoseconds() - cpuAtStart
            work.withLock { $0.cpuNanoseconds += spent }
        }
        condition.lock()
        let work = queued, readBack = readBackThrough
        queued.removeAll(keepingCapacity: true)
        queuedOrders = 0
        condition.unlock()
        do {
            if readBack > indexedThrough { try catchUp(through: readBack) }
            try index(work)
        } catch {
            condition.lock()
            readBackThrough = max(readBackThrough, work.last?.through ?? 0)
            condition.unlock()
            throw error
        }
    }

    /// Writes the terms of orders handed over by the writer, in one transaction.
    private func index(_ work: [(orders: [WrittenOrder], through: Int64)]) throws {
        let from = indexedThrough
        var documents: [(Int64, [UInt64])] = []
        var through = from
        for batch in work where batch.through > from {
            through = batch.through
            for written in batch.orders {
                guard let sequence = written.order.orderID.sequence else { continue }
                documents.append((sequence, written.inserted ? OrderSearchTerms.all(of: written.order) : OrderSearchTerms.later(of: written.order)))
            }
        }
        guard through > from else { return }
        try write(documents, through: through)
    }

    /// Blocks until the index covers the change feed through `offset` (true), or `seconds` passed
    /// (false). For an operator's tools and tests that need the index current, not for searches
    /// (they never wait: they read what the index has not covered from the outbox).
    public func waitUntilIndexed(through offset: Int64, seconds: Double = 30) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        progress.lock()
        defer { progress.unlock() }
        while indexedThrough < offset {
            if !progress.wait(until: deadline) { return indexedThrough >= offset }
        }
        return true
    }

    // MARK: reading back from the database

    /// Indexes every order changed in the outbox after the index's position through `head`, a
    /// slice of events per transaction (each order as it is now: a superset of its terms then).
    func catchUp(through head: Int64) throws {
        while indexedThrough < head {
            let from = indexedThrough
            let through = min(head, from + Int64(limits.catchUpEventsPerTransaction))
            let bodies = try database.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT seq, body FROM orders WHERE order_id IN
                        (SELECT aggregate_id FROM outbox WHERE offset > ? AND offset <= ? AND aggregate_type = 'order')
                    """, arguments: [from, through]).map { ($0[0] as Int64, $0[1] as Data) }
            }
            try write(try bodies.map { ($0.0, OrderSearchTerms.all(of: try SQLiteStorage.decodeOrder($0.1))) }, through: through)
        }
    }

    /// Every order's terms, from nothing: each stored order as it is now, then the position `head`
    /// (read before the walk: what changed after it is caught up or searched from the outbox).
    private func rebuild(token: String, head: Int64) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try pool.write { db in
            try db.execute(sql: "INSERT INTO order_search_terms (order_search_terms) VALUES ('delete-all')")
            try db.execute(sql: "DELETE FROM search_index_state")
        }
        var after: Int64 = -1, orders = 0
        while true {
            let rows = try database.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, body FROM orders WHERE seq > ? ORDER BY seq LIMIT 1000", arguments: [after])
                    .map { ($0[0] as Int64, $0[1] as Data) }
            }
            guard let last = rows.last else { break }
            let documents = try rows.map { ($0.0, OrderSearchTerms.all(of: try SQLiteStorage.decodeOrder($0.1))) }
            try pool.write { db in try Self.insert(documents, db) }
            after = last.0
            orders += rows.count
        }
        try pool.write { db in
            try db.execute(sql: "INSERT INTO search_index_state (id, format, token, indexed_through) VALUES (1, ?, ?, ?)",
                           arguments: [Self.format, token, head])
        }
        indexed.store(head, ordering: .releasing)  // (nothing else runs yet: the index is being opened)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        logger.info("order search index built", metadata: ["orders": "\(orders)", "seconds": "\(String(format: "%.1f", seconds))", "path": "\(path)"])
    }

    private func write(_ documents: [(Int64, [UInt64])], through: Int64) throws {
        work.withLock { $0.documents += documents.count }
        try pool.write { db in
            try Self.insert(documents, db)
            try db.execute(sql: "UPDATE search_index_state SET indexed_through = MAX(indexed_through, ?)", arguments: [through])
        }
        // Never backwards (a test's indexPending beside the thread may finish first).
        indexed.max(through, ordering: .releasing)
        lagGauge.record(max(0, head.load(ordering: .relaxed) - indexedThrough))
        progress.lock()
        progress.broadcast()
        progress.unlock()
    }

    private static func insert(_ documents: [(Int64, [UInt64])], _ db: Database) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO order_search_terms (rowid, terms) VALUES (?, ?)")
        for (sequence, terms) in documents where !terms.isEmpty {
            try statement.execute(arguments: [sequence, OrderSearchTerms.document(terms)])
        }
    }

    // MARK: searching

    /// Sequences of orders with any of `terms`, below `before`, newest first.
    func sequences(matching terms: [String], before: Int64, limit: Int) throws -> [Int64] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT rowid FROM order_search_terms WHERE order_search_terms MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?
                """, arguments: [Self.match(terms), before, limit])
        }
    }

    /// Postings of `terms`, counted up to `cap`.
    func count(matching terms: [String], cap: Int) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM order_search_terms WHERE order_search_terms MATCH ? LIMIT ?)",
                             arguments: [Self.match(terms), cap]) ?? 0
        }
    }

    /// The sequences of orders changed after the index's position, read in `db` (the database's
    /// snapshot of the search): the index does not hold their newest terms yet.
    func changedOrdersAfter(_ db: Database) throws -> [Int64] {
        let through = indexedThrough
        let head = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(offset), 0) FROM outbox") ?? 0
        guard head > through else { return [] }
        guard head - through <= Int64(limits.lagEventsMax) else {
            throw SearchIndexBehind(lagEvents: head - through, lagEventsMax: limits.lagEventsMax)
        }
        return try Int64.fetchAll(db, sql: """
            SELECT seq FROM orders WHERE order_id IN (SELECT aggregate_id FROM outbox WHERE offset > ? AND aggregate_type = 'order')
            """, arguments: [through])
    }

    /// An FTS5 query for any of `terms` (their tokens are letters and digits: no quoting needed).
    static func match(_ terms: [String]) -> String { terms.map(OrderSearchTerms.token).joined(separator: " OR ") }

    // MARK: the file

    private static func openFile(_ path: String) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.maximumReaderCount = 4
        configuration.busyMode = .timeout(10)
        configuration.label = "waybill-search"
        configuration.prepareDatabase { db in
            // Derived data: a commit need not reach the disk (a power loss costs what the next start
            // catches up); NORMAL in WAL mode never corrupts the file.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            // The ascii tokenizer: every token is "t" and 16 hex digits (unicode61's folding is work for nothing).
            try db.execute(sql: """
                CREATE VIRTUAL TABLE IF NOT EXISTS order_search_terms USING fts5(terms, content='', columnsize=0, detail=none, tokenize='ascii');
                CREATE TABLE IF NOT EXISTS search_index_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    format INTEGER NOT NULL,
                    token TEXT NOT NULL,
                    indexed_through INTEGER NOT NULL
                );
                """)
        }
        return pool
    }

    private static func storedState(_ db: Database) throws -> (through: Int64, token: String)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT format, token, indexed_through FROM search_index_state WHERE id = 1"),
              row[0] as Int64 == format else { return nil }
        return (row[2], row[1])
    }

    /// The database's own token for its search index (created once, kept in `meta` as text):
    /// an index file of another database never passes for this one's.
    private static func databaseToken(_ database: DatabasePool) throws -> String {
        try database.write { db in
            if let token = try String.fetchOne(db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE key = ?", arguments: [MetaKey.searchIndexToken]) {
                return token
            }
            let token = UUID().uuidString
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?)", arguments: [MetaKey.searchIndexToken, token])
            return token
        }
    }

    static func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// The indexer yields to the writer and the event loops when the CPU is short; it catches up
    /// when they rest. (Linux keeps a nice value per thread: `who` 0 is the calling thread.)
    private static func lowerPriority() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
        #endif
    }
}
