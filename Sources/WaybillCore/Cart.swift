// A checkout cart that holds stock: what it holds, until when, and the book of open carts the
// engine expires at their deadlines.

public struct CartKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var channel: Channel
    public var cartID: String
    public init(channel: Channel, cartID: String) {
        self.channel = channel
        self.cartID = cartID
    }
    /// "web/checkout-42": the cart's change-feed aggregate id and its ledger reference.
    public var description: String { "\(channel.name)/\(cartID)" }
    public static func < (lhs: CartKey, rhs: CartKey) -> Bool {
        (lhs.channel.rawValue, lhs.cartID) < (rhs.channel.rawValue, rhs.cartID)
    }
    /// The `reference` of its ledger movements and capacity rows.
    public var ledgerReference: String { "cart:\(description)" }
}

public enum CartStatus: Int, Hashable, Sendable {
    case active = 1
    case released = 2
    case expired = 3
    case converted = 4

    public var name: String {
        switch self {
        case .active: "ACTIVE"
        case .released: "RELEASED"
        case .expired: "EXPIRED"
        case .converted: "CONVERTED"
        }
    }
}

/// What a ReserveCart asks for.
public struct CartDraft: Hashable, Sendable {
    public var key: CartKey
    public var lines: [DraftLine]
    public var shipTo: Address
    public var fulfillment: RequestedFulfillment
    public var ttlMilliseconds: Int64
    public init(key: CartKey, lines: [DraftLine], shipTo: Address = Address(), fulfillment: RequestedFulfillment = RequestedFulfillment(),
                ttlMilliseconds: Int64) {
        self.key = key
        self.lines = lines
        self.shipTo = shipTo
        self.fulfillment = fulfillment
        self.ttlMilliseconds = ttlMilliseconds
    }
}

public struct Cart: Hashable, Sendable {
    public var key: CartKey
    public var lines: [DraftLine]
    public var shipTo: Address
    public var fulfillment: RequestedFulfillment
    public var status: CartStatus
    /// What it holds while active: the shipments a capture would make, their stock reserved and
    /// their capacity counted. Empty once it is not active.
    public var reservations: [PlannedShipment]
    /// Units it could not hold.
    public var unallocated: [LineQuantity]
    /// Why the router chose its reservations (becomes the order's decision when it converts as is).
    public var decision: RoutingDecision?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var expiresAt: Timestamp
    public var orderID: OrderID?
    public var version: Int64

    public init(key: CartKey, lines: [DraftLine], shipTo: Address, fulfillment: RequestedFulfillment, status: CartStatus,
                reservations: [PlannedShipment], unallocated: [LineQuantity], decision: RoutingDecision?, createdAt: Timestamp,
                updatedAt: Timestamp, expiresAt: Timestamp, orderID: OrderID?, version: Int64) {
        self.key = key
        self.lines = lines
        self.shipTo = shipTo
        self.fulfillment = fulfillment
        self.status = status
        self.reservations = reservations
        self.unallocated = unallocated
        self.decision = decision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.orderID = orderID
        self.version = version
    }

    /// The latest promise of what it holds.
    public var promisedDeliveryAt: Timestamp? { reservations.map(\.promisedDeliveryAt).max() }
    /// Units it holds.
    public var heldUnits: Int64 { reservations.reduce(0) { $0 + $1.lines.reduce(0) { $0 + Int64($1.quantity) } } }

    /// Whether an order draft asks for exactly what the cart holds for (its lines, destination and
    /// fulfillment): then the cart's reservations become the order's as they are.
    public func matches(_ draft: OrderDraft) -> Bool {
        draft.channel == key.channel && draft.lines == lines && draft.fulfillment == fulfillment
            && (fulfillment.method == .pickup || draft.shipTo == shipTo)
    }
}

/// The active carts, in memory (rebuilt from storage on start): by key, by deadline (earliest
/// first) and by the positions they hold stock at — every lookup the writer makes is O(log n) or
/// touches only the carts concerned, however many carts are open.
public struct CartBook: Sendable {
    public private(set) var active: [CartKey: Cart] = [:]
    /// (expiresAt, key) of every active cart, sorted.
    private var byDeadline: [(expiresAt: Timestamp, key: CartKey)] = []
    /// The active carts holding stock at each SKU × location.
    private var holders: [InventoryKey: Set<CartKey>] = [:]

    public init() {}

    public var count: Int { active.count }
    public subscript(key: CartKey) -> Cart? { active[key] }

    /// The earliest `expiresAt` among active carts (nil: none).
    public var nextDeadline: Timestamp? { byDeadline.first?.expiresAt }

    public mutating func put(_ cart: Cart) {
        if let previous = active.removeValue(forKey: cart.key) { unindex(previous) }
        guard cart.status == .active else { return }
        active[cart.key] = cart
        byDeadline.insert((cart.expiresAt, cart.key), at: Self.position(of: (cart.expiresAt, cart.key), in: byDeadline))
        for key in Self.positions(of: cart) { holders[key, default: []].insert(cart.key) }
    }

    private mutating func unindex(_ cart: Cart) {
        let at = Self.position(of: (cart.expiresAt, cart.key), in: byDeadline)
        if at < byDeadline.count && byDeadline[at].key == cart.key { byDeadline.remove(at: at) }
        for key in Self.positions(of: cart) {
            holders[key]?.remove(cart.key)
            if holders[key]?.isEmpty == true { holders[key] = nil }
        }
    }

    /// Active carts whose deadline is at or before `now`, earliest first, at most `limit`.
    public func due(at now: Timestamp, limit: Int) -> [CartKey] {
        byDeadline.prefix { $0.expiresAt <= now }.prefix(limit).map(\.key)
    }

    /// Active carts holding stock of `key.sku` at `key.locationID`.
    public func holding(_ key: InventoryKey) -> [Cart] {
        (holders[key] ?? []).compactMap { active[$0] }
    }

    private static func positions(of cart: Cart) -> Set<InventoryKey> {
        Set(cart.reservations.flatMap { shipment in shipment.lines.map { InventoryKey(sku: $0.sku, locationID: shipment.locationID) } })
    }

    /// The first index whose entry is not before `entry`.
    private static func position(of entry: (Timestamp, CartKey), in list: [(expiresAt: Timestamp, key: CartKey)]) -> Int {
        var low = 0, high = list.count
        while low < high {
            let middle = (low + high) / 2
            if (list[middle].expiresAt, list[middle].key) < entry { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
