// Measurements of a run: latency histograms per RPC (HdrHistogram, microseconds), time series
// for the report's charts, and the sync lag. Measurements use the wall clock; nothing measured
// here enters the trace or the state digest.

import Histogram
import WaybillCore

public struct LatencySummary: Sendable, Codable {
    public var count: UInt64
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 1000).rounded() / 1000 }
        p50 = count == 0 ? 0 : ms(histogram.valueAtPercentile(50))
        p90 = count == 0 ? 0 : ms(histogram.valueAtPercentile(90))
        p99 = count == 0 ? 0 : ms(histogram.valueAtPercentile(99))
        p999 = count == 0 ? 0 : ms(histogram.valueAtPercentile(99.9))
        max = count == 0 ? 0 : ms(histogram.max)
    }
}

func makeHistogram() -> Histogram<UInt64> {
    // 1 µs .. 1 hour, 3 significant digits.
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
}

/// One point of the report's time series.
public struct SeriesPoint: Sendable, Codable {
    /// Simulated time since the scenario start, hours.
    public var simulatedHours: Double
    /// Wall time since the run started, seconds.
    public var wallSeconds: Double
    public var ordersSubmitted: Int
    public var ordersAcknowledged: Int
    /// Acknowledged orders per wall second in this interval.
    public var ordersPerWallSecond: Double
    /// Orders per simulated hour in this interval (the offered load).
    public var ordersPerSimulatedHour: Double
    public var latencyP50Ms: Double
    public var latencyP99Ms: Double
    public var syncLagP99Ms: Double
    public var erpBacklogEvents: Int
    /// On hand across the network of the top SKUs (ERP book).
    public var topSkuStock: [Int64]
}

public final class Metrics {
    var latency: [Histogram<UInt64>] = RPC.allCases.map { _ in makeHistogram() }
    var interval = makeHistogram()
    var lag = makeHistogram()
    var intervalLag = makeHistogram()
    /// Commit of a change-feed event to its arrival at the ERP's consumer (live runs only).
    var deliveryLag = makeHistogram()
    var progress = makeHistogram()
    var series: [SeriesPoint] = []
    var lastSampleSubmitted = 0
    var lastSampleAcknowledged = 0
    var lastSampleWall = 0.0
    var lastSampleVirtual: Int64 = 0

    init() {}

    func record(_ rpc: RPC, microseconds: Int64) {
        let value = UInt64(Swift.max(1, microseconds))
        _ = latency[rpc.rawValue].record(value)
        _ = interval.record(value)
    }

    func recordProgress(microseconds: Int64) { _ = progress.record(UInt64(Swift.max(1, microseconds))) }

    /// p99 since the last call, in ms (the live progress line).
    func progressP99Milliseconds() -> Double {
        defer { progress.reset() }
        return progress.totalCount == 0 ? 0 : Double(progress.valueAtPercentile(99)) / 1000
    }

    func recordLag(milliseconds: Int64) {
        let value = UInt64(Swift.max(1, milliseconds * 1000))
        _ = lag.record(value)
        _ = intervalLag.record(value)
    }

    func recordDeliveryLag(microseconds: Int64) { _ = deliveryLag.record(UInt64(Swift.max(1, microseconds))) }

    var summaries: [(RPC, LatencySummary)] {
        RPC.allCases.compactMap { rpc in latency[rpc.rawValue].totalCount == 0 ? nil : (rpc, LatencySummary(latency[rpc.rawValue])) }
    }
}
