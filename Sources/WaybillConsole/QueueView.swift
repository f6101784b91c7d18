// One fulfillment waiting at a location, as the queue page and its CSV show it.

import WaybillProto

struct QueueEntry: Sendable {
    var order: Waybill_V1_Order
    var fulfillment: Waybill_V1_Fulfillment
}

enum QueueView {
    /// What the location does next with a fulfillment in `status` (the button of its row).
    static func nextStep(_ fulfillment: Waybill_V1_Fulfillment) -> (action: String, label: String)? {
        let pickup = fulfillment.method == .pickup
        switch fulfillment.status {
        case .created: return ("release-fulfillment", "Release")
        case .released: return ("pick", "Confirm pick")
        case .picked: return ("pack", "Confirm pack")
        case .packed: return pickup ? ("hand-over", "Ready for pickup") : ("ship", "Confirm shipment")
        case .shipped: return pickup ? ("collected", "Collected") : nil
        default: return nil
        }
    }

    static func row(_ entry: QueueEntry) -> [String: Any] {
        let step = nextStep(entry.fulfillment)
        return [
            "order": entry.order.orderID,
            "fulfillment": entry.fulfillment.fulfillmentID,
            "status": ConsoleFormat.words(entry.fulfillment.status),
            "method": ConsoleFormat.words(entry.fulfillment.method),
            "since": ConsoleFormat.time(max(entry.fulfillment.releasedAtUnixMs, entry.fulfillment.createdAtUnixMs)),
            "promised": ConsoleFormat.time(entry.fulfillment.promisedDeliveryUnixMs),
            "customer": entry.order.customer.name,
            "units": entry.fulfillment.lines.reduce(0) { $0 + Int($1.quantity) },
            "onHold": !entry.order.holds.isEmpty,
            "action": step?.action ?? "",
            "label": step?.label ?? "",
            "ship": step?.action == "ship",
        ]
    }

    static func csvHeader() -> [String] { ["order_id", "fulfillment_id", "status", "method", "since", "promised", "customer", "units", "on_hold"] }

    static func csvRow(_ entry: QueueEntry) -> [String] {
        let row = Self.row(entry)
        return ["order", "fulfillment", "status", "method", "since", "promised", "customer", "units", "onHold"].map { "\(row[$0] ?? "")" }
    }
}
