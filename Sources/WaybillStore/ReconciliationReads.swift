// Reads for reconciliation over large extracts: the orders a chunk names (by id, in batches),
// pages of orders in capture order for the "missing in the ERP" scan (decoding only the orders
// the caller asks for), and order ids by capture sequence for repairs. Each call is one short
// read on a reader connection: memory stays bounded by the batch or page.

import Foundation
import GRDB
import WaybillCore

/// SQL-side filters of the scan (a superset of the scope: the caller checks the rest).
public struct ReconciliationOrderFilter: Sendable {
    /// Orders captured after this are left out (nil: none).
    public var capturedAtMost: Timestamp?
    public var timeField: ReconcileTimeField = .capturedAt
    public var from: Timestamp?
    public var to: Timestamp?
    public var channels: [Channel] = []

    public init() {}
}

extension StoreReader {
    /// SQLite's bound-parameter limit is far above this; a batch keeps each statement small.
    static let reconciliationLookupBatch = 500

    /// The orders with these ids that Waybill has: capture sequence and order.
    public func ordersForReconciliation(ids: [OrderID]) throws -> [OrderID: (sequence: Int64, order: Order)] {
        var found: [OrderID: (sequence: Int64, order: Order)] = [:]
        let unique = Array(Set(ids.map(\.rawValue)))
        var start = 0
        try readNow { db in
            while start < unique.count {
                let batch = unique[start..<min(unique.count, start + Self.reconciliationLookupBatch)]
                start += batch.count
                let sql = "SELECT seq, body FROM orders WHERE order_id IN (" + batch.map { _ in "?" }.joined(separator: ",") + ")"
                for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(Array(batch))) {
                    let order = try SQLiteStorage.decodeOrder(row[1])
                    found[order.orderID] = (row[0], order)
                }
            }
        }
        return found
    }

    /// Up to `limit` orders after `afterSequence` in capture order, filtered in SQL. Bodies are
    /// decoded only where `decode(sequence)` is true. Returns the last sequence read (nil: no more).
    public func reconciliationPage(afterSequence: Int64, limit: Int, filter: ReconciliationOrderFilter,
                                   decode: (Int64) -> Bool) throws -> (last: Int64?, orders: [(sequence: Int64, order: Order)]) {
        try readNow { db in
            var sql = "SELECT seq, body FROM orders WHERE seq > ?"
            var arguments: [(any DatabaseValueConvertible)?] = [afterSequence]
            if let most = filter.capturedAtMost {
                sql += " AND captured_at <= ?"
                arguments.append(most.millisecondsSinceEpoch)
            }
            let column = filter.timeField == .capturedAt ? "captured_at" : "updated_at"
            if let from = filter.from {
                sql += " AND \(column) >= ?"
                arguments.append(from.millisecondsSinceEpoch)
            }
            if let to = filter.to {
                sql += " AND \(column) < ?"
                arguments.append(to.millisecondsSinceEpoch)
            }
            if !filter.channels.isEmpty {
                sql += " AND channel IN (" + filter.channels.map { _ in "?" }.joined(separator: ",") + ")"
                arguments += filter.channels.map { $0.rawValue }
            }
            sql += " ORDER BY seq LIMIT ?"
            arguments.append(limit)
            var last: Int64?
            var orders: [(sequence: Int64, order: Order)] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments))
            while let row = try rows.next() {
                let sequence: Int64 = row[0]
                last = sequence
                if decode(sequence) { orders.append((sequence, try SQLiteStorage.decodeOrder(row[1]))) }
            }
            return (last, orders)
        }
    }

    /// Order ids by capture sequence.
    public func orderIDs(sequences: [Int64]) throws -> [Int64: OrderID] {
        var found: [Int64: OrderID] = [:]
        var start = 0
        try readNow { db in
            while start < sequences.count {
                let batch = sequences[start..<min(sequences.count, start + Self.reconciliationLookupBatch)]
                start += batch.count
                let sql = "SELECT seq, order_id FROM orders WHERE seq IN (" + batch.map { _ in "?" }.joined(separator: ",") + ")"
                for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(Array(batch))) {
                    found[row[0]] = OrderID(row[1] as String)
                }
            }
        }
        return found
    }
}
