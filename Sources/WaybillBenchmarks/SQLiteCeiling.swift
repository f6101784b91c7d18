// The raw SQLite ceiling: the same rows a durable capture writes (order row with its blob,
// lines, reservation movements, a capacity row, an outbox event), through the bare C API with
// prepared statements, `synchronous=FULL`, WAL, `ordersPerTransaction` per commit. Benchmarks
// report Waybill's capture rate as a ratio of this, measured in the same run on the same disk.

import Foundation
import GRDB
import GRDBSQLite
import WaybillStore

public enum SQLiteCeiling {
    public struct Result: Sendable {
        public var orders: Int
        public var seconds: Double
        /// Median time of a durable commit of one small transaction (WAL append + fsync) on this disk.
        public var commitMilliseconds: Double
        public var ordersPerSecond: Double { Double(orders) / seconds }
    }

    /// What a captured order writes, measured from a Waybill database (so the ceiling writes the same).
    public struct Profile: Sendable, Codable {
        public var linesPerOrder = 3
        public var bodyBytes = 600
        public var eventBytes = 700
        public var movementsPerOrder = 3.0
        public var capacityRowsPerOrder = 1.0
        /// The share of capacity rows that also count a carrier service's use (`carrier_resource`).
        public var capacityPairedShare = 0.0
        public init() {}

        /// The averages over every order captured in `database`.
        public static func measured(in database: WaybillDatabase) throws -> Profile {
            try StoreReader(database: database).readNow { db in
                let orders = max(1, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM orders") ?? 1)
                var profile = Profile()
                profile.linesPerOrder = Int(((try Double.fetchOne(db, sql: "SELECT COUNT(*) FROM order_lines") ?? 0) / Double(orders)).rounded())
                profile.bodyBytes = try Int.fetchOne(db, sql: "SELECT CAST(AVG(length(body)) AS INTEGER) FROM orders") ?? 0
                profile.eventBytes = try Int.fetchOne(db, sql: "SELECT CAST(AVG(length(body)) AS INTEGER) FROM outbox WHERE aggregate_type = 'order'") ?? 0
                profile.movementsPerOrder = (try Double.fetchOne(db, sql: "SELECT COUNT(*) FROM movements WHERE order_id IS NOT NULL") ?? 0) / Double(orders)
                let capacityRows = try Double.fetchOne(db, sql: "SELECT COUNT(*) FROM capacity_ledger") ?? 0
                profile.capacityRowsPerOrder = capacityRows / Double(orders)
                profile.capacityPairedShare = (try Double.fetchOne(db, sql: "SELECT COUNT(carrier_resource) FROM capacity_ledger") ?? 0)
                    / max(1, capacityRows)
                return profile
            }
        }
    }

    /// Writes `orders` orders of `linesPerOrder` lines into a new database at `path`.
    public static func measure(path: String, orders: Int, linesPerOrder: Int = 3, bodyBytes: Int = 600,
                               eventBytes: Int = 700, ordersPerTransaction: Int = 1000) throws -> Result {
        var profile = Profile()
        profile.linesPerOrder = linesPerOrder
        profile.bodyBytes = bodyBytes
        profile.eventBytes = eventBytes
        return try measure(path: path, orders: orders, profile: profile, ordersPerTransaction: ordersPerTransaction)
    }

    /// Writes `orders` orders with exactly `profile`'s rows and bytes (fractional row counts are
    /// spread evenly) into a new database at `path`.
    public static func measure(path: String, orders: Int, profile: Profile, ordersPerTransaction: Int = 1000) throws -> Result {
        let linesPerOrder = profile.linesPerOrder, bodyBytes = profile.bodyBytes, eventBytes = profile.eventBytes
        var movementCredit = 0.0, capacityCredit = 0.0, pairedCredit = 0.0
        // Same schema as Waybill's (the migrator creates it), so indexes cost the same.
        _ = try WaybillDatabase(path: path, readers: 1)
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else {
            throw StorageError("cannot open \(path)")
        }
        defer { sqlite3_close_v2(db) }
        func exec(_ sql: String) throws {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw StorageError(String(cString: sqlite3_errmsg(db))) }
        }
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
                throw StorageError(String(cString: sqlite3_errmsg(db)))
            }
            return statement
        }
        try exec("PRAGMA journal_mode = WAL")
        try exec("PRAGMA synchronous = FULL")
        try exec("PRAGMA cache_size = -65536")
        let insertOrder = try prepare("""
            INSERT INTO orders (seq, order_id, channel, external_order_id, status, captured_at, updated_at, backordered_units, version, body, reserved_units)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertLine = try prepare("""
            INSERT INTO order_lines (order_seq, line_number, line_id, sku, quantity, unit_price_minor, currency) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let insertMovement = try prepare("""
            INSERT INTO movements (at, kind, sku, location_id, on_hand_delta, reserved_delta, order_id, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertCapacity = try prepare("""
            INSERT INTO capacity_ledger (day, location_id, resource, delta, order_id, reference, carrier_resource) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let insertEvent = try prepare("""
            INSERT INTO outbox (offset, committed_at, type, aggregate_type, aggregate_id, aggregate_sequence, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        defer { for statement in [insertOrder, insertLine, insertMovement, insertCapacity, insertEvent] { sqlite3_finalize(statement) } }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        func text(_ statement: OpaquePointer, _ index: Int32, _ value: String) {
            sqlite3_bind_text(statement, index, value, -1, transient)
        }
        func step(_ statement: OpaquePointer) throws {
            guard sqlite3_step(statement) == SQLITE_DONE else { throw StorageError(String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(statement)
        }
        let body = [UInt8](repeating: 0x5A, count: bodyBytes)
        let event = [UInt8](repeating: 0x5B, count: eventBytes)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let start = Date()
        var written = 0
        while written < orders {
            try exec("BEGIN IMMEDIATE")
            for _ in 0..<min(ordersPerTransaction, orders - written) {
                written += 1
                let sequence = Int64(written)
                let orderID = "W-\(written)"
                sqlite3_bind_int64(insertOrder, 1, sequence)
                text(insertOrder, 2, orderID)
                sqlite3_bind_int64(insertOrder, 3, 1)
                text(insertOrder, 4, "bench-\(written)")
                sqlite3_bind_int64(insertOrder, 5, 3)
                sqlite3_bind_int64(insertOrder, 6, now)
                sqlite3_bind_int64(insertOrder, 7, now)
                sqlite3_bind_int64(insertOrder, 8, 0)
                sqlite3_bind_int64(insertOrder, 9, 1)
                body.withUnsafeBytes { _ = sqlite3_bind_blob(insertOrder, 10, $0.baseAddress, Int32(bodyBytes), transient) }
                // Reserving orders enter the orders_reserving index, as Waybill's do.
                sqlite3_bind_int64(insertOrder, 11, profile.movementsPerOrder > 0 ? Int64(linesPerOrder) : 0)
                try step(insertOrder)
                for line in 0..<linesPerOrder {
                    sqlite3_bind_int64(insertLine, 1, sequence)
                    sqlite3_bind_int64(insertLine, 2, Int64(line))
                    text(insertLine, 3, "\(line + 1)")
                    text(insertLine, 4, "SKU-\(written % 997)-\(line)")
                    sqlite3_bind_int64(insertLine, 5, 1)
                    sqlite3_bind_int64(insertLine, 6, 1999)
                    text(insertLine, 7, "USD")
                    try step(insertLine)
                }
                movementCredit += profile.movementsPerOrder
                while movementCredit >= 1 {
                    movementCredit -= 1
                    let line = Int(movementCredit * 10) % max(1, linesPerOrder)
                    sqlite3_bind_int64(insertMovement, 1, now)
                    text(insertMovement, 2, "reserved")
                    text(insertMovement, 3, "SKU-\(written % 997)-\(line)")
                    text(insertMovement, 4, "DC-1")
                    sqlite3_bind_int64(insertMovement, 5, 0)
                    sqlite3_bind_int64(insertMovement, 6, 1)
                    text(insertMovement, 7, orderID)
                    text(insertMovement, 8, orderID + "-F1")
                    try step(insertMovement)
                }
                capacityCredit += profile.capacityRowsPerOrder
                while capacityCredit >= 1 {
                    capacityCredit -= 1
                    sqlite3_bind_int64(insertCapacity, 1, now / 86_400_000)
                    text(insertCapacity, 2, "DC-1")
                    text(insertCapacity, 3, "")
                    sqlite3_bind_int64(insertCapacity, 4, 1)
                    text(insertCapacity, 5, orderID)
                    text(insertCapacity, 6, orderID + "-F1")
                    pairedCredit += profile.capacityPairedShare
                    if pairedCredit >= 1 {
                        pairedCredit -= 1
                        text(insertCapacity, 7, "UPX/ground")
                    } else {
                        sqlite3_bind_null(insertCapacity, 7)
                    }
                    try step(insertCapacity)
                }
                sqlite3_bind_int64(insertEvent, 1, sequence)
                sqlite3_bind_int64(insertEvent, 2, now)
                text(insertEvent, 3, "order.captured")
                text(insertEvent, 4, "order")
                text(insertEvent, 5, orderID)
                sqlite3_bind_int64(insertEvent, 6, 1)
                event.withUnsafeBytes { _ = sqlite3_bind_blob(insertEvent, 7, $0.baseAddress, Int32(eventBytes), transient) }
                try step(insertEvent)
            }
            try exec("COMMIT")
        }
        let seconds = Date().timeIntervalSince(start)
        // The disk's durable-commit latency: what any acknowledged write waits for at least.
        var commits: [Double] = []
        for index in 0..<101 {
            let begin = DispatchTime.now().uptimeNanoseconds
            try exec("BEGIN IMMEDIATE")
            sqlite3_bind_int64(insertCapacity, 1, Int64(index))
            text(insertCapacity, 2, "DC-1")
            text(insertCapacity, 3, "")
            sqlite3_bind_int64(insertCapacity, 4, 1)
            text(insertCapacity, 5, "commit-probe")
            text(insertCapacity, 6, "")
            try step(insertCapacity)
            try exec("COMMIT")
            commits.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
        }
        commits.sort()
        return Result(orders: written, seconds: seconds, commitMilliseconds: commits[commits.count / 2])
    }
}
