// The storage an engine writes through, one transaction per batch: SQLite in the server
// (WaybillStore), memory in the simulator and the tests (MemoryStorage).

public protocol EngineStorage: AnyObject {
    func loadOrder(_ id: OrderID) throws -> Order?
    func orderID(channel: Channel, externalOrderID: String) throws -> OrderID?
    func requestRecord(_ key: String) throws -> RequestRecord?
    /// Sum of on-hand deltas of stock-changing movements recorded after `after` (variance correction).
    func onHandDelta(_ sku: SKU, _ location: LocationID, after: Timestamp) throws -> Int64
    /// The as-of time of the newest ERP count applied to this SKU × location, if any.
    func countedAsOf(_ sku: SKU, _ location: LocationID) throws -> Timestamp?
    /// Records that an ERP count as of `asOf` was applied (the newest wins).
    func recordCount(_ key: InventoryKey, asOf: Timestamp) throws
    /// Among the `limit` newest orders holding reservations, those with a line of this SKU, newest
    /// first (whether they hold it at this location, and still unpicked, is for the engine to check).
    func reservationHolders(_ sku: SKU, _ location: LocationID, limit: Int) throws -> [OrderID]

    func insertOrder(_ order: Order) throws
    func updateOrder(_ order: Order) throws
    func appendMovements(_ movements: [Movement]) throws
    func appendCapacity(_ uses: [CapacityUse]) throws
    func appendEvents(_ events: [DomainEvent]) throws
    func recordRequest(_ record: RequestRecord) throws
    func saveLocation(_ location: Location) throws
    func saveCarrier(_ carrier: Carrier) throws
    func saveItem(_ item: Item) throws
    func saveChannelSettings(_ settings: ChannelSettings) throws
    func savePolicy(_ policy: RoutingPolicy) throws
    func saveInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply]) throws
}
