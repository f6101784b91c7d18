// A fulfillment waiting at a location (ListLocationQueue), as the queue page and its CSV show it.

import WaybillProto

enum QueueView {
    /// What the location does next with a fulfillment in `status` (the button of its row).
    static func nextStep(_ status: Waybill_V1_FulfillmentStatus, method: Waybill_V1_FulfillmentMethod) -> (action: String, label: String)? {
        let pickup = method == .pickup
        switch status {
        case .created: return ("release-fulfillment", "Release")
        case .released: return ("pick", "Confirm pick")
        case .picked: return ("pack", "Confirm pack")
        case .packed: return pickup ? ("hand-over", "Ready for pickup") : ("ship", "Confirm shipment")
        case .shipped: return pickup ? ("collected", "Collected") : nil
        default: return nil
        }
    }

    static func row(_ entry: Waybill_V1_LocationQueueEntry) -> [String: Any] {
        let step = nextStep(entry.fulfillmentStatus, method: entry.method)
        return [
            "order": entry.orderID,
            "fulfillment": entry.fulfillmentID,
            "status": ConsoleFormat.words(entry.fulfillmentStatus),
            "method": ConsoleFormat.words(entry.method),
            "since": ConsoleFormat.time(max(entry.releasedAtUnixMs, entry.createdAtUnixMs)),
            "promised": ConsoleFormat.time(entry.promisedDeliveryUnixMs),
            "customer": entry.customerName,
            "units": Int(entry.units),
            "onHold": entry.onHold,
            "action": step?.action ?? "",
            "label": step?.label ?? "",
            "ship": step?.action == "ship",
        ]
    }

    static func csvHeader() -> [String] { ["order_id", "fulfillment_id", "status", "method", "since", "promised", "customer", "units", "on_hold"] }

    static func csvRow(_ entry: Waybill_V1_LocationQueueEntry) -> [String] {
        let row = Self.row(entry)
        return ["order", "fulfillment", "status", "method", "since", "promised", "customer", "units", "onHold"].map { "\(row[$0] ?? "")" }
    }
}
