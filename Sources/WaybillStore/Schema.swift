// The SQLite schema, as versioned migrations. Never edit a shipped migration: add a new one.

import GRDB
import WaybillCore

enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: orders, ledger, outbox") { db in
            // One row per order; `body` is the serialized waybill.v1.Order (the full aggregate).
            // Indexed columns duplicate what listing and start-up need.
            try db.execute(sql: """
                CREATE TABLE orders (
                    seq INTEGER PRIMARY KEY,
                    order_id TEXT NOT NULL UNIQUE,
                    channel INTEGER NOT NULL,
                    external_order_id TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    captured_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    backordered_units INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    UNIQUE (channel, external_order_id)
                );
                CREATE INDEX orders_by_capture_time ON orders (captured_at);
                CREATE INDEX orders_backordered ON orders (seq) WHERE backordered_units > 0;
                CREATE TABLE order_lines (
                    order_seq INTEGER NOT NULL,
                    line_number INTEGER NOT NULL,
                    line_id TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    unit_price_minor INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    PRIMARY KEY (order_seq, line_number)
                ) WITHOUT ROWID;
                -- The append-only inventory ledger. Balances are sums of deltas.
                CREATE TABLE movements (
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    location_id TEXT NOT NULL,
                    on_hand_delta INTEGER NOT NULL,
                    reserved_delta INTEGER NOT NULL,
                    order_id TEXT,
                    reference TEXT NOT NULL
                );
                -- Variance correction of ERP snapshots sums stock-changing movements after a time.
                CREATE INDEX movements_stock_changes ON movements (sku, location_id, at) WHERE on_hand_delta != 0;
                CREATE TABLE capacity_ledger (
                    id INTEGER PRIMARY KEY,
                    day INTEGER NOT NULL,
                    location_id TEXT NOT NULL,
                    resource TEXT NOT NULL,
                    delta INTEGER NOT NULL,
                    order_id TEXT NOT NULL,
                    reference TEXT NOT NULL
                );
                CREATE INDEX capacity_by_day ON capacity_ledger (day);
                -- Balances as of checkpoint_movement_id (meta); start-up replays later movements.
                CREATE TABLE balance_checkpoints (
                    sku TEXT NOT NULL,
                    location_id TEXT NOT NULL,
                    on_hand INTEGER NOT NULL,
                    reserved INTEGER NOT NULL,
                    event_sequence INTEGER NOT NULL,
                    PRIMARY KEY (sku, location_id)
                ) WITHOUT ROWID;
                CREATE TABLE inventory_settings (
                    sku TEXT NOT NULL,
                    location_id TEXT NOT NULL,
                    safety_stock INTEGER NOT NULL,
                    incoming BLOB NOT NULL,
                    PRIMARY KEY (sku, location_id)
                ) WITHOUT ROWID;
                -- The transactional outbox: the change feed. `body` is a serialized waybill.v1.ChangeEvent.
                CREATE TABLE outbox (
                    offset INTEGER PRIMARY KEY,
                    committed_at INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    aggregate_type TEXT NOT NULL,
                    aggregate_id TEXT NOT NULL,
                    aggregate_sequence INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                -- Idempotency keys of lifecycle requests, inventory changes and ERP messages.
                CREATE TABLE requests (
                    key TEXT PRIMARY KEY,
                    fingerprint INTEGER NOT NULL,
                    subject TEXT NOT NULL,
                    at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE locations (location_id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE carriers (carrier_id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE items (sku TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE routing_policies (version INTEGER PRIMARY KEY, set_at INTEGER NOT NULL, body BLOB NOT NULL);
                CREATE TABLE consumers (
                    name TEXT PRIMARY KEY,
                    acknowledged_offset INTEGER NOT NULL,
                    acknowledged_at INTEGER NOT NULL,
                    registered_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE bridge_status (consumer TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: item versions") { db in
            // The item's change-feed sequence: one more on every upsert, surviving outbox pruning.
            try db.execute(sql: "ALTER TABLE items ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
        }
        migrator.registerMigration("v3: stock counts") { db in
            // The as-of time of the newest ERP count applied per SKU × location: an older
            // snapshot arriving late is not applied over a newer one.
            try db.execute(sql: """
                CREATE TABLE stock_counts (
                    sku TEXT NOT NULL,
                    location_id TEXT NOT NULL,
                    as_of INTEGER NOT NULL,
                    PRIMARY KEY (sku, location_id)
                ) WITHOUT ROWID;
                -- Who holds reservations at a position, newest first: a count below the
                -- reservations re-routes the newest holders.
                CREATE INDEX movements_reservations ON movements (sku, location_id) WHERE kind = 'reserved';
                """)
        }
        migrator.registerMigration("v4: orders holding reservations") { db in
            // Who holds reservations is found through the orders (newest first, by a partial
            // index that captures append to) instead of an index of reservation movements by
            // SKU × location, which cost every capture a random index page per line.
            try db.execute(sql: """
                ALTER TABLE orders ADD COLUMN reserved_units INTEGER NOT NULL DEFAULT 0;
                DROP INDEX movements_reservations;
                """)
            let terminal = OrderStatus.allCases.filter(\.isTerminal).map { String($0.rawValue) }.joined(separator: ", ")
            let rows = try Row.fetchAll(db, sql: "SELECT seq, body FROM orders WHERE status NOT IN (\(terminal))")
            for row in rows {
                let order = try SQLiteStorage.decodeOrder(row["body"])
                let units = order.reservedUnits
                if units > 0 {
                    try db.execute(sql: "UPDATE orders SET reserved_units = ? WHERE seq = ?", arguments: [units, row["seq"] as Int64])
                }
            }
            try db.execute(sql: "CREATE INDEX orders_reserving ON orders (seq) WHERE reserved_units > 0")
        }
        migrator.registerMigration("v5: incremental balance checkpoints") { db in
            // Each checkpoint row covers the movements up to its own movement_id, so a batch can
            // checkpoint a few balances at a time. Rows written before cover the stored
            // checkpoint_movement_id, which start-up also honours: 0 is right for them.
            try db.execute(sql: "ALTER TABLE balance_checkpoints ADD COLUMN movement_id INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v6: paired capacity rows") { db in
            // A fulfillment's location use and its carrier service's use at that location share
            // one row: `carrier_resource` names the service the row also counts against (NULL:
            // the row counts against `resource` only, as every row written before did).
            try db.execute(sql: "ALTER TABLE capacity_ledger ADD COLUMN carrier_resource TEXT")
        }
        migrator.registerMigration("v7: credentials") { db in
            // Who may call (CredentialRows.swift). Only SHA-256 hashes of tokens, never a token.
            // A name stays taken after revocation: history and logs record names as who acted.
            try db.execute(sql: """
                CREATE TABLE credentials (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    role TEXT NOT NULL,
                    channels TEXT NOT NULL,
                    locations TEXT NOT NULL,
                    token_hash BLOB NOT NULL,
                    previous_token_hash BLOB,
                    previous_token_expires_at INTEGER,
                    expires_at INTEGER,
                    created_at INTEGER NOT NULL,
                    created_by TEXT NOT NULL,
                    revoked_at INTEGER,
                    revoked_by TEXT,
                    rotated_at INTEGER,
                    certificate_subject TEXT
                ) WITHOUT ROWID;
                """)
        }
        registerConsumerOwners(&migrator)  // v8 (ConsumerOwnership.swift)
        registerBlobFingerprints(&migrator)  // v9 (RequestFingerprintColumn.swift)
        registerCarts(&migrator)  // v10 (CartRows.swift)
        registerExpectedReceipts(&migrator)  // v11 (ReceiptRows.swift)
        registerOrderSearchTerms(&migrator)  // v12 (OrderSearchTerms.swift)
        registerLocationQueues(&migrator)  // v13 (LocationQueues.swift)
        registerDeadLetterReplays(&migrator)  // v14 (DeadLetterReplayRows.swift)
        registerReconciliationRuns(&migrator)  // v15 (ReconciliationRunRows.swift)
        registerSearchIndexMove(&migrator)  // v16 (OrderSearchTerms.swift)
        return migrator
    }
}

/// Keys of the `meta` table.
enum MetaKey {
    static let checkpointMovementID = "checkpoint_movement_id"
    /// Highest outbox offset ever pruned: offsets continue after it even if the outbox is empty.
    static let prunedThroughOffset = "pruned_through_offset"
    /// The token the order search index's file must carry to count as this database's (SearchIndex).
    static let searchIndexToken = "search_index_token"
}
