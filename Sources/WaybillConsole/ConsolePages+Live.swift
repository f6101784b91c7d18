// Live figures: orders captured, calls, mean latency and the writer's queue, read from the
// server's own metrics (GetMetrics) every few seconds by the page's script, which turns two
// samples into rates: nothing is reloaded.

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerLive(on router: Router<ConsoleContext>) {
        router.get("/live") { request, context in
            try await self.page(request, context) { _, user in
                self.views.page("live", title: "Live figures", user: user, values: [:])
            }
        }
        router.get("/live.json") { request, context in
            try await self.page(request, context) { _, user in
                let metrics: Waybill_V1_MetricsText = try await user.backend.call(Method.SystemService.getMetrics, Waybill_V1_GetMetricsRequest())
                let info: Waybill_V1_ServerInfo = try await user.backend.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest())
                var figures = LiveFigures(prometheusText: metrics.text)
                figures.connections = Int(info.connections)
                figures.nowUnixMs = info.nowUnixMs
                return ConsoleRendering.json(figures.json)
            }
        }
    }
}

/// The counters the live page turns into rates, summed from the Prometheus exposition.
struct LiveFigures: Equatable {
    var ordersCaptured = 0.0
    var calls = 0.0
    var callSeconds = 0.0
    var callErrors = 0.0
    var writerQueueDepth = 0.0
    var connections = 0
    var nowUnixMs: Int64 = 0

    init(prometheusText: String) {
        for line in prometheusText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let name = series.prefix { $0 != "{" }
            let ok = series.contains("code=\"ok\"") || series.contains("code=\"OK\"")
            switch name {
            case "waybill_calls_total":
                calls += value
                if !ok { callErrors += value }
                if ok && (series.contains("CaptureOrder\"") || series.contains("CaptureOrders\"")) { ordersCaptured += value }
            case "waybill_call_duration_seconds_sum": callSeconds += value
            case "waybill_writer_queue_depth": writerQueueDepth = value
            default: break
            }
        }
    }

    var json: String {
        "{\"orders_captured\":\(ordersCaptured),\"calls\":\(calls),\"call_seconds\":\(callSeconds),\"call_errors\":\(callErrors),"
            + "\"writer_queue_depth\":\(writerQueueDepth),\"connections\":\(connections),\"now_unix_ms\":\(nowUnixMs)}"
    }
}
