// The order aggregate: what a channel sends (OrderDraft) and what Waybill keeps (Order).

public enum FulfillmentMethod: Int, Hashable, Sendable {
    case ship = 1
    case pickup = 2
}

public enum ServiceLevel: Int, CaseIterable, Hashable, Sendable {
    case standard = 1
    case expedited = 2
    case nextDay = 3

    /// Days from the processing day to delivery that the service level promises.
    public var promisedTransitDays: Int32 {
        switch self {
        case .standard: 5
        case .expedited: 2
        case .nextDay: 1
        }
    }
}

public struct RequestedFulfillment: Hashable, Sendable {
    public var method: FulfillmentMethod = .ship
    public var pickupLocationID: LocationID?
    public var serviceLevel: ServiceLevel = .standard
    public init(method: FulfillmentMethod = .ship, pickupLocationID: LocationID? = nil, serviceLevel: ServiceLevel = .standard) {
        self.method = method
        self.pickupLocationID = pickupLocationID
        self.serviceLevel = serviceLevel
    }
}

public enum HoldReason: Int, CaseIterable, Hashable, Sendable {
    case payment = 1
    case fraud = 2
    case address = 3
    case customerRequest = 4
    case other = 5
    /// Placed by Waybill at capture on a line whose SKU the item master lacks (a channel whose
    /// `unknownItems` setting is `.hold`); lifted by Waybill when the items arrive, never by a client.
    case itemUnknown = 6

    public var name: String {
        switch self {
        case .payment: "payment"
        case .fraud: "fraud"
        case .address: "address"
        case .customerRequest: "customer_request"
        case .other: "other"
        case .itemUnknown: "item_unknown"
        }
    }

    /// Holds a client may place and release (ITEM_UNKNOWN is Waybill's own).
    public var isClientHold: Bool { self != .itemUnknown }
}

public struct Hold: Hashable, Sendable {
    public var reason: HoldReason
    public var note: String
    public var placedAt: Timestamp
    public init(reason: HoldReason, note: String = "", placedAt: Timestamp = .zero) {
        self.reason = reason
        self.note = note
        self.placedAt = placedAt
    }
}

public struct DraftLine: Hashable, Sendable {
    public var lineID: String
    public var sku: SKU
    public var quantity: Int32
    public var unitPrice: Money
    public init(lineID: String, sku: SKU, quantity: Int32, unitPrice: Money) {
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
        self.unitPrice = unitPrice
    }
}

/// What a channel submits to CaptureOrder. Equality of drafts decides whether a capture retry
/// with the same (channel, external order id) is the same order or a conflicting one.
public struct OrderDraft: Hashable, Sendable {
    public var channel: Channel?
    public var externalOrderID: String = ""
    public var customer = Customer()
    public var shipTo = Address()
    public var lines: [DraftLine] = []
    public var fulfillment = RequestedFulfillment()
    public var createdAt: Timestamp = .zero
    public var holds: [Hold] = []
    public var attributes: [String: String] = [:]
    /// The checkout cart whose reservations the capture converts (same channel); nil: none.
    public var cartID: String?
    /// Set by Waybill only, for an exchange's replacement (Engine+Exchanges.swift): part of the
    /// content a capture retry is compared with, so a channel's own capture cannot pose as one.
    public var exchangeOf: ExchangeLink?
    public init() {}
}

/// Where each unit of a line is. ordered = cancelled + backordered + allocated + shipped, and
/// allocated counts units in fulfillments that have not shipped (released, picked and packed
/// are subsets of allocated).
public struct LineQuantities: Hashable, Sendable {
    public var cancelled: Int32 = 0
    public var backordered: Int32 = 0
    public var allocated: Int32 = 0
    public var released: Int32 = 0
    public var picked: Int32 = 0
    public var packed: Int32 = 0
    public var shipped: Int32 = 0
    public var delivered: Int32 = 0
    public var returnRequested: Int32 = 0
    public var returned: Int32 = 0
    public init() {}
}

public enum LineStatus: Int, CaseIterable, Hashable, Sendable {
    case captured = 1, allocated, partiallyAllocated, backordered, released, picked, packed
    case partiallyShipped, shipped, partiallyDelivered, delivered, cancelled, partiallyReturned, returned
}

public struct OrderLine: Hashable, Sendable {
    public var lineID: String
    public var sku: SKU
    public var quantity: Int32
    public var unitPrice: Money
    public var quantities = LineQuantities()
    /// Units accepted at capture against expected supply (a pre-order) still waiting, as
    /// backordered: it falls as they are allocated, and never rises again after capture.
    public var preordered: Int32 = 0
    /// For backordered units: the date of the expected receipt that covers them (serving waiting
    /// orders in capture order) and the delivery promised from it; zero when none covers them.
    public var expectedSupplyAt: Timestamp = .zero
    public var backorderPromisedAt: Timestamp = .zero

    public init(_ draft: DraftLine) {
        lineID = draft.lineID
        sku = draft.sku
        quantity = draft.quantity
        unitPrice = draft.unitPrice
    }

    /// Units neither cancelled nor shipped: what may still be cancelled or allocated.
    public var openQuantity: Int32 { quantity - quantities.cancelled - quantities.shipped }
    /// Units not cancelled.
    public var activeQuantity: Int32 { quantity - quantities.cancelled }

    public var status: LineStatus {
        let q = quantities
        let active = activeQuantity
        if active == 0 { return .cancelled }
        if q.returned > 0 { return q.returned >= q.shipped && q.shipped == active ? .returned : .partiallyReturned }
        if q.delivered > 0 { return q.delivered == active ? .delivered : .partiallyDelivered }
        if q.shipped > 0 { return q.shipped == active ? .shipped : .partiallyShipped }
        if q.allocated == active {
            if q.packed == active { return .packed }
            if q.picked == active { return .picked }
            if q.released == active { return .released }
            return .allocated
        }
        if q.backordered == active { return .backordered }
        if q.allocated > 0 { return .partiallyAllocated }
        return .captured
    }
}

public enum FulfillmentStatus: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case created = 1, released, picked, packed, shipped, delivered, rejected, cancelled

    public var description: String {
        switch self {
        case .created: "CREATED"
        case .released: "RELEASED"
        case .picked: "PICKED"
        case .packed: "PACKED"
        case .shipped: "SHIPPED"
        case .delivered: "DELIVERED"
        case .rejected: "REJECTED"
        case .cancelled: "CANCELLED"
        }
    }
    /// Reserved stock is held for the fulfillment's lines.
    public var holdsReservation: Bool { self == .created || self == .released || self == .picked || self == .packed }
    public var isTerminal: Bool { self == .delivered || self == .rejected || self == .cancelled }
}

public struct FulfillmentLine: Hashable, Sendable {
    public var lineID: String
    public var sku: SKU
    public var quantity: Int32
    public init(lineID: String, sku: SKU, quantity: Int32) {
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
    }
}

public struct Fulfillment: Hashable, Sendable {
    public var fulfillmentID: String
    public var locationID: LocationID
    public var method: FulfillmentMethod
    public var status: FulfillmentStatus = .created
    public var lines: [FulfillmentLine]
    public var carrierID: String = ""
    public var carrierService: String = ""
    public var trackingNumber: String = ""
    public var shippingCostEstimate: Money?
    public var transitDaysEstimate: Int32 = 0
    public var processingDay: Int64
    public var createdAt: Timestamp
    public var releasedAt: Timestamp = .zero
    public var shippedAt: Timestamp = .zero
    public var deliveredAt: Timestamp = .zero
    public var promisedDeliveryAt: Timestamp = .zero
    public var rejectionReason: String = ""
    public var routingDecisionIndex: Int32 = 0

    public init(fulfillmentID: String, locationID: LocationID, method: FulfillmentMethod, lines: [FulfillmentLine],
                processingDay: Int64, createdAt: Timestamp) {
        self.fulfillmentID = fulfillmentID
        self.locationID = locationID
        self.method = method
        self.lines = lines
        self.processingDay = processingDay
        self.createdAt = createdAt
    }

    public var units: Int32 { lines.reduce(0) { $0 + $1.quantity } }
}

public enum Disposition: Int, Hashable, Sendable {
    case restock = 1
    case dispose = 2
}

public struct ReturnLine: Hashable, Sendable {
    public var lineID: String
    public var quantity: Int32
    public var disposition: Disposition?
    public init(lineID: String, quantity: Int32, disposition: Disposition? = nil) {
        self.lineID = lineID
        self.quantity = quantity
        self.disposition = disposition
    }
}

public enum ReturnStatus: Int, Hashable, Sendable {
    case requested = 1
    case received = 2
}

public struct Return: Hashable, Sendable {
    public var returnID: String
    public var status: ReturnStatus = .requested
    public var lines: [ReturnLine]
    public var received: [ReturnLine] = []
    public var reason: String
    public var receivedAtLocationID: LocationID?
    public var refund: Money?
    public var requestedAt: Timestamp
    public var receivedAt: Timestamp = .zero
    /// Set when the return is an exchange.
    public var exchange: Exchange?

    public init(returnID: String, lines: [ReturnLine], reason: String, requestedAt: Timestamp) {
        self.returnID = returnID
        self.lines = lines
        self.reason = reason
        self.requestedAt = requestedAt
    }
}

/// What a capture said about the fields EditOrder can change (kept once an order is edited).
public struct CapturedContent: Hashable, Sendable {
    public var shipTo: Address
    public var lines: [DraftLine]
    public var fulfillment: RequestedFulfillment
    public init(shipTo: Address, lines: [DraftLine], fulfillment: RequestedFulfillment) {
        self.shipTo = shipTo
        self.lines = lines
        self.fulfillment = fulfillment
    }
}

public struct HistoryEntry: Hashable, Sendable {
    public var at: Timestamp
    public var action: String
    public var reason: String
    public var clientID: String
    public var requestID: String
    public var detail: String
    public var version: Int64

    public init(at: Timestamp, action: String, reason: String, clientID: String, requestID: String, detail: String, version: Int64) {
        self.at = at
        self.action = action
        self.reason = reason
        self.clientID = clientID
        self.requestID = requestID
        self.detail = detail
        self.version = version
    }
}

public struct LocationDecision: Hashable, Sendable {
    /// Why a location was chosen or passed over, for programs; `reason` says it (with figures) for people.
    public enum Code: Int32, Hashable, Sendable, CaseIterable {
        /// A decision recorded before codes existed.
        case unspecified = 0
        case chosen = 1
        /// A candidate another plan outranked (fewer lines covered, or a worse score).
        case outranked = 2
        /// The entry summarising decisions past routingExplanationLocationsMax (location id "*").
        case summarised = 3
        case unknownLocation = 4
        case inactive = 5
        /// Rejected this order before (a re-route after a rejection).
        case excluded = 6
        case doesNotShip = 7
        case doesNotServePickup = 8
        case noAvailableStock = 9
        case capacityExhausted = 10
        case noCarrierCapacity = 11
        case pickupStoreHasNoStock = 12
        /// Filtered by a filter of the routing policy (the reason names which).
        case policyLocationType = 13
        case policyRegion = 14
        case policyChannel = 15
        case policyCapacityLeft = 16
        case policyStock = 17
        case policyDistance = 18
    }

    public var locationID: LocationID
    public var chosen: Bool
    public var code: Code
    public var reason: String
    public var score: Double

    public init(locationID: LocationID, chosen: Bool, code: Code, reason: String, score: Double) {
        self.locationID = locationID
        self.chosen = chosen
        self.code = code
        self.reason = reason
        self.score = score
    }
}

public struct RoutingDecision: Hashable, Sendable {
    public var policyVersion: Int64
    public var decidedAt: Timestamp
    public var trigger: String
    public var locations: [LocationDecision]
    public var shipments: Int32
    public var totalCostEstimate: Money?
    public var backorderedUnits: Int32
    public var candidateSetsExamined: Int32
    public var searchTruncated: Bool
    /// "" when distances were measured from the ship-to's own coordinates; otherwise what they were
    /// measured from ("destination approximated from city centroid Seattle, WA") or that they could not be.
    public var destinationApproximation: String

    public init(policyVersion: Int64, decidedAt: Timestamp, trigger: String, locations: [LocationDecision], shipments: Int32,
                totalCostEstimate: Money?, backorderedUnits: Int32, candidateSetsExamined: Int32, searchTruncated: Bool,
                destinationApproximation: String = "") {
        self.policyVersion = policyVersion
        self.decidedAt = decidedAt
        self.trigger = trigger
        self.locations = locations
        self.shipments = shipments
        self.totalCostEstimate = totalCostEstimate
        self.backorderedUnits = backorderedUnits
        self.candidateSetsExamined = candidateSetsExamined
        self.searchTruncated = searchTruncated
        self.destinationApproximation = destinationApproximation
    }
}

public enum ErpPostingStatus: Int, Hashable, Sendable {
    case pending = 1, posted, failed
}

public struct ErpDocument: Hashable, Sendable {
    public var kind: String
    public var documentNumber: String
    public var amount: Money?
    public var postedAt: Timestamp
    public init(kind: String, documentNumber: String, amount: Money?, postedAt: Timestamp) {
        self.kind = kind
        self.documentNumber = documentNumber
        self.amount = amount
        self.postedAt = postedAt
    }
}

public struct ErpOrderState: Hashable, Sendable {
    public var documentNumber: String = ""
    public var postingStatus: ErpPostingStatus?
    public var acknowledgedAt: Timestamp = .zero
    public var documents: [ErpDocument] = []
    public init() {}
}

public enum OrderStatus: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case captured = 1, onHold, allocated, partiallyAllocated, backordered, released, picked, packed
    case partiallyShipped, shipped, partiallyDelivered, delivered, cancelled, partiallyReturned, returned
    case partiallyReleased

    public var description: String {
        switch self {
        case .captured: "CAPTURED"
        case .onHold: "ON_HOLD"
        case .allocated: "ALLOCATED"
        case .partiallyAllocated: "PARTIALLY_ALLOCATED"
        case .backordered: "BACKORDERED"
        case .released: "RELEASED"
        case .picked: "PICKED"
        case .packed: "PACKED"
        case .partiallyShipped: "PARTIALLY_SHIPPED"
        case .shipped: "SHIPPED"
        case .partiallyDelivered: "PARTIALLY_DELIVERED"
        case .delivered: "DELIVERED"
        case .cancelled: "CANCELLED"
        case .partiallyReturned: "PARTIALLY_RETURNED"
        case .returned: "RETURNED"
        case .partiallyReleased: "PARTIALLY_RELEASED"
        }
    }

    /// Nothing more will happen to the order without a new request (a return may still come).
    public var isTerminal: Bool {
        self == .delivered || self == .cancelled || self == .returned || self == .partiallyReturned
    }
}

public struct Order: Hashable, Sendable {
    /// The order's stored fields.
    struct Fields: Hashable, Sendable {
        var orderID: OrderID
        var channel: Channel
        var externalOrderID: String
        var customer: Customer
        var shipTo: Address
        var lines: [OrderLine]
        var requestedFulfillment: RequestedFulfillment
        var createdAt: Timestamp
        var capturedAt: Timestamp
        var updatedAt: Timestamp
        var holds: [Hold]
        var fulfillments: [Fulfillment] = []
        var routingDecisions: [RoutingDecision] = []
        var returns: [Return] = []
        var history: [HistoryEntry] = []
        var erp = ErpOrderState()
        var version: Int64 = 0
        var attributes: [String: String]
        var excludedLocationIDs: [LocationID] = []
        var captureSequence: Int64
        var cartID: String?
        var capturedContent: CapturedContent?
        var exchangeOf: ExchangeLink?
    }

    /// The fields live behind one reference, copied on write (as Array's elements are): an order
    /// passes through results, events, caches and the simulator's storage many times per
    /// command, and copying one is a retain instead of one per string and array in it (~25).
    final class Box: @unchecked Sendable {
        // Mutated only through `fields`' modify accessor, which first makes the box unique to
        // the value being changed: a shared box is never written, so sharing across threads is safe.
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var fields: Fields {
        get { box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    public static func == (lhs: Order, rhs: Order) -> Bool { lhs.box === rhs.box || lhs.box.fields == rhs.box.fields }
    public func hash(into hasher: inout Hasher) { box.fields.hash(into: &hasher) }

    public var orderID: OrderID { get { box.fields.orderID } _modify { yield &fields.orderID } }
    public var channel: Channel { get { box.fields.channel } _modify { yield &fields.channel } }
    public var externalOrderID: String { get { box.fields.externalOrderID } _modify { yield &fields.externalOrderID } }
    public var customer: Customer { get { box.fields.customer } _modify { yield &fields.customer } }
    public var shipTo: Address { get { box.fields.shipTo } _modify { yield &fields.shipTo } }
    public var lines: [OrderLine] { get { box.fields.lines } _modify { yield &fields.lines } }
    public var requestedFulfillment: RequestedFulfillment {
        get { box.fields.requestedFulfillment }
        _modify { yield &fields.requestedFulfillment }
    }
    public var createdAt: Timestamp { get { box.fields.createdAt } _modify { yield &fields.createdAt } }
    public var capturedAt: Timestamp { get { box.fields.capturedAt } _modify { yield &fields.capturedAt } }
    public var updatedAt: Timestamp { get { box.fields.updatedAt } _modify { yield &fields.updatedAt } }
    public var holds: [Hold] { get { box.fields.holds } _modify { yield &fields.holds } }
    public var fulfillments: [Fulfillment] { get { box.fields.fulfillments } _modify { yield &fields.fulfillments } }
    public var routingDecisions: [RoutingDecision] { get { box.fields.routingDecisions } _modify { yield &fields.routingDecisions } }
    public var returns: [Return] { get { box.fields.returns } _modify { yield &fields.returns } }
    public var history: [HistoryEntry] { get { box.fields.history } _modify { yield &fields.history } }
    public var erp: ErpOrderState { get { box.fields.erp } _modify { yield &fields.erp } }
    public var version: Int64 { get { box.fields.version } _modify { yield &fields.version } }
    public var attributes: [String: String] { get { box.fields.attributes } _modify { yield &fields.attributes } }
    public var excludedLocationIDs: [LocationID] { get { box.fields.excludedLocationIDs } _modify { yield &fields.excludedLocationIDs } }
    /// Position in capture order; backorders are served oldest first by it.
    public var captureSequence: Int64 { get { box.fields.captureSequence } _modify { yield &fields.captureSequence } }
    /// The checkout cart it was captured from, if any.
    public var cartID: String? { get { box.fields.cartID } _modify { yield &fields.cartID } }
    /// The editable content as captured, kept from the first edit on (nil: never edited).
    public var capturedContent: CapturedContent? { get { box.fields.capturedContent } _modify { yield &fields.capturedContent } }
    /// On an exchange's replacement: the original order and return.
    public var exchangeOf: ExchangeLink? { get { box.fields.exchangeOf } _modify { yield &fields.exchangeOf } }

    public init(id: OrderID, draft: OrderDraft, capturedAt: Timestamp, captureSequence: Int64) {
        precondition(draft.channel != nil, "drafts are validated before they become orders")
        box = Box(Fields(
            orderID: id, channel: draft.channel!, externalOrderID: draft.externalOrderID, customer: draft.customer,
            shipTo: draft.shipTo, lines: draft.lines.map(OrderLine.init), requestedFulfillment: draft.fulfillment,
            createdAt: draft.createdAt, capturedAt: capturedAt, updatedAt: capturedAt,
            holds: draft.holds.map { Hold(reason: $0.reason, note: $0.note, placedAt: capturedAt) },
            attributes: draft.attributes, captureSequence: captureSequence, cartID: draft.cartID, exchangeOf: draft.exchangeOf))
    }

    /// The draft this order was captured from, for comparing capture retries.
    public var draft: OrderDraft {
        var draft = OrderDraft()
        draft.channel = channel
        draft.externalOrderID = externalOrderID
        draft.customer = customer
        draft.shipTo = shipTo
        draft.lines = lines.map { DraftLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity, unitPrice: $0.unitPrice) }
        draft.fulfillment = requestedFulfillment
        draft.createdAt = createdAt
        draft.attributes = attributes
        draft.cartID = cartID
        draft.exchangeOf = exchangeOf
        return draft
    }

    /// The draft this order was captured from, before any edit: what a capture retry must match.
    public var capturedDraft: OrderDraft {
        var draft = self.draft
        if let captured = capturedContent {
            draft.shipTo = captured.shipTo
            draft.lines = captured.lines
            draft.fulfillment = captured.fulfillment
        }
        return draft
    }

    public var isOnHold: Bool { !holds.isEmpty }
    /// Captured while the item master lacked some of its SKUs: waits, reserving nothing, for them.
    public var waitsForItems: Bool { holds.contains { $0.reason == .itemUnknown } }
    public var backorderedUnits: Int32 { lines.reduce(0) { $0 + $1.quantities.backordered } }

    /// Promises the backordered units of `sku` from a receipt expected at `expectedAt` (nil: no
    /// expected supply covers them). Returns whether anything changed.
    @discardableResult
    public mutating func promiseBackorders(of sku: SKU, expectedAt: Timestamp?) -> Bool {
        let promised = expectedAt.map { SupplyPromise.promisedDelivery(expectedAt: $0, fulfillment: requestedFulfillment) } ?? .zero
        var changed = false
        for index in lines.indices where lines[index].sku == sku && lines[index].quantities.backordered > 0 {
            if lines[index].expectedSupplyAt != (expectedAt ?? .zero) || lines[index].backorderPromisedAt != promised {
                lines[index].expectedSupplyAt = expectedAt ?? .zero
                lines[index].backorderPromisedAt = promised
                changed = true
            }
        }
        return changed
    }
    /// Units this order holds reserved at locations (in fulfillments not yet shipped).
    public var reservedUnits: Int64 {
        var units: Int64 = 0
        for fulfillment in fulfillments where fulfillment.status.holdsReservation {
            for line in fulfillment.lines { units += Int64(line.quantity) }
        }
        return units
    }
    public var currency: String { lines.first?.unitPrice.currency ?? "USD" }

    public func lineIndex(_ lineID: String) -> Int? { lines.firstIndex { $0.lineID == lineID } }
    public func fulfillmentIndex(_ fulfillmentID: String) -> Int? {
        fulfillments.firstIndex { $0.fulfillmentID == fulfillmentID }
    }

    public var status: OrderStatus {
        var active: Int32 = 0, cancelled: Int32 = 0, backordered: Int32 = 0, allocated: Int32 = 0
        var released: Int32 = 0, picked: Int32 = 0, packed: Int32 = 0, shipped: Int32 = 0
        var delivered: Int32 = 0, returned: Int32 = 0
        for line in lines {
            let q = line.quantities
            active += line.activeQuantity
            cancelled += q.cancelled
            backordered += q.backordered
            allocated += q.allocated
            released += q.released
            picked += q.picked
            packed += q.packed
            shipped += q.shipped
            delivered += q.delivered
            returned += q.returned
        }
        if active == 0 { return .cancelled }
        if !holds.isEmpty && shipped < active { return .onHold }
        if returned > 0 { return returned >= shipped && shipped == active ? .returned : .partiallyReturned }
        if delivered > 0 { return delivered == active ? .delivered : .partiallyDelivered }
        if shipped > 0 { return shipped == active ? .shipped : .partiallyShipped }
        if allocated == active {
            if packed == active { return .packed }
            if picked == active { return .picked }
            if released == active { return .released }
            if released > 0 { return .partiallyReleased }
            return .allocated
        }
        if backordered == active { return .backordered }
        if allocated > 0 { return .partiallyAllocated }
        return .captured
    }

    /// Recomputes the fulfillment- and return-derived part of every line's quantities.
    /// Cancelled and backordered units are the line's own record; everything else is derived
    /// here after each transition so the breakdown can never drift from the fulfillments.
    public mutating func recomputeLineQuantities() {
        var index: [String: Int] = [:]
        for (position, line) in lines.enumerated() {
            index[line.lineID] = position
            let kept = line.quantities
            var q = LineQuantities()
            q.cancelled = kept.cancelled
            q.backordered = kept.backordered
            lines[position].quantities = q
            // Pre-ordered units are those still waiting: once allocated they are the order's like any
            // other (a rejection later puts them back as plain backorders, outside the item's cap).
            if line.preordered > q.backordered { lines[position].preordered = q.backordered }
            // A promise from expected supply is about backordered units only.
            if q.backordered == 0 && line.expectedSupplyAt != .zero {
                lines[position].expectedSupplyAt = .zero
                lines[position].backorderPromisedAt = .zero
            }
        }
        for fulfillment in fulfillments {
            for fl in fulfillment.lines {
                guard let position = index[fl.lineID] else { continue }
                var q = lines[position].quantities
                switch fulfillment.status {
                case .created: q.allocated += fl.quantity
                case .released: q.allocated += fl.quantity; q.released += fl.quantity
                case .picked: q.allocated += fl.quantity; q.released += fl.quantity; q.picked += fl.quantity
                case .packed:
                    q.allocated += fl.quantity; q.released += fl.quantity; q.picked += fl.quantity; q.packed += fl.quantity
                case .shipped: q.shipped += fl.quantity
                case .delivered: q.shipped += fl.quantity; q.delivered += fl.quantity
                case .rejected, .cancelled: break
                }
                lines[position].quantities = q
            }
        }
        for ret in returns {
            switch ret.status {
            case .requested:
                for rl in ret.lines { if let p = index[rl.lineID] { lines[p].quantities.returnRequested += rl.quantity } }
            case .received:
                for rl in ret.received { if let p = index[rl.lineID] { lines[p].quantities.returned += rl.quantity } }
            }
        }
        for line in lines {
            let q = line.quantities
            precondition(q.cancelled + q.backordered + q.allocated + q.shipped == line.quantity,
                         "line \(line.lineID): quantities \(q) do not add up to \(line.quantity)")
        }
    }
}
