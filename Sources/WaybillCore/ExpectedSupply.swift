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
