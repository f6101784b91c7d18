// The engine: applies commands to the in-memory state (network, balances, capacity, backorders)
// and to a storage transaction, one command at a time. It is driven by exactly one writer: the
// server's group-commit writer, or the simulator's in-process driver. Storage is a protocol so the
// same code runs over SQLite (WaybillStore) and over memory (the simulator, tests).
//
// Rule for every command: validate and decide first, mutate second. A DomainError leaves
// memory and storage untouched; any other error thrown comes from storage and aborts the
// whole batch (the writer then rebuilds the in-memory state from disk).

/// Who asked, when, and with which idempotency key.
public struct CommandContext: Sendable {
    public var now: Timestamp
    public var clientID: String
    /// Idempotency key of lifecycle calls; "" for calls that have their own key.
    public var requestID: String
    /// Fingerprint of the request content: a retry must match it.
    public var fingerprint: UInt64

    public init(now: Timestamp, clientID: String = "", requestID: String = "", fingerprint: UInt64 = 0) {
        self.now = now
        self.clientID = clientID
        self.requestID = requestID
        self.fingerprint = fingerprint
    }
}

/// A processed idempotency key (lifecycle request id, inventory change id, ERP message id).
public struct RequestRecord: Hashable, Sendable {
    public var key: String
    public var fingerprint: UInt64
    /// The order or position it concerned.
    public var subject: String
    public var at: Timestamp
    public init(key: String, fingerprint: UInt64, subject: String, at: Timestamp) {
        self.key = key
        self.fingerprint = fingerprint
        self.subject = subject
        self.at = at
    }
}

/// A change-feed event before storage gives it an offset.
public struct DomainEvent: Sendable {
    public enum Aggregate: Sendable {
        case order(Order)
        case inventory(SKU, LocationID, Movement?, Balance)
        case item(Item)
        /// An ERP record Waybill asks the ERP to act on (reconciliation repairs): the order id the
        /// record refers to and its ERP document number. The event's detail carries the document number.
        case erpRecord(orderID: OrderID, documentNumber: String)
    }
    public var type: String
    public var aggregate: Aggregate
    public var aggregateSequence: Int64
    public var occurredAt: Timestamp
    public var clientID: String
    public var detail: String
    public var fulfillmentID: String = ""
    public var returnID: String = ""

    public init(type: String, aggregate: Aggregate, aggregateSequence: Int64, occurredAt: Timestamp, clientID: String, detail: String) {
        self.type = type
        self.aggregate = aggregate
        self.aggregateSequence = aggregateSequence
        self.occurredAt = occurredAt
        self.clientID = clientID
        self.detail = detail
    }

    public var aggregateType: String {
        switch aggregate {
        case .order: "order"
        case .inventory: "inventory"
        case .item: "item"
        case .erpRecord: "erp_record"
        }
    }
    public var aggregateID: String {
        switch aggregate {
        case .order(let order): order.orderID.rawValue
        case .inventory(let sku, let location, _, _): "\(sku.rawValue)@\(location.rawValue)"
        case .item(let item): item.sku.rawValue
        case .erpRecord(let orderID, let documentNumber): "\(orderID.rawValue)/\(documentNumber)"
        }
    }
}

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

/// An order draft that passed `Validation.check` under `limits`; only this init makes one.
public struct ValidatedDraft: Sendable {
    public let draft: OrderDraft
    public let limits: DomainLimits

    public init(_ draft: OrderDraft, limits: DomainLimits, field: String = "order") throws {
        if let error = Validation.check(draft, limits: limits, field: field) { throw error }
        self.draft = draft
        self.limits = limits
    }
}

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
    public init() {}
}

/// Orders waiting for stock, per SKU, ordered by capture sequence.
public struct BackorderIndex: Sendable {
    private var bySKU: [SKU: [(sequence: Int64, orderID: OrderID)]] = [:]
    /// Each waiting order's SKUs with backordered units (sorted): most updates are of orders that
    /// never waited and need not touch the lists, and a release can tell whether an order could
    /// be served without loading it.
    private var waiting: [OrderID: [SKU]] = [:]
    /// Orders on an ITEM_UNKNOWN hold, under each SKU they have open units of (known or not: an
    /// item's arrival looks at its orders and lifts the hold of those whose SKUs are all sellable).
    /// They wait for the item master, not for stock: they are in none of the lists above.
    private var itemWaitersBySKU: [SKU: Set<OrderID>] = [:]
    private var itemWaiting: [OrderID: [SKU]] = [:]
    public init() {}

    public var count: Int { bySKU.values.reduce(0) { $0 + $1.count } }

    public mutating func update(_ order: Order) {
        updateItemWaiting(order)
        var skus: [SKU] = []
        for line in order.lines where line.quantities.backordered > 0 && !skus.contains(line.sku) && !order.waitsForItems { skus.append(line.sku) }
        let before = waiting[order.orderID]
        if skus.isEmpty && before == nil { return }
        skus.sort()
        if skus == before { return }
        waiting[order.orderID] = skus.isEmpty ? nil : skus
        for sku in before ?? [] where !skus.contains(sku) { remove(order.orderID, sequence: order.captureSequence, from: sku) }
        for sku in skus where !(before ?? []).contains(sku) {
            // Lists are in capture order: the insertion point (before any equal sequence) by binary search,
            // and the list is changed in place (no copy of a long backlog per update).
            let insertAt = Self.firstIndex(notBefore: order.captureSequence, in: bySKU[sku] ?? [])
            bySKU[sku, default: []].insert((order.captureSequence, order.orderID), at: insertAt)
        }
    }

    private mutating func remove(_ orderID: OrderID, sequence: Int64, from sku: SKU) {
        guard let list = bySKU[sku] else { return }
        var index = Self.firstIndex(notBefore: sequence, in: list)
        // Equal sequences (should not happen) are scanned; an entry filed under another sequence is searched.
        while index < list.count && list[index].sequence == sequence && list[index].orderID != orderID { index += 1 }
        if index >= list.count || list[index].orderID != orderID {
            guard let found = list.firstIndex(where: { $0.orderID == orderID }) else { return }
            index = found
        }
        bySKU[sku]!.remove(at: index)
        if bySKU[sku]!.isEmpty { bySKU[sku] = nil }
    }

    /// The first position whose sequence is not below `sequence`.
    private static func firstIndex(notBefore sequence: Int64, in list: [(sequence: Int64, orderID: OrderID)]) -> Int {
        var low = 0, high = list.count
        while low < high {
            let middle = (low + high) / 2
            if list[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public func oldest(for sku: SKU, limit: Int) -> [OrderID] {
        (bySKU[sku] ?? []).prefix(limit).map(\.orderID)
    }

    /// The SKUs `orderID` waits for (nil when it waits for none).
    public func waitingSKUs(of orderID: OrderID) -> [SKU]? { waiting[orderID] }

    /// Orders waiting for any SKU.
    public var orderCount: Int { waiting.count }

    /// Orders on an ITEM_UNKNOWN hold with open units of `sku`, oldest capture first.
    public func waitingForItem(_ sku: SKU) -> [OrderID] {
        (itemWaitersBySKU[sku] ?? []).sorted { ($0.sequence ?? 0, $0.rawValue) < ($1.sequence ?? 0, $1.rawValue) }
    }

    /// Orders on an ITEM_UNKNOWN hold.
    public var itemWaitingOrderCount: Int { itemWaiting.count }

    private mutating func updateItemWaiting(_ order: Order) {
        var skus: [SKU] = []
        if order.waitsForItems {
            for line in order.lines where line.quantities.backordered > 0 && !skus.contains(line.sku) { skus.append(line.sku) }
        }
        let before = itemWaiting[order.orderID] ?? []
        if skus.isEmpty && before.isEmpty { return }
        skus.sort()
        if skus == before { return }
        itemWaiting[order.orderID] = skus.isEmpty ? nil : skus
        for sku in before where !skus.contains(sku) {
            itemWaitersBySKU[sku]?.remove(order.orderID)
            if itemWaitersBySKU[sku]?.isEmpty == true { itemWaitersBySKU[sku] = nil }
        }
        for sku in skus where !before.contains(sku) { itemWaitersBySKU[sku, default: []].insert(order.orderID) }
    }

    /// Every waiting order, oldest capture first, at most `limit`.
    public func oldest(limit: Int) -> [OrderID] {
        Array(waiting.keys.sorted { ($0.sequence ?? 0, $0.rawValue) < ($1.sequence ?? 0, $1.rawValue) }.prefix(limit))
    }
}

public struct CaptureResult: Sendable {
    public var order: Order
    public var replayed: Bool
}

public struct OrderResult: Sendable {
    public var order: Order
    public var replayed: Bool
}

public struct InventoryChange: Hashable, Sendable {
    public enum Kind: Int, Hashable, Sendable {
        case receipt = 1, adjustment, transfer
    }
    public var changeID: String
    public var kind: Kind
    public var sku: SKU
    public var locationID: LocationID
    public var quantity: Int32
    public var toLocationID: LocationID?
    public var reason: String
    public init(changeID: String, kind: Kind, sku: SKU, locationID: LocationID, quantity: Int32,
                toLocationID: LocationID? = nil, reason: String = "") {
        self.changeID = changeID
        self.kind = kind
        self.sku = sku
        self.locationID = locationID
        self.quantity = quantity
        self.toLocationID = toLocationID
        self.reason = reason
    }
}

public struct InventoryChangeOutcome: Sendable {
    public var replayed: Bool
    public var positions: [(InventoryKey, Balance)]
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

    // MARK: - Capture

    /// Captures an order. `plannedAhead` is a plan the caller routed against a recent committed
    /// snapshot (off the writer thread); it is used only if it is still valid against the live
    /// state — same policy version, every unit allocated, each reservation still available, the
    /// capacity still there, the same processing day — otherwise the order is routed here.
    public mutating func capture(_ draft: OrderDraft, context: CommandContext, storage: some EngineStorage,
                                 plannedAhead: AllocationPlan? = nil) throws -> CaptureResult {
        try capture(ValidatedDraft(draft, limits: limits), context: context, storage: storage, plannedAhead: plannedAhead)
    }

    /// Capture of a draft checked before (on an event loop, say): it is not checked again unless
    /// it was checked under other limits than this engine's.
    public mutating func capture(_ validated: ValidatedDraft, context: CommandContext, storage: some EngineStorage,
                                 plannedAhead: AllocationPlan? = nil) throws -> CaptureResult {
        let draft = validated.draft
        if validated.limits != limits, let error = Validation.check(draft, limits: limits) { throw error }
        let channel = draft.channel!
        // Without locations every order would be accepted and backordered in silence.
        if state.network.locations.isEmpty { throw DomainError.noNetworkLoaded() }
        if let existingID = try storage.orderID(channel: channel, externalOrderID: draft.externalOrderID) {
            guard let existing = try storage.loadOrder(existingID) else {
                preconditionFailure("idempotency key of \(existingID) points to a missing order")
            }
            var comparable = draft
            comparable.holds = []
            let sameHolds = existing.history.first?.detail == Self.holdsSignature(draft.holds)
            if existing.draft == comparable && sameHolds { return CaptureResult(order: existing, replayed: true) }
            throw DomainError(.alreadyExists,
                              "order.external_order_id: \(channel.name) order \"\(draft.externalOrderID)\" was already captured as \(existingID) with different content",
                              field: "order.external_order_id", existingOrderID: existingID)
        }
        // The item master decides what is sellable. An inactive SKU is refused. An unknown one is
        // refused too (stock of an unknown item is refused, so it would be backordered forever),
        // unless the channel holds such orders until the item master gains the SKU.
        var unknownLines: [Int] = []
        for (index, line) in draft.lines.enumerated() {
            if let item = state.network.items[line.sku] {
                if !item.active { throw DomainError.inactiveItem(onLine: index, line.sku) }
            } else {
                unknownLines.append(index)
            }
        }
        if let first = unknownLines.first, state.network.settings(of: channel).unknownItems == .refuse {
            throw DomainError.unknownItem(onLine: first, draft.lines[first].sku, channel: channel, othersUnknown: unknownLines.count - 1)
        }
        // Distances need a destination: never route "unknown" as if it were "here".
        if draft.fulfillment.method == .ship && draft.shipTo.coordinates == nil && router.gazetteer.place(for: draft.shipTo) == nil {
            throw DomainError.unknownDestination(draft.shipTo)
        }
        if draft.fulfillment.method == .pickup {
            let storeID = draft.fulfillment.pickupLocationID!
            guard let store = state.network.locations[storeID] else {
                throw DomainError.invalid("order.fulfillment.pickup_location_id", "unknown location \(storeID)")
            }
            if !store.pickup || !store.active {
                throw DomainError.invalid("order.fulfillment.pickup_location_id", "\(storeID) does not serve store pickup")
            }
        }

        // Capacity of past days can no longer be allocated against: forget it once a day.
        if context.now.day > state.capacityForgottenBefore + 1 {
            state.capacity.forget(before: context.now.day - 1)
            state.capacityForgottenBefore = context.now.day - 1
        }
        if !unknownLines.isEmpty {
            return try captureWaitingForItems(draft, unknownLines: unknownLines, context: context, storage: storage)
        }
        let sequence = state.nextOrderSequence
        var order = Order(id: OrderID(sequence: sequence), draft: draft, capturedAt: context.now, captureSequence: sequence)
        let lines = order.lines.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) }
        let plan: AllocationPlan
        if let plannedAhead, isCurrent(plannedAhead, for: lines, now: context.now) {
            plan = plannedAhead
        } else {
            plan = route(order, lines: lines, now: context.now, trigger: "capture")
        }
        let policy = state.policy
        let everything = plan.unallocated.isEmpty
        let allocatedUnits = plan.shipments.reduce(0) { $0 + $1.lines.reduce(0) { $0 + $1.quantity } }
        if !everything {
            let canKeepPart = policy.allowPartialAllocation && allocatedUnits > 0
            if !policy.allowBackorder && !canKeepPart {
                throw DomainError(.failedPrecondition,
                                  "insufficient stock: " + plan.unallocated.map { "line \($0.lineID) short by \($0.quantity)" }.joined(separator: ", ")
                                      + " (policy \(policy.name) v\(policy.version) allows no backorder)",
                                  currentState: "INSUFFICIENT_STOCK")
            }
        }
        // Decided: from here on nothing fails but storage.
        state.nextOrderSequence += 1
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        if everything || policy.allowPartialAllocation {
            allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
            for (lineID, quantity) in plan.unallocated {
                let index = order.lineIndex(lineID)!
                if policy.allowBackorder {
                    order.lines[index].quantities.backordered += quantity
                } else {
                    order.lines[index].quantities.cancelled += quantity
                }
            }
        } else {
            // Ship complete: nothing is reserved until the whole order can be.
            for index in order.lines.indices { order.lines[index].quantities.backordered = order.lines[index].quantity }
            order.routingDecisions.append(plan.decision)
        }
        if policy.releaseOnAllocation && !order.isOnHold { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        order.version = 1
        order.history.append(HistoryEntry(at: context.now, action: "captured", reason: "", clientID: context.clientID,
                                          requestID: context.requestID, detail: Self.holdsSignature(draft.holds), version: 1))
        try storage.insertOrder(order)
        try commit(movements: movements, capacity: capacity, storage: storage)
        try storage.appendEvents([DomainEvent(type: "order.captured", aggregate: .order(order), aggregateSequence: 1,
                                              occurredAt: context.now, clientID: context.clientID, detail: order.status.description)])
        if order.backorderedUnits > 0 { state.backorders.update(order) }
        return CaptureResult(order: order, replayed: false)
    }

    /// Holds given at capture are part of its content; the history entry keeps their signature.
    static func holdsSignature(_ holds: [Hold]) -> String {
        holds.map { "hold:\($0.reason.name):\($0.note)" }.joined(separator: "|")
    }

    // MARK: - Lifecycle

    public mutating func apply(_ command: OrderCommand, to orderID: OrderID, context: CommandContext,
                               storage: some EngineStorage) throws -> OrderResult {
        if let error = Validation.checkIdentifier(context.requestID, field: "request_id", limits: limits) { throw error }
        let key = "order:" + context.requestID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint && record.subject == orderID.rawValue else {
                throw DomainError(.alreadyExists, "request_id \"\(context.requestID)\" was already used for a different request",
                                  field: "request_id")
            }
            guard let order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
            return OrderResult(order: order, replayed: true)
        }
        guard let current = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        if case .receiveReturn(_, let locationID, _) = command, state.network.locations[locationID] == nil {
            throw DomainError.invalid("location_id", "unknown location \(locationID)")
        }
        // A shipment names a carrier of the network: a typo would be stored and sent to the ERP.
        if case .confirmShipment(_, let carrierID, _) = command, !carrierID.isEmpty, state.network.carriers[carrierID] == nil {
            throw DomainError.unknownCarrier(carrierID, field: "carrier_id", known: Array(state.network.carriers.keys))
        }
        if current.history.count >= limits.historyEntriesPerOrderMax {
            throw DomainError(.failedPrecondition, "order \(orderID) reached historyEntriesPerOrderMax (\(limits.historyEntriesPerOrderMax)) changes",
                              currentState: current.status.description, limitName: "historyEntriesPerOrderMax",
                              limitValue: Int64(limits.historyEntriesPerOrderMax))
        }
        var transition: OrderTransition
        switch OrderStateMachine.apply(command, to: current, now: context.now, limits: limits) {
        case .success(let value): transition = value
        case .failure(let error): throw error
        }
        // Writing off missing stock can take on hand to zero at most.
        var writtenOff: [InventoryKey: Int64] = [:]  // so far, per SKU × location (lines may share a SKU)
        for index in transition.movements.indices where transition.movements[index].kind == .writtenOff {
            let movement = transition.movements[index]
            let key = InventoryKey(sku: movement.sku, locationID: movement.locationID)
            let onHand = state.inventory.balance(movement.sku, at: movement.locationID).onHand
            let reserveReleased = transition.movements.filter {
                $0.kind == .released && $0.sku == movement.sku && $0.locationID == movement.locationID
            }.reduce(0) { $0 - $1.reservedDelta }
            let stillReserved = state.inventory.balance(movement.sku, at: movement.locationID).reserved - reserveReleased
            transition.movements[index].onHandDelta = -min(-movement.onHandDelta, max(0, onHand - stillReserved - writtenOff[key, default: 0]))
            writtenOff[key, default: 0] -= transition.movements[index].onHandDelta
        }
        transition.movements.removeAll { $0.onHandDelta == 0 && $0.reservedDelta == 0 }

        var order = transition.order
        var movements = transition.movements
        var capacity = transition.capacityReleases
        apply(movements: movements)
        for use in capacity { state.capacity.apply(use) }
        if !transition.reroute.isEmpty {
            let plan = route(order, lines: transition.reroute, now: context.now, trigger: "reroute after \(transition.event.fulfillmentID) rejected")
            var rerouteMovements: [Movement] = []
            var rerouteCapacity: [CapacityUse] = []
            allocate(plan, to: &order, now: context.now, movements: &rerouteMovements, capacity: &rerouteCapacity)
            for shipment in plan.shipments {
                for line in shipment.lines { order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity }
            }
            if !order.isOnHold && state.policy.releaseOnAllocation { releaseCreated(&order, now: context.now) }
            order.recomputeLineQuantities()
            // allocate(_:to:...) has already applied the reroute's reservations and capacity.
            movements += rerouteMovements
            capacity += rerouteCapacity
            transition.historyDetail += plan.shipments.isEmpty
                ? "; nothing else can serve it: backordered"
                : "; re-routed to " + plan.shipments.map(\.locationID.rawValue).joined(separator: ",")
        }
        if case .releaseHold = command, !order.isOnHold, state.policy.releaseOnAllocation {
            releaseCreated(&order, now: context.now)
            order.recomputeLineQuantities()
        }
        try persist(&order, transition.event, action: transition.historyAction, reason: transition.historyReason,
                    detail: transition.historyDetail, context: context, movements: movements, capacity: capacity, storage: storage)
        // Stock a location could not find is gone from its books: tell feed consumers (the ERP
        // bridge) as an inventory movement, with the quantity actually written off.
        let writeOffs = movements.filter { $0.kind == .writtenOff }
        if !writeOffs.isEmpty {
            try emitInventoryEvents(writeOffs, type: "inventory.written_off", context: context,
                                    detail: "\(transition.event.fulfillmentID) rejected: stock missing", storage: storage)
        }
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: orderID.rawValue, at: context.now))
        state.backorders.update(order)
        // Stock freed by this change may serve orders waiting for it.
        let freed = movements.filter { $0.reservedDelta < 0 && $0.kind == .released || ($0.onHandDelta > 0) }
        try releaseBackorders(skus: freed.map(\.sku), context: context, storage: storage)
        if let reloaded = try storage.loadOrder(orderID), reloaded.version != order.version { order = reloaded }
        return OrderResult(order: order, replayed: false)
    }

    // MARK: - ERP order updates

    public mutating func recordErpAcknowledgement(orderID: OrderID, documentNumber: String, status: ErpPostingStatus,
                                                  messageID: String, context: CommandContext,
                                                  storage: some EngineStorage) throws -> OrderResult {
        try applyErp(orderID: orderID, messageID: messageID, context: context, storage: storage,
                     type: "order.erp_acknowledged", detail: "\(documentNumber) \(status)") { order in
            order.erp.documentNumber = documentNumber
            order.erp.postingStatus = status
            order.erp.acknowledgedAt = context.now
        }
    }

    public mutating func recordErpDocument(orderID: OrderID, document: ErpDocument, messageID: String,
                                           context: CommandContext, storage: some EngineStorage) throws -> OrderResult {
        try applyErp(orderID: orderID, messageID: messageID, context: context, storage: storage,
                     type: "order.erp_document_posted", detail: "\(document.kind) \(document.documentNumber)") { order in
            order.erp.documents.removeAll { $0.documentNumber == document.documentNumber && $0.kind == document.kind }
            order.erp.documents.append(document)
        }
    }

    /// Re-emits an order's current state to the change feed (reconciliation repair).
    public mutating func reemit(orderID: OrderID, reason: String, context: CommandContext, storage: some EngineStorage) throws -> Order {
        guard var order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        try persist(&order, OrderEventKind("order.resynced", detail: reason), action: "resynced", reason: reason, detail: "",
                    context: context, movements: [], capacity: [], storage: storage)
        return order
    }

    private mutating func applyErp(orderID: OrderID, messageID: String, context: CommandContext, storage: some EngineStorage,
                                   type: String, detail: String, _ update: (inout Order) -> Void) throws -> OrderResult {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: limits) { throw error }
        let key = "erp:" + messageID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
            }
            guard let order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
            return OrderResult(order: order, replayed: true)
        }
        guard var order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        update(&order)
        try persist(&order, OrderEventKind(type, detail: detail), action: String(type.dropFirst("order.".count)), reason: "",
                    detail: detail, context: context, movements: [], capacity: [], storage: storage)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: orderID.rawValue, at: context.now))
        return OrderResult(order: order, replayed: false)
    }

    // MARK: - Inventory

    public mutating func applyInventoryChange(_ change: InventoryChange, context: CommandContext,
                                              storage: some EngineStorage) throws -> InventoryChangeOutcome {
        if let error = Validation.checkIdentifier(change.changeID, field: "change_id", limits: limits) { throw error }
        if let error = Validation.checkSKU(change.sku.rawValue, field: "sku", limits: limits) { throw error }
        let key = "inventory:" + change.changeID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "change_id \"\(change.changeID)\" was already used for a different change", field: "change_id")
            }
            return InventoryChangeOutcome(replayed: true, positions: positions(for: change))
        }
        guard state.network.locations[change.locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(change.locationID)", field: "location_id")
        }
        // Stock of an item the item master does not know could never be described, weighed or sold right.
        guard state.network.items[change.sku] != nil else { throw DomainError.unknownItem(change.sku, field: "sku") }
        let balance = state.inventory.balance(change.sku, at: change.locationID)
        var movements: [Movement] = []
        switch change.kind {
        case .receipt:
            if change.quantity <= 0 { throw DomainError.invalid("quantity", "a receipt must be positive, got \(change.quantity)") }
            movements.append(Movement(kind: .received, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        case .adjustment:
            if change.quantity == 0 { throw DomainError.invalid("quantity", "an adjustment must not be zero") }
            if balance.onHand + Int64(change.quantity) < 0 {
                throw DomainError(.failedPrecondition,
                                  "adjusting \(change.sku)@\(change.locationID) by \(change.quantity) would take on hand (\(balance.onHand)) below zero",
                                  currentState: "ON_HAND_\(balance.onHand)")
            }
            movements.append(Movement(kind: .adjusted, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        case .transfer:
            guard let destination = change.toLocationID, state.network.locations[destination] != nil else {
                throw DomainError(.notFound, "to_location_id: unknown location \(change.toLocationID?.rawValue ?? "\"\"")", field: "to_location_id")
            }
            if destination == change.locationID { throw DomainError.invalid("to_location_id", "must differ from location_id") }
            if change.quantity <= 0 { throw DomainError.invalid("quantity", "a transfer must be positive") }
            let movable = balance.onHand - balance.reserved
            if Int64(change.quantity) > movable {
                throw DomainError(.failedPrecondition,
                                  "transfer of \(change.quantity) \(change.sku) from \(change.locationID): only \(movable) unreserved on hand",
                                  currentState: "UNRESERVED_\(movable)")
            }
            movements.append(Movement(kind: .transferOut, sku: change.sku, locationID: change.locationID,
                                      onHandDelta: -Int64(change.quantity), at: context.now, reference: change.changeID))
            movements.append(Movement(kind: .transferIn, sku: change.sku, locationID: destination,
                                      onHandDelta: Int64(change.quantity), at: context.now, reference: change.changeID))
        }
        apply(movements: movements)
        try storage.appendMovements(movements)
        try emitInventoryEvents(movements, type: "inventory." + (change.kind == .receipt ? "received" : change.kind == .adjustment ? "adjusted" : "transferred"),
                                context: context, detail: change.reason, storage: storage)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint,
                                                subject: "\(change.sku)@\(change.locationID)", at: context.now))
        try resolveShortages(movements.filter { $0.onHandDelta < 0 }.map { InventoryKey(sku: $0.sku, locationID: $0.locationID) },
                             cause: "adjustment " + change.changeID, context: context, storage: storage)
        try releaseBackorders(skus: movements.filter { $0.onHandDelta > 0 }.map(\.sku), context: context, storage: storage)
        return InventoryChangeOutcome(replayed: false, positions: positions(for: change))
    }

    /// An ERP count of one location as of `asOf`, corrected for movements Waybill recorded since.
    public mutating func applyStockSnapshot(locationID: LocationID, asOf: Timestamp, levels: [(SKU, Int64)], complete: Bool,
                                            messageID: String, context: CommandContext,
                                            storage: some EngineStorage) throws -> (replayed: Bool, applied: Int, positions: [(InventoryKey, Balance)]) {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: limits) { throw error }
        let key = "erp:" + messageID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
            }
            return (true, 0, [])
        }
        guard state.network.locations[locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(locationID)", field: "location_id")
        }
        var counted: [SKU: Int64] = [:]
        for (index, (sku, onHand)) in levels.enumerated() {
            if let error = Validation.checkSKU(sku.rawValue, field: "levels[\(index)].sku", limits: limits) { throw error }
            if onHand < 0 { throw DomainError.invalid("levels[\(index)].on_hand", "must not be negative") }
            if counted.updateValue(onHand, forKey: sku) != nil { throw DomainError.invalid("levels[\(index)].sku", "\(sku) listed twice") }
        }
        if complete {
            for sku in state.inventory.skus(at: locationID) where counted[sku] == nil { counted[sku] = 0 }
        }
        var movements: [Movement] = []
        var positions: [(InventoryKey, Balance)] = []
        var applied = 0
        for sku in counted.keys.sorted() {
            if try Self.countIsStale(sku, locationID, asOf: asOf, storage: storage) { continue }
            applied += 1
            try storage.recordCount(InventoryKey(sku: sku, locationID: locationID), asOf: asOf)
            let since = try storage.onHandDelta(sku, locationID, after: asOf)
            let target = max(0, counted[sku]! + since)
            let current = state.inventory.balance(sku, at: locationID).onHand
            if target != current {
                movements.append(Movement(kind: .snapshot, sku: sku, locationID: locationID, onHandDelta: target - current,
                                          at: context.now, reference: messageID))
            }
        }
        apply(movements: movements)
        try storage.appendMovements(movements)
        try emitInventoryEvents(movements, type: "inventory.snapshot_applied", context: context, detail: messageID, storage: storage)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: locationID.rawValue, at: context.now))
        try resolveShortages(movements.filter { $0.onHandDelta < 0 }.map { InventoryKey(sku: $0.sku, locationID: locationID) },
                             cause: "snapshot " + messageID, context: context, storage: storage)
        try releaseBackorders(skus: movements.filter { $0.onHandDelta > 0 }.map(\.sku), context: context, storage: storage)
        // The answer shows what this command committed: after the shortages it re-routed and the
        // backorders it served, not the count alone (which may show more reserved than on hand).
        for movement in movements {
            let key = InventoryKey(sku: movement.sku, locationID: locationID)
            positions.append((key, state.inventory.balance(movement.sku, at: locationID)))
        }
        return (false, applied, positions)
    }

    /// A count older than one already applied to this SKU × location is stale: the newer count,
    /// plus the movements since it, already says what is there. Applying the old one would undo
    /// whatever the newer count corrected (shrinkage, ERP-only adjustments).
    static func countIsStale(_ sku: SKU, _ location: LocationID, asOf: Timestamp, storage: some EngineStorage) throws -> Bool {
        guard let newest = try storage.countedAsOf(sku, location) else { return false }
        return newest > asOf
    }

    public mutating func updateInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply],
                                                context: CommandContext, storage: some EngineStorage) throws -> Balance {
        if let error = Validation.checkSKU(key.sku.rawValue, field: "sku", limits: limits) { throw error }
        guard state.network.locations[key.locationID] != nil else {
            throw DomainError(.notFound, "location_id: unknown location \(key.locationID)", field: "location_id")
        }
        if safetyStock < 0 { throw DomainError.invalid("safety_stock", "must not be negative") }
        if incoming.contains(where: { $0.quantity <= 0 }) { throw DomainError.invalid("incoming", "quantities must be positive") }
        let before = state.inventory.balance(key.sku, at: key.locationID)
        state.inventory.update(key.sku, key.locationID) { balance in
            balance.safetyStock = safetyStock
            balance.incoming = incoming.sorted { $0.expectedAt < $1.expectedAt }
        }
        try storage.saveInventorySetting(key, safetyStock: safetyStock, incoming: incoming)
        try emitInventoryEvents([], type: "inventory.settings_changed", keys: [key], context: context,
                                detail: "safety stock \(safetyStock)", storage: storage)
        if safetyStock < before.safetyStock { try releaseBackorders(skus: [key.sku], context: context, storage: storage) }
        return state.inventory.balance(key.sku, at: key.locationID)
    }

    private func positions(for change: InventoryChange) -> [(InventoryKey, Balance)] {
        var keys = [InventoryKey(sku: change.sku, locationID: change.locationID)]
        if let to = change.toLocationID, change.kind == .transfer { keys.append(InventoryKey(sku: change.sku, locationID: to)) }
        return keys.map { ($0, state.inventory.balance($0.sku, at: $0.locationID)) }
    }

    private mutating func emitInventoryEvents(_ movements: [Movement], type: String, keys: [InventoryKey] = [],
                                              context: CommandContext, detail: String, storage: some EngineStorage) throws {
        var events: [DomainEvent] = []
        for movement in movements {
            let sequence = state.inventory.nextEventSequence(movement.sku, movement.locationID)
            events.append(DomainEvent(type: type, aggregate: .inventory(movement.sku, movement.locationID, movement,
                                                                         state.inventory.balance(movement.sku, at: movement.locationID)),
                                      aggregateSequence: sequence, occurredAt: context.now, clientID: context.clientID, detail: detail))
        }
        for key in keys {
            let sequence = state.inventory.nextEventSequence(key.sku, key.locationID)
            events.append(DomainEvent(type: type, aggregate: .inventory(key.sku, key.locationID, nil,
                                                                         state.inventory.balance(key.sku, at: key.locationID)),
                                      aggregateSequence: sequence, occurredAt: context.now, clientID: context.clientID, detail: detail))
        }
        if !events.isEmpty { try storage.appendEvents(events) }
    }

    // MARK: - Network model

    public mutating func upsert(location: Location, context: CommandContext, storage: some EngineStorage) throws {
        if let error = Validation.checkIdentifier(location.locationID.rawValue, field: "location_id", limits: limits) { throw error }
        if let coordinates = location.coordinates, let error = Validation.checkCoordinates(coordinates, field: "coordinates") { throw error }
        if location.dailyOrderCapacity < 0 { throw DomainError.invalid("daily_order_capacity", "must not be negative") }
        if location.cutoffMinuteUTC < 0 || location.cutoffMinuteUTC >= 1440 {
            throw DomainError.invalid("cutoff_minute_utc", "must be a minute of the day (0..<1440)")
        }
        let known = state.network.locations[location.locationID] != nil
        state.network.upsert(location)
        // A new location shifts the sites after it: re-point the inventory's routing hints.
        if !known { state.inventory.follow(state.network) }
        try storage.saveLocation(location)
    }

    public mutating func upsert(carrier: Carrier, context: CommandContext, storage: some EngineStorage) throws {
        if let error = Validation.checkIdentifier(carrier.carrierID, field: "carrier_id", limits: limits) { throw error }
        for (serviceIndex, service) in carrier.services.enumerated() {
            if let error = Validation.checkIdentifier(service.service, field: "services[\(serviceIndex)].service", limits: limits) { throw error }
            if service.service.contains("/") { throw DomainError.invalid("services[\(serviceIndex)].service", "must not contain /") }
            for (rateIndex, band) in service.rates.enumerated() where band.cost.minorUnits < 0 || band.transitDays < 0 {
                throw DomainError.invalid("services[\(serviceIndex)].rates[\(rateIndex)]", "cost and transit days must not be negative")
            }
        }
        state.network.upsert(carrier)
        try storage.saveCarrier(carrier)
    }

    public mutating func upsert(item: Item, context: CommandContext, storage: some EngineStorage) throws {
        if let error = Validation.checkSKU(item.sku.rawValue, field: "sku", limits: limits) { throw error }
        if item.weightGrams < 0 { throw DomainError.invalid("weight_grams", "must not be negative") }
        if let error = Validation.checkText(item.description, field: "description", limits: limits) { throw error }
        state.network.upsert(item)
        let version = state.network.itemVersions[item.sku] ?? 1
        try storage.saveItem(item)
        try storage.appendEvents([DomainEvent(type: "item.upserted", aggregate: .item(item), aggregateSequence: version,
                                              occurredAt: context.now, clientID: context.clientID, detail: "")])
        // Orders captured while the item master lacked this SKU are routed now, in this command.
        try liftItemHolds(after: item.sku, context: context, storage: storage)
    }

    public mutating func setPolicy(_ policy: RoutingPolicy, context: CommandContext, storage: some EngineStorage) throws -> RoutingPolicy {
        if policy.maxShipments < 0 || policy.maxShipments > 16 {
            throw DomainError.invalid("max_shipments", "must be between 1 and 16 (0 = default 3)")
        }
        if policy.scoring.contains(where: { !$0.1.isFinite || $0.1 < 0 }) {
            throw DomainError.invalid("scoring", "weights must be finite and not negative")
        }
        if let error = Validation.checkIdentifier(policy.name, field: "name", limits: limits, required: false) { throw error }
        // A region filter that matches no location backorders every order: refuse it when written.
        let regionsInNetwork = Set(state.network.locations.values.map(\.region))
        for (index, filter) in policy.filters.enumerated() {
            if case .region(let regions, _) = filter, !regions.isEmpty, !regions.contains(where: regionsInNetwork.contains) {
                throw DomainError.regionMatchesNoLocation(regions, field: "filters[\(index)].regions",
                                                          known: regionsInNetwork.filter { !$0.isEmpty }.sorted())
            }
        }
        var next = policy
        if next.maxShipments == 0 { next.maxShipments = 3 }
        // The policy in force sent again (a retried LoadNetwork or SetRoutingPolicy) is not a new
        // version: a retry changes nothing, and plans routed ahead against it stay valid.
        var unchanged = next
        unchanged.version = state.policy.version
        unchanged.setAt = state.policy.setAt
        if state.policy.version > 0 && unchanged == state.policy { return state.policy }
        next.version = state.policy.version + 1
        next.setAt = context.now
        state.policy = next
        try storage.savePolicy(next)
        return next
    }

    // MARK: - Routing and allocation

    /// The routing request for capturing `draft` now (callers routing ahead use the same one).
    public static func captureRoutingRequest(_ draft: OrderDraft, now: Timestamp) -> RoutingRequest {
        RoutingRequest(
            lines: draft.lines.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) },
            channel: draft.channel ?? .web, shipTo: draft.shipTo.coordinates, shipToRegion: draft.shipTo.region,
            shipToCity: draft.shipTo.city, shipToCountry: draft.shipTo.country, method: draft.fulfillment.method, pickupLocationID: draft.fulfillment.pickupLocationID,
            serviceLevel: draft.fulfillment.serviceLevel, excludedLocationIDs: [], now: now,
            currency: draft.lines.first?.unitPrice.currency ?? "USD", trigger: "capture")
    }

    /// Whether a plan made ahead from a committed snapshot can be applied to the live state as is.
    func isCurrent(_ plan: AllocationPlan, for lines: [RoutingLine], now: Timestamp) -> Bool {
        guard plan.decision.policyVersion == state.policy.version, plan.unallocated.isEmpty else { return false }
        // Units planned per order line, and needed per SKU × location. Orders are small: linear
        // search up to 16 lines (no hashing of line ids and keys), hash maps beyond.
        let small = lines.count <= 16
        let lineIndex: [String: Int] = small ? [:] : Dictionary(lines.enumerated().map { ($1.lineID, $0) }, uniquingKeysWith: { a, _ in a })
        var planned = [Int32](repeating: 0, count: lines.count)
        var needed: [(key: InventoryKey, quantity: Int64)] = []
        var neededIndex: [InventoryKey: Int] = [:]
        for shipment in plan.shipments {
            guard let location = state.network.locations[shipment.locationID], location.active,
                  location.processingDay(at: now) == shipment.processingDay else { return false }
            if location.dailyOrderCapacity > 0
                && state.capacity.used(CapacityKey(locationID: location.locationID, day: shipment.processingDay)) >= location.dailyOrderCapacity {
                return false
            }
            if !shipment.carrierResource.isEmpty,
               let option = state.network.services(at: location.locationID).first(where: { $0.resource == shipment.carrierResource }),
               option.service.dailyCapacityPerLocation > 0,
               state.capacity.used(CapacityKey(locationID: location.locationID, resource: shipment.carrierResource, day: shipment.processingDay))
                >= option.service.dailyCapacityPerLocation {
                return false
            }
            for line in shipment.lines {
                guard let index = small ? lines.firstIndex(where: { $0.lineID == line.lineID }) : lineIndex[line.lineID],
                      lines[index].sku == line.sku else { return false }
                planned[index] += line.quantity
                let key = InventoryKey(sku: line.sku, locationID: shipment.locationID)
                if let at = small ? needed.firstIndex(where: { $0.key == key }) : neededIndex[key] {
                    needed[at].quantity += Int64(line.quantity)
                } else {
                    if !small { neededIndex[key] = needed.count }
                    needed.append((key, Int64(line.quantity)))
                }
            }
        }
        for index in lines.indices where planned[index] != lines[index].quantity { return false }
        for entry in needed where state.inventory.available(entry.key.sku, at: entry.key.locationID) < entry.quantity { return false }
        return true
    }

    func route(_ order: Order, lines: [RoutingLine], now: Timestamp, trigger: String) -> AllocationPlan {
        let request = RoutingRequest(
            lines: lines, channel: order.channel, shipTo: order.shipTo.coordinates, shipToRegion: order.shipTo.region,
            shipToCity: order.shipTo.city, shipToCountry: order.shipTo.country, method: order.requestedFulfillment.method, pickupLocationID: order.requestedFulfillment.pickupLocationID,
            serviceLevel: order.requestedFulfillment.serviceLevel, excludedLocationIDs: order.excludedLocationIDs,
            now: now, currency: order.currency, trigger: trigger)
        return router.route(request, policy: state.policy, network: state.network, inventory: state.inventory, capacity: state.capacity)
    }

    /// Adds the plan's shipments to the order as fulfillments, with their reservations and capacity.
    mutating func allocate(_ plan: AllocationPlan, to order: inout Order, now: Timestamp,
                                   movements: inout [Movement], capacity: inout [CapacityUse]) {
        if order.routingDecisions.count >= limits.routingDecisionsPerOrderMax { order.routingDecisions.removeFirst() }
        order.routingDecisions.append(plan.decision)
        let decisionIndex = Int32(order.routingDecisions.count - 1)
        for shipment in plan.shipments {
            var fulfillment = Fulfillment(fulfillmentID: OrderStateMachine.nextFulfillmentID(order), locationID: shipment.locationID,
                                          method: order.requestedFulfillment.method, lines: shipment.lines,
                                          processingDay: shipment.processingDay, createdAt: now)
            fulfillment.carrierID = shipment.carrierID
            fulfillment.carrierService = shipment.carrierService
            fulfillment.shippingCostEstimate = Money(minorUnits: shipment.shippingCost.minorUnits + shipment.processingCost.minorUnits,
                                                     currency: shipment.shippingCost.currency)
            fulfillment.transitDaysEstimate = shipment.transitDays
            fulfillment.promisedDeliveryAt = Timestamp.startOfDay(shipment.processingDay + Int64(shipment.transitDays))
            fulfillment.routingDecisionIndex = decisionIndex
            for line in shipment.lines {
                let movement = Movement(kind: .reserved, sku: line.sku, locationID: shipment.locationID,
                                        reservedDelta: Int64(line.quantity), at: now, orderID: order.orderID,
                                        reference: fulfillment.fulfillmentID)
                // The router only hands out available units; `reserve` traps on a routing bug.
                state.inventory.reserve(movement)
                movements.append(movement)
            }
            var uses = [CapacityUse(key: CapacityKey(locationID: shipment.locationID, day: shipment.processingDay), delta: 1,
                                    orderID: order.orderID, reference: fulfillment.fulfillmentID)]
            if !shipment.carrierResource.isEmpty {
                uses.append(CapacityUse(key: CapacityKey(locationID: shipment.locationID, resource: shipment.carrierResource,
                                                         day: shipment.processingDay),
                                        delta: 1, orderID: order.orderID, reference: fulfillment.fulfillmentID))
            }
            for use in uses { state.capacity.apply(use) }
            capacity += uses
            order.fulfillments.append(fulfillment)
        }
    }

    func releaseCreated(_ order: inout Order, now: Timestamp) {
        for index in order.fulfillments.indices where order.fulfillments[index].status == .created {
            order.fulfillments[index].status = .released
            order.fulfillments[index].releasedAt = now
        }
    }

    /// When a count or an adjustment leaves fewer units on hand than are reserved at a position,
    /// the newest orders holding reservations there give up the shortfall: their lines at that
    /// location are rejected on its behalf (no write-off: the count already took the stock off)
    /// and re-routed, or backordered if nothing else has stock. Older orders keep their units.
    /// Only fulfillments not yet picked are touched; units already picked or packed stay (the
    /// location has them in hand), so a shortfall they cover is left to the location.
    private mutating func resolveShortages(_ keys: [InventoryKey], cause: String, context: CommandContext,
                                           storage: some EngineStorage) throws {
        for key in Set(keys).sorted() {
            let balance = state.inventory.balance(key.sku, at: key.locationID)
            var shortfall = balance.reserved - balance.onHand
            guard shortfall > 0 else { continue }
            let holders = try storage.reservationHolders(key.sku, key.locationID, limit: limits.shortageOrdersScannedMax)
            for orderID in holders where shortfall > 0 {
                guard let order = try storage.loadOrder(orderID) else { continue }
                for fulfillment in order.fulfillments.reversed() where shortfall > 0 && fulfillment.locationID == key.locationID
                    && (fulfillment.status == .created || fulfillment.status == .released) {
                    var lines: [LineQuantity] = []
                    var taken: Int64 = 0
                    for line in fulfillment.lines where line.sku == key.sku && shortfall - taken > 0 {
                        let take = min(Int64(line.quantity), shortfall - taken)
                        lines.append(LineQuantity(lineID: line.lineID, quantity: Int32(take)))
                        taken += take
                    }
                    if lines.isEmpty { continue }
                    var shortageContext = context
                    shortageContext.requestID = "shortage-" + String(fnv1a("\(cause)|\(orderID)|\(fulfillment.fulfillmentID)"), radix: 16)
                    shortageContext.fingerprint = fnv1a(shortageContext.requestID)
                    let command = OrderCommand.rejectFulfillment(
                        fulfillment.fulfillmentID, lines: lines,
                        reason: "stock shortage at \(key.locationID): \(key.sku) counted below its reservations (\(cause))", stockMissing: false,
                        excludesLocation: false)
                    do {
                        _ = try apply(command, to: orderID, context: shortageContext, storage: storage)
                        shortfall -= taken
                    } catch is DomainError {
                        // This order cannot change (e.g. its history is full): the next one gives way instead.
                        continue
                    }
                }
            }
        }
    }

    /// Serves backordered orders needing these SKUs, oldest first, up to backorderReleaseBatchMax.
    private mutating func releaseBackorders(skus: [SKU], context: CommandContext, storage: some EngineStorage) throws {
        if skus.isEmpty { return }
        var seen: Set<OrderID> = []
        var candidates: [OrderID] = []
        for sku in Set(skus).sorted() {
            for orderID in state.backorders.oldest(for: sku, limit: limits.backorderReleaseBatchMax) where seen.insert(orderID).inserted {
                candidates.append(orderID)
            }
        }
        candidates.sort { ($0.sequence ?? 0, $0.rawValue) < ($1.sequence ?? 0, $1.rawValue) }
        var systemContext = context
        systemContext.requestID = ""
        // Whether a SKU has available units anywhere, known until the next allocation changes stock.
        var inStock: [SKU: Bool] = [:]
        for orderID in candidates.prefix(limits.backorderReleaseBatchMax) {
            // Routing serves only available units: an order none of whose waiting SKUs has any is
            // left as it is without loading or routing it. (One cancelled unit would otherwise
            // route the whole release batch; this skips exactly the orders that would get nothing.)
            if !releaseRoutesEveryCandidate, let skus = state.backorders.waitingSKUs(of: orderID), !skus.contains(where: { sku in
                if let known = inStock[sku] { return known }
                let any = state.inventory.entries(for: sku).contains { $0.balance.available > 0 }
                inStock[sku] = any
                return any
            }) { continue }
            guard var order = try storage.loadOrder(orderID) else { continue }
            if try allocateBackordered(&order, trigger: "backorder release", reason: "stock arrived", context: systemContext, storage: storage) > 0 {
                inStock.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Routes an order's backordered units against the live state and allocates what can be
    /// served (all of it unless the policy allows partial allocation); persists the order with an
    /// "order.backorder_allocated" event when anything was allocated. Returns the units allocated.
    mutating func allocateBackordered(_ order: inout Order, trigger: String, reason: String, context: CommandContext,
                                              storage: some EngineStorage) throws -> Int32 {
        // An order waiting for its items is routed when they arrive (liftItemHolds), not before.
        if order.waitsForItems { return 0 }
        let waiting = order.lines.filter { $0.quantities.backordered > 0 }
            .map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantities.backordered) }
        guard !waiting.isEmpty else { state.backorders.update(order); return 0 }
        let plan = route(order, lines: waiting, now: context.now, trigger: trigger)
        if plan.shipments.isEmpty { return 0 }
        if !plan.unallocated.isEmpty && !state.policy.allowPartialAllocation { return 0 }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
        var units: Int32 = 0
        for shipment in plan.shipments {
            for line in shipment.lines {
                order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity
                units += line.quantity
            }
        }
        if !order.isOnHold && state.policy.releaseOnAllocation { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        let detail = plan.shipments.map { "\($0.locationID): " + $0.lines.map { "\($0.lineID)×\($0.quantity)" }.joined(separator: ",") }
            .joined(separator: "; ")
        try persist(&order, OrderEventKind("order.backorder_allocated", detail: detail), action: "backorder_allocated", reason: reason,
                    detail: detail, context: context, movements: movements, capacity: capacity, storage: storage)
        state.backorders.update(order)
        return units
    }

    func commit(movements: [Movement], capacity: [CapacityUse], storage: some EngineStorage) throws {
        if !movements.isEmpty { try storage.appendMovements(movements) }
        if !capacity.isEmpty { try storage.appendCapacity(capacity) }
    }

    private mutating func apply(movements: [Movement]) {
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
