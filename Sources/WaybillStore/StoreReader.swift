// Reads on the pool's reader connections: they see the last commit and never wait for the
// writer (WAL). Each call runs on a GRDB reader queue and hands its result to `completion`.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

public struct OrderListFilter: Sendable {
    public var channel: Channel?
    /// Only these channels (a channel credential's scope); nil = every channel.
    public var channels: [Channel]?
    /// Only orders this accepts (a fulfillment credential's scope, decided from the stored bytes);
    /// a page then scans at most `scanRowsMax` rows and may come back short with a cursor.
    public var include: (@Sendable ([UInt8]) -> Bool)?
    public var scanRowsMax = 10_000
    public var statuses: [OrderStatus] = []
    public var capturedFrom: Timestamp?
    public var capturedTo: Timestamp?
    /// Exclusive cursor: orders with a higher sequence.
    public var afterSequence: Int64 = 0
    public var pageSize: Int
    public init(pageSize: Int) { self.pageSize = pageSize }
}

public struct StoredEvent: Sendable {
    public var offset: UInt64
    public var body: [UInt8]
    public init(offset: UInt64, body: [UInt8]) {
        self.offset = offset
        self.body = body
    }
}

public struct ConsumerRecord: Sendable, Hashable {
    public var name: String
    public var acknowledgedOffset: UInt64
    public var acknowledgedAt: Timestamp
    public var registeredAt: Timestamp
}

public final class StoreReader: Sendable {
    let database: WaybillDatabase

    public init(database: WaybillDatabase) { self.database = database }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T,
                                   completion: @escaping @Sendable (Result<T, Error>) -> Void) {
        database.pool.asyncRead { dbResult in
            completion(Result { try body(try dbResult.get()) })
        }
    }

    /// Blocking read (tools and tests; never on an event loop).
    public func readNow<T>(_ body: (Database) throws -> T) throws -> T { try database.pool.read(body) }

    /// The stored bytes of an order: a serialized waybill.v1.Order, ready to send as is.
    func readCart(_ key: CartKey, completion: @escaping @Sendable (Result<[UInt8]?, Error>) -> Void) {
        read({ db in try CartRows.body(db, key).map { [UInt8]($0) } }, completion: completion)
    }

    public func orderBytes(id: String, completion: @escaping @Sendable (Result<[UInt8]?, Error>) -> Void) {
        read({ db in
            try Data.fetchOne(db, sql: "SELECT body FROM orders WHERE order_id = ?", arguments: [id]).map { [UInt8]($0) }
        }, completion: completion)
    }

    public func orderBytes(channel: Channel, externalOrderID: String,
                           completion: @escaping @Sendable (Result<[UInt8]?, Error>) -> Void) {
        read({ db in
            try Data.fetchOne(db, sql: "SELECT body FROM orders WHERE channel = ? AND external_order_id = ?",
                              arguments: [channel.rawValue, externalOrderID]).map { [UInt8]($0) }
        }, completion: completion)
    }

    public func order(id: String) throws -> Order? {
        try readNow { db in
            try Data.fetchOne(db, sql: "SELECT body FROM orders WHERE order_id = ?", arguments: [id]).map(SQLiteStorage.decodeOrder)
        }
    }

    /// A page of orders (sequence, bytes) in capture order, and the cursor of the next page (nil
    /// when no order may follow).
    public struct OrderPage: Sendable {
        public var rows: [(Int64, [UInt8])]
        public var nextAfterSequence: Int64?
    }

    public func listOrders(_ filter: OrderListFilter, completion: @escaping @Sendable (Result<OrderPage, Error>) -> Void) {
        read({ db in
            guard let include = filter.include else {
                let rows = try Self.orderRows(db, filter, after: filter.afterSequence, limit: filter.pageSize)
                return OrderPage(rows: rows, nextAfterSequence: rows.count == filter.pageSize ? rows.last?.0 : nil)
            }
            var rows: [(Int64, [UInt8])] = []
            var after = filter.afterSequence, scanned = 0
            while rows.count < filter.pageSize && scanned < filter.scanRowsMax {
                let chunk = try Self.orderRows(db, filter, after: after, limit: min(filter.pageSize * 4, filter.scanRowsMax - scanned))
                for row in chunk where rows.count < filter.pageSize {
                    after = row.0
                    scanned += 1
                    if include(row.1) { rows.append(row) }
                }
                if chunk.isEmpty { return OrderPage(rows: rows, nextAfterSequence: nil) }
            }
            return OrderPage(rows: rows, nextAfterSequence: after)
        }, completion: completion)
    }

    private static func orderRows(_ db: Database, _ filter: OrderListFilter, after: Int64, limit: Int) throws -> [(Int64, [UInt8])] {
            var sql = "SELECT seq, body FROM orders WHERE seq > ?"
            var arguments: [(any DatabaseValueConvertible)?] = [after]
            if let channel = filter.channel {
                sql += " AND channel = ?"
                arguments.append(channel.rawValue)
            }
            if let channels = filter.channels {
                if channels.isEmpty { return [] }
                sql += " AND channel IN (" + channels.map { _ in "?" }.joined(separator: ",") + ")"
                arguments += channels.map { $0.rawValue }
            }
            if !filter.statuses.isEmpty {
                sql += " AND status IN (" + filter.statuses.map { _ in "?" }.joined(separator: ",") + ")"
                arguments += filter.statuses.map { $0.rawValue }
            }
            if let from = filter.capturedFrom {
                sql += " AND captured_at >= ?"
                arguments.append(from.millisecondsSinceEpoch)
            }
            if let to = filter.capturedTo {
                sql += " AND captured_at < ?"
                arguments.append(to.millisecondsSinceEpoch)
            }
            sql += " ORDER BY seq LIMIT ?"
            arguments.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                (row[0] as Int64, [UInt8](row[1] as Data))
            }
    }

    /// Every order (sequence order), decoded: reconciliation and simulator checks.
    public func allOrders() throws -> [Order] {
        try readNow { db in
            try Data.fetchAll(db, sql: "SELECT body FROM orders ORDER BY seq").map(SQLiteStorage.decodeOrder)
        }
    }

    public func movements(sku: String?, locationID: String?, orderID: String?, afterID: Int64, limit: Int,
                          completion: @escaping @Sendable (Result<[Waybill_V1_Movement], Error>) -> Void) {
        read({ db in
            var sql = "SELECT id, at, kind, sku, location_id, on_hand_delta, reserved_delta, order_id, reference FROM movements WHERE id > ?"
            var arguments: [(any DatabaseValueConvertible)?] = [afterID]
            if let sku { sql += " AND sku = ?"; arguments.append(sku) }
            if let locationID { sql += " AND location_id = ?"; arguments.append(locationID) }
            if let orderID { sql += " AND order_id = ?"; arguments.append(orderID) }
            sql += " ORDER BY id LIMIT ?"
            arguments.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                var movement = Waybill_V1_Movement()
                movement.movementID = UInt64(row[0] as Int64)
                movement.atUnixMs = row[1]
                movement.kind = row[2]
                movement.sku = row[3]
                movement.locationID = row[4]
                movement.onHandDelta = row[5]
                movement.reservedDelta = row[6]
                movement.orderID = (row[7] as String?) ?? ""
                movement.reference = row[8]
                return movement
            }
        }, completion: completion)
    }

    /// On hand per SKU × location summed from the whole ledger (reconciliation's independent view).
    public func ledgerOnHand() throws -> [InventoryKey: Int64] {
        try readNow { db in
            var result: [InventoryKey: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT sku, location_id, SUM(on_hand_delta) FROM movements GROUP BY sku, location_id") {
                result[InventoryKey(sku: SKU(row[0]), locationID: LocationID(row[1]))] = row[2]
            }
            return result
        }
    }

    /// On hand per SKU × location as of `asOf` (reconciliation against an ERP extract of that
    /// time): the whole ledger minus the stock-changing movements recorded after `asOf`. Snapshot
    /// movements stay, as they restate counts as of their own time (the same rule as variance
    /// correction, so a repair by snapshot at `asOf` makes the two agree).
    public func ledgerOnHand(asOf: Timestamp) throws -> [InventoryKey: Int64] {
        try readNow { db in
            var result: [InventoryKey: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT sku, location_id, SUM(on_hand_delta) - SUM(CASE WHEN at > ? AND kind != 'snapshot' THEN on_hand_delta ELSE 0 END)
                FROM movements GROUP BY sku, location_id
                """, arguments: [asOf.millisecondsSinceEpoch]) {
                result[InventoryKey(sku: SKU(row[0]), locationID: LocationID(row[1]))] = row[2]
            }
            return result
        }
    }

    /// Events with offset >= `from`, at most `limit`, in offset order.
    public func events(from offset: UInt64, limit: Int,
                       completion: @escaping @Sendable (Result<[StoredEvent], Error>) -> Void) {
        read({ db in try Self.events(db, from: offset, limit: limit) }, completion: completion)
    }

    public func eventsNow(from offset: UInt64, limit: Int) throws -> [StoredEvent] {
        try readNow { db in try Self.events(db, from: offset, limit: limit) }
    }

    static func events(_ db: Database, from offset: UInt64, limit: Int) throws -> [StoredEvent] {
        try Row.fetchAll(db, sql: "SELECT offset, body FROM outbox WHERE offset >= ? ORDER BY offset LIMIT ?",
                         arguments: [Int64(offset), limit]).map { row in
            StoredEvent(offset: UInt64(row[0] as Int64), body: [UInt8](row[1] as Data))
        }
    }

    /// (earliest stored offset or 0, highest offset ever committed).
    public func feedBounds() throws -> (earliest: UInt64, head: UInt64) {
        try readNow { db in try Self.feedBounds(db) }
    }

    /// One MIN and one MAX each in its own subquery: SQLite answers a lone MIN or MAX of the primary
    /// key from the b-tree's ends, but `SELECT MIN(offset), MAX(offset) FROM outbox` scans the whole
    /// table (the day's feed: ~450k events, 100–200 ms, on the writer when a consumer subscribes).
    static let feedBoundsSQL = "SELECT COALESCE((SELECT MIN(offset) FROM outbox), 0), COALESCE((SELECT MAX(offset) FROM outbox), 0)"

    static func feedBounds(_ db: Database) throws -> (earliest: UInt64, head: UInt64) {
        let row = try Row.fetchOne(db, sql: feedBoundsSQL)!
        let pruned = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.prunedThroughOffset]) ?? 0
        let minimum: Int64 = row[0], maximum: Int64 = row[1]
        return (UInt64(minimum), UInt64(max(maximum, pruned)))
    }

    public func consumers() throws -> [ConsumerRecord] {
        try readNow { db in try Self.consumers(db) }
    }

    static func consumers(_ db: Database) throws -> [ConsumerRecord] {
        try Row.fetchAll(db, sql: "SELECT name, acknowledged_offset, acknowledged_at, registered_at FROM consumers ORDER BY name").map { row in
            ConsumerRecord(name: row[0], acknowledgedOffset: UInt64(row[1] as Int64),
                           acknowledgedAt: Timestamp(millisecondsSinceEpoch: row[2]),
                           registeredAt: Timestamp(millisecondsSinceEpoch: row[3]))
        }
    }

    public func bridgeStatuses() throws -> [Waybill_V1_BridgeStatus] {
        try readNow { db in
            try Data.fetchAll(db, sql: "SELECT body FROM bridge_status ORDER BY consumer").map { try Waybill_V1_BridgeStatus(serializedBytes: $0) }
        }
    }

    public func policy(version: Int64) throws -> RoutingPolicy? {
        try readNow { db in
            try Data.fetchOne(db, sql: "SELECT body FROM routing_policies WHERE version = ?", arguments: [version]).map {
                try RoutingPolicy(proto: Waybill_V1_RoutingPolicy(serializedBytes: $0))
            }
        }
    }

    public func locations() throws -> [Location] {
        try readNow { db in
            try Data.fetchAll(db, sql: "SELECT body FROM locations ORDER BY location_id").map {
                try Location(proto: Waybill_V1_Location(serializedBytes: $0))
            }
        }
    }
}

// MARK: - Writer-side operations beyond the engine (consumers, bridge status, retention)

extension WriteContext {
    /// Registers `consumer` if new and moves its acknowledged offset forward (never back).
    @discardableResult
    public func acknowledge(consumer: String, offset: UInt64) throws -> ConsumerRecord {
        try withDatabase { db in
            try db.execute(sql: """
                INSERT INTO consumers (name, acknowledged_offset, acknowledged_at, registered_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET
                    acknowledged_offset = MAX(acknowledged_offset, excluded.acknowledged_offset),
                    acknowledged_at = excluded.acknowledged_at
                """, arguments: [consumer, Int64(offset), now.millisecondsSinceEpoch, now.millisecondsSinceEpoch])
            let row = try Row.fetchOne(db, sql: "SELECT acknowledged_offset, acknowledged_at, registered_at FROM consumers WHERE name = ?",
                                       arguments: [consumer])!
            return ConsumerRecord(name: consumer, acknowledgedOffset: UInt64(row[0] as Int64),
                                  acknowledgedAt: Timestamp(millisecondsSinceEpoch: row[1]),
                                  registeredAt: Timestamp(millisecondsSinceEpoch: row[2]))
        }
    }

    public func deleteConsumer(_ consumer: String) throws -> Bool {
        try withDatabase { db in
            try db.execute(sql: "DELETE FROM consumers WHERE name = ?", arguments: [consumer])
            return db.changesCount > 0
        }
    }

    public func consumers() throws -> [ConsumerRecord] { try withDatabase { try StoreReader.consumers($0) } }

    /// Deletes outbox events every registered consumer acknowledged and older than `retainedAfter`,
    /// at most `limit` per call. Returns how many were deleted.
    ///
    /// A balance's event sequence lives in its checkpoint row or in the outbox events that carried
    /// it, so an event may go only once the rows of the balances it changed are written. Rather than
    /// writing every row that is behind in one go (up to `checkpointDirtyBalancesMax`, hundreds of
    /// milliseconds on the writer), a prune writes at most `checkpointRowsMax` of the oldest rows
    /// and deletes only the events before the oldest balance still unwritten; the rest waits for
    /// the next prune or the writer's incremental checkpoints.
    public func pruneOutbox(retainedAfter: Timestamp, limit: Int, checkpointRowsMax: Int = 512) throws -> Int {
        try withDatabase { db in
            let acknowledged = try Int64.fetchOne(db, sql: "SELECT MIN(acknowledged_offset) FROM consumers")
            // Events commit in offset order with non-decreasing times, so the events past retention
            // are a prefix of the outbox: look at the first `limit` by offset only. (Filtering on
            // committed_at inside the LIMIT walked the whole outbox whenever fewer than `limit` were
            // old enough — every prune of a young feed: 84–305 ms on the writer in the main job.)
            let eligible = try Int64.fetchOne(db, sql: """
                SELECT MAX(offset) FROM (SELECT offset, committed_at FROM outbox WHERE offset <= ? ORDER BY offset LIMIT ?) WHERE committed_at < ?
                """, arguments: [acknowledged ?? Int64.max, limit, retainedAfter.millisecondsSinceEpoch])
            guard let eligible else { return 0 }
            try storage.checkpoint(engine.inventory, rowsMax: checkpointRowsMax, offsetsThrough: UInt64(eligible))
            // Nor the events the search index has not covered yet: a search reads them (SearchIndex).
            let through = min(eligible, storage.dirty.oldestOffset.map { Int64($0) - 1 } ?? eligible, storage.searchIndex.indexedThrough)
            guard through > 0 else { return 0 }
            try db.execute(sql: "DELETE FROM outbox WHERE offset <= ?", arguments: [through])
            let deleted = db.changesCount
            guard deleted > 0 else { return 0 }
            try db.execute(sql: """
                INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)
                """, arguments: [MetaKey.prunedThroughOffset, through])
            return deleted
        }
    }

    public func saveBridgeStatus(_ status: Waybill_V1_BridgeStatus) throws {
        try withDatabase { db in
            try db.execute(sql: "INSERT OR REPLACE INTO bridge_status (consumer, body) VALUES (?, ?)",
                           arguments: [status.consumer, Data(try status.serializedBytes() as [UInt8])])
        }
    }

    public func feedBounds() throws -> (earliest: UInt64, head: UInt64) { try withDatabase { try StoreReader.feedBounds($0) } }

    /// Every order, decoded (reconciliation repairs run in the writer).
    public func allOrderIDs() throws -> [OrderID] {
        try withDatabase { db in try String.fetchAll(db, sql: "SELECT order_id FROM orders ORDER BY seq").map(OrderID.init) }
    }
}
