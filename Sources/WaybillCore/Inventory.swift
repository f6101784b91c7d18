// Inventory balances, the movement ledger's vocabulary, and location/carrier capacity.

public struct Supply: Hashable, Sendable {
    public var quantity: Int32
    public var expectedAt: Timestamp
    public init(quantity: Int32, expectedAt: Timestamp) {
        self.quantity = quantity
        self.expectedAt = expectedAt
    }
}

public struct Balance: Hashable, Sendable {
    public var onHand: Int64 = 0
    public var reserved: Int64 = 0
    public var safetyStock: Int64 = 0
    public var incoming: [Supply] = []
    /// Sequence of this SKU × location's change-feed events.
    public var eventSequence: Int64 = 0

    public init(onHand: Int64 = 0, reserved: Int64 = 0, safetyStock: Int64 = 0) {
        self.onHand = onHand
        self.reserved = reserved
        self.safetyStock = safetyStock
    }

    /// Available to promise: on hand − reserved − safety stock, never negative.
    public var available: Int64 { max(0, onHand - reserved - safetyStock) }
}

public enum MovementKind: String, CaseIterable, Hashable, Sendable {
    case received
    case adjusted
    case reserved
    case released
    case shipped
    case returned
    /// On hand reset to an ERP count (variance-corrected).
    case snapshot
    case transferOut = "transfer_out"
    case transferIn = "transfer_in"
    /// Units a location could not find when it rejected a fulfillment.
    case writtenOff = "written_off"

    /// Movements that change physical stock, re-applied on top of a late ERP snapshot.
    public var changesOnHand: Bool {
        switch self {
        case .reserved, .released, .snapshot: false
        default: true
        }
    }
}

/// One row of the append-only inventory ledger.
public struct Movement: Hashable, Sendable {
    public var kind: MovementKind
    public var sku: SKU
    public var locationID: LocationID
    public var onHandDelta: Int64
    public var reservedDelta: Int64
    public var at: Timestamp
    public var orderID: OrderID?
    /// What caused it: a change id, a fulfillment id, an ERP message id.
    public var reference: String

    public init(kind: MovementKind, sku: SKU, locationID: LocationID, onHandDelta: Int64 = 0, reservedDelta: Int64 = 0,
                at: Timestamp, orderID: OrderID? = nil, reference: String = "") {
        self.kind = kind
        self.sku = sku
        self.locationID = locationID
        self.onHandDelta = onHandDelta
        self.reservedDelta = reservedDelta
        self.at = at
        self.orderID = orderID
        self.reference = reference
    }
}

public struct InventoryKey: Hashable, Comparable, Sendable {
    public var sku: SKU
    public var locationID: LocationID
    public init(sku: SKU, locationID: LocationID) {
        self.sku = sku
        self.locationID = locationID
    }
    public static func < (lhs: InventoryKey, rhs: InventoryKey) -> Bool {
        (lhs.sku, lhs.locationID) < (rhs.sku, rhs.locationID)
    }
}

/// Every balance, in memory, indexed by SKU then location. The single writer owns it; readers
/// get committed copies of the SKUs whose balances changed (`drainChangedSKUs`, `adopt`).
public struct InventoryBook: Sendable {
    public struct Entry: Hashable, Sendable {
        public var locationID: LocationID
        public var balance: Balance
        /// Where the location was in the routing network's site list when last told (-1: unknown).
        /// Only a hint: routing checks it against the site's id and falls back to a lookup, so a
        /// stale hint costs a hash, never a wrong answer. Not part of the entry's value.
        var siteHint: Int32 = -1

        public init(locationID: LocationID, balance: Balance) {
            self.locationID = locationID
            self.balance = balance
        }
        public static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.locationID == rhs.locationID && lhs.balance == rhs.balance }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(locationID)
            hasher.combine(balance)
        }
    }

    /// One SKU's balances, sorted by location id (deterministic iteration for routing), with the
    /// location ids also kept apart: finding a location scans 16-byte ids, a few per cache line,
    /// instead of whole entries (a cold SKU's entries are a cache miss each).
    struct Holdings: Sendable {
        var ids: [LocationID] = []
        var entries: [Entry] = []
        /// The change epoch in which this SKU was last listed as changed (see `changedSKUs`).
        var changedIn: UInt32 = 0
    }

    private var holdingsBySKU: [SKU: Holdings] = [:]
    /// SKUs with a balance changed since the last drain, each listed once: a SKU is listed when
    /// its `changedIn` is behind `changeEpoch`, and a drain starts a new epoch (no set to hash into).
    private var changedSKUs: [SKU] = []
    private var changeEpoch: UInt32 = 1
    /// The network's site positions, for the hints of entries created from now on.
    private var siteIndex: [LocationID: Int] = [:]

    public init() {}

    public var skuCount: Int { holdingsBySKU.count }

    public func entries(for sku: SKU) -> [Entry] { holdingsBySKU[sku]?.entries ?? [] }

    /// A book holding only `skus` (shares storage: cheap). For routing off the writer thread.
    public func subset(_ skus: some Sequence<SKU>) -> InventoryBook {
        var book = InventoryBook()
        for sku in skus { book.holdingsBySKU[sku] = holdingsBySKU[sku] }
        return book
    }

    /// Records where each location sits in the network's site list (after the network changed),
    /// so routing can go from an entry to its site without hashing the location id.
    public mutating func follow(_ network: NetworkState) {
        let index = network.siteIndex
        if index == siteIndex { return }
        siteIndex = index
        for sku in holdingsBySKU.keys {
            holdingsBySKU[sku]!.entries.withUnsafeMutableBufferPointer { entries in
                for position in entries.indices { entries[position].siteHint = Int32(index[entries[position].locationID] ?? -1) }
            }
        }
    }

    public func balance(_ sku: SKU, at location: LocationID) -> Balance {
        guard let holdings = holdingsBySKU[sku], let index = Self.search(holdings.ids, location) else { return Balance() }
        return holdings.entries[index].balance
    }

    public func available(_ sku: SKU, at location: LocationID) -> Int64 { balance(sku, at: location).available }

    /// The SKUs with a balance at `location`, in no particular order.
    public func skus(at location: LocationID) -> [SKU] {
        var result: [SKU] = []
        for (sku, holdings) in holdingsBySKU where Self.search(holdings.ids, location) != nil { result.append(sku) }
        return result
    }

    /// All balances, sorted by (SKU, location).
    public var allBalances: [(InventoryKey, Balance)] {
        var result: [(InventoryKey, Balance)] = []
        for sku in holdingsBySKU.keys.sorted() {
            for entry in holdingsBySKU[sku]!.entries { result.append((InventoryKey(sku: sku, locationID: entry.locationID), entry.balance)) }
        }
        return result
    }

    /// Applies a ledger movement. The caller has checked it keeps the balance valid.
    public mutating func apply(_ movement: Movement) {
        update(movement.sku, movement.locationID) { balance in
            balance.onHand += movement.onHandDelta
            balance.reserved += movement.reservedDelta
            precondition(balance.reserved >= 0, "reserved went negative for \(movement.sku)@\(movement.locationID)")
        }
    }

    /// Applies a reservation movement whose units the caller (routing) found available, trapping
    /// if they are not (a routing bug): one lookup for the check and the change.
    public mutating func reserve(_ movement: Movement) {
        update(movement.sku, movement.locationID) { balance in
            precondition(balance.available >= movement.reservedDelta,
                         "routing planned more \(movement.sku) at \(movement.locationID) than is available")
            balance.reserved += movement.reservedDelta
        }
    }

    public mutating func update(_ sku: SKU, _ location: LocationID, _ body: (inout Balance) -> Void) {
        let epoch = changeEpoch
        let listed = Self.modify(&holdingsBySKU[sku, default: Holdings()], location, siteIndex: siteIndex, epoch: epoch, body)
        if !listed { changedSKUs.append(sku) }
    }

    /// Changes one balance (creating it if new); returns whether its SKU was already listed as
    /// changed in `epoch`, marking it listed.
    private static func modify(_ holdings: inout Holdings, _ location: LocationID, siteIndex: [LocationID: Int], epoch: UInt32,
                               _ body: (inout Balance) -> Void) -> Bool {
        if let index = search(holdings.ids, location) {
            holdings.entries.withUnsafeMutableBufferPointer { entries in body(&entries[index].balance) }
        } else {
            var balance = Balance()
            body(&balance)
            let insertAt = holdings.ids.firstIndex { $0 > location } ?? holdings.ids.endIndex
            var entry = Entry(locationID: location, balance: balance)
            entry.siteHint = Int32(siteIndex[location] ?? -1)
            holdings.ids.insert(location, at: insertAt)
            holdings.entries.insert(entry, at: insertAt)
        }
        if holdings.changedIn == epoch { return true }
        holdings.changedIn = epoch
        return false
    }

    /// Bumps and returns the next change-feed sequence of a SKU × location.
    public mutating func nextEventSequence(_ sku: SKU, _ location: LocationID) -> Int64 {
        var sequence: Int64 = 0
        update(sku, location) { balance in
            balance.eventSequence += 1
            sequence = balance.eventSequence
        }
        return sequence
    }

    /// SKUs with a balance changed since the last drain, each once, in the order they first
    /// changed: the writer hands them to readers after commit (`adopt`).
    public mutating func drainChangedSKUs() -> [SKU] {
        defer {
            changedSKUs.removeAll(keepingCapacity: true)
            changeEpoch &+= 1
            if changeEpoch == 0 {
                // Wrapped (after four billion drains): clear every mark so none is mistaken as current.
                for sku in holdingsBySKU.keys { holdingsBySKU[sku]!.changedIn = 0 }
                changeEpoch = 1
            }
        }
        return changedSKUs
    }

    /// Takes `other`'s balances of `skus` as they are, sharing their storage (O(1) per SKU; the
    /// owner of `other` copies a SKU's balances when it next changes them). How the writer
    /// publishes committed balances to readers: no per-balance lookups, and readers holding a
    /// snapshot are never copied under.
    public mutating func adopt(_ skus: [SKU], from other: InventoryBook) {
        for sku in skus { holdingsBySKU[sku] = other.holdingsBySKU[sku] }
    }

    private static func search(_ ids: [LocationID], _ location: LocationID) -> Int? {
        // A SKU is usually held at a few dozen locations: equality (a bitwise compare for short
        // ids) over all of them beats a binary search's ordered string comparisons.
        ids.withUnsafeBufferPointer { ids in
            if ids.count <= 32 {
                for index in ids.indices where ids[index] == location { return index }
                return nil
            }
            var low = 0, high = ids.count - 1
            while low <= high {
                let mid = (low + high) / 2
                let candidate = ids[mid]
                if candidate == location { return mid }
                if candidate < location { low = mid + 1 } else { high = mid - 1 }
            }
            return nil
        }
    }
}

/// A unit of daily capacity: a location's fulfillments, or a carrier service's parcels at a location.
public struct CapacityKey: Hashable, Comparable, Sendable {
    public var locationID: LocationID
    /// "" for the location itself, otherwise "carrier/service".
    public var resource: String
    public var day: Int64
    public init(locationID: LocationID, resource: String = "", day: Int64) {
        self.locationID = locationID
        self.resource = resource
        self.day = day
    }
    public static func < (lhs: CapacityKey, rhs: CapacityKey) -> Bool {
        (lhs.day, lhs.locationID, lhs.resource) < (rhs.day, rhs.locationID, rhs.resource)
    }
}

/// One row of the capacity ledger.
public struct CapacityUse: Hashable, Sendable {
    public var key: CapacityKey
    public var delta: Int32
    public var orderID: OrderID
    public var reference: String
    public init(key: CapacityKey, delta: Int32, orderID: OrderID, reference: String) {
        self.key = key
        self.delta = delta
        self.orderID = orderID
        self.reference = reference
    }
}

public struct CapacityBook: Sendable {
    public private(set) var used: [CapacityKey: Int32] = [:]
    public init() {}
    public func used(_ key: CapacityKey) -> Int32 { used[key] ?? 0 }
    public mutating func apply(_ use: CapacityUse) {
        used[use.key, default: 0] += use.delta
    }
    /// Forgets days before `day` (they can no longer be allocated against).
    public mutating func forget(before day: Int64) {
        used = used.filter { $0.key.day >= day }
    }
}
