// EngineStorage in memory: for the simulator's in-process driver and for tests.
// Not thread-safe; like the engine, it has exactly one owner.

public final class MemoryStorage: EngineStorage {
    public struct StoredEvent: Sendable {
        public var offset: UInt64
        public var event: DomainEvent
    }

    public private(set) var orders: [OrderID: Order] = [:]
    public private(set) var keys: [String: OrderID] = [:]
    public private(set) var requests: [String: RequestRecord] = [:]
    public private(set) var movements: [Movement] = []
    public private(set) var capacityUses: [CapacityUse] = []
    public private(set) var events: [StoredEvent] = []
    public private(set) var locations: [LocationID: Location] = [:]
    public private(set) var carriers: [String: Carrier] = [:]
    public private(set) var items: [SKU: Item] = [:]
    public private(set) var policies: [RoutingPolicy] = []
    public private(set) var channelSettings: [Channel: ChannelSettings] = [:]
    public private(set) var settings: [InventoryKey: (Int64, [Supply])] = [:]
    public private(set) var carts: [CartKey: Cart] = [:]
    /// Keep events in memory (the simulator's feed); off for long policy experiments.
    public var keepsEvents: Bool
    public var keepsMovements: Bool
    public private(set) var eventCount: UInt64 = 0
    /// Per SKU × location, (time, on-hand delta) of stock-changing movements, for variance correction.
    private var onHandLog: [InventoryKey: [(Timestamp, Int64)]] = [:]
    private var counts: [InventoryKey: Timestamp] = [:]
    /// Events appended since the last `drainEvents()`.
    private var pending: [StoredEvent] = []

    public init(keepsEvents: Bool = true, keepsMovements: Bool = true) {
        self.keepsEvents = keepsEvents
        self.keepsMovements = keepsMovements
    }

    private static func key(_ channel: Channel, _ external: String) -> String { "\(channel.rawValue)|\(external)" }

    public func loadOrder(_ id: OrderID) throws -> Order? { orders[id] }
    public func orderID(channel: Channel, externalOrderID: String) throws -> OrderID? { keys[Self.key(channel, externalOrderID)] }
    public func requestRecord(_ key: String) throws -> RequestRecord? { requests[key] }
    public func loadCart(_ key: CartKey) throws -> Cart? { carts[key] }
    public func saveCart(_ cart: Cart) throws { carts[cart.key] = cart }
    public private(set) var receipts: [String: ExpectedReceipt] = [:]
    public func loadReceipt(_ receiptID: String) throws -> ExpectedReceipt? { receipts[receiptID] }
    public func saveReceipt(_ receipt: ExpectedReceipt) throws { receipts[receipt.receiptID] = receipt }
    public func reservationHolders(_ sku: SKU, _ location: LocationID, limit: Int) throws -> [OrderID] {
        let reserving = orders.values.filter { $0.reservedUnits > 0 }.sorted { $0.captureSequence > $1.captureSequence }.prefix(limit)
        return reserving.filter { order in order.lines.contains { $0.sku == sku } }.map(\.orderID)
    }

    public func countedAsOf(_ sku: SKU, _ location: LocationID) throws -> Timestamp? { counts[InventoryKey(sku: sku, locationID: location)] }
    public func recordCount(_ key: InventoryKey, asOf: Timestamp) throws { counts[key] = asOf }

    public func onHandDelta(_ sku: SKU, _ location: LocationID, after: Timestamp) throws -> Int64 {
        (onHandLog[InventoryKey(sku: sku, locationID: location)] ?? []).reduce(0) { $1.0 > after ? $0 + $1.1 : $0 }
    }

    public func insertOrder(_ order: Order) throws {
        precondition(orders[order.orderID] == nil, "order \(order.orderID) inserted twice")
        orders[order.orderID] = order
        keys[Self.key(order.channel, order.externalOrderID)] = order.orderID
    }
    public func updateOrder(_ order: Order) throws {
        precondition(orders[order.orderID] != nil, "update of unknown order \(order.orderID)")
        orders[order.orderID] = order
    }
    public func appendMovements(_ movements: [Movement]) throws {
        for movement in movements where movement.kind.changesOnHand && movement.onHandDelta != 0 {
            onHandLog[InventoryKey(sku: movement.sku, locationID: movement.locationID), default: []].append((movement.at, movement.onHandDelta))
        }
        if keepsMovements { self.movements += movements }
    }
    public func appendCapacity(_ uses: [CapacityUse]) throws { if keepsMovements { capacityUses += uses } }
    public func appendEvents(_ events: [DomainEvent]) throws {
        for event in events {
            eventCount += 1
            let stored = StoredEvent(offset: eventCount, event: event)
            if keepsEvents { self.events.append(stored) }
            pending.append(stored)
        }
    }
    public func recordRequest(_ record: RequestRecord) throws { requests[record.key] = record }
    public func saveLocation(_ location: Location) throws { locations[location.locationID] = location }
    public func saveCarrier(_ carrier: Carrier) throws { carriers[carrier.carrierID] = carrier }
    public func saveItem(_ item: Item) throws { items[item.sku] = item }
    public func saveChannelSettings(_ settings: ChannelSettings) throws { channelSettings[settings.channel] = settings }
    public func savePolicy(_ policy: RoutingPolicy) throws { policies.append(policy) }
    public func saveInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply]) throws {
        settings[key] = (safetyStock, incoming)
    }

    /// Events appended since the last call, in offset order.
    public func drainEvents() -> [StoredEvent] {
        // Hand the buffer over: keeping its capacity would copy it, since the caller holds it.
        let drained = pending
        pending = []
        return drained
    }

    /// Balances recomputed from the ledger alone (movements + settings): must equal the engine's.
    public func rebuiltBalances() -> [InventoryKey: Balance] {
        var balances: [InventoryKey: Balance] = [:]
        for movement in movements {
            let key = InventoryKey(sku: movement.sku, locationID: movement.locationID)
            balances[key, default: Balance()].onHand += movement.onHandDelta
            balances[key, default: Balance()].reserved += movement.reservedDelta
        }
        for (key, setting) in settings {
            balances[key, default: Balance()].safetyStock = setting.0
            balances[key, default: Balance()].incoming = setting.1.sorted { $0.expectedAt < $1.expectedAt }
        }
        return balances
    }
}
