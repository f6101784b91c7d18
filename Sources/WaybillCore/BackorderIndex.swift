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

    /// One waiting order's backordered units of one SKU.
    public struct Waiting: Hashable, Sendable {
        public var orderID: OrderID
        public var units: Int64
        /// Of `units`, those accepted as pre-orders.
        public var preordered: Int64
        /// The receipt date its units are promised from (zero: none).
        public var expectedAt: Timestamp
    }
    /// Per waiting order, per SKU: its backordered units (what expected supply serves, in capture order).
    private var units: [OrderID: [SKU: Waiting]] = [:]
    /// Per SKU: backordered units waiting, and of them pre-ordered units.
    private var unitsBySKU: [SKU: (units: Int64, preordered: Int64)] = [:]

    public mutating func update(_ order: Order) {
        updateItemWaiting(order)
        var perSKU: [SKU: Waiting] = [:]
        if !order.waitsForItems {
            for line in order.lines where line.quantities.backordered > 0 {
                let backordered = Int64(line.quantities.backordered)
                var entry = perSKU[line.sku] ?? Waiting(orderID: order.orderID, units: 0, preordered: 0, expectedAt: .zero)
                entry.units += backordered
                entry.preordered += min(Int64(line.preordered), backordered)
                entry.expectedAt = max(entry.expectedAt, line.expectedSupplyAt)
                perSKU[line.sku] = entry
            }
        }
        let beforeUnits = units[order.orderID]
        if perSKU.isEmpty && beforeUnits == nil { return }
        if perSKU != beforeUnits {
            for (sku, entry) in beforeUnits ?? [:] { adjustTotals(sku, -entry.units, -entry.preordered) }
            for (sku, entry) in perSKU { adjustTotals(sku, entry.units, entry.preordered) }
            units[order.orderID] = perSKU.isEmpty ? nil : perSKU
        }
        let skus = perSKU.keys.sorted()
        let before = waiting[order.orderID]
        if skus == before ?? [] { return }
        waiting[order.orderID] = skus.isEmpty ? nil : skus
        for sku in before ?? [] where !skus.contains(sku) { remove(order.orderID, sequence: order.captureSequence, from: sku) }
        for sku in skus where !(before ?? []).contains(sku) {
            // Lists are in capture order: the insertion point (before any equal sequence) by binary search,
            // and the list is changed in place (no copy of a long backlog per update).
            let insertAt = Self.firstIndex(notBefore: order.captureSequence, in: bySKU[sku] ?? [])
            bySKU[sku, default: []].insert((order.captureSequence, order.orderID), at: insertAt)
        }
    }

    private var changedTotals: Set<SKU> = []

    private mutating func adjustTotals(_ sku: SKU, _ units: Int64, _ preordered: Int64) {
        changedTotals.insert(sku)
        var total = unitsBySKU[sku] ?? (0, 0)
        total.units += units
        total.preordered += preordered
        unitsBySKU[sku] = total.units == 0 && total.preordered == 0 ? nil : total
    }

    /// Backordered units of `sku` waiting, over every order.
    public func waitingUnits(_ sku: SKU) -> Int64 { unitsBySKU[sku]?.units ?? 0 }

    /// Units waiting for `sku`, and of them pre-ordered units.
    public func totals(_ sku: SKU) -> WaitingTotals {
        unitsBySKU[sku].map { WaitingTotals(units: $0.units, preordered: $0.preordered) } ?? WaitingTotals()
    }

    /// SKUs whose totals changed since the last call (for publishing them to readers).
    public mutating func drainChangedTotals() -> Set<SKU> {
        defer { changedTotals = [] }
        return changedTotals
    }

    /// Of them, units accepted as pre-orders (what an item's pre-order cap bounds).
    public func preorderedUnits(_ sku: SKU) -> Int64 { unitsBySKU[sku]?.preordered ?? 0 }

    /// The orders waiting for `sku` with their units, oldest capture first.
    public func waiting(for sku: SKU) -> [Waiting] {
        (bySKU[sku] ?? []).compactMap { units[$0.orderID]?[sku] }
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
