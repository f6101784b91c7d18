// EngineStorage over the writer's SQLite connection. Every call runs inside the writer's
// current transaction, so later commands of a batch see the writes of earlier ones.

import Foundation
import GRDB
import GRDBSQLite
import SwiftProtobuf
import WaybillCore
import WaybillProto

/// An event committed to the outbox, ready for the change feed.
public struct CommittedEvent: Sendable {
    public var offset: UInt64
    public var type: String
    public var aggregateType: String
    public var aggregateID: String
    /// A serialized waybill.v1.ChangeEvent.
    public var body: [UInt8]
    /// The order's channel name for an order event, "" otherwise: a channel caller's subscription
    /// filters on it without decoding the body.
    public var channel: String = ""
}

/// A failure of the storage layer itself (not of a request): the batch is rolled back.
public struct StorageError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

final class SQLiteStorage: EngineStorage {
    /// Valid only while the writer runs a batch.
    var db: Database! {
        didSet { prepared.removeAll(keepingCapacity: true) }
    }
    /// The hot statements of the current batch, by the address of their SQL literal: finding one
    /// hashes a pointer, where GRDB's statement cache hashes the whole SQL text on every call
    /// (about ten times per captured order). Dropped with `db` at the end of each batch, so no
    /// statement outlives the batch's connection.
    private var prepared: [UnsafeRawPointer: Statement] = [:]
    var nextOffset: UInt64
    /// Events appended in the current batch.
    var batchEvents: [CommittedEvent] = []
    /// Orders inserted or updated in the current batch, for the search index (after the commit).
    var batchOrders: [WrittenOrder] = []
    /// Balances whose checkpoint row is behind them, oldest change first.
    var dirty = DirtyBalances()
    /// The id of the newest movement appended (committed or in the current batch).
    var lastMovementID: Int64 = 0
    /// `checkpoint_movement_id` as stored: every movement up to it is in the checkpoint rows.
    var watermark: Int64 = 0
    /// Movements appended in the current batch.
    var batchMovements = 0
    /// The last order serialized for its row (full, and lean for its change event), so neither
    /// the answer nor the event encodes it again.
    private var lastSerialized: (id: OrderID, version: Int64, full: [UInt8], lean: [UInt8])?

    /// Where the batch's orders go after the commit; the feed pruner keeps what it has not covered.
    let searchIndex: SearchIndex

    init(nextOffset: UInt64, searchIndex: SearchIndex) {
        self.nextOffset = nextOffset
        self.searchIndex = searchIndex
    }

    func statement(_ sql: String) throws -> Statement { try db.cachedStatement(sql: sql) }

    /// Runs a cached INSERT/UPDATE with values bound straight through the C API. The per-order hot
    /// statements go this way: building GRDB's StatementArguments for each row costs more than
    /// SQLite's own work on it. Errors carry the SQLite message and the SQL.
    func execute(_ sql: StaticString, _ bind: (Binder) -> Void) throws {
        _ = try queryOne(sql, bind) { _ in () }
    }

    /// Runs a cached statement the same way and steps it once: `read` sees the first row, if any.
    private func queryOne<T>(_ sql: StaticString, _ bind: (Binder) -> Void, read: (Column) -> T) throws -> T? {
        let key = UnsafeRawPointer(sql.utf8Start)
        let statement: Statement
        if let cached = prepared[key] {
            statement = cached
        } else {
            statement = try db.cachedStatement(sql: sql.description)
            prepared[key] = statement
        }
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        bind(Binder(handle: handle))
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return read(Column(handle: handle))
        case SQLITE_DONE: return nil
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql.description)
        }
    }

    /// Reads columns 0, 1, 2... of the current row.
    struct Column {
        let handle: SQLiteStatement
        func int(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }
        func text(_ index: Int32) -> String {
            guard let bytes = sqlite3_column_text(handle, index) else { return "" }
            return String(cString: bytes)
        }
        /// A request fingerprint: a 32-byte BLOB; a row from before fingerprints were SHA-256 (an
        /// INTEGER) reads as a fingerprint no request has, so a retry across the upgrade is
        /// refused ALREADY_EXISTS rather than applied twice.
        func fingerprint(_ index: Int32) -> Fingerprint {
            guard sqlite3_column_type(handle, index) == SQLITE_BLOB, let pointer = sqlite3_column_blob(handle, index),
                  let read = Fingerprint(bytes: UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, index))))
            else { return .legacy }
            return read
        }
    }

    /// Binds parameters 1, 2, 3... in order.
    struct Binder {
        let handle: SQLiteStatement
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        func int(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(handle, index, value) }
        func text(_ index: Int32, _ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(utf8.baseAddress!).assumingMemoryBound(to: CChar.self),
                                      Int32(utf8.count), Self.transient)
            }
        }
        func optionalText(_ index: Int32, _ value: String?) {
            if let value { text(index, value) } else { sqlite3_bind_null(handle, index) }
        }
        func blob(_ index: Int32, _ value: [UInt8]) {
            value.withUnsafeBytes { bytes in
                _ = sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, Int32(bytes.count), Self.transient)
            }
        }
    }

    // MARK: reads

    func loadOrder(_ id: OrderID) throws -> Order? {
        guard let body = try Data.fetchOne(statement("SELECT body FROM orders WHERE order_id = ?"), arguments: [id.rawValue]) else {
            return nil
        }
        return try Self.decodeOrder(body)
    }

    static func decodeOrder(_ body: Data) throws -> Order {
        let message = try Waybill_V1_Order(serializedBytes: body)
        do {
            return try Order(proto: message)
        } catch {
            throw StorageError("stored order \(message.orderID) does not decode: \(error)")
        }
    }

    func orderID(channel: Channel, externalOrderID: String) throws -> OrderID? {
        try queryOne("SELECT order_id FROM orders WHERE channel = ? AND external_order_id = ?") { b in
            b.int(1, Int64(channel.rawValue))
            b.text(2, externalOrderID)
        } read: { OrderID($0.text(0)) }
    }

    func requestRecord(_ key: String) throws -> RequestRecord? {
        try queryOne("SELECT fingerprint, subject, at FROM requests WHERE key = ?") { b in b.text(1, key) } read: { row in
            RequestRecord(key: key, fingerprint: row.fingerprint(0), subject: row.text(1),
                          at: Timestamp(millisecondsSinceEpoch: row.int(2)))
        }
    }

    func onHandDelta(_ sku: SKU, _ location: LocationID, after: Timestamp) throws -> Int64 {
        try Int64.fetchOne(statement("""
            SELECT COALESCE(SUM(on_hand_delta), 0) FROM movements
            WHERE sku = ? AND location_id = ? AND at > ? AND on_hand_delta != 0 AND kind != 'snapshot'
            """), arguments: [sku.rawValue, location.rawValue, after.millisecondsSinceEpoch]) ?? 0
    }

    func reservationHolders(_ sku: SKU, _ location: LocationID, limit: Int) throws -> [OrderID] {
        // The partial index `orders_reserving` walks the orders holding reservations newest
        // first; each is probed in order_lines by primary key. (An index of reservation
        // movements by SKU × location answered this directly, but every capture then wrote a
        // random index page per line: a third of the commit's cost.)
        try String.fetchAll(statement("""
            SELECT o.order_id FROM (SELECT seq, order_id FROM orders WHERE reserved_units > 0 ORDER BY seq DESC LIMIT ?) AS o
            WHERE EXISTS (SELECT 1 FROM order_lines l WHERE l.order_seq = o.seq AND l.sku = ?)
            ORDER BY o.seq DESC
            """), arguments: [limit, sku.rawValue]).map(OrderID.init)
    }

    func countedAsOf(_ sku: SKU, _ location: LocationID) throws -> Timestamp? {
        try Int64.fetchOne(statement("SELECT as_of FROM stock_counts WHERE sku = ? AND location_id = ?"),
                           arguments: [sku.rawValue, location.rawValue]).map { Timestamp(millisecondsSinceEpoch: $0) }
    }

    // MARK: writes

    func recordCount(_ key: InventoryKey, asOf: Timestamp) throws {
        try statement("INSERT OR REPLACE INTO stock_counts (sku, location_id, as_of) VALUES (?, ?, ?)")
            .execute(arguments: [key.sku.rawValue, key.locationID.rawValue, asOf.millisecondsSinceEpoch])
    }

    /// The bytes written for `order` in this batch, if it was the last order written.
    func cachedBytes(of order: Order) -> [UInt8]? {
        guard let cached = lastSerialized, cached.id == order.orderID, cached.version == order.version else { return nil }
        return cached.full
    }

    private func serialize(_ order: Order) throws -> [UInt8] {
        let (full, lean) = order.encodedProtoForms()
        lastSerialized = (order.orderID, order.version, full, lean)
        return full
    }

    func insertOrder(_ order: Order) throws {
        let body = try serialize(order)
        guard let sequence = order.orderID.sequence else { throw StorageError("order id \(order.orderID) has no sequence") }
        try execute("""
            INSERT INTO orders (seq, order_id, channel, external_order_id, status, captured_at, updated_at, backordered_units, version, body, reserved_units)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """) { b in
            b.int(1, sequence)
            b.text(2, order.orderID.rawValue)
            b.int(3, Int64(order.channel.rawValue))
            b.text(4, order.externalOrderID)
            b.int(5, Int64(order.status.rawValue))
            b.int(6, order.capturedAt.millisecondsSinceEpoch)
            b.int(7, order.updatedAt.millisecondsSinceEpoch)
            b.int(8, Int64(order.backorderedUnits))
            b.int(9, order.version)
            b.blob(10, body)
            b.int(11, order.reservedUnits)
        }
        try insertLines(of: order, sequence: sequence)
        batchOrders.append(WrittenOrder(order: order, inserted: true))
        try insertQueueEntries(of: order, sequence: sequence)
    }

    /// The order's lines as they are now, for SQL access (`reservationHolders` finds orders by SKU).
    private func insertLines(of order: Order, sequence: Int64) throws {
        for (number, line) in order.lines.enumerated() {
            try execute("""
                INSERT INTO order_lines (order_seq, line_number, line_id, sku, quantity, unit_price_minor, currency)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """) { b in
                b.int(1, sequence)
                b.int(2, Int64(number))
                b.text(3, line.lineID)
                b.text(4, line.sku.rawValue)
                b.int(5, Int64(line.quantity))
                b.int(6, line.unitPrice.minorUnits)
                b.text(7, line.unitPrice.currency)
            }
        }
    }

    func updateOrder(_ order: Order) throws {
        let body = try serialize(order)
        try execute("UPDATE orders SET status = ?, updated_at = ?, backordered_units = ?, version = ?, body = ?, reserved_units = ? WHERE order_id = ?") { b in
            b.int(1, Int64(order.status.rawValue))
            b.int(2, order.updatedAt.millisecondsSinceEpoch)
            b.int(3, Int64(order.backorderedUnits))
            b.int(4, order.version)
            b.blob(5, body)
            b.int(6, order.reservedUnits)
            b.text(7, order.orderID.rawValue)
        }
        if db.changesCount != 1 { throw StorageError("update of order \(order.orderID) changed \(db.changesCount) rows") }
        // An edited order's lines may have changed (quantities, new lines, other SKUs): its rows
        // follow, or a short count would not find its reservations of a SKU it gained. Orders never
        // edited (captured_content absent) keep their captured rows, written once.
        guard let sequence = order.orderID.sequence else { return }
        if order.capturedContent != nil {
            try execute("DELETE FROM order_lines WHERE order_seq = ?") { b in b.int(1, sequence) }
            try insertLines(of: order, sequence: sequence)
        }
        batchOrders.append(WrittenOrder(order: order, inserted: false))
        try updateQueueEntries(of: order, sequence: sequence)
    }

    func appendMovements(_ movements: [Movement]) throws {
        for movement in movements {
            try execute("""
                INSERT INTO movements (at, kind, sku, location_id, on_hand_delta, reserved_delta, order_id, reference)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """) { b in
                b.int(1, movement.at.millisecondsSinceEpoch)
                b.text(2, movement.kind.rawValue)
                b.text(3, movement.sku.rawValue)
                b.text(4, movement.locationID.rawValue)
                b.int(5, movement.onHandDelta)
                b.int(6, movement.reservedDelta)
                b.optionalText(7, movement.orderID?.rawValue)
                b.text(8, movement.reference)
            }
            lastMovementID = sqlite3_last_insert_rowid(db.sqliteConnection)
            dirty.mark(InventoryKey(sku: movement.sku, locationID: movement.locationID), since: lastMovementID, offset: nextOffset)
        }
        batchMovements += movements.count
    }

    /// A fulfillment's use of its location's capacity and of its carrier service's at that
    /// location come as a pair (same day, location, delta and cause): one row holds both, the
    /// service in `carrier_resource` (a row costs about as much again as its bytes).
    func appendCapacity(_ uses: [CapacityUse]) throws {
        var index = uses.startIndex
        while index < uses.endIndex {
            let use = uses[index]
            var carrier: CapacityUse?
            if use.key.resource.isEmpty, index + 1 < uses.endIndex {
                let next = uses[index + 1]
                if !next.key.resource.isEmpty && next.key.locationID == use.key.locationID && next.key.day == use.key.day
                    && next.delta == use.delta && next.orderID == use.orderID && next.reference == use.reference {
                    carrier = next
                }
            }
            try execute("""
                INSERT INTO capacity_ledger (day, location_id, resource, delta, order_id, reference, carrier_resource)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """) { b in
                b.int(1, use.key.day)
                b.text(2, use.key.locationID.rawValue)
                b.text(3, use.key.resource)
                b.int(4, Int64(use.delta))
                b.text(5, use.orderID.rawValue)
                b.text(6, use.reference)
                b.optionalText(7, carrier?.key.resource)
            }
            index += carrier == nil ? 1 : 2
        }
    }

    func appendEvents(_ events: [DomainEvent]) throws {
        for event in events {
            let offset = nextOffset
            let body: [UInt8]
            if case .order(let order) = event.aggregate, let cached = lastSerialized,
               cached.id == order.orderID, cached.version == order.version {
                body = try event.encoded(offset: offset, orderBytes: cached.lean)
            } else {
                body = try event.encoded(offset: offset)
            }
            if case .inventory(let sku, let location, _, _) = event.aggregate {
                // Its event sequence changed; no movement of it is held back from the watermark.
                dirty.mark(InventoryKey(sku: sku, locationID: location), since: lastMovementID + 1, offset: offset)
            }
            try execute("""
                INSERT INTO outbox (offset, committed_at, type, aggregate_type, aggregate_id, aggregate_sequence, body)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """) { b in
                b.int(1, Int64(offset))
                b.int(2, event.occurredAt.millisecondsSinceEpoch)
                b.text(3, event.type)
                b.text(4, event.aggregateType)
                b.text(5, event.aggregateID)
                b.int(6, event.aggregateSequence)
                b.blob(7, body)
            }
            nextOffset += 1
            var orderChannel = ""
            if case .order(let order) = event.aggregate { orderChannel = order.channel.name }
            batchEvents.append(CommittedEvent(offset: offset, type: event.type, aggregateType: event.aggregateType,
                                              aggregateID: event.aggregateID, body: body, channel: orderChannel))
        }
    }

    func recordRequest(_ record: RequestRecord) throws {
        try execute("INSERT INTO requests (key, fingerprint, subject, at) VALUES (?, ?, ?, ?)") { b in
            b.text(1, record.key)
            b.blob(2, record.fingerprint.bytes)
            b.text(3, record.subject)
            b.int(4, record.at.millisecondsSinceEpoch)
        }
    }

    func saveLocation(_ location: Location) throws {
        try statement("INSERT OR REPLACE INTO locations (location_id, body) VALUES (?, ?)")
            .execute(arguments: [location.locationID.rawValue, Data(try location.proto.serializedBytes() as [UInt8])])
    }

    func saveCarrier(_ carrier: Carrier) throws {
        try statement("INSERT OR REPLACE INTO carriers (carrier_id, body) VALUES (?, ?)")
            .execute(arguments: [carrier.carrierID, Data(try carrier.proto.serializedBytes() as [UInt8])])
    }

    func saveItem(_ item: Item) throws {
        try statement("""
            INSERT INTO items (sku, body, version) VALUES (?, ?, 1)
            ON CONFLICT (sku) DO UPDATE SET body = excluded.body, version = items.version + 1
            """)
            .execute(arguments: [item.sku.rawValue, Data(try item.proto.serializedBytes() as [UInt8])])
    }

    func saveChannelSettings(_ settings: ChannelSettings) throws {
        try statement("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            .execute(arguments: [MetaKey.channelUnknownItems(settings.channel), settings.unknownItems.rawValue])
    }

    func savePolicy(_ policy: RoutingPolicy) throws {
        try statement("INSERT INTO routing_policies (version, set_at, body) VALUES (?, ?, ?)")
            .execute(arguments: [policy.version, policy.setAt.millisecondsSinceEpoch, Data(try policy.proto.serializedBytes() as [UInt8])])
    }

    func saveInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply]) throws {
        var setting = Waybill_V1_InventorySetting()
        setting.incoming = incoming.map { supply in
            var s = Waybill_V1_Supply()
            s.quantity = supply.quantity
            s.expectedAtUnixMs = supply.expectedAt.millisecondsSinceEpoch
            return s
        }
        try statement("INSERT OR REPLACE INTO inventory_settings (sku, location_id, safety_stock, incoming) VALUES (?, ?, ?, ?)")
            .execute(arguments: [key.sku.rawValue, key.locationID.rawValue, safetyStock, Data(try setting.serializedBytes() as [UInt8])])
    }

    // MARK: checkpoints

    /// Writes the current value of up to `rowsMax` balances, those changed longest ago first,
    /// each stamped with the newest movement id (the row covers every movement up to it), then
    /// moves the watermark to just before the oldest change still unwritten. Checkpointing a
    /// little in many batches, instead of every changed balance in one, keeps the pause any one
    /// batch sees small. `offsetsThrough` stops at the first balance that changed after that
    /// outbox offset (outbox pruning needs only those). Returns the rows written.
    @discardableResult
    func checkpoint(_ inventory: InventoryBook, rowsMax: Int = .max, offsetsThrough: UInt64 = .max) throws -> Int {
        var rows = 0
        while rows < rowsMax, let oldest = dirty.oldestOffset, oldest <= offsetsThrough, let key = dirty.popOldest() {
            let balance = inventory.balance(key.sku, at: key.locationID)
            try execute("""
                INSERT OR REPLACE INTO balance_checkpoints (sku, location_id, on_hand, reserved, event_sequence, movement_id)
                VALUES (?, ?, ?, ?, ?, ?)
                """) { b in
                b.text(1, key.sku.rawValue)
                b.text(2, key.locationID.rawValue)
                b.int(3, balance.onHand)
                b.int(4, balance.reserved)
                b.int(5, balance.eventSequence)
                b.int(6, lastMovementID)
            }
            rows += 1
        }
        let covered = dirty.oldestSince.map { min($0 - 1, lastMovementID) } ?? lastMovementID
        if covered > watermark {
            try execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)") { b in
                b.text(1, MetaKey.checkpointMovementID)
                b.int(2, covered)
            }
            watermark = covered
        }
        return rows
    }
}

/// Balances changed since their checkpoint row was written, in the order they first changed,
/// each with the id of the first movement its row does not cover yet and the first outbox
/// offset that may carry an event sequence its row does not hold (events before it are safe to
/// prune as far as this balance goes).
struct DirtyBalances {
    private var queue: [(key: InventoryKey, since: Int64, offset: UInt64)] = []
    private var head = 0
    private var members: Set<InventoryKey> = []

    /// Balances found behind their rows at load; their outbox offsets are unknown, so they count
    /// from offset 0 (nothing before them may be pruned until they are written).
    init(_ entries: [(InventoryKey, Int64)] = []) {
        for (key, since) in entries.sorted(by: { $0.1 < $1.1 }) { mark(key, since: since, offset: 0) }
    }

    var count: Int { members.count }

    /// Marks `key` changed by movement `since` (or later) and possibly by the event at `offset` (or
    /// later); a key already marked keeps its place. Marks come in time order, so both the movement
    /// ids and the offsets only grow along the queue.
    mutating func mark(_ key: InventoryKey, since: Int64, offset: UInt64) {
        if members.insert(key).inserted { queue.append((key, since, offset)) }
    }

    /// The first movement id some unwritten balance does not cover.
    var oldestSince: Int64? { head < queue.count ? queue[head].since : nil }

    /// The first outbox offset some unwritten balance may need.
    var oldestOffset: UInt64? { head < queue.count ? queue[head].offset : nil }

    mutating func popOldest() -> InventoryKey? {
        guard head < queue.count else { return nil }
        let key = queue[head].key
        head += 1
        members.remove(key)
        if head >= 4_096 && head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return key
    }
}

extension SQLiteStorage {
    /// Takes the checkpoint position of a (re)load.
    func follow(_ position: WaybillDatabase.CheckpointPosition) {
        dirty = DirtyBalances(position.uncheckpointed)
        lastMovementID = position.lastMovementID
        watermark = position.watermark
        batchMovements = 0
    }
}
