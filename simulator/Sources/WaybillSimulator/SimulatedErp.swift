// The simulated ERP's own mapping of a delivered order to its record, written from docs/ERP.md
// ("erpStatus: the order status in lower case"; "erpLines: net ordered quantity per SKU (ordered −
// cancelled), SKUs with zero left out"), never by calling `Reconciler`: the reconciliation check
// is an independent oracle, so a wrong mapping in Waybill makes "erp_reconciled" fail.

import WaybillCore

enum SimulatedErp {
    /// Test hook: replaces the status mapping (to prove the check notices a mapping that differs).
    @TaskLocal static var statusNameOverride: (@Sendable (OrderStatus) -> String)?

    /// The status an ERP records for an order, as docs/ERP.md lists them.
    static func statusName(_ status: OrderStatus) -> String {
        if let override = statusNameOverride { return override(status) }
        switch status {
        case .captured: return "captured"
        case .onHold: return "on_hold"
        case .allocated: return "allocated"
        case .partiallyAllocated: return "partially_allocated"
        case .backordered: return "backordered"
        case .released: return "released"
        case .partiallyReleased: return "partially_released"
        case .picked: return "picked"
        case .packed: return "packed"
        case .partiallyShipped: return "partially_shipped"
        case .shipped: return "shipped"
        case .partiallyDelivered: return "partially_delivered"
        case .delivered: return "delivered"
        case .cancelled: return "cancelled"
        case .partiallyReturned: return "partially_returned"
        case .returned: return "returned"
        }
    }

    /// Net ordered units per SKU: each line's quantity less its cancelled units, summed by SKU; zeros left out.
    static func netLines(_ order: Order) -> [SKU: Int32] {
        var net: [SKU: Int32] = [:]
        for line in order.lines {
            let units = line.quantity - line.quantities.cancelled
            net[line.sku] = (net[line.sku] ?? 0) + units
        }
        return net.filter { $0.value != 0 }
    }
}
