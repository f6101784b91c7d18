// Opening the database and rebuilding the engine's in-memory state from it.

import Foundation
import GRDB
import Logging
import SwiftProtobuf
import WaybillCore
import WaybillProto

/// The SQLite file: WAL mode, synchronous=FULL, a pool of readers beside one writer connection.
public final class WaybillDatabase: Sendable {
    public let path: String
    let pool: DatabasePool
    let checkpointer: WalCheckpointer?
    /// SearchOrders' term index, in its own file (`<path>-search`), kept by its indexer thread.
    public let searchIndex: SearchIndex

    /// Opens (creating if needed) and migrates the database at `path`. `checkpointIntervalMilliseconds`
    /// > 0 moves WAL checkpoints to a background thread (see WalCheckpointer); 0 leaves SQLite's
    /// automatic checkpoint on. `startsCheckpointer: false` leaves starting it to `startCheckpointer()`
    /// (a lifecycle service). The order search index (`<path>-search`) is opened and brought up to
    /// date here; `startsSearchIndexer: false` leaves its indexing to `searchIndex.indexPending()`.
    public init(path: String, readers: Int = 4, checkpointIntervalMilliseconds: Int = 0, startsCheckpointer: Bool = true,
                searchIndexLimits: SearchIndexLimits = SearchIndexLimits(), startsSearchIndexer: Bool = true,
                logger: Logger = Logger(label: "waybill")) throws {
        self.path = path
        var configuration = Configuration()
        configuration.maximumReaderCount = readers
        configuration.busyMode = .timeout(10)
        configuration.label = "waybill"
        configuration.prepareDatabase { db in
            // Every commit is fsynced: an acknowledged order survives power loss, not just kill -9.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA cache_size = -65536")
            if checkpointIntervalMilliseconds > 0 { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Schema.migrator.migrate(pool)
        searchIndex = try SearchIndex(path: path + "-search", database: pool, limits: searchIndexLimits,
                                      startsThread: startsSearchIndexer, logger: logger)
        checkpointer = checkpointIntervalMilliseconds > 0 ? WalCheckpointer(path: path, intervalMilliseconds: checkpointIntervalMilliseconds, logger: logger) : nil
        if startsCheckpointer { checkpointer?.start() }
    }

    /// Stops the background checkpointer (after the writer stopped).
    public func close() {
        searchIndex.stop()
        checkpointer?.stop()
    }

    /// Why the background WAL checkpointer is not keeping the WAL short (cannot open its connection,
    /// checkpoints failing), or nil while it is or when there is none: part of the server's readiness.
    public var walCheckpointerProblem: String? { checkpointer?.problem }

    public var schemaVersion: String {
        get throws { try pool.read { db in try Schema.migrator.appliedMigrations(db).last ?? "" } }
    }

    /// Where balance checkpoints stand after a load.
    struct CheckpointPosition {
        /// `checkpoint_movement_id`: every movement up to it is covered by checkpoint rows.
        var watermark: Int64 = 0
        var lastMovementID: Int64 = 0
        /// Balances whose row is behind them (movements or events replayed after it), each with
        /// the first movement id the row misses: later checkpoints must write them.
        var uncheckpointed: [(InventoryKey, Int64)] = []
    }

    /// The engine state as stored: network, policy, balances (checkpoint rows + the movements
    /// after each), capacity of recent days, backorders and counters.
    func loadState(now: Timestamp, limits: DomainLimits) throws
        -> (state: EngineState, nextOffset: UInt64, checkpoints: CheckpointPosition) {
        try pool.read { db in
            var state = EngineState()
            for body in try Data.fetchAll(db, sql: "SELECT body FROM locations ORDER BY location_id") {
                state.network.upsert(try Location(proto: Waybill_V1_Location(serializedBytes: body)))
            }
            for body in try Data.fetchAll(db, sql: "SELECT body FROM carriers ORDER BY carrier_id") {
                state.network.upsert(try Carrier(proto: Waybill_V1_Carrier(serializedBytes: body)))
            }
            for row in try Row.fetchAll(db, sql: "SELECT body, version FROM items ORDER BY sku") {
                state.network.restore(Item(proto: try Waybill_V1_Item(serializedBytes: row[0] as Data)), version: row[1])
            }
            try ChannelSettingsRows.load(db, into: &state.network)
            if let body = try Data.fetchOne(db, sql: "SELECT body FROM routing_policies ORDER BY version DESC LIMIT 1") {
                state.policy = try RoutingPolicy(proto: Waybill_V1_RoutingPolicy(serializedBytes: body))
            }
            state.nextOrderSequence = (try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM orders") ?? 0) + 1

            var position = CheckpointPosition()
            position.watermark = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?",
                                                    arguments: [MetaKey.checkpointMovementID]) ?? 0
            position.lastMovementID = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM movements") ?? 0
            for row in try Row.fetchAll(db, sql: "SELECT sku, location_id, on_hand, reserved, event_sequence FROM balance_checkpoints") {
                let sku = SKU(row[0]), location = LocationID(row[1])
                state.inventory.update(sku, location) { balance in
                    balance.onHand = row[2]
                    balance.reserved = row[3]
                    balance.eventSequence = row[4]
                }
            }
            // Movements after the watermark that a balance's own row does not cover yet.
            let replay = try Row.fetchCursor(db, sql: """
                SELECT m.sku, m.location_id, SUM(m.on_hand_delta), SUM(m.reserved_delta), MIN(m.id)
                FROM movements m LEFT JOIN balance_checkpoints c ON c.sku = m.sku AND c.location_id = m.location_id
                WHERE m.id > ? AND m.id > COALESCE(c.movement_id, 0)
                GROUP BY m.sku, m.location_id
                """, arguments: [position.watermark])
            var uncheckpointed: [InventoryKey: Int64] = [:]
            while let row = try replay.next() {
                let onHand: Int64 = row[2], reserved: Int64 = row[3]
                uncheckpointed[InventoryKey(sku: SKU(row[0]), locationID: LocationID(row[1]))] = row[4]
                state.inventory.update(SKU(row[0]), LocationID(row[1])) { balance in
                    balance.onHand += onHand
                    balance.reserved += reserved
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT sku, location_id, safety_stock, incoming FROM inventory_settings") {
                let setting = try Waybill_V1_InventorySetting(serializedBytes: row[3] as Data)
                let safety: Int64 = row[2]
                state.inventory.update(SKU(row[0]), LocationID(row[1])) { balance in
                    balance.safetyStock = safety
                    balance.incoming = setting.incoming.map {
                        Supply(quantity: $0.quantity, expectedAt: Timestamp(millisecondsSinceEpoch: $0.expectedAtUnixMs))
                    }
                }
            }
            // Inventory event sequences continue from the newest event still in the outbox.
            for row in try Row.fetchAll(db, sql: """
                SELECT aggregate_id, MAX(aggregate_sequence) FROM outbox WHERE aggregate_type = 'inventory' GROUP BY aggregate_id
                """) {
                let aggregate: String = row[0]
                guard let at = aggregate.firstIndex(of: "@") else { continue }
                let sequence: Int64 = row[1]
                let key = InventoryKey(sku: SKU(String(aggregate[..<at])), locationID: LocationID(String(aggregate[aggregate.index(after: at)...])))
                if sequence > state.inventory.balance(key.sku, at: key.locationID).eventSequence, uncheckpointed[key] == nil {
                    uncheckpointed[key] = position.lastMovementID + 1
                }
                state.inventory.update(key.sku, key.locationID) {
                    $0.eventSequence = max($0.eventSequence, sequence)
                }
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT location_id, resource, day, SUM(delta) FROM (
                    SELECT location_id, resource, day, delta FROM capacity_ledger WHERE day >= ?
                    UNION ALL
                    SELECT location_id, carrier_resource, day, delta FROM capacity_ledger WHERE day >= ? AND carrier_resource IS NOT NULL
                ) GROUP BY location_id, resource, day
                """, arguments: [now.day - 1, now.day - 1]) {
                let used: Int32 = row[3]
                let day: Int64 = row[2]
                state.capacity.apply(CapacityUse(key: CapacityKey(locationID: LocationID(row[0]), resource: row[1], day: day),
                                                 delta: used, orderID: OrderID(""), reference: "start-up"))
            }
            try CartRows.loadActive(db, into: &state.carts)
            try ReceiptRows.loadOpen(db, into: &state.supply)
            for body in try Data.fetchAll(db, sql: "SELECT body FROM orders WHERE backordered_units > 0 ORDER BY seq") {
                state.backorders.update(try SQLiteStorage.decodeOrder(body))
            }
            let maxOffset = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(offset), 0) FROM outbox") ?? 0
            let pruned = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.prunedThroughOffset]) ?? 0
            _ = state.inventory.drainChangedSKUs()
            position.uncheckpointed = uncheckpointed.map { ($0.key, $0.value) }
            return (state, UInt64(max(maxOffset, pruned)) + 1, position)
        }
    }
}
