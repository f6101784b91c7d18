// Expected supply: purchase orders and transfers the ERP says are on their way (ExpectedReceipt),
// and how they promise backordered units a date. On-hand availability never includes them: they
// are future availability, served to waiting orders in capture order (Engine+Supply.swift).

public enum ExpectedReceiptKind: Int, Hashable, Sendable {
    case purchaseOrder = 1
    case transfer = 2
}

public struct ExpectedReceiptLine: Hashable, Sendable {
    public var sku: SKU
    public var quantity: Int64
    public init(sku: SKU, quantity: Int64) {
        self.sku = sku
        self.quantity = quantity
    }
}

/// An open receipt: units of some SKUs expected at one location on a date.
public struct ExpectedReceipt: Hashable, Sendable {
    public enum Status: Int, Hashable, Sendable {
        case open = 1, received, cancelled
    }
    public var receiptID: String
    public var kind: ExpectedReceiptKind
    public var locationID: LocationID
    public var expectedAt: Timestamp
    public var lines: [ExpectedReceiptLine]
    public var status: Status = .open
    public var updatedAt: Timestamp = .zero
    public var version: Int64 = 0

    public init(receiptID: String, kind: ExpectedReceiptKind = .purchaseOrder, locationID: LocationID, expectedAt: Timestamp,
                lines: [ExpectedReceiptLine], status: Status = .open) {
        self.receiptID = receiptID
        self.kind = kind
        self.locationID = locationID
        self.expectedAt = expectedAt
        self.lines = lines
        self.status = status
    }
}

/// One SKU's share of an open receipt.
public struct SupplySlot: Hashable, Sendable {
    public var receiptID: String
    public var locationID: LocationID
    public var expectedAt: Timestamp
    public var quantity: Int64
}

/// The open receipts, and per SKU their slots in the order they are expected to arrive.
public struct SupplyBook: Sendable {
    public private(set) var receipts: [String: ExpectedReceipt] = [:]
    private var slotsBySKU: [SKU: [SupplySlot]] = [:]
    /// Counts changes: readers holding a copy know whether it is current.
    public private(set) var version: UInt64 = 0
    public init() {}

    public var openReceiptCount: Int { receipts.count }

    /// Replaces (or adds) an open receipt; removes a receipt that is no longer open.
    public mutating func put(_ receipt: ExpectedReceipt) {
        version += 1
        if let previous = receipts[receipt.receiptID] {
            for line in previous.lines {
                slotsBySKU[line.sku]?.removeAll { $0.receiptID == receipt.receiptID }
                if slotsBySKU[line.sku]?.isEmpty == true { slotsBySKU[line.sku] = nil }
            }
        }
        guard receipt.status == .open else {
            receipts[receipt.receiptID] = nil
            return
        }
        receipts[receipt.receiptID] = receipt
        for line in receipt.lines {
            let slot = SupplySlot(receiptID: receipt.receiptID, locationID: receipt.locationID, expectedAt: receipt.expectedAt,
                                  quantity: line.quantity)
            var slots = slotsBySKU[line.sku] ?? []
            let at = slots.firstIndex { ($0.expectedAt, $0.receiptID) > (slot.expectedAt, slot.receiptID) } ?? slots.count
            slots.insert(slot, at: at)
            slotsBySKU[line.sku] = slots
        }
    }

    /// The SKU's open supply, earliest first (ties by receipt id).
    public func slots(_ sku: SKU) -> [SupplySlot] { slotsBySKU[sku] ?? [] }

    /// Whether any receipt expects the SKU.
    public func expects(_ sku: SKU) -> Bool { slotsBySKU[sku] != nil }

    /// The SKUs some open receipt expects.
    public var expectedSKUs: Dictionary<SKU, [SupplySlot]>.Keys { slotsBySKU.keys }

    /// Units of the SKU expected at active locations of `network`.
    public func expected(_ sku: SKU, network: NetworkState) -> Int64 {
        slots(sku).reduce(0) { $0 + (network.locations[$1.locationID]?.active == true ? $1.quantity : 0) }
    }

    /// The date of the receipt that brings the unit after the first `ahead` units expected at
    /// active locations (units promised to older orders): nil when expected supply does not reach it.
    public func expectedAt(unit ahead: Int64, of sku: SKU, network: NetworkState) -> Timestamp? {
        var covered: Int64 = 0
        for slot in slots(sku) where network.locations[slot.locationID]?.active == true {
            covered += slot.quantity
            if covered > ahead { return slot.expectedAt }
        }
        return nil
    }
}

/// Backordered units waiting for a SKU, over every order, and of them the pre-ordered ones.
public struct WaitingTotals: Hashable, Sendable {
    public var units: Int64 = 0
    public var preordered: Int64 = 0
    public init(units: Int64 = 0, preordered: Int64 = 0) {
        self.units = units
        self.preordered = preordered
    }
}

/// What expected supply would do for a new order: the open receipts and the units already waiting
/// for them (which they serve first). Capture decides with it (Engine+Supply.swift), and so do
/// fulfillment options against committed state, so an option promises what a capture then does.
public struct SupplyOutlook: Sendable {
    public var supply: SupplyBook
    /// Per SKU (at least those of the order in question); a SKU absent has nothing waiting.
    public var waiting: [SKU: WaitingTotals]

    public init(supply: SupplyBook, waiting: [SKU: WaitingTotals]) {
        self.supply = supply
        self.waiting = waiting
    }

    /// Which of a capture's unallocated lines may wait as pre-orders: the item allows them, the
    /// expected supply not promised to older waiting orders covers the line, and the item's cap
    /// leaves room. Lines are decided in order, each all or nothing.
    public func preorderable(_ unallocated: [(lineID: String, quantity: Int32)], lines: [DraftLine],
                             network: NetworkState) -> [String: Int32] {
        var accepted: [String: Int32] = [:]
        var taken: [SKU: Int64] = [:]
        for (lineID, quantity) in unallocated {
            guard let line = lines.first(where: { $0.lineID == lineID }),
                  let item = network.items[line.sku], item.preorder else { continue }
            let units = Int64(quantity)
            let waiting = self.waiting[line.sku] ?? WaitingTotals()
            let uncommitted = supply.expected(line.sku, network: network) - waiting.units - taken[line.sku, default: 0]
            let capRoom = item.preorderCap > 0 ? item.preorderCap - waiting.preordered - taken[line.sku, default: 0] : Int64.max
            guard units <= min(uncommitted, capRoom) else { continue }
            accepted[lineID] = quantity
            taken[line.sku, default: 0] += units
        }
        return accepted
    }

    /// The receipt date for a new order's `units` of `sku` waiting: after every unit already waiting.
    public func newcomerExpectedAt(_ sku: SKU, units: Int64, network: NetworkState) -> Timestamp? {
        supply.expectedAt(unit: (waiting[sku]?.units ?? 0) + units - 1, of: sku, network: network)
    }

    /// The receipt dates of a new order's backordered units, per SKU with expected supply (nil:
    /// supply does not reach them). `backordered`: units per line id.
    public func newcomerPromises(_ backordered: [String: Int32], lines: [DraftLine], network: NetworkState) -> [SKU: Timestamp?] {
        var units: [SKU: Int64] = [:]
        for line in lines { if let quantity = backordered[line.lineID], quantity > 0 { units[line.sku, default: 0] += Int64(quantity) } }
        var promises: [SKU: Timestamp?] = [:]
        for (sku, count) in units where supply.expects(sku) { promises[sku] = newcomerExpectedAt(sku, units: count, network: network) }
        return promises
    }
}

/// How a backordered line's units are promised from expected supply.
public enum SupplyPromise {
    /// Delivery (or ready for pickup) promised for units arriving with a receipt on `expectedAt`:
    /// processed the day after arrival, then the service level's transit days (pickup: ready that day).
    public static func promisedDelivery(expectedAt: Timestamp, fulfillment: RequestedFulfillment) -> Timestamp {
        let processingDay = expectedAt.day + 1
        return Timestamp.startOfDay(fulfillment.method == .pickup ? processingDay
                                    : processingDay + Int64(fulfillment.serviceLevel.promisedTransitDays))
    }
}
