// What the model asks of Waybill, and what comes back, independent of the driver: the
// in-process driver calls WaybillCore directly, the live driver speaks the protocol.

import Synchronization
import WaybillCore

/// One call to Waybill.
public enum SimRequest: Sendable {
    case capture(OrderDraft)
    /// Read-back by idempotency key (a capture whose answer was lost).
    case getOrderByKey(Channel, String)
    /// Read-back by id (a lifecycle call whose answer was lost).
    case getOrder(OrderID)
    case availability([SKU], Channel)
    case lifecycle(OrderID, OrderCommand, requestID: String)
    case erpAcknowledgement(OrderID, documentNumber: String, messageID: String)
    case erpDocument(OrderID, ErpDocument, messageID: String)
    case stockDeltas(messageID: String, [InventoryChange])
    case stockSnapshot(messageID: String, LocationID, asOf: Timestamp, levels: [(SKU, Int64)])
    case feedAcknowledge(consumer: String, offset: UInt64)
    /// A shopper's checkout (Model+Checkout.swift): the options for one cart, and its reservation.
    case fulfillmentOptions(OptionsAsk)
    case reserveCart(CartDraft)
    case extendCart(CartKey, ttlSeconds: Int32)
    case releaseCart(CartKey)
    case getCart(CartKey)
    /// ErpService.ApplyExpectedReceipts (the product drop's receipt).
    case expectedReceipts(messageID: String, [ExpectedReceipt])

    /// The RPC's name, for latency tables.
    public var rpc: RPC {
        switch self {
        case .capture: .captureOrder
        case .getOrderByKey, .getOrder: .getOrder
        case .availability: .getAvailability
        case .lifecycle(_, let command, _):
            switch command {
            case .hold: .holdOrder
            case .releaseHold: .releaseHold
            case .cancelOrder: .cancelOrder
            case .cancelLines: .cancelLines
            case .releaseFulfillment: .releaseFulfillment
            case .rejectFulfillment: .rejectFulfillment
            case .confirmPick: .confirmPick
            case .confirmPack: .confirmPack
            case .confirmShipment: .confirmShipment
            case .confirmDelivery: .confirmDelivery
            case .createReturn: .createReturn
            case .receiveReturn: .receiveReturn
            case .edit: .editOrder
            }
        case .erpAcknowledgement: .recordOrderAcknowledgement
        case .erpDocument: .recordDocumentPosted
        case .stockDeltas: .applyStockDeltas
        case .stockSnapshot: .applyStockSnapshot
        case .feedAcknowledge: .acknowledge
        case .fulfillmentOptions: .getFulfillmentOptions
        case .reserveCart: .reserveCart
        case .extendCart: .extendCart
        case .releaseCart: .releaseCart
        case .getCart: .getCart
        case .expectedReceipts: .applyExpectedReceipts
        }
    }
}

public enum RPC: Int, CaseIterable, Sendable, Comparable {
    case captureOrder, getOrder, getAvailability, holdOrder, releaseHold, cancelOrder, cancelLines, releaseFulfillment
    case rejectFulfillment, confirmPick, confirmPack, confirmShipment, confirmDelivery, createReturn, receiveReturn
    case recordOrderAcknowledgement, recordDocumentPosted, applyStockDeltas, applyStockSnapshot, acknowledge, reconcile
    case editOrder
    case getFulfillmentOptions, reserveCart, extendCart, releaseCart, getCart
    case applyExpectedReceipts

    public var name: String {
        switch self {
        case .captureOrder: "CaptureOrder"
        case .getOrder: "GetOrder"
        case .getAvailability: "GetAvailability"
        case .holdOrder: "HoldOrder"
        case .releaseHold: "ReleaseHold"
        case .cancelOrder: "CancelOrder"
        case .cancelLines: "CancelLines"
        case .releaseFulfillment: "ReleaseFulfillment"
        case .rejectFulfillment: "RejectFulfillment"
        case .confirmPick: "ConfirmPick"
        case .confirmPack: "ConfirmPack"
        case .confirmShipment: "ConfirmShipment"
        case .confirmDelivery: "ConfirmDelivery"
        case .createReturn: "CreateReturn"
        case .receiveReturn: "ReceiveReturn"
        case .recordOrderAcknowledgement: "RecordOrderAcknowledgement"
        case .recordDocumentPosted: "RecordDocumentPosted"
        case .applyStockDeltas: "ApplyStockDeltas"
        case .applyStockSnapshot: "ApplyStockSnapshot"
        case .acknowledge: "Acknowledge"
        case .reconcile: "Reconcile"
        case .editOrder: "EditOrder"
        case .getFulfillmentOptions: "GetFulfillmentOptions"
        case .reserveCart: "ReserveCart"
        case .extendCart: "ExtendCart"
        case .releaseCart: "ReleaseCart"
        case .getCart: "GetCart"
        case .applyExpectedReceipts: "ApplyExpectedReceipts"
        }
    }
    public static func < (a: RPC, b: RPC) -> Bool { a.rawValue < b.rawValue }
}

/// What a call came back with.
public enum SimReply: Sendable {
    case order(Order, replayed: Bool)
    case applied(replayed: Bool, corrections: Int)
    case available(Int64)
    /// GetFulfillmentOptions of one cart: its options as the shopper sees them.
    case options([OptionQuote])
    /// A cart command's answer (or GetCart's).
    case cart(Cart, replayed: Bool)
    case notFound
    /// A definite failure: a gRPC status name ("FAILED_PRECONDITION") and its message.
    case failed(code: String, message: String)
    /// No answer within the client's deadline: the outcome is unknown.
    case timedOut
}

/// A change-feed event as a consumer sees it.
public struct FeedEvent: Sendable {
    public var offset: UInt64
    public var type: String
    public var aggregateType: String
    public var aggregateSequence: Int64
    /// Waybill's clock when it happened (virtual in-process, wall clock live).
    public var occurredAt: Int64
    public var order: Order?
    public var key: InventoryKey?
    public var fulfillmentID: String
    public var returnID: String
    /// A cart event's cart after the change.
    public var cart: Cart?

    public init(offset: UInt64, type: String, aggregateType: String, aggregateSequence: Int64, occurredAt: Int64,
                order: Order?, key: InventoryKey?, fulfillmentID: String, returnID: String, cart: Cart? = nil) {
        self.cart = cart
        self.offset = offset
        self.type = type
        self.aggregateType = aggregateType
        self.aggregateSequence = aggregateSequence
        self.occurredAt = occurredAt
        self.order = order
        self.key = key
        self.fulfillmentID = fulfillmentID
        self.returnID = returnID
    }
}

public enum FeedConsumer: Int, Sendable {
    /// The simulated warehouses and stores: learn their fulfillments from the feed.
    case wms = 0
    /// The simulated ERP.
    case erp = 1

    public var name: String { self == .wms ? "sim-wms" : "sim-erp" }
}

/// The driver seen from the model.
protocol Gateway: AnyObject {
    var isLive: Bool { get }
    /// Sends call `id` as `actor` (live: with the actor's credential). The in-process driver
    /// answers at once; the live driver answers nil and delivers the reply later through
    /// `SimulationModel.complete`.
    func send(_ id: Int32, _ request: SimRequest, as actor: SimActor, intendedAt virtualTime: Int64) -> SimReply?
    /// Virtual time a timed-out call costs before the client notices (in-process: the timeout;
    /// live: 0, the reply itself arrives after the real timeout).
    var timeoutPenaltyMilliseconds: Int64 { get }
    /// The shortest interval between the ERP's polls, in virtual ms (live: 50 ms of wall time).
    var pollFloorMilliseconds: Int64 { get }
    /// Change-feed events produced since the last call (in-process; the live driver delivers them itself).
    func drainFeed() -> [FeedEvent]
    /// Waybill's clock at virtual time `virtualTime` (snapshot as-of times).
    func serverTime(_ virtualTime: Int64) -> Int64
    /// Milliseconds of Waybill's clock per millisecond of the duration reported for it (sync lag):
    /// 1 where Waybill's clock is the reported one, the time scale where an embedded server runs
    /// on the compressed virtual clock (lag is reported in wall milliseconds there).
    var serverClockScale: Double { get }
    /// In-process: releases the carts past their deadline at `virtualTime`, as the server's sweep
    /// does on its own (live: nothing, the server does it).
    func sweepCarts(at virtualTime: Int64)
    /// In-process: a number that changes with every write to Waybill (its change-feed head), so
    /// the model can prove state unchanged between two calls; nil live, where it cannot.
    var writeMark: UInt64? { get }
    /// The virtual time at which Waybill's clock reads `serverTime` (`now`: the model's time).
    func virtualTime(ofServerTime serverTime: Int64, now: Int64) -> Int64
}

extension Gateway {
    var serverClockScale: Double { 1 }
    func sweepCarts(at virtualTime: Int64) {}
    var writeMark: UInt64? { nil }
    func virtualTime(ofServerTime serverTime: Int64, now: Int64) -> Int64 { serverTime }
}

/// The clock of an embedded server in a live run: virtual time compressed by the time scale,
/// anchored when the run starts (before that it stands at the scenario's start). Waybill decides
/// by its clock's days (processing days and cut-offs, promised dates, daily capacity), so its
/// days must be the simulated ones, not the few wall minutes a compressed run takes.
final class CompressedClock: Sendable {
    let virtualStart: Int64
    let scale: Double
    private let anchor = Atomic<UInt64>(0)
    /// Virtual milliseconds skipped by `jump` (a live drain with nothing to wait for).
    private let skipped = Atomic<Int64>(0)

    init(virtualStart: Int64, scale: Double) {
        self.virtualStart = virtualStart
        self.scale = scale
    }

    /// Starts the clock: virtual time `virtualStart` at wall (monotonic) time `wallNanoseconds`.
    func start(at wallNanoseconds: UInt64) { anchor.store(wallNanoseconds, ordering: .releasing) }

    /// Unix milliseconds.
    func now() -> Int64 {
        let anchored = anchor.load(ordering: .acquiring)
        guard anchored > 0 else { return virtualStart }
        let elapsed = wallNanoseconds() &- anchored
        return virtualStart + skipped.load(ordering: .acquiring) + Int64(Double(elapsed) / 1e6 * scale)
    }

    /// Moves the clock forward to `virtualTime` at once (never back); returns the milliseconds skipped.
    @discardableResult
    func jump(to virtualTime: Int64) -> Int64 {
        let gap = virtualTime - now()
        guard gap > 0 else { return 0 }
        skipped.add(gap, ordering: .acquiringAndReleasing)
        return gap
    }

    var skippedMilliseconds: Int64 { skipped.load(ordering: .acquiring) }
}
