// The `location_queue` table (migration v13): every open fulfillment by location, oldest first, for
// OrderService.ListLocationQueue. Open: CREATED (to release), RELEASED (to pick), PICKED (to pack),
// PACKED (to ship, or for pickup to hand over), and a pickup SHIPPED (handed over to the counter,
// awaiting collection). insertOrder adds the open fulfillments of a new order; updateOrder upserts
// each open one's status (a write only when it changed) and deletes those that left the open
// states, so the table holds only work to do and a queue read never walks a location's history.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

extension Fulfillment {
    /// Whether the fulfillment is work waiting at its location.
    var isQueued: Bool {
        switch status {
        case .created, .released, .picked, .packed: true
        case .shipped: method == .pickup
        case .delivered, .rejected, .cancelled: false
        }
    }
}

extension Schema {
    static func registerLocationQueues(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v13: location queues") { db in
            try db.execute(sql: """
                CREATE TABLE location_queue (
                    location_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    fulfillment_id TEXT NOT NULL,
                    order_seq INTEGER NOT NULL,
                    status INTEGER NOT NULL,
                    PRIMARY KEY (location_id, created_at, fulfillment_id)
                ) WITHOUT ROWID;
                """)
            try OrderRowsBackfill.each(db) { sequence, order in
                for fulfillment in order.fulfillments where fulfillment.isQueued {
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO location_queue (location_id, created_at, fulfillment_id, order_seq, status) VALUES (?, ?, ?, ?, ?)
                        """, arguments: [fulfillment.locationID.rawValue, fulfillment.createdAt.millisecondsSinceEpoch,
                                         fulfillment.fulfillmentID, sequence, fulfillment.status.rawValue])
                }
            }
        }
    }
}

extension SQLiteStorage {
    /// At capture: the new order's open fulfillments.
    func insertQueueEntries(of order: Order, sequence: Int64) throws {
        for fulfillment in order.fulfillments where fulfillment.isQueued {
            try upsertQueueEntry(fulfillment, sequence: sequence)
        }
    }

    /// On an update: each fulfillment's row follows its status (a probe when nothing changed).
    func updateQueueEntries(of order: Order, sequence: Int64) throws {
        for fulfillment in order.fulfillments {
            if fulfillment.isQueued {
                try upsertQueueEntry(fulfillment, sequence: sequence)
            } else {
                try execute("DELETE FROM location_queue WHERE location_id = ? AND created_at = ? AND fulfillment_id = ?") { b in
                    b.text(1, fulfillment.locationID.rawValue)
                    b.int(2, fulfillment.createdAt.millisecondsSinceEpoch)
                    b.text(3, fulfillment.fulfillmentID)
                }
            }
        }
    }

    private func upsertQueueEntry(_ fulfillment: Fulfillment, sequence: Int64) throws {
        try execute("""
            INSERT INTO location_queue (location_id, created_at, fulfillment_id, order_seq, status) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (location_id, created_at, fulfillment_id) DO UPDATE SET status = excluded.status WHERE status != excluded.status
            """) { b in
            b.text(1, fulfillment.locationID.rawValue)
            b.int(2, fulfillment.createdAt.millisecondsSinceEpoch)
            b.text(3, fulfillment.fulfillmentID)
            b.int(4, sequence)
            b.int(5, Int64(fulfillment.status.rawValue))
        }
    }
}

public struct LocationQueueFilter: Sendable {
    public var locationID: String
    /// Empty: every queued state.
    public var statuses: [FulfillmentStatus] = []
    /// Exclusive cursor: entries after (created_at, fulfillment_id).
    public var after: (createdAt: Int64, fulfillmentID: String)?
    public var pageSize: Int
    public init(locationID: String, pageSize: Int) {
        self.locationID = locationID
        self.pageSize = pageSize
    }
}

public struct LocationQueuePage: Sendable {
    /// The fulfillment id and its order's stored bytes, oldest fulfillment first.
    public var rows: [(fulfillmentID: String, order: [UInt8])]
    /// The cursor of the next page (nil: nothing follows).
    public var next: (createdAt: Int64, fulfillmentID: String)?
}

extension StoreReader {
    public func locationQueue(_ filter: LocationQueueFilter, completion: @escaping @Sendable (Result<LocationQueuePage, Error>) -> Void) {
        read({ db in try Self.locationQueue(db, filter) }, completion: completion)
    }

    public func locationQueueNow(_ filter: LocationQueueFilter) throws -> LocationQueuePage {
        try readNow { db in try Self.locationQueue(db, filter) }
    }

    static func locationQueue(_ db: Database, _ filter: LocationQueueFilter) throws -> LocationQueuePage {
        var sql = """
            SELECT q.created_at, q.fulfillment_id, o.body FROM location_queue q JOIN orders o ON o.seq = q.order_seq
            WHERE q.location_id = ?
            """
        var arguments: StatementArguments = [filter.locationID]
        if let after = filter.after {
            sql += " AND (q.created_at, q.fulfillment_id) > (?, ?)"
            arguments += [after.createdAt, after.fulfillmentID]
        }
        if !filter.statuses.isEmpty {
            sql += " AND q.status IN (" + filter.statuses.map { _ in "?" }.joined(separator: ",") + ")"
            arguments += StatementArguments(filter.statuses.map { $0.rawValue })
        }
        sql += " ORDER BY q.created_at, q.fulfillment_id LIMIT ?"
        arguments += [filter.pageSize]
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        let page = rows.map { row in (fulfillmentID: row[1] as String, order: [UInt8](row[2] as Data)) }
        let next = rows.count == filter.pageSize ? rows.last.map { (createdAt: $0[0] as Int64, fulfillmentID: $0[1] as String) } : nil
        return LocationQueuePage(rows: page, next: next)
    }
}

/// Walks every stored order in seq order, decoded, a slice at a time (migration backfills).
enum OrderRowsBackfill {
    static func each(_ db: Database, slice: Int = 1_000, _ body: (Int64, Order) throws -> Void) throws {
        var after: Int64 = -1
        while true {
            let rows = try Row.fetchAll(db, sql: "SELECT seq, body FROM orders WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, slice])
            guard let last = rows.last else { return }
            for row in rows { try body(row[0], try SQLiteStorage.decodeOrder(row[1])) }
            after = last[0]
        }
    }
}
