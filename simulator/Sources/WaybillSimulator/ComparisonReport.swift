// The comparison as people read it: the terminal summary and report.html with both policies side by
// side in every table and both policies in every chart; and the delivery-speed, cost and per-channel
// figures of a single run. Counts print as integers, rates as percentages with one decimal, money
// with its currency, days with two decimals; "±" is the half-width of the 95% interval.

import Foundation

/// "USD 1,234.56".
func money(_ major: Double, _ currency: String) -> String {
    let cents = Int64((abs(major) * 100).rounded())
    return (major < 0 && cents > 0 ? "-" : "") + currency + " " + grouped(Double(cents / 100)) + String(format: ".%02d", cents % 100)
}

/// Money without the currency (half-widths, whose currency the value beside them names).
private func moneyAmount(_ major: Double) -> String {
    let cents = Int64((abs(major) * 100).rounded())
    return (major < 0 && cents > 0 ? "-" : "") + grouped(Double(cents / 100)) + String(format: ".%02d", cents % 100)
}

enum KPIText {
    static func value(_ value: Double, _ unit: KPIUnit, currency: String) -> String {
        switch unit {
        case .count: grouped(value)
        case .rate: String(format: "%.1f%%", value * 100)
        case .money: money(value, currency)
        case .days: String(format: "%.2f d", value)
        }
    }

    /// A difference B − A: rates in percentage points, always signed.
    static func difference(_ value: Double, _ unit: KPIUnit, currency: String) -> String {
        let sign = value > 0 ? "+" : ""
        switch unit {
        case .count: return sign + grouped(value)
        case .rate: return String(format: "%+.1f pts", value * 100)
        case .money: return (value > 0 ? "+" : "") + money(value, currency)
        case .days: return String(format: "%+.2f d", value)
        }
    }

    static func halfWidth(_ value: Double, _ unit: KPIUnit) -> String {
        switch unit {
        case .count: grouped(value)
        case .rate: String(format: "%.1f", value * 100)
        case .money: moneyAmount(value)
        case .days: String(format: "%.2f", value)
        }
    }

    static func estimate(_ estimate: Estimate, _ unit: KPIUnit, currency: String, difference: Bool = false) -> String {
        let mean = difference ? Self.difference(estimate.mean, unit, currency: currency) : value(estimate.mean, unit, currency: currency)
        guard let half = estimate.halfWidth else { return mean }
        return mean + " ± " + halfWidth(half, unit)
    }
}

/// Mean order-to-delivery days of a channel; "—" when it sent no parcels (pickups, the till).
private func deliveryDays(_ figures: ChannelFigures) -> String {
    figures.parcels == 0 ? "—" : String(format: "%.2f", figures.meanDeliveryDays)
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

extension Report {
    // MARK: single run

    /// Delivery speed, cost and channels of one run (terminal).
    var fulfillmentFiguresLines: [String] {
        var out: [String] = []
        out.append(String(format: "  delivery (order → delivery, %d parcels): mean %.2f days, carrier transit %.2f days, next day %.1f%%, within 2 days %.1f%%",
                          delivery.parcels, delivery.meanOrderToDeliveryDays, delivery.meanTransitDays, delivery.nextDayShare * 100, delivery.twoDayShare * 100))
        out.append(String(format: "  promise: %.2f days promised vs %.2f actual (calendar days from the order), %.1f%% delivered by the promised day",
                          delivery.meanPromisedDays, delivery.meanActualDays, delivery.onPromiseShare * 100))
        out.append("  fulfillment cost: " + money(Double(cost.totalMinor) / 100, cost.currency) + " = shipping " + money(Double(cost.shippingMinor) / 100, cost.currency)
                   + " + processing " + money(Double(cost.processingMinor) / 100, cost.currency) + ", " + money(cost.perOrder, cost.currency)
                   + " per order over \(grouped(Double(cost.orders))) orders handed over")
        if !channels.isEmpty {
            out.append("  channel              orders     fill  delivery days  cost/order")
            for channel in channels {
                out.append("  " + pad(channel.channel, 18) + String(repeating: " ", count: Swift.max(0, 8 - grouped(channel.orders).count)) + grouped(channel.orders)
                           + String(format: "  %6.1f%%  ", channel.fillRate * 100) + String(repeating: " ", count: Swift.max(0, 13 - deliveryDays(channel).count))
                           + deliveryDays(channel) + "  " + money(channel.costPerOrder, cost.currency))
            }
        }
        return out
    }

    /// Delivery speed, cost and channels of one run (HTML).
    var fulfillmentFiguresHTML: String {
        var body = "<h2>Delivery speed and cost</h2><table><tr><th>figure</th><th>value</th></tr>"
        let rows: [(String, String)] = [
            ("Parcels handed to the carrier", grouped(Double(delivery.parcels))),
            ("Mean order-to-delivery time", String(format: "%.2f days", delivery.meanOrderToDeliveryDays)),
            ("Mean carrier transit (handover → delivery)", String(format: "%.2f days", delivery.meanTransitDays)),
            ("Delivered by the next day", String(format: "%.1f%%", delivery.nextDayShare * 100)),
            ("Delivered within 2 days", String(format: "%.1f%%", delivery.twoDayShare * 100)),
            ("Mean promised days / actual days", String(format: "%.2f / %.2f", delivery.meanPromisedDays, delivery.meanActualDays)),
            ("On time vs the policy's own promise", String(format: "%.1f%%", delivery.onPromiseShare * 100)),
            ("Total fulfillment cost (shipping + processing)", money(Double(cost.totalMinor) / 100, cost.currency)),
            ("Shipping / processing", money(Double(cost.shippingMinor) / 100, cost.currency) + " / " + money(Double(cost.processingMinor) / 100, cost.currency)),
            ("Fulfillment cost per order handed over", money(cost.perOrder, cost.currency)),
        ]
        for (name, value) in rows { body += "<tr><td>\(escape(name))</td><td>\(value)</td></tr>" }
        body += "</table><h2>Channels</h2><table><tr><th>channel</th><th>orders</th><th>fill rate</th><th>mean delivery days</th><th>cost per order</th></tr>"
        for channel in channels {
            body += "<tr><td>\(channel.channel)</td><td>\(grouped(channel.orders))</td>" + String(format: "<td>%.1f%%</td>", channel.fillRate * 100) + "<td>\(deliveryDays(channel))</td>"
                + "<td>\(money(channel.costPerOrder, cost.currency))</td></tr>"
        }
        return body + "</table>"
    }

    // MARK: one policy, replicated

    func replicatedLines(_ replicated: Replicated) -> [String] {
        let n = replicated.replications
        var out = ["", "  Over \(n) replications (seeds \(replicated.seeds.first!)…\(replicated.seeds.last!)): "
                   + (replicated.allPassed ? "all \(n) passed their checks" : "FAILED: " + replicated.runs.filter { !$0.passed }
                        .map { "seed \($0.seed) (\($0.failedChecks.joined(separator: ", ")))" }.joined(separator: "; "))
                   + "; mean ± half-width of the 95% interval (Student t, \(n - 1) df)"]
        var section = ""
        for kpi in replicated.estimates {
            if kpi.section != section { section = kpi.section; out.append("  " + section) }
            out.append("    " + pad(kpi.name, 46) + KPIText.estimate(kpi.estimate, kpi.unit, currency: cost.currency))
        }
        return out
    }

    func replicatedHTML(_ replicated: Replicated) -> String {
        let n = replicated.replications
        var body = "<h2>Over \(n) replications</h2><p>Seeds \(replicated.seeds.map(String.init).joined(separator: ", ")); "
            + "\(replicated.runs.filter(\.passed).count)/\(n) passed their checks. Mean ± half-width of the 95% interval (Student t, \(n - 1) degrees of freedom); "
            + "the rest of this page is seed \(replicated.seeds[0]).</p><table>"
        var section = ""
        for kpi in replicated.estimates {
            if kpi.section != section { section = kpi.section; body += "<tr><th>\(escape(section))</th><th>mean ± 95%</th></tr>" }
            body += "<tr><td title=\"\(kpi.key)\">\(escape(kpi.name))</td><td>\(KPIText.estimate(kpi.estimate, kpi.unit, currency: cost.currency))</td></tr>"
        }
        return body + "</table>"
    }

    // MARK: comparison, terminal

    func comparisonSummary(_ comparison: Comparison) -> String {
        let n = comparison.replications
        let currency = comparison.currency
        var out: [String] = []
        let seeds = n == 1 ? "seed \(comparison.seeds[0])" : "seeds \(comparison.seeds.first!)…\(comparison.seeds.last!)"
        out.append("\(scenario): policy comparison, A = \(comparison.policyA), B = \(comparison.policyB) (\(driver), \(n) replication\(n == 1 ? "" : "s"): \(seeds), the same for both)")
        let failed = comparison.replicationRuns.filter { !$0.passed }
        out.append(failed.isEmpty ? "  PASSED: all \(comparison.replicationRuns.count) runs passed their checks"
                   : "  FAILED: " + failed.map { "\($0.policy) seed \($0.seed) (\($0.failedChecks.joined(separator: ", ")))" }.joined(separator: "; "))
        out.append(n == 1 ? "  one replication: no interval (run --replications 5 or more to tell a difference from noise)"
                   : "  mean ± half-width of the 95% interval (Student t, \(n - 1) df); B − A paired by seed; \"within noise\" = its interval contains 0")
        // Columns as wide as their widest cell (big money with its interval runs long).
        let cells = comparison.estimates.flatMap { kpi in
            [KPIText.estimate(kpi.a, kpi.unit, currency: currency), KPIText.estimate(kpi.b, kpi.unit, currency: currency),
             KPIText.estimate(kpi.difference, kpi.unit, currency: currency, difference: true)]
        }
        let widths = (name: 48, value: Swift.max(24, (cells.map(\.count).max() ?? 0) + 2))
        var section = ""
        for kpi in comparison.estimates {
            if kpi.section != section {
                section = kpi.section
                out.append("")
                out.append("  " + section)
                out.append("  " + pad("", widths.name) + pad("A: " + comparison.policyA, widths.value) + pad("B: " + comparison.policyB, widths.value) + "B − A")
            }
            out.append("    " + pad(kpi.name, widths.name - 2) + pad(KPIText.estimate(kpi.a, kpi.unit, currency: currency), widths.value)
                       + pad(KPIText.estimate(kpi.b, kpi.unit, currency: currency), widths.value)
                       + pad(KPIText.estimate(kpi.difference, kpi.unit, currency: currency, difference: true), widths.value) + kpi.verdictText)
        }
        out.append("")
        out.append("  Channels, means (A = \(comparison.policyA), B = \(comparison.policyB))")
        out.append("                      " + pad("orders A", 10) + pad("orders B", 10) + pad("fill A", 9) + pad("fill B", 9)
                   + pad("days A", 8) + pad("days B", 8) + pad("cost/order A", 15) + "cost/order B")
        for channel in comparison.channels {
            func cell(_ figures: ChannelFigures?, _ text: (ChannelFigures) -> String) -> String { figures.map(text) ?? "—" }
            out.append("    " + pad(channel.channel, 18) + pad(cell(channel.a) { grouped($0.orders) }, 10) + pad(cell(channel.b) { grouped($0.orders) }, 10)
                       + pad(cell(channel.a) { String(format: "%.1f%%", $0.fillRate * 100) }, 9) + pad(cell(channel.b) { String(format: "%.1f%%", $0.fillRate * 100) }, 9)
                       + pad(cell(channel.a, deliveryDays), 8) + pad(cell(channel.b, deliveryDays), 8)
                       + pad(cell(channel.a) { money($0.costPerOrder, currency) }, 15) + cell(channel.b) { money($0.costPerOrder, currency) })
        }
        out.append("")
        out.append("  Delivered within k days of the order  " + (0..<deliveredByDayBuckets).map { pad($0 == deliveredByDayBuckets - 1 ? "any" : "\($0)", 7) }.joined())
        out.append("    A: " + pad(comparison.policyA, 33) + comparison.deliveredWithinDaysA.map { pad(String(format: "%.1f%%", $0 * 100), 7) }.joined())
        out.append("    B: " + pad(comparison.policyB, 33) + comparison.deliveredWithinDaysB.map { pad(String(format: "%.1f%%", $0 * 100), 7) }.joined())
        out.append("")
        out.append("  Checks (runs passed)             " + pad("A: " + comparison.policyA, 24) + "B: " + comparison.policyB)
        for name in checkNames(comparison) {
            out.append("    " + pad(name, 31) + pad(checkCell(comparison, policyIndex: 0, name), 24) + checkCell(comparison, policyIndex: 1, name))
        }
        if comparison.runs.count == 2 {
            let a = comparison.runs[0].latencyMs, b = comparison.runs[1].latencyMs
            let names = Set(a.keys).union(b.keys).sorted()
            if !names.isEmpty {
                out.append("")
                out.append("  Latency ms, seed \(comparison.seeds[0]) (A = \(comparison.policyA), B = \(comparison.policyB))")
                out.append("                                   " + pad("A p50", 10) + pad("A p99", 10) + pad("B p50", 10) + "B p99")
                for name in names {
                    func cell(_ summary: LatencySummary?, _ value: (LatencySummary) -> Double) -> String { summary.map { String(format: "%.3f", value($0)) } ?? "—" }
                    out.append("    " + pad(name, 31) + pad(cell(a[name]) { $0.p50 }, 10) + pad(cell(a[name]) { $0.p99 }, 10)
                               + pad(cell(b[name]) { $0.p50 }, 10) + cell(b[name]) { $0.p99 })
                }
            }
        }
        return out.joined(separator: "\n")
    }

    private func checkNames(_ comparison: Comparison) -> [String] {
        var names: [String] = []
        for run in comparison.runs { for check in run.checks where !names.contains(check.name) { names.append(check.name) } }
        return names
    }

    /// "5/5" runs of one policy that passed the check.
    private func checkCell(_ comparison: Comparison, policyIndex: Int, _ name: String) -> String {
        let n = comparison.replications
        let runs = comparison.replicationRuns[(policyIndex * n)..<((policyIndex + 1) * n)]
        return "\(runs.filter { !$0.failedChecks.contains(name) }.count)/\(n)"
    }

    // MARK: comparison, HTML

    func comparisonHTML(_ comparison: Comparison) -> String {
        let n = comparison.replications
        let currency = comparison.currency
        let names = (escape(comparison.policyA), escape(comparison.policyB))
        let allPassed = comparison.allPassed
        var body = "<h1>Waybill policy comparison: \(escape(scenario))</h1>"
        body += "<p class=\(allPassed ? "ok" : "fail")><b>\(allPassed ? "PASSED" : "FAILED")</b> — A = <b>\(names.0)</b>, B = <b>\(names.1)</b>; driver \(driver); "
            + "\(n) replication\(n == 1 ? "" : "s") (seeds \(comparison.seeds.map(String.init).joined(separator: ", ")), the same for both policies: a paired comparison)</p>"
        body += n == 1 ? "<p><i>One replication: no interval. Run <code>--replications 5</code> or more to tell a difference from noise.</i></p>"
            : "<p>Each value is the mean over the replications ± the half-width of its 95% confidence interval (Student t, \(n - 1) degrees of freedom). "
            + "B − A is the paired difference (per seed); <i>within noise</i> when its interval contains 0.</p>"
        var section = ""
        body += "<table>"
        for kpi in comparison.estimates {
            if kpi.section != section {
                section = kpi.section
                body += "<tr><th>\(escape(section))</th><th>A: \(names.0)</th><th>B: \(names.1)</th><th>B − A</th><th>verdict</th></tr>"
            }
            body += "<tr><td title=\"\(kpi.key)\">\(escape(kpi.name))</td><td>\(KPIText.estimate(kpi.a, kpi.unit, currency: currency))</td>"
                + "<td>\(KPIText.estimate(kpi.b, kpi.unit, currency: currency))</td><td>\(KPIText.estimate(kpi.difference, kpi.unit, currency: currency, difference: true))</td>"
                + "<td>\(kpi.verdictText)</td></tr>"
        }
        body += "</table>"
        body += "<h2>Channels (means over the replications)</h2><table><tr><th rowspan=2>channel</th><th colspan=2>orders</th><th colspan=2>fill rate</th>"
            + "<th colspan=2>mean order-to-delivery days</th><th colspan=2>fulfillment cost per order</th></tr><tr>"
            + String(repeating: "<th>A: \(names.0)</th><th>B: \(names.1)</th>", count: 4) + "</tr>"
        for channel in comparison.channels {
            func cell(_ figures: ChannelFigures?, _ text: (ChannelFigures) -> String) -> String { "<td>" + (figures.map(text) ?? "—") + "</td>" }
            body += "<tr><td>\(channel.channel)</td>" + cell(channel.a) { grouped($0.orders) } + cell(channel.b) { grouped($0.orders) }
                + cell(channel.a) { String(format: "%.1f%%", $0.fillRate * 100) } + cell(channel.b) { String(format: "%.1f%%", $0.fillRate * 100) }
                + cell(channel.a, deliveryDays) + cell(channel.b, deliveryDays)
                + cell(channel.a) { money($0.costPerOrder, currency) } + cell(channel.b) { money($0.costPerOrder, currency) } + "</tr>"
        }
        body += "</table>"
        body += "<h2>Delivery speed</h2>"
        let days = (0..<deliveredByDayBuckets).map(Double.init)
        body += svgChart(title: "% of parcels delivered within k calendar days of the order (all replications)",
                         xLabel: "calendar days from the order (\(deliveredByDayBuckets - 1) = any)", series: [
            ChartSeries(label: "A: " + comparison.policyA, x: days, y: comparison.deliveredWithinDaysA.map { $0 * 100 }, colour: 0),
            ChartSeries(label: "B: " + comparison.policyB, x: days, y: comparison.deliveredWithinDaysB.map { $0 * 100 }, colour: 1, dashed: true),
        ], yMaximum: 100, xTicks: deliveredByDayBuckets - 1)
        body += "<h2>Checks (runs passed)</h2><table><tr><th>check</th><th>A: \(names.0)</th><th>B: \(names.1)</th></tr>"
        for name in checkNames(comparison) {
            let cells = [checkCell(comparison, policyIndex: 0, name), checkCell(comparison, policyIndex: 1, name)]
            body += "<tr><td>\(name)</td>" + cells.map { "<td class=\($0 == "\(n)/\(n)" ? "ok" : "fail")>\($0)</td>" }.joined() + "</tr>"
        }
        body += "</table><h2>Runs</h2><table><tr><th>policy</th><th>seed</th><th>result</th><th>wall s</th><th>trace digest</th><th>state digest</th></tr>"
        for run in comparison.replicationRuns {
            body += "<tr><td>\(escape(run.policy))</td><td>\(run.seed)</td><td class=\(run.passed ? "ok" : "fail")>\(run.passed ? "passed" : "FAILED: " + run.failedChecks.joined(separator: ", "))</td>"
                + String(format: "<td>%.2f</td>", run.wallSeconds) + "<td>\(run.digests.trace)</td><td>\(run.digests.state)</td></tr>"
        }
        body += "</table>"
        if comparison.runs.count == 2 { body += seriesCharts(comparison) }
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>Waybill policy comparison: \(escape(scenario))</title><style>
        body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}table{border-collapse:collapse;margin:1em 0}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}.ok{color:#1a7f37}.fail{color:#cf222e}
        svg{display:block;margin:1em 0;background:#fafafa;border:1px solid #ddd}
        </style></head><body>\(body)</body></html>
        """
    }

    /// The first seed's time series, both policies in every chart.
    private func seriesCharts(_ comparison: Comparison) -> String {
        let a = comparison.runs[0], b = comparison.runs[1]
        let labels = ("A: " + comparison.policyA, "B: " + comparison.policyB)
        func pair(_ value: (SeriesPoint) -> Double, wall: Bool = false, suffix: String = "") -> [ChartSeries] {
            [ChartSeries(label: labels.0 + suffix, x: a.series.map { wall ? $0.wallSeconds : $0.simulatedHours }, y: a.series.map(value), colour: 0),
             ChartSeries(label: labels.1 + suffix, x: b.series.map { wall ? $0.wallSeconds : $0.simulatedHours }, y: b.series.map(value), colour: 1, dashed: true)]
        }
        var body = "<h2>Seed \(comparison.seeds[0]) over time</h2>"
        body += svgChart(title: "orders per simulated hour (offered load) over simulated time", xLabel: "simulated hours", series: pair(\.ordersPerSimulatedHour))
        body += svgChart(title: "acknowledged orders per wall second over wall time", xLabel: "wall seconds", series: pair(\.ordersPerWallSecond, wall: true))
        body += svgChart(title: "call latency p50 and p99 (ms) over simulated time", xLabel: "simulated hours",
                         series: pair(\.latencyP99Ms, suffix: " p99") + pair(\.latencyP50Ms, suffix: " p50").map { var s = $0; s.colour += 2; return s })
        let top = Swift.min(3, a.series.first?.topSkuStock.count ?? 0, b.series.first?.topSkuStock.count ?? 0)
        body += svgChart(title: "network on hand of the \(top) most popular SKUs (A solid, B dashed)", xLabel: "simulated hours",
                         series: (0..<top).flatMap { index in
                             pair({ Double($0.topSkuStock[index]) }, suffix: " SKU #\(index + 1)").map { var s = $0; s.colour = index; return s }
                         })
        body += svgChart(title: "sync lag p99 (ms) over simulated time", xLabel: "simulated hours", series: pair(\.syncLagP99Ms))
        body += svgChart(title: "ERP backlog (events) over simulated time", xLabel: "simulated hours", series: pair { Double($0.erpBacklogEvents) })
        return body
    }
}

/// One line of a chart: its own x values (two runs' samples need not line up).
struct ChartSeries {
    var label: String
    var x: [Double]
    var y: [Double]
    var colour: Int
    var dashed = false
}

/// A line chart with a legend; inline SVG, no network.
func svgChart(title: String, xLabel: String, series: [ChartSeries], yMaximum: Double? = nil, xTicks: Int = 4) -> String {
    let width = 1000.0, height = 260.0, left = 70.0, right = 190.0, top = 30.0, bottom = 40.0
    let xs = series.flatMap(\.x)
    guard series.contains(where: { $0.x.count >= 2 }), let xMax = xs.max(), let xMin = xs.min(), xMax > xMin else {
        return "<p><i>\(escape(title)): not enough samples</i></p>"
    }
    let yMax = yMaximum ?? Swift.max(1e-9, series.flatMap(\.y).max() ?? 1) * 1.05
    let colours = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"]
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
    svg += "<text x=\"\(left)\" y=\"18\" font-size=\"14\">\(escape(title))</text>"
    svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"#888\"/>"
    svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#888\"/>"
    for tick in 0...4 {
        let value = yMax * Double(tick) / 4
        let y = height - bottom - (height - top - bottom) * Double(tick) / 4
        svg += "<text x=\"\(left - 6)\" y=\"\(f1(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(short(value))</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(f1(y))\" x2=\"\(width - right)\" y2=\"\(f1(y))\" stroke=\"#eee\"/>"
    }
    for tick in 0...Swift.max(1, xTicks) {
        let xv = xMin + (xMax - xMin) * Double(tick) / Double(Swift.max(1, xTicks))
        let xp = left + (width - left - right) * Double(tick) / Double(Swift.max(1, xTicks))
        svg += "<text x=\"\(f1(xp))\" y=\"\(height - bottom + 16)\" font-size=\"11\" text-anchor=\"middle\">\(short(xv))</text>"
    }
    svg += "<text x=\"\(f1((width - right + left) / 2))\" y=\"\(height - 6)\" font-size=\"12\" text-anchor=\"middle\">\(escape(xLabel))</text>"
    for (index, line) in series.enumerated() {
        let colour = colours[line.colour % colours.count]
        let points = zip(line.x, line.y).map { xv, yv in
            "\(f1(left + (width - left - right) * (xv - xMin) / (xMax - xMin))),\(f1(height - bottom - (height - top - bottom) * yv / yMax))"
        }.joined(separator: " ")
        let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
        svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.6\"\(dash) points=\"\(points)\"/>"
        let legendY = top + 14 + Double(index) * 16
        svg += "<line x1=\"\(width - right + 8)\" y1=\"\(f1(legendY - 4))\" x2=\"\(width - right + 28)\" y2=\"\(f1(legendY - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>"
        svg += "<text x=\"\(width - right + 32)\" y=\"\(legendY)\" font-size=\"12\" fill=\"\(colour)\">\(escape(line.label))</text>"
    }
    return svg + "</svg>"
}
