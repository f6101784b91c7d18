// Means and 95% confidence intervals over replications (Student t), and the paired interval of a
// difference between two policies run on the same seeds (common random numbers).

import Foundation

/// A mean over replications with its 95% confidence interval; no interval with one replication.
public struct Estimate: Codable, Sendable, Equatable {
    public var mean: Double
    /// Bounds of the 95% confidence interval; nil with one replication.
    public var low: Double?
    public var high: Double?
    /// Half the interval's width (t × s / √n); nil with one replication.
    public var halfWidth: Double?
    /// Sample standard deviation (n − 1 denominator); nil with one replication.
    public var standardDeviation: Double?
    public var replications: Int

    /// The interval contains `value` (false without an interval).
    public func contains(_ value: Double) -> Bool {
        guard let low, let high else { return false }
        return low <= value && value <= high
    }
}

public enum Statistics {
    /// Two-sided 95% quantiles of Student's t (0.975) for 1...30 degrees of freedom.
    static let tQuantiles975: [Double] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ]

    /// t(0.975, df): the table up to 30 degrees of freedom, the normal 1.96 beyond.
    public static func tCritical95(degreesOfFreedom: Int) -> Double {
        precondition(degreesOfFreedom >= 1, "a t quantile needs at least one degree of freedom")
        return degreesOfFreedom <= tQuantiles975.count ? tQuantiles975[degreesOfFreedom - 1] : 1.96
    }

    /// Mean and 95% interval (mean ± t(n−1) × s / √n) of independent replications.
    public static func estimate(_ values: [Double]) -> Estimate {
        precondition(!values.isEmpty, "an estimate needs at least one replication")
        let n = values.count
        let mean = values.reduce(0, +) / Double(n)
        guard n > 1 else { return Estimate(mean: mean, low: nil, high: nil, halfWidth: nil, standardDeviation: nil, replications: 1) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        let deviation = variance.squareRoot()
        let half = tCritical95(degreesOfFreedom: n - 1) * deviation / Double(n).squareRoot()
        return Estimate(mean: mean, low: mean - half, high: mean + half, halfWidth: half, standardDeviation: deviation, replications: n)
    }

    /// The paired difference b − a over replications that share their seeds: the interval of the
    /// per-seed differences, narrower than two independent intervals because the common traffic cancels.
    public static func pairedDifference(a: [Double], b: [Double]) -> Estimate {
        precondition(a.count == b.count, "a paired difference needs the same replications for both")
        return estimate(zip(a, b).map { $0.1 - $0.0 })
    }
}

/// What a difference's interval says.
public enum DifferenceVerdict: String, Codable, Sendable {
    /// One replication: no interval, no claim.
    case noInterval = "one replication: no interval"
    /// Identical in every replication.
    case identical = "no difference"
    /// The interval contains 0.
    case withinNoise = "within noise"
    /// The interval lies above 0 (B higher than A).
    case higher = "B higher"
    /// The interval lies below 0 (B lower than A).
    case lower = "B lower"

    public init(_ difference: Estimate) {
        if difference.replications < 2 { self = .noInterval; return }
        if difference.mean == 0 && (difference.standardDeviation ?? 0) == 0 { self = .identical; return }
        if difference.contains(0) { self = .withinNoise; return }
        self = difference.mean > 0 ? .higher : .lower
    }
}
