// The in-process driver: the model drives WaybillCore's Engine directly, in virtual time (the
// virtual clock is the commands' CommandContext.now), over a storage made for simulation:
// orders in an array by capture sequence, the movement ledger kept as per-position totals,
// change-feed events handed to the model as they are appended. No sockets, no disk. What is
// neither transport nor domain (capture preparation, the availability rule, fingerprints) is the
// server's own application layer (WaybillApplication), called here as the server calls it.

import WaybillApplication
import WaybillCore
import WaybillWire

/// EngineStorage for long simulations: what the checks need, compactly.
public final class SimulationStorage: EngineStorage {
    public struct LedgerTotals: Sendable, Equatable {
        public var onHand: Int64 = 0
        public var reserved: Int64 = 0
        public var received: Int64 = 0
        public var shipped: Int64 = 0
        public var returned: Int64 = 0
        public var writtenOff: Int64 = 0
        public var adjusted: Int64 = 0
        public var snapshot: Int64 = 0
        public var movements: Int = 0
    }

    /// Orders by capture sequence (index 0 unused).
    public private(set) var orders: [Order?] = [nil]
    public private(set) var keys: [String: OrderID] = [:]
    private var requests: [String: RequestRecord] = [:]
    public private(set) var ledger: [InventoryKey: LedgerTotals] = [:]
    /// (time, on-hand delta) of stock-changing movements per position, for snapshot variance correction.
    private var onHandLog: [InventoryKey: [(Int64, Int64)]] = [:]
    public private(set) var eventCount: UInt64 = 0
    private var pending: [(UInt64, DomainEvent)] = []
    public private(set) var policies: [RoutingPolicy] = []
    public private(set) var movementCount = 0

    public init() {}

    private static func key(_ channel: Channel, _ external: String) -> String { "\(channel.rawValue)|\(external)" }

    @inline(__always) private func slot(_ id: OrderID) -> Int? {
        guard let sequence = id.sequence, sequence > 0, sequence < orders.count else { return nil }
        return Int(sequence)
    }

    public func loadOrder(_ id: OrderID) throws -> Order? {
        guard let slot = slot(id), let order = orders[slot], order.orderID == id else { return nil }
        return order
    }
    public func orderID(channel: Channel, externalOrderID: String) throws -> OrderID? { keys[Self.key(channel, externalOrderID)] }
    public func requestRecord(_ key: String) throws -> RequestRecord? { requests[key] }
    /// Checkout carts, by channel and cart id.
    public private(set) var carts: [CartKey: Cart] = [:]
    public func loadCart(_ key: CartKey) throws -> Cart? { carts[key] }
    public func saveCart(_ cart: Cart) throws { carts[cart.key] = cart }
    /// Expected receipts, by receipt id.
    public private(set) var receipts: [String: ExpectedReceipt] = [:]
    public func loadReceipt(_ receiptID: String) throws -> ExpectedReceipt? { receipts[receiptID] }
    public func saveReceipt(_ receipt: ExpectedReceipt) throws { receipts[receipt.receiptID] = receipt }
    public func reservationHolders(_ sku: SKU, _ location: LocationID, limit: Int) throws -> [OrderID] {
        var holders: [OrderID] = []
        var examined = 0
        for order in orders.reversed() {
            if examined == limit { break }
            guard let order, order.reservedUnits > 0 else { continue }
            examined += 1
            if order.lines.contains(where: { $0.sku == sku }) { holders.append(order.orderID) }
        }
        return holders
    }

    public func countedAsOf(_ sku: SKU, _ location: LocationID) throws -> Timestamp? { counts[InventoryKey(sku: sku, locationID: location)] }
    public func recordCount(_ key: InventoryKey, asOf: Timestamp) throws { counts[key] = asOf }
    private var counts: [InventoryKey: Timestamp] = [:]

    public func onHandDelta(_ sku: SKU, _ location: LocationID, after: Timestamp) throws -> Int64 {
        (onHandLog[InventoryKey(sku: sku, locationID: location)] ?? []).reduce(0) { $1.0 > after.millisecondsSinceEpoch ? $0 + $1.1 : $0 }
    }

    public func insertOrder(_ order: Order) throws {
        let sequence = Int(order.captureSequence)
        precondition(order.orderID == OrderID(sequence: order.captureSequence), "simulation storage keys orders by capture sequence")
        while orders.count <= sequence { orders.append(nil) }
        precondition(orders[sequence] == nil, "order \(order.orderID) inserted twice")
        orders[sequence] = order
        keys[Self.key(order.channel, order.externalOrderID)] = order.orderID
    }
    public func updateOrder(_ order: Order) throws {
        guard let slot = slot(order.orderID), orders[slot] != nil else { preconditionFailure("update of unknown order \(order.orderID)") }
        orders[slot] = order
    }
    public func appendMovements(_ movements: [Movement]) throws {
        for movement in movements {
            let key = InventoryKey(sku: movement.sku, locationID: movement.locationID)
            var totals = ledger[key] ?? LedgerTotals()
            totals.onHand += movement.onHandDelta
            totals.reserved += movement.reservedDelta
            totals.movements += 1
            switch movement.kind {
            case .received: totals.received += movement.onHandDelta
            case .shipped: totals.shipped -= movement.onHandDelta
            case .returned: totals.returned += movement.onHandDelta
            case .writtenOff: totals.writtenOff -= movement.onHandDelta
            case .adjusted, .transferIn, .transferOut: totals.adjusted += movement.onHandDelta
            case .snapshot: totals.snapshot += movement.onHandDelta
            case .reserved, .released: break
            }
            ledger[key] = totals
            if movement.kind.changesOnHand && movement.onHandDelta != 0 {
                onHandLog[key, default: []].append((movement.at.millisecondsSinceEpoch, movement.onHandDelta))
            }
        }
        movementCount += movements.count
    }
    public func appendCapacity(_ uses: [CapacityUse]) throws {}
    public func appendEvents(_ events: [DomainEvent]) throws {
        for event in events {
            eventCount += 1
            pending.append((eventCount, event))
        }
    }
    public func recordRequest(_ record: RequestRecord) throws { requests[record.key] = record }
    public func saveLocation(_ location: Location) throws {}
    public func saveCarrier(_ carrier: Carrier) throws {}
    public func saveItem(_ item: Item) throws {}
    public func saveChannelSettings(_ settings: ChannelSettings) throws {}
    public func savePolicy(_ policy: RoutingPolicy) throws { policies.append(policy) }
    public func saveInventorySetting(_ key: InventoryKey, safetyStock: Int64, incoming: [Supply]) throws {}

    /// Events appended since the last call, in offset order.
    public func drainEvents() -> [(UInt64, DomainEvent)] {
        // Hand the buffer over (keeping its capacity would copy it: the caller holds it).
        let drained = pending
        pending = []
        return drained
    }

    /// Forgets variance-correction history older than `time` (no snapshot can be as of before it).
    public func forgetOnHandLog(before time: Int64) {
        for key in onHandLog.keys.sorted() {
            onHandLog[key]!.removeAll { $0.0 <= time }
        }
    }

    public var allOrders: [Order] { orders.compactMap { $0 } }
}

final class InProcessGateway: Gateway {
    var engine: Engine
    let storage: SimulationStorage
    let metrics: Metrics
    var random: SimRandom
    /// The probability that a call's answer is lost, set by the model as faults come and go.
    var timeoutRate: () -> Double = { 0 }
    var isLive: Bool { false }
    var pollFloorMilliseconds: Int64 { 0 }
    let timeoutPenaltyMilliseconds: Int64
    /// Measure each engine call's service time (two clock reads per call).
    let measures: Bool

    init(engine: Engine, storage: SimulationStorage, metrics: Metrics, seed: UInt64, timeoutMilliseconds: Int64, measures: Bool = true) {
        self.engine = engine
        self.storage = storage
        self.metrics = metrics
        random = SimRandom(seed: seed, stream: "network")
        timeoutPenaltyMilliseconds = timeoutMilliseconds
        self.measures = measures
    }

    func serverTime(_ virtualTime: Int64) -> Int64 { virtualTime }

    /// The server's sweep, in virtual time: every cart past its deadline is released.
    func sweepCarts(at virtualTime: Int64) {
        do {
            while try engine.expireCarts(context: context(virtualTime), storage: storage) > 0 {}
        } catch {
            preconditionFailure("the in-process storage does not fail: \(error)")
        }
    }

    /// Every write appends at least one change event.
    var writeMark: UInt64? { storage.eventCount }

    func drainFeed() -> [FeedEvent] {
        storage.drainEvents().map { offset, event in Self.feedEvent(offset, event) }
    }

    static func feedEvent(_ offset: UInt64, _ event: DomainEvent) -> FeedEvent {
        var order: Order?
        var key: InventoryKey?
        var cart: Cart?
        switch event.aggregate {
        case .order(let value): order = value
        case .inventory(let sku, let location, _, _): key = InventoryKey(sku: sku, locationID: location)
        case .cart(let value): cart = value
        default: break
        }
        return FeedEvent(offset: offset, type: event.type, aggregateType: event.aggregateType, aggregateSequence: event.aggregateSequence,
                         occurredAt: event.occurredAt.millisecondsSinceEpoch, order: order, key: key,
                         fulfillmentID: event.fulfillmentID, returnID: event.returnID, cart: cart)
    }

    /// In process every call is Waybill's own (`Caller.system`): the actor only matters live.
    func send(_ id: Int32, _ request: SimRequest, as actor: SimActor, intendedAt virtualTime: Int64) -> SimReply? {
        let rate = timeoutRate()
        var lost = false
        var applies = true
        if rate > 0, random.chance(rate) {
            // The answer (or the request) is lost: half the time Waybill did the work.
            lost = true
            applies = random.chance(0.5)
        }
        if !applies { return .timedOut }
        let started = measures ? wallNanoseconds() : 0
        let reply = execute(request, now: virtualTime)
        if measures { metrics.record(request.rpc, microseconds: Int64((wallNanoseconds() - started) / 1000)) }
        return lost ? .timedOut : reply
    }

    func context(_ now: Int64, requestID: String = "", fingerprint: Fingerprint = .none) -> CommandContext {
        CommandContext(now: Timestamp(millisecondsSinceEpoch: now), clientID: "simulator", requestID: requestID, fingerprint: fingerprint)
    }

    func execute(_ request: SimRequest, now: Int64) -> SimReply {
        do {
            switch request {
            case .capture(let draft):
                // Validated and routed ahead against committed state, as the server does on its
                // event loops; the engine applies the plan after checking it is still valid.
                let prepared = try CapturePreparation.prepare(draft, limits: engine.limits, now: Timestamp(millisecondsSinceEpoch: now),
                                                              against: engine)
                let result = try engine.capture(prepared.draft, context: context(now), storage: storage, plannedAhead: prepared.plan)
                return .order(result.order, replayed: result.replayed)
            case .getOrderByKey(let channel, let external):
                guard let id = try storage.orderID(channel: channel, externalOrderID: external), let order = try storage.loadOrder(id) else { return .notFound }
                return .order(order, replayed: false)
            case .getOrder(let id):
                guard let order = try storage.loadOrder(id) else { return .notFound }
                return .order(order, replayed: false)
            case .availability(let skus, let channel):
                return .available(engine.channelAvailability(of: skus, for: channel).reduce(0) { $0 + $1.available })
            case .lifecycle(let id, let command, let requestID):
                let result = try engine.apply(command, to: id, context: context(now, requestID: requestID, fingerprint: try Self.fingerprint(request)),
                                              storage: storage)
                return .order(result.order, replayed: result.replayed)
            case .erpAcknowledgement(let id, let document, let messageID):
                let result = try engine.recordErpAcknowledgement(orderID: id, documentNumber: document, status: .posted, messageID: messageID,
                                                                 context: context(now, fingerprint: try Self.fingerprint(request)), storage: storage)
                return .applied(replayed: result.replayed, corrections: 0)
            case .erpDocument(let id, let document, let messageID):
                let result = try engine.recordErpDocument(orderID: id, document: document, messageID: messageID,
                                                          context: context(now, fingerprint: try Self.fingerprint(request)), storage: storage)
                return .applied(replayed: result.replayed, corrections: 0)
            case .stockDeltas(let messageID, let changes):
                return try applyOnce(request, messageID: messageID, subject: "stock deltas", now: now) { print in
                    for (index, change) in changes.enumerated() {
                        _ = try engine.applyInventoryChange(change, context: context(now, fingerprint: print.deriving(UInt64(index))), storage: storage)
                    }
                }
            case .stockSnapshot(let messageID, let location, let asOf, let levels):
                let outcome = try engine.applyStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: true, messageID: messageID,
                                                            context: context(now, fingerprint: try Self.fingerprint(request)), storage: storage)
                return .applied(replayed: outcome.replayed, corrections: outcome.positions.count)
            case .feedAcknowledge:
                return .applied(replayed: false, corrections: 0)
            case .fulfillmentOptions(let ask):
                let answer = try FulfillmentPromising.options(for: ask.query, limits: engine.limits, pickupStoresMax: TransportLimits().pickupStoresPerQueryMax,
                                                              field: "queries[0]", now: Timestamp(millisecondsSinceEpoch: now), against: engine)
                return .options(answer.options.map(OptionQuote.init))
            case .reserveCart(let draft):
                let result = try engine.reserveCart(draft, context: context(now), storage: storage)
                return .cart(result.cart, replayed: result.replayed)
            case .extendCart(let key, let ttlSeconds):
                let result = try engine.extendCart(key, ttlMilliseconds: Int64(ttlSeconds) * 1_000, context: context(now), storage: storage)
                return .cart(result.cart, replayed: result.replayed)
            case .releaseCart(let key):
                let result = try engine.releaseCart(key, context: context(now), storage: storage)
                return .cart(result.cart, replayed: result.replayed)
            case .getCart(let key):
                guard let cart = try storage.loadCart(key) else { return .notFound }
                return .cart(cart, replayed: false)
            case .expectedReceipts(let messageID, let receipts):
                return try applyOnce(request, messageID: messageID, subject: "expected receipts", now: now) { print in
                    for (index, receipt) in receipts.enumerated() {
                        _ = try engine.applyExpectedReceipt(receipt, context: context(now, fingerprint: print.deriving(UInt64(index))), storage: storage)
                    }
                }
            }
        } catch let error as DomainError {
            return .failed(code: error.code.rawValue, message: error.message)
        } catch {
            return .failed(code: "INTERNAL", message: "\(error)")
        }
    }

    /// An ERP message whose parts the engine applies one by one, applied once per message id (a
    /// replay answers `replayed` and changes nothing), as the server's ErpService does.
    func applyOnce(_ request: SimRequest, messageID: String, subject: String, now: Int64, _ apply: (Fingerprint) throws -> Void) throws -> SimReply {
        let key = "erp:" + messageID
        let print = try Self.fingerprint(request)
        if try storage.requestRecord(key) != nil { return .applied(replayed: true, corrections: 0) }
        try apply(print)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: print, subject: subject, at: Timestamp(millisecondsSinceEpoch: now)))
        return .applied(replayed: false, corrections: 0)
    }

    /// The fingerprint the server takes of the request the live driver would send for `request`
    /// (the same bytes: WireRequest), so a retry with other content is refused alike.
    static func fingerprint(_ request: SimRequest) throws -> Fingerprint {
        let (method, bytes) = try WireRequest.encode(request)
        switch request {
        case .erpAcknowledgement, .erpDocument, .stockDeltas, .stockSnapshot, .expectedReceipts: return RequestFingerprint.ofErpMessage(serialized: bytes)
        default: return RequestFingerprint.of(serialized: bytes, method: method)
        }
    }
}
