// swift-metrics instruments. The library only records; the executable bootstraps a backend
// (Prometheus) and GetMetrics serves its text.

import CoreMetrics
import Metrics
import Synchronization
import WaybillProto
import WaybillWire

final class ServerMetrics: Sendable {
    private let connections = Gauge(label: "waybill_connections")
    private let eventsDeliveredCounter = Counter(label: "waybill_feed_events_delivered_total")
    private let instruments = Mutex<[String: (Counter, Timer)]>([:])
    private let rejections = Mutex<[String: Counter]>([:])

    func connectionsChanged(_ count: Int) { connections.record(count) }

    /// The label of every method the server does not serve: a caller choosing method names must
    /// not grow the scrape (one series per name) without bound.
    static let unknownMethodLabel = "unknown"

    /// `method` if it is a method of the generated table, else `unknownMethodLabel`.
    static func methodLabel(_ method: String) -> String {
        Method.byPath[method] == nil ? unknownMethodLabel : method
    }

    func completed(method: String, code: Waybill_V1_StatusCode, nanoseconds: UInt64) {
        let method = Self.methodLabel(method)
        let key = method + "|" + code.name
        let (counter, timer) = instruments.withLock { table in
            if let existing = table[key] { return existing }
            let dimensions = [("method", method), ("code", code.name)]
            let created = (Counter(label: "waybill_calls_total", dimensions: dimensions),
                           Timer(label: "waybill_call_duration_seconds", dimensions: dimensions))
            table[key] = created
            return created
        }
        counter.increment()
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func rejected(reason: String) {
        let counter = rejections.withLock { table in
            if let existing = table[reason] { return existing }
            let created = Counter(label: "waybill_rejected_total", dimensions: [("reason", reason)])
            table[reason] = created
            return created
        }
        counter.increment()
    }

    func eventsDelivered(_ count: Int) { eventsDeliveredCounter.increment(by: count) }

    // MARK: ERP bridges (alerting hooks), per consumer, from each bridge's last status report

    private struct BridgeGauges {
        let deadLettersWaiting: Gauge
        let deliveryLagEvents: Gauge
        let deliveryLagMilliseconds: Gauge
        let breakerOpen: Gauge
    }
    private let bridges = Mutex<[String: BridgeGauges]>([:])

    /// Consumers whose bridge gauges are exported: the consumer name of a status report is the
    /// caller's text, so the label set is bounded like the method labels (later names are still in
    /// GetBridgeStatus, not in the scrape).
    static let bridgeConsumerLabelsMax = 64

    /// Consumers with exported bridge gauges.
    var bridgeConsumersExported: Int { bridges.withLock { $0.count } }

    func bridgeReported(_ status: Waybill_V1_BridgeStatus) {
        let found: BridgeGauges? = bridges.withLock { table in
            if let existing = table[status.consumer] { return existing }
            guard table.count < Self.bridgeConsumerLabelsMax else { return nil }
            let dimensions = [("consumer", status.consumer)]
            let created = BridgeGauges(
                deadLettersWaiting: Gauge(label: "waybill_erp_dead_letters_waiting", dimensions: dimensions),
                deliveryLagEvents: Gauge(label: "waybill_erp_delivery_lag_events", dimensions: dimensions),
                deliveryLagMilliseconds: Gauge(label: "waybill_erp_delivery_lag_ms", dimensions: dimensions),
                breakerOpen: Gauge(label: "waybill_erp_breaker_open", dimensions: dimensions))
            table[status.consumer] = created
            return created
        }
        guard let gauges = found else { return }
        gauges.deadLettersWaiting.record(Int64(clamping: status.deadLettersWaiting))
        gauges.deliveryLagEvents.record(Int64(clamping: status.lagEvents))
        gauges.deliveryLagMilliseconds.record(status.oldestPendingAgeMs)
        gauges.breakerOpen.record(status.breakerState == .closed || status.breakerState == .unspecified ? 0 : 1)
    }
}
