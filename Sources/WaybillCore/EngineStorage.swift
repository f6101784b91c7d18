// The storage an engine writes through, one transaction per batch: SQLite in the server
// (WaybillStore), memory in the simulator and the tests (MemoryStorage).
//
// One protocol per kind of record; `EngineStorage` is all of them, and what a storage conforms
// to. Most commands need it whole (a lifecycle change writes the order, its stock movements and
// capacity, its event and its request id, and may release backorders); a command that needs
// less says so (`upsert(location:)` takes any `NetworkStorage`).

/// Orders, and which of them hold reservations.
public protocol OrderStorage: AnyObject {
    func loadOrder(_ id: OrderID) throws -> Order?
    func orderID(channel: Channel, externalOrderID: String) throws -> OrderID?
    /// Among the `limit` newest orders holding reservations, those with a line of this SKU, newest
    /// first (whether they hold it at this location, and still unpicked, is for the engine to check).
    func reservationHolders(_ sku: SKU, _ location: LocationID, limit: Int) throws -> [OrderID]
    func insertOrder(_ order: Order) throws
    func updateOrder(_ order: Order) throws
}

/// Processed idempotency keys (lifecycle request ids, inventory change ids, ERP message ids).
public protocol RequestStorage: AnyObject {
    func requestRecord(_ key: String) throws -> RequestRecord?
    func recordRequest(_ record: RequestRecord) throws
}

/// The stock ledger: movements, capacity used, ERP counts and per-position settings.
public protocol InventoryStorage: AnyObject {
    /// Sum of on-hand deltas of stock-changing movements recorded after `after` (variance correction).
    func onHandDelta(_ sku: SKU, _ location: LocationID, after: Timestamp) throws -> Int64
    /// The as-of time of the newest ERP count applied to this SKU × location, if any.
    func countedAsOf(_ sku: SKU, _ location: LocationID) throws -> Timestamp?
    /// Records that an ERP count as of `asOf` was applied (the newest wins).
    func recordCount(_ key: InventoryKey, asOf: Timestamp) throws
    func appendMovements(_ movements: [Movement]) throws
    func appendCapacity(_ uses: [CapacityUse]) throws
    func saveInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply]) throws
}

/// The change feed's events, before storage gives them offsets.
public protocol EventStorage: AnyObject {
    func appendEvents(_ events: [DomainEvent]) throws
}

/// The network model and the routing policy.
public protocol NetworkStorage: AnyObject {
    func saveLocation(_ location: Location) throws
    func saveCarrier(_ carrier: Carrier) throws
    func saveItem(_ item: Item) throws
    func saveChannelSettings(_ settings: ChannelSettings) throws
    func savePolicy(_ policy: RoutingPolicy) throws
}

/// Checkout carts: every cart ever reserved (active ones are also in the engine's memory).
public protocol CartStorage: AnyObject {
    func loadCart(_ key: CartKey) throws -> Cart?
    /// Inserts or replaces the cart.
    func saveCart(_ cart: Cart) throws
}

/// Expected receipts: every receipt ever expected, open, received or cancelled (open ones are
/// also in the engine's memory).
public protocol SupplyStorage: AnyObject {
    func loadReceipt(_ receiptID: String) throws -> ExpectedReceipt?
    /// Inserts or replaces the receipt.
    func saveReceipt(_ receipt: ExpectedReceipt) throws
}

/// Everything an engine writes and reads back.
public protocol EngineStorage: OrderStorage, RequestStorage, InventoryStorage, EventStorage, NetworkStorage, CartStorage,
                               SupplyStorage {}
