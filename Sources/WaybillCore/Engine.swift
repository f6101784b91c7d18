// The engine: applies commands to the in-memory state (network, balances, capacity, backorders)
// and to a storage transaction, one command at a time. It is driven by exactly one writer: the
// server's group-commit writer, or the simulator's in-process driver. Storage is a protocol so the
// same code runs over SQLite (WaybillStore) and over memory (the simulator, tests).
//
// Rule for every command: validate and decide first, mutate second. A DomainError leaves
// memory and storage untouched; any other error thrown comes from storage and aborts the
// whole batch (the writer then rebuilds the in-memory state from disk).
//
// The commands, by family: Engine+Capture.swift, Engine+Lifecycle.swift, Engine+Inventory.swift,
// Engine+Network.swift, Engine+Erp.swift (order updates from the ERP), Engine+Supply.swift (expected
// receipts, pre-orders), Engine+Allocation.swift (routing, reservations, backorder release),
// Engine+Edits.swift (EditOrder), Engine+Exchanges.swift (returns that are exchanges), ItemHolds.swift,
// Reallocation.swift; the storage
// they write through: EngineStorage.swift. This file: the state and the helpers every family shares.

/// Everything the engine keeps in memory; rebuilt from storage on start.
public struct EngineState: Sendable {
    public var network = NetworkState()
    public var inventory = InventoryBook()
    public var capacity = CapacityBook()
    public var policy = RoutingPolicy.standard
    public var nextOrderSequence: Int64 = 1
    /// Backordered orders per SKU, oldest capture first.
    public var backorders = BackorderIndex()
    /// Days before this are no longer kept in `capacity`.
    public var capacityForgottenBefore: Int64 = .min / 2
    /// Carts holding stock (Engine+Carts.swift).
    public var carts = CartBook()
    /// Expected receipts still open (ExpectedSupply.swift, Engine+Supply.swift).
    public var supply = SupplyBook()
    public init() {}
}

public struct Engine: Sendable {
    public internal(set) var state: EngineState
    public var limits: DomainLimits
    public var router: Router
    /// The former backorder release, which routed every candidate even when none of its SKUs had
    /// a unit left: kept to measure the difference and to check the release against.
    package var releaseRoutesEveryCandidate = false

    /// `gazetteer`: city centroids for ship-tos without coordinates (empty: every ship order must
    /// carry coordinates or is refused).
    public init(state: EngineState = EngineState(), limits: DomainLimits = .default, routingLimits: RoutingLimits = RoutingLimits(),
                gazetteer: Gazetteer = Gazetteer()) {
        self.state = state
        self.limits = limits
        self.router = Router(limits: routingLimits, explanationLocationsMax: limits.routingExplanationLocationsMax, gazetteer: gazetteer)
        self.state.inventory.follow(self.state.network)
    }

    public var network: NetworkState { state.network }
    public var inventory: InventoryBook { state.inventory }
    public var policy: RoutingPolicy { state.policy }

    /// Balances changed since the last call (for publishing committed values to readers).
    public mutating func drainChangedInventorySKUs() -> [SKU] { state.inventory.drainChangedSKUs() }

    /// SKUs whose units waiting (backordered) changed since the last call (for publishing to readers).
    public mutating func drainChangedWaitingSKUs() -> Set<SKU> { state.backorders.drainChangedTotals() }

    // MARK: - Shared by every command family

    func commit(movements: [Movement], capacity: [CapacityUse], storage: some EngineStorage) throws {
        if !movements.isEmpty { try storage.appendMovements(movements) }
        if !capacity.isEmpty { try storage.appendCapacity(capacity) }
    }

    mutating func apply(movements: [Movement]) {
        for movement in movements { state.inventory.apply(movement) }
    }

    /// Bumps the version, records history, writes the order, its ledger rows and its event.
    func persist(_ order: inout Order, _ event: OrderEventKind, action: String, reason: String, detail: String,
                         context: CommandContext, movements: [Movement], capacity: [CapacityUse],
                         storage: some EngineStorage) throws {
        order.version += 1
        order.updatedAt = context.now
        if order.history.count < limits.historyEntriesPerOrderMax {
            order.history.append(HistoryEntry(at: context.now, action: action, reason: reason, clientID: context.clientID,
                                              requestID: context.requestID, detail: detail, version: order.version))
        }
        try storage.updateOrder(order)
        try commit(movements: movements, capacity: capacity, storage: storage)
        var domainEvent = DomainEvent(type: event.type, aggregate: .order(order), aggregateSequence: order.version,
                                      occurredAt: context.now, clientID: context.clientID, detail: event.detail)
        domainEvent.fulfillmentID = event.fulfillmentID
        domainEvent.returnID = event.returnID
        try storage.appendEvents([domainEvent])
    }
}
