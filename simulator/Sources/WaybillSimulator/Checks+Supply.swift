// The product drop's checks (scenario `product_drop`): pre-orders against expected supply. Pure
// functions of what the run recorded (ProductDropRecord: the captures as the feed showed them, the
// units that arrived) and of Waybill's final orders, so tests can plant violations.

import WaybillCore

/// What the simulation recorded of a product drop.
public struct ProductDropRecord: Sendable {
    public var sku: SKU
    /// Item.preorder_cap (0: no cap).
    public var cap: Int64
    /// Units the ERP expected, and Waybill's clock: the expected date sent, and the arrival (nil: never).
    public var receiptUnits: Int64
    public var expectedAt: Int64
    public var arrivedAt: Int64?
    public var unitsArrived: Int64
    /// Units of the drop on hand at the start (the scenario gives none).
    public var initialUnits: Int64
    /// Shoppers of the campaign, and their captures Waybill refused.
    public var shoppers: Int
    public var refused: Int
    /// Every order of the drop's SKU at capture, by capture sequence.
    public var captures: [DropCapture]
    /// The most pre-ordered units waiting at once, as the change feed showed them.
    public var preorderedWaitingMax: Int64
}

extension Checks {
    public static let productDropNames = ["preorders_within_receipt", "preorder_cap_held", "preorders_served_in_capture_order",
                                          "preorder_promises_kept"]

    static func productDrop(_ record: SimulationRecord, _ waybill: WaybillState) -> [CheckResult] {
        guard let drop = record.productDrop else { return [] }
        return [preordersWithinReceipt(drop, record, waybill), preorderCapHeld(drop, record, waybill),
                preordersServedInCaptureOrder(drop, record, waybill), preorderPromisesKept(drop, record, waybill)]
    }

    /// Units of `sku` an order holds or has consumed: its fulfillments neither cancelled nor rejected.
    static func dropUnitsConsumed(_ order: Order, _ sku: SKU) -> Int64 {
        var units: Int64 = 0
        for fulfillment in order.fulfillments where fulfillment.status != .cancelled && fulfillment.status != .rejected {
            for line in fulfillment.lines where line.sku == sku { units += Int64(line.quantity) }
        }
        return units
    }

    /// The drop line of an order (nil: it has none).
    static func dropLine(_ order: Order, _ sku: SKU) -> OrderLine? { order.lines.first { $0.sku == sku } }

    /// No pre-order allocated beyond the receipt: the drop's units allocated or shipped over every
    /// order are at most the units that arrived (+ opening stock + units returned to stock).
    public static func preordersWithinReceipt(_ drop: ProductDropRecord, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var consumed: Int64 = 0, holders = 0, restocked: Int64 = 0
        for order in waybill.orders {
            let units = dropUnitsConsumed(order, drop.sku)
            if units > 0 { consumed += units; holders += 1 }
            for ret in order.returns {
                for line in ret.received where line.disposition == .restock {
                    if order.lineIndex(line.lineID).map({ order.lines[$0].sku == drop.sku }) == true { restocked += Int64(line.quantity) }
                }
            }
        }
        let supply = drop.unitsArrived + drop.initialUnits + restocked
        var problems: [String] = []
        if consumed > supply {
            problems.append("\(drop.sku.rawValue): \(consumed) units allocated or shipped over \(holders) orders, but only \(drop.unitsArrived) arrived "
                            + "(+\(drop.initialUnits) on hand at the start, +\(restocked) returned to stock)")
        }
        return result("preorders_within_receipt", problems, record,
                      ok: "\(drop.sku.rawValue): \(consumed) units allocated or shipped over \(holders) orders ≤ \(supply) that arrived or were on hand")
    }

    /// Pre-ordered units waiting never exceeded the item's cap: during the run (every change-feed
    /// event) and at the end (Waybill's orders).
    public static func preorderCapHeld(_ drop: ProductDropRecord, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        let waitingAtEnd = waybill.orders.reduce(Int64(0)) { $0 + Int64(dropLine($1, drop.sku)?.preordered ?? 0) }
        var problems: [String] = []
        if drop.cap > 0 {
            if drop.preorderedWaitingMax > drop.cap {
                problems.append("\(drop.sku.rawValue): \(drop.preorderedWaitingMax) pre-ordered units waited at once during the run, cap \(drop.cap)")
            }
            if waitingAtEnd > drop.cap {
                problems.append("\(drop.sku.rawValue): \(waitingAtEnd) pre-ordered units wait at the end, cap \(drop.cap)")
            }
        }
        return result("preorder_cap_held", problems, record,
                      ok: "\(drop.sku.rawValue): at most \(drop.preorderedWaitingMax) pre-ordered units waiting at once (\(waitingAtEnd) at the end), cap "
                          + (drop.cap > 0 ? "\(drop.cap)" : "none"))
    }

    /// The orders that waited for the drop at capture are served in capture order: walking them
    /// oldest first with the units that arrived, an order still waiting at the end is a violation
    /// when a younger one was served although the units left at its turn covered it (an order the
    /// units left could not cover entirely is passed over: Waybill allocates a waiting order whole).
    /// Orders cancelled or edited since are left out.
    public static func preordersServedInCaptureOrder(_ drop: ProductDropRecord, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var bySequence: [Int64: Order] = [:]
        for order in waybill.orders { bySequence[order.captureSequence] = order }
        var remaining = drop.unitsArrived + drop.initialUnits
        /// Older orders still waiting although the units left at their turn covered them.
        var covered: [(capture: DropCapture, units: Int32)] = []
        var served = 0, waiting = 0
        var problems: [String] = []
        for capture in drop.captures where capture.backordered > 0 {
            guard let order = bySequence[capture.sequence], let line = dropLine(order, drop.sku) else { continue }
            if line.quantities.cancelled > 0 || order.status == .cancelled || order.capturedContent != nil { continue }
            let stillWaiting = line.quantities.backordered
            // Units it got (all of them, or part where the policy allows partial allocation).
            remaining -= Int64(capture.backordered - stillWaiting)
            if stillWaiting == 0 {
                served += 1
                for older in covered {
                    problems.append("\(capture.orderID) (capture #\(capture.sequence)) was served while the older \(older.capture.orderID) "
                                    + "(#\(older.capture.sequence)) still waits for \(older.units) units the receipt covered at its turn")
                }
                covered.removeAll()
            } else {
                waiting += 1
                if Int64(stillWaiting) <= remaining { covered.append((capture, stillWaiting)) }
            }
        }
        return result("preorders_served_in_capture_order", problems, record,
                      ok: "\(drop.sku.rawValue): \(served) waiting orders served, \(waiting) still waiting, in capture order")
    }

    /// Pre-order promises: at capture a pre-order is promised from the receipt — its expected
    /// supply date is the receipt's expected date and its promise (delivery from the day after
    /// arrival, at the service level's nominal transit days) is after that date. When the receipt
    /// arrived no later than its expected day, the state the promise was made on held, so each
    /// served pre-order's fulfillment is processed no later than the day after the expected date,
    /// and promises delivery no later than the pre-order's promise unless the router chose a
    /// service slower than the level's nominal transit days (a policy's cost-weighted choice, as
    /// for any order: counted in the detail, not a violation).
    public static func preorderPromisesKept(_ drop: ProductDropRecord, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var bySequence: [Int64: Order] = [:]
        for order in waybill.orders { bySequence[order.captureSequence] = order }
        let expectedDay = Timestamp(millisecondsSinceEpoch: drop.expectedAt).day
        let onTime = drop.arrivedAt.map { Timestamp(millisecondsSinceEpoch: $0).day <= expectedDay } ?? false
        var problems: [String] = []
        var preorders = 0, compared = 0, slowerService = 0
        for capture in drop.captures where capture.preordered > 0 {
            preorders += 1
            if capture.expectedSupplyAt != drop.expectedAt {
                problems.append("\(capture.orderID): pre-ordered against supply expected at \(capture.expectedSupplyAt), the receipt is expected at \(drop.expectedAt)")
            }
            if capture.promisedAt <= drop.expectedAt {
                problems.append("\(capture.orderID): promised \(capture.promisedAt), not after the receipt's expected date \(drop.expectedAt)")
            }
            guard onTime, let order = bySequence[capture.sequence], let line = dropLine(order, drop.sku),
                  line.quantities.backordered == 0, line.quantities.cancelled == 0, order.capturedContent == nil else { continue }
            let nominal = order.requestedFulfillment.serviceLevel.promisedTransitDays
            for fulfillment in order.fulfillments where fulfillment.status != .cancelled && fulfillment.status != .rejected
                && fulfillment.lines.contains(where: { $0.sku == drop.sku }) {
                compared += 1
                if fulfillment.processingDay > expectedDay + 1 {
                    problems.append("\(capture.orderID): served with \(fulfillment.fulfillmentID) processed on day \(fulfillment.processingDay), "
                                    + "after the day after the receipt's expected day (\(expectedDay + 1))")
                }
                if fulfillment.promisedDeliveryAt.millisecondsSinceEpoch > capture.promisedAt {
                    if fulfillment.transitDaysEstimate > nominal {
                        slowerService += 1
                    } else {
                        problems.append("\(capture.orderID): served with \(fulfillment.fulfillmentID) promising \(fulfillment.promisedDeliveryAt.millisecondsSinceEpoch), "
                                        + "later than the pre-order's promise \(capture.promisedAt) at \(fulfillment.transitDaysEstimate) transit days")
                    }
                }
            }
        }
        let served = onTime
            ? "\(compared) fulfillments of served pre-orders processed by the day after the expected day, \(compared - slowerService) promising "
                + "delivery within the pre-order's promise" + (slowerService > 0
                    ? ", \(slowerService) later because the router chose a service slower than the level's nominal transit days" : "")
            : "the receipt arrived \(drop.arrivedAt == nil ? "never" : "after its expected day"): served promises not compared"
        return result("preorder_promises_kept", problems, record,
                      ok: "\(preorders) pre-orders promised from the receipt after its expected date; \(served)")
    }
}
