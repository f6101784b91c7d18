// The product drop (scenario `product_drop`): a pre-order campaign for one scarce item. The ERP
// announces an expected receipt for it (ApplyExpectedReceipts OPEN) and, when the units really
// arrive, books them in its own count and reports them RECEIVED (never as a stock delta); the
// campaign's shoppers order the item on the web and app channels meanwhile, and Waybill accepts
// them as pre-orders within the item's cap. What Waybill answered is watched on the change feed
// for the checks (Checks+Supply.swift) and the report (ProductDropReport.swift).

import WaybillCore

enum ProductDropStep: UInt8, Sendable {
    case shopper, announce, arrival
}

/// A drop order as Waybill captured it (its first change-feed event).
public struct DropCapture: Sendable, Equatable {
    public var sequence: Int64
    public var orderID: String
    public var units: Int32
    /// Units accepted against expected supply, and units waiting (pre-ordered or not), at capture.
    public var preordered: Int32
    public var backordered: Int32
    /// The drop line's `expected_supply_at` and `backorder_promised_at` at capture (0: none).
    public var expectedSupplyAt: Int64
    public var promisedAt: Int64
    public init(sequence: Int64, orderID: String, units: Int32, preordered: Int32, backordered: Int32, expectedSupplyAt: Int64, promisedAt: Int64) {
        self.sequence = sequence
        self.orderID = orderID
        self.units = units
        self.preordered = preordered
        self.backordered = backordered
        self.expectedSupplyAt = expectedSupplyAt
        self.promisedAt = promisedAt
    }
}

/// The campaign's state in the model.
struct ProductDropState {
    let config: ProductDropConfig
    let sku: SKU
    let skuIndex: Int32
    /// Location index of the receiving warehouse, and its position in the ERP's book.
    let warehouse: Int32
    let position: Int
    let channels: [Channel]
    let receiptID: String
    /// The campaign's own stream: the other components' draws are those of the scenario without it.
    var random: SimRandom
    /// Virtual time of the last shopper drawn.
    var clock: Int64 = 0
    var shoppers = 0
    /// Waybill's clock: the expected date sent with OPEN, and when the units arrived (nil: not yet).
    var expectedAt: Int64 = 0
    var arrivedAt: Int64?
    var arrivedUnits: Int64 = 0
    /// By capture sequence: the capture, and the order's pre-ordered units waiting as last seen.
    var captures: [Int64: DropCapture] = [:]
    var preorderedWaiting: [Int64: Int32] = [:]
    var preorderedTotal: Int64 = 0
    var preorderedMax: Int64 = 0

    init(config: ProductDropConfig, world: World, seed: UInt64) {
        self.config = config
        sku = SKU(config.sku)
        skuIndex = Int32(world.catalogue.firstIndex { $0.sku.rawValue == config.sku }!)
        warehouse = Int32(config.warehouse)
        position = Int(skuIndex) * world.locations.count + config.warehouse
        channels = config.channels.compactMap(SimChannel.parse)
        receiptID = "PO-" + config.sku
        random = SimRandom(seed: seed, stream: "product-drop")
    }
}

extension World {
    /// The drop's item: pre-orders allowed within the cap; no opening stock; no popularity.
    mutating func addProductDrop(_ config: ProductDropConfig) {
        catalogue.append(CatalogueItem(sku: SKU(config.sku), weightGrams: config.weightGrams, priceMinor: config.priceMinor, popularity: 0))
        var item = Item(sku: SKU(config.sku))
        item.description = "Limited release \(config.sku)"
        item.weightGrams = config.weightGrams
        item.preorder = true
        item.preorderCap = config.preorderCap
        items.append(item)
    }
}

extension SimulationModel {
    func scheduleProductDrop() {
        guard let config = drop?.config else { return }
        drop!.clock = startTime + config.campaignStartMilliseconds
        queue.schedule(at: startTime + config.announceMilliseconds, priority: 6, .productDrop(.announce))
        queue.schedule(at: startTime + config.arrivalMilliseconds, priority: 6, .productDrop(.arrival))
        if let first = nextDropShopper() { queue.schedule(at: first, priority: 4, .productDrop(.shopper)) }
    }

    func productDropEvent(_ step: ProductDropStep) {
        switch step {
        case .shopper: dropShopper()
        case .announce: erpEnqueue(.expectedReceipt(received: false, units: drop!.config.receiptUnits), after: 0)
        case .arrival: dropArrived()
        }
    }

    /// The next shopper of the campaign (a Poisson process over its window), nil after it.
    func nextDropShopper() -> Int64? {
        let config = drop!.config
        guard config.ordersPerHour > 0 else { return nil }
        let windowStart = startTime + config.campaignStartMilliseconds
        let windowEnd = config.campaignHours > 0 ? Swift.min(arrivalsEnd, windowStart + Int64(config.campaignHours * 3_600_000)) : arrivalsEnd
        let from = Swift.max(drop!.clock, windowStart)
        let gap = drop!.random.exponential(mean: 3_600_000 / config.ordersPerHour)
        guard gap < Double(windowEnd - from - 1) else { return nil }
        drop!.clock = from + 1 + Int64(gap)
        return drop!.clock
    }

    /// A shopper of the drop: 1 to max_units units of it, shipped, on one of the campaign's channels.
    func dropShopper() {
        if let next = nextDropShopper() { queue.schedule(at: next, priority: 4, .productDrop(.shopper)) }
        let channel = drop!.channels[drop!.random.below(drop!.channels.count)]
        let city = world.customerCityTable.draw(&drop!.random)
        let quantity = Int32(1 + drop!.random.below(drop!.config.maxUnits))
        let serviceLevel = serviceLevelTables[channels.firstIndex(of: channel)!].draw(&drop!.random)
        drop!.shoppers += 1
        schedule.combine(now)
        schedule.combine(Int64(channel.rawValue))
        schedule.combine(Int64(city))
        schedule.combine(Int64(drop!.skuIndex))
        schedule.combine(Int64(quantity))
        let index = Int32(orders.count)
        orders.append(SimOrder(channel: channel, city: Int32(city), submittedAt: now, lines: [SimLine(sku: drop!.skuIndex, quantity: quantity)]))
        unitsOrdered += Int64(quantity)
        orders[Int(index)].scheduled += 1
        issue(.capture(order: index), .capture(draft(index, serviceLevel: serviceLevel)))
    }

    /// The units arrive: the ERP counts them at once (its book) and reports the receipt RECEIVED;
    /// until that message is sent its snapshots leave them out, as with replenishment receipts.
    func dropArrived() {
        let units = drop!.config.arrivingUnits
        book[drop!.position] += units
        unsentReceipts[drop!.position] += units
        drop!.arrivedUnits = units
        drop!.arrivedAt = gateway.serverTime(now)
        erpEnqueue(.expectedReceipt(received: true, units: units), after: 0)
    }

    /// The ERP's message for the receipt. OPEN carries the expected date, RECEIVED the units that came.
    func dropReceiptRequest(received: Bool, units: Int64) -> SimRequest {
        let config = drop!.config
        if !received {
            // Waybill's clock, `expected_arrival_hour` after the scenario's start.
            drop!.expectedAt = gateway.serverTime(now) - now + startTime + config.expectedArrivalMilliseconds
        }
        let receipt = ExpectedReceipt(receiptID: drop!.receiptID, kind: .purchaseOrder, locationID: world.locations[Int(drop!.warehouse)].locationID,
                                      expectedAt: Timestamp(millisecondsSinceEpoch: drop!.expectedAt),
                                      lines: [ExpectedReceiptLine(sku: drop!.sku, quantity: units)], status: received ? .received : .open)
        return .expectedReceipts(messageID: drop!.receiptID + (received ? "-received" : "-open"), [receipt])
    }

    /// Sending the RECEIVED message: its units leave the ERP's unsent count, and it changes the
    /// warehouse's stock (a snapshot of it waits). Returns that location, nil for other messages.
    func dropReceiptSending(_ message: ErpMessage) -> Int32? {
        guard case .expectedReceipt(true, let units) = message, let drop else { return nil }
        unsentReceipts[drop.position] -= units
        return drop.warehouse
    }

    /// Every order event the warehouses' consumer reads: a drop order's capture is recorded, and
    /// the pre-ordered units waiting over all orders followed (their maximum is checked against the cap).
    func productDropObserve(_ order: Order) {
        guard let sku = drop?.sku, let line = order.lines.first(where: { $0.sku == sku }) else { return }
        let sequence = order.captureSequence
        if drop!.captures[sequence] == nil {
            drop!.captures[sequence] = DropCapture(sequence: sequence, orderID: order.orderID.rawValue, units: line.quantity,
                                                   preordered: line.preordered, backordered: line.quantities.backordered,
                                                   expectedSupplyAt: line.expectedSupplyAt.millisecondsSinceEpoch,
                                                   promisedAt: line.backorderPromisedAt.millisecondsSinceEpoch)
        }
        let before = drop!.preorderedWaiting[sequence] ?? 0
        if line.preordered != before {
            drop!.preorderedWaiting[sequence] = line.preordered
            drop!.preorderedTotal += Int64(line.preordered - before)
            drop!.preorderedMax = Swift.max(drop!.preorderedMax, drop!.preorderedTotal)
        }
        // Nothing of the drop is on hand before the receipt arrives: no unit may be allocated.
        if drop!.arrivedAt == nil, Checks.dropUnitsConsumed(order, sku) > 0 {
            violations.append(Violation(check: "preorders_within_receipt",
                                        detail: "\(order.orderID) (\(order.externalOrderID)) was allocated \(sku.rawValue) before the receipt arrived"))
        }
    }

    /// What the checks and the report need of the campaign.
    func productDropRecord() -> ProductDropRecord? {
        guard let drop else { return nil }
        let refused = orders.filter { $0.state == .rejected && $0.lines.contains { $0.sku == drop.skuIndex } }.count
        return ProductDropRecord(sku: drop.sku, cap: drop.config.preorderCap, receiptUnits: drop.config.receiptUnits,
                                 expectedAt: drop.expectedAt, arrivedAt: drop.arrivedAt, unitsArrived: drop.arrivedUnits, initialUnits: 0,
                                 shoppers: drop.shoppers, refused: refused,
                                 captures: drop.captures.keys.sorted().map { drop.captures[$0]! }, preorderedWaitingMax: drop.preorderedMax)
    }
}
