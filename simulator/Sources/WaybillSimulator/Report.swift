// report.json (machine-readable), the terminal summary, and report.html (inline SVG, no network).

import Foundation

public struct OrderCounts: Codable, Sendable {
    public var submitted: Int
    public var acknowledged: Int
    public var rejected: Int
    public var duplicates: Int
    public var lost: Int
}

public struct Throughput: Codable, Sendable {
    /// Acknowledged orders per wall-clock second.
    public var ordersPerSecond: Double
    /// Simulation events per wall-clock second.
    public var eventsPerSecond: Double
    public var callsPerSecond: Double
    public var wallSeconds: Double
    /// Offered load: orders per simulated hour over the arrival period.
    public var simulatedOrdersPerHour: Double
}

public struct KPIs: Codable, Sendable, Equatable {
    /// Units allocated at capture / units ordered (acknowledged orders).
    public var fillRate: Double
    /// Orders split over more than one fulfillment at capture.
    public var splitRate: Double
    /// Estimated shipping + processing cost per shipped order, major units.
    public var averageShippingCost: Double
    /// Deliveries on or before the promised day.
    public var onTimeRate: Double
    /// Orders with backordered units at capture.
    public var backorderRate: Double
    public var cancellations: Int
    public var returns: Int
    public var storeRejections: Int
    public var deliveries: Int
    /// Store POS customers who found nothing they wanted on the shelf (no order).
    public var storeWalkaways: Int
    /// Customers' order edits (`lifecycle.customer_edit_rate`): applied, and refused because it was
    /// too late (FAILED_PRECONDITION: released, picked, cancelled). Absent in older reports.
    public var edits: EditCounts?
    /// Shoppers' checkouts (scenario `checkout`): options, carts and what became of them. Absent
    /// when no shopper checked out.
    public var checkout: CheckoutFigures? = nil
}

public struct CheckoutFigures: Codable, Sendable, Equatable {
    /// Shoppers who went through a checkout (asked for options first).
    public var shoppers: Int
    /// GetFulfillmentOptions answered; never answered (timed out: the shopper went on without).
    public var optionsAsked: Int
    public var optionsUnanswered: Int
    /// ReserveCart answered; ExtendCart answered.
    public var cartsReserved: Int
    public var cartsExtended: Int
    /// As Waybill reported them on the change feed: carts converted into orders (of which taken
    /// as held: the order's fulfillments are the cart's reservations), released at their deadline,
    /// released by the shopper's site, shortened by a count.
    public var cartsConverted: Int
    public var cartsConvertedAsHeld: Int
    public var cartsExpired: Int
    public var cartsReleased: Int
    public var cartsShortened: Int
    /// Shoppers who reserved a cart and left without buying.
    public var shoppersAbandoned: Int
    /// Carts converted / carts reserved.
    public var conversionRate: Double
    /// Orders whose promised day is the one their chosen option showed / orders that were shown options.
    public var optionOrderPromiseAgreement: Double
    public var optionOrderCompared: Int
    /// Promises compared where Waybill's state is known unchanged (promises_kept_for_unchanged_state).
    public var promisesComparedOnUnchangedState: Int
}

public struct EditCounts: Codable, Sendable, Equatable {
    public var applied: Int
    public var refused: Int
}

public struct LagSummary: Codable, Sendable {
    public var p50: Double
    public var p99: Double
}

public struct SyncSummary: Codable, Sendable {
    /// Change-feed event to ERP processing (virtual ms in-process, wall ms live): includes the
    /// simulated ERP's own poll interval (`erp.poll_interval_ms`, at least 50 wall ms live).
    public var lagMs: LagSummary
    /// Waybill's part (live runs): an event's commit to its arrival at the ERP's feed consumer,
    /// wall ms, for the events after the setup (network and initial stock). Nil in process, where
    /// the feed is read in the same step.
    public var deliveryLagMs: LatencySummary?
    public var reconciliationDiscrepancies: Int
    public var erpMessages: Int
    public var snapshotCorrections: Int
}

public struct Digests: Codable, Sendable {
    /// Every processed event and call outcome (deterministic in-process).
    public var trace: String
    /// The generated traffic: arrival times, channels, customers, baskets (deterministic in both drivers).
    public var schedule: String
    /// Waybill's final orders and balances (in-process only).
    public var state: String
}

public struct CallStats: Codable, Sendable {
    public var timeouts: Int
    public var retries: Int
    public var resolvedByReadBack: Int
    public var expectedFailures: [String: Int]
}

public struct Report: Codable, Sendable {
    public var scenario: String
    public var seed: UInt64
    public var driver: String
    public var policy: String
    public var passed: Bool
    public var simulatedHours: Double
    public var events: UInt64
    public var orders: OrderCounts
    public var checks: [CheckResult]
    public var latencyMs: [String: LatencySummary]
    public var throughput: Throughput
    public var kpis: KPIs
    /// Customer's order → delivery, independent of the promise (FulfillmentFigures.swift).
    public var delivery = DeliverySpeed()
    /// Shipping + processing of the fulfillments handed over, with the currency.
    public var cost = FulfillmentCost()
    /// Orders, fill rate, delivery days and cost per order of each channel.
    public var channels: [ChannelFigures] = []
    public var sync: SyncSummary
    public var calls: CallStats
    public var digests: Digests
    public var series: [SeriesPoint]
    public var comparison: Comparison?
    /// With `--replications N` and one policy: each KPI over the N seeds (this report is the first seed's).
    public var replicated: Replicated?
    /// Live runs with server faults: what the kills and pauses cost (LiveFaults.swift).
    public var faults: FaultReport?
    /// Live runs: the transport, the actors' credentials, calls by role and refusals (LiveSecurityReport.swift).
    public var security: SecurityReport?
    /// Scenarios with a product drop: the campaign's pre-orders and receipt (ProductDropReport.swift).
    public var productDrop: ProductDropFigures?

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    // MARK: terminal

    public var summary: String {
        if let comparison { return comparisonSummary(comparison) }
        var out: [String] = []
        out.append("\(scenario) (seed \(seed), \(driver), policy \(policy)): \(passed ? "PASSED" : "FAILED")")
        out.append(String(format: "  simulated %.1f h, ", simulatedHours) + grouped(Double(events))
                   + String(format: " events in %.2f s wall (", throughput.wallSeconds) + grouped(throughput.eventsPerSecond) + " events/s)")
        out.append("  orders: \(orders.submitted) submitted, \(orders.acknowledged) acknowledged, \(orders.rejected) rejected, "
                   + "\(orders.duplicates) duplicates, \(orders.lost) lost — \(grouped(throughput.ordersPerSecond)) orders/s")
        out.append("  calls: \(calls.timeouts) timed out, \(calls.retries) retries, \(calls.resolvedByReadBack) resolved by read-back")
        out.append(String(format: "  kpis: fill %.1f%%, split %.1f%%, on time vs own promise %.1f%%, backorders %.1f%%, ",
                          kpis.fillRate * 100, kpis.splitRate * 100, kpis.onTimeRate * 100, kpis.backorderRate * 100)
                   + "estimated cost per shipping order " + money(kpis.averageShippingCost, cost.currency))
        if let c = kpis.checkout {
            out.append("  checkout: \(c.shoppers) shoppers, \(c.optionsAsked) options asked, \(c.cartsReserved) carts reserved, \(c.cartsConverted) converted "
                       + "(\(c.cartsConvertedAsHeld) as held), \(c.cartsExpired) expired, \(c.cartsReleased) released, \(c.shoppersAbandoned) abandoned — "
                       + String(format: "conversion %.1f%%, option→order promise kept %.1f%% of %d", c.conversionRate * 100,
                                c.optionOrderPromiseAgreement * 100, c.optionOrderCompared))
        }
        out.append(contentsOf: fulfillmentFiguresLines)
        if let productDrop { out.append(productDrop.summaryLine) }
        out.append(String(format: "  sync: lag p50 %.0f ms, p99 %.0f ms (to the ERP's processing, its poll interval included), %d ERP messages, %d reconciliation discrepancies",
                          sync.lagMs.p50, sync.lagMs.p99, sync.erpMessages, sync.reconciliationDiscrepancies))
        if let delivery = sync.deliveryLagMs {
            out.append(String(format: "  sync: commit to the ERP's consumer p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (",
                              delivery.p50, delivery.p99, delivery.p999, delivery.max) + grouped(Double(delivery.count)) + " events)")
        }
        let rows = latencyMs.keys.sorted()
        if !rows.isEmpty {
            out.append("  latency ms          count      p50      p90      p99     p999      max")
            for name in rows {
                let l = latencyMs[name]!
                out.append("  " + name.padding(toLength: 28, withPad: " ", startingAt: 0)
                           + [String(l.count), fmt(l.p50), fmt(l.p90), fmt(l.p99), fmt(l.p999), fmt(l.max)]
                           .map { String(repeating: " ", count: max(0, 8 - $0.count)) + $0 }.joined(separator: " "))
            }
        }
        if let security { out.append(contentsOf: security.summaryLines) }
        if let faults { out.append(contentsOf: faults.summaryLines) }
        for check in checks { out.append("  [\(check.passed ? "ok" : "FAIL")] \(check.name): \(check.detail)") }
        if let replicated { out.append(contentsOf: replicatedLines(replicated)) }
        return out.joined(separator: "\n")
    }

    // MARK: html

    public var html: String {
        if let comparison { return comparisonHTML(comparison) }
        var body = ""
        body += "<h1>Waybill simulation: \(escape(scenario))</h1>"
        body += "<p class=\(passed ? "ok" : "fail")><b>\(passed ? "PASSED" : "FAILED")</b> — seed \(seed), driver \(driver), policy \(escape(policy)), "
            + String(format: "%.1f simulated hours, ", simulatedHours) + grouped(Double(events)) + String(format: " events, %.2f s wall", throughput.wallSeconds) + "</p>"
        body += "<h2>Orders</h2><table><tr><th>submitted</th><th>acknowledged</th><th>rejected</th><th>duplicates</th><th>lost</th><th>orders/s</th></tr>"
        body += "<tr><td>\(orders.submitted)</td><td>\(orders.acknowledged)</td><td>\(orders.rejected)</td><td>\(orders.duplicates)</td><td>\(orders.lost)</td><td>\(grouped(throughput.ordersPerSecond))</td></tr></table>"
        body += "<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>"
        for check in checks {
            body += "<tr><td>\(check.name)</td><td class=\(check.passed ? "ok" : "fail")>\(check.passed ? "passed" : "FAILED")</td><td>\(escape(check.detail))</td></tr>"
        }
        body += "</table>"
        if let security { body += "<p>" + escape(security.summaryLines.joined().trimmingCharacters(in: .whitespaces)) + "</p>" }
        body += "<h2>KPIs</h2><table><tr><th>fill rate</th><th>split rate</th><th>avg shipping cost</th><th>on time</th><th>backorder rate</th><th>cancellations</th><th>edits applied / refused</th><th>returns</th><th>store rejections</th></tr>"
        body += String(format: "<tr><td>%.2f%%</td><td>%.2f%%</td><td>%.2f</td><td>%.2f%%</td><td>%.2f%%</td>", kpis.fillRate * 100, kpis.splitRate * 100,
                       kpis.averageShippingCost, kpis.onTimeRate * 100, kpis.backorderRate * 100)
            + "<td>\(kpis.cancellations)</td><td>\(kpis.edits.map { "\($0.applied) / \($0.refused)" } ?? "—")</td><td>\(kpis.returns)</td><td>\(kpis.storeRejections)</td></tr></table>"
        if let c = kpis.checkout {
            body += "<h2>Checkout</h2><table><tr><th>shoppers</th><th>options asked</th><th>carts reserved</th><th>converted (as held)</th><th>expired</th><th>released</th><th>abandoned</th><th>conversion</th><th>option→order promise kept</th></tr>"
            body += "<tr><td>\(c.shoppers)</td><td>\(c.optionsAsked)</td><td>\(c.cartsReserved)</td><td>\(c.cartsConverted) (\(c.cartsConvertedAsHeld))</td><td>\(c.cartsExpired)</td><td>\(c.cartsReleased)</td><td>\(c.shoppersAbandoned)</td>"
                + String(format: "<td>%.1f%%</td><td>%.1f%% of %d</td></tr></table>", c.conversionRate * 100, c.optionOrderPromiseAgreement * 100, c.optionOrderCompared)
        }
        body += fulfillmentFiguresHTML
        if let productDrop { body += productDrop.html }
        if let replicated { body += replicatedHTML(replicated) }
        body += "<h2>Throughput</h2>"
        body += chart(title: "orders per simulated hour (offered load) over simulated time", x: series.map(\.simulatedHours), xLabel: "simulated hours",
                      lines: [("orders/sim hour", series.map(\.ordersPerSimulatedHour))])
        body += chart(title: "acknowledged orders per wall second over wall time", x: series.map(\.wallSeconds), xLabel: "wall seconds",
                      lines: [("orders/s", series.map(\.ordersPerWallSecond))])
        body += "<h2>Latency</h2>"
        body += chart(title: "call latency percentiles (ms) over simulated time", x: series.map(\.simulatedHours), xLabel: "simulated hours",
                      lines: [("p50", series.map(\.latencyP50Ms)), ("p99", series.map(\.latencyP99Ms))])
        body += chart(title: "call latency percentiles (ms) over wall time", x: series.map(\.wallSeconds), xLabel: "wall seconds",
                      lines: [("p50", series.map(\.latencyP50Ms)), ("p99", series.map(\.latencyP99Ms))])
        body += "<table><tr><th>RPC</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>"
        for name in latencyMs.keys.sorted() {
            let l = latencyMs[name]!
            body += "<tr><td>\(name)</td><td>\(l.count)</td><td>\(fmt(l.p50))</td><td>\(fmt(l.p90))</td><td>\(fmt(l.p99))</td><td>\(fmt(l.p999))</td><td>\(fmt(l.max))</td></tr>"
        }
        body += "</table>"
        body += "<h2>Stock of the top SKUs</h2>"
        let topCount = series.first?.topSkuStock.count ?? 0
        body += chart(title: "network on hand of the most popular SKUs", x: series.map(\.simulatedHours), xLabel: "simulated hours",
                      lines: (0..<topCount).map { index in ("SKU #\(index + 1)", series.map { Double($0.topSkuStock[index]) }) })
        body += "<h2>ERP synchronisation</h2>"
        body += String(format: "<p>lag to the ERP's processing (its poll interval included) p50 %.0f ms, p99 %.0f ms; %d ERP messages; %d reconciliation discrepancies</p>",
                       sync.lagMs.p50, sync.lagMs.p99, sync.erpMessages, sync.reconciliationDiscrepancies)
        if let delivery = sync.deliveryLagMs {
            body += String(format: "<p>commit to the ERP's feed consumer: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms</p>",
                           delivery.p50, delivery.p99, delivery.p999, delivery.max)
        }
        body += chart(title: "sync lag p99 (ms) and ERP backlog (events) over simulated time", x: series.map(\.simulatedHours), xLabel: "simulated hours",
                      lines: [("lag p99 ms", series.map(\.syncLagP99Ms)), ("backlog events", series.map { Double($0.erpBacklogEvents) })])
        body += "<h2>Digests</h2><p>trace \(digests.trace), schedule \(digests.schedule), state \(digests.state)</p>"
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>Waybill simulation: \(escape(scenario))</title><style>
        body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}table{border-collapse:collapse;margin:1em 0}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}.ok{color:#1a7f37}.fail{color:#cf222e}
        svg{display:block;margin:1em 0;background:#fafafa;border:1px solid #ddd}
        </style></head><body>\(body)</body></html>
        """
    }

    /// One run's series over shared x values (ComparisonReport's `svgChart` draws it).
    func chart(title: String, x: [Double], xLabel: String, lines: [(String, [Double])]) -> String {
        svgChart(title: title, xLabel: xLabel,
                 series: lines.enumerated().map { ChartSeries(label: $1.0, x: x, y: $1.1, colour: $0) })
    }
}

func round4(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }
func f1(_ value: Double) -> String { String(format: "%.1f", value) }
private func fmt(_ value: Double) -> String { String(format: value < 10 ? "%.3f" : "%.1f", value) }
func short(_ value: Double) -> String {
    if value >= 1_000_000 { return String(format: "%.1fM", value / 1_000_000) }
    if value >= 10_000 { return String(format: "%.0fk", value / 1_000) }
    if value >= 100 { return String(format: "%.0f", value) }
    return String(format: "%.2g", value)
}
func grouped(_ value: Double) -> String {
    let digits = String(Int64(value.rounded()))
    var out = ""
    for (index, character) in digits.reversed().enumerated() {
        if index > 0 && index % 3 == 0 && character != "-" { out.append(",") }
        out.append(character)
    }
    return String(out.reversed())
}
func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
