// Seeded randomness and stable hashing. One scenario seed drives every random choice: each
// model component draws from its own stream (xoshiro256** seeded through SplitMix64 from the
// seed and the component's name), so adding draws to one component never shifts another.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: seeds xoshiro and mixes stream names.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always) public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
public struct SimRandom: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    public init(seed: UInt64) {
        var mix = SplitMix64(seed: seed)
        s0 = mix.next(); s1 = mix.next(); s2 = mix.next(); s3 = mix.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// An independent stream for a named component of the model.
    public init(seed: UInt64, stream: String) {
        self.init(seed: seed ^ StableHasher.hash(stream) &* 0x9E37_79B9_7F4A_7C15)
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<bound (Lemire's multiply-shift; the tiny bias is irrelevant here).
    @inlinable @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(0)")
        return Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    @inlinable public mutating func chance(_ probability: Double) -> Bool { probability > 0 && uniform() < probability }

    /// Exponential with the given mean.
    @inlinable public mutating func exponential(mean: Double) -> Double { -mean * log(1 - uniform()) }

    public mutating func normal() -> Double {
        // Box-Muller; one value per call keeps the stream simple to reason about.
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Log-normal with the given median and shape (sigma of the underlying normal).
    public mutating func logNormal(median: Double, sigma: Double) -> Double { median * exp(sigma * normal()) }

    /// Poisson (Knuth for small means, normal approximation above 30).
    public mutating func poisson(mean: Double) -> Int {
        if mean <= 0 { return 0 }
        if mean > 30 { return max(0, Int((mean + mean.squareRoot() * normal()).rounded())) }
        let limit = exp(-mean)
        var product = uniform(), count = 0
        while product > limit { product *= uniform(); count += 1 }
        return count
    }

    /// Geometric on 1, 2, 3... with the given mean (>= 1).
    public mutating func geometric(mean: Double) -> Int {
        if mean <= 1 { return 1 }
        let p = 1 / mean
        return 1 + Int(log(1 - uniform()) / log(1 - p))
    }
}

/// Walker's alias method: O(1) draws from a fixed discrete distribution.
public struct AliasTable: Sendable {
    private var probability: [Double]
    private var alias: [Int32]
    public var count: Int { probability.count }

    public init(weights: [Double]) {
        precondition(!weights.isEmpty, "alias table needs weights")
        let n = weights.count
        let total = weights.reduce(0, +)
        precondition(total > 0, "alias table weights sum to zero")
        var scaled = weights.map { $0 * Double(n) / total }
        probability = Array(repeating: 1, count: n)
        alias = Array(repeating: 0, count: n)
        var small: [Int] = [], large: [Int] = []
        for index in 0..<n { if scaled[index] < 1 { small.append(index) } else { large.append(index) } }
        while let s = small.popLast(), let l = large.last {
            probability[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] -= 1 - scaled[s]
            if scaled[l] < 1 { large.removeLast(); small.append(l) }
        }
        for index in small + large { probability[index] = 1 }
    }

    @inline(__always)
    public func draw(_ random: inout SimRandom) -> Int {
        let column = random.below(probability.count)
        return random.uniform() < probability[column] ? column : Int(alias[column])
    }
}

/// FNV-1a 64 with a final avalanche: process-independent (unlike Swift's seeded Hasher), for
/// stream names, traces and state digests.
public struct StableHasher: Sendable {
    public private(set) var state: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    @inline(__always) public mutating func combine(_ value: UInt64) {
        var v = value
        for _ in 0..<8 {
            state = (state ^ (v & 0xFF)) &* 0x0000_0100_0000_01B3
            v >>= 8
        }
    }
    @inline(__always) public mutating func combine(_ value: Int64) { combine(UInt64(bitPattern: value)) }
    @inline(__always) public mutating func combine(_ value: Int) { combine(UInt64(bitPattern: Int64(value))) }
    @inline(__always) public mutating func combine(_ value: Int32) { combine(UInt64(UInt32(bitPattern: value))) }
    public mutating func combine(_ value: Bool) { combine(UInt64(value ? 1 : 0)) }
    public mutating func combine(_ value: Double) { combine(value.bitPattern) }
    public mutating func combine(_ value: String) {
        for byte in value.utf8 { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        combine(UInt64(0xFF))
    }

    public var finalized: UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public var hex: String {
        let text = String(finalized, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    public static func hash(_ text: String) -> UInt64 {
        var hasher = StableHasher()
        hasher.combine(text)
        return hasher.finalized
    }
}
