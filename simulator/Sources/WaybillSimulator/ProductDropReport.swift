// The product drop's figures in the report (`product_drop` in report.json, a line of the terminal
// summary, a table of report.html): the campaign's pre-orders, what the cap turned away, the
// receipt, and what was served or still waits.

import WaybillCore

public struct ProductDropFigures: Codable, Sendable, Equatable {
    public var sku: String
    public var preorderCap: Int64
    /// The campaign's shoppers (captures attempted).
    public var shoppers: Int
    /// Orders accepted as pre-orders at capture, and their units.
    public var preordersAccepted: Int
    public var preorderedUnits: Int64
    /// Beyond the cap (or the receipt): captures Waybill refused, and orders it took as plain
    /// backorders (the policy allowing them), with no pre-order.
    public var refusedBeyondCap: Int
    public var backorderedBeyondCap: Int
    /// The most pre-ordered units waiting at once (the change feed's view).
    public var preorderedWaitingMax: Int64
    /// The receipt: units expected, units that arrived.
    public var unitsExpected: Int64
    public var unitsArrived: Int64
    /// Pre-orders served (nothing of the drop waits any more) and drop orders still waiting after the run, with their units.
    public var preordersServed: Int
    public var waitingAfterRun: Int
    public var unitsWaitingAfterRun: Int64
    /// Units of the drop shipped by the end.
    public var unitsShipped: Int64

    init(_ drop: ProductDropRecord, orders: [Order]) {
        sku = drop.sku.rawValue
        preorderCap = drop.cap
        shoppers = drop.shoppers
        refusedBeyondCap = drop.refused
        preorderedWaitingMax = drop.preorderedWaitingMax
        unitsExpected = drop.receiptUnits
        unitsArrived = drop.unitsArrived
        let preorders = drop.captures.filter { $0.preordered > 0 }
        preordersAccepted = preorders.count
        preorderedUnits = preorders.reduce(0) { $0 + Int64($1.preordered) }
        backorderedBeyondCap = drop.captures.filter { $0.preordered == 0 && $0.backordered > 0 }.count
        var lines: [Int64: OrderLine] = [:]
        for order in orders {
            if let line = Checks.dropLine(order, drop.sku) { lines[order.captureSequence] = line }
        }
        preordersServed = preorders.filter { capture in
            lines[capture.sequence].map { $0.quantities.backordered == 0 && $0.quantities.cancelled < $0.quantity } ?? false
        }.count
        let waiting = lines.values.filter { $0.quantities.backordered > 0 }
        waitingAfterRun = waiting.count
        unitsWaitingAfterRun = waiting.reduce(0) { $0 + Int64($1.quantities.backordered) }
        unitsShipped = lines.values.reduce(0) { $0 + Int64($1.quantities.shipped) }
    }

    var summaryLine: String {
        "  product drop \(sku): \(shoppers) shoppers, \(preordersAccepted) pre-orders accepted (\(preorderedUnits) units, cap "
            + (preorderCap > 0 ? "\(preorderCap)" : "none") + ", at most \(preorderedWaitingMax) waiting at once), beyond the cap "
            + "\(refusedBeyondCap) refused / \(backorderedBeyondCap) backordered; receipt \(unitsArrived) of \(unitsExpected) units arrived; "
            + "\(preordersServed) pre-orders served, \(waitingAfterRun) orders (\(unitsWaitingAfterRun) units) waiting after the run, \(unitsShipped) units shipped"
    }

    var html: String {
        "<h2>Product drop \(escape(sku))</h2><table><tr><th>shoppers</th><th>pre-orders accepted (units)</th><th>cap</th>"
            + "<th>most waiting at once</th><th>refused beyond cap</th><th>backordered beyond cap</th><th>units expected</th><th>units arrived</th>"
            + "<th>pre-orders served</th><th>waiting after the run (units)</th><th>units shipped</th></tr>"
            + "<tr><td>\(shoppers)</td><td>\(preordersAccepted) (\(preorderedUnits))</td><td>\(preorderCap > 0 ? "\(preorderCap)" : "none")</td>"
            + "<td>\(preorderedWaitingMax)</td><td>\(refusedBeyondCap)</td><td>\(backorderedBeyondCap)</td><td>\(unitsExpected)</td>"
            + "<td>\(unitsArrived)</td><td>\(preordersServed)</td><td>\(waitingAfterRun) (\(unitsWaitingAfterRun))</td><td>\(unitsShipped)</td></tr></table>"
    }
}
