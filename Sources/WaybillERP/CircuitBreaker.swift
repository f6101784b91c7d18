// The bridge's circuit breaker: a transient delivery failure (ERP down, 5xx, 429, timeout, disk
// full) pauses ALL delivery instead of burning attempts per message. Closed → open for a backoff
// (exponential with jitter, at least what Retry-After asked, capped) → half-open: one probe with
// the oldest undelivered event → closed on success, open again (longer) on another transient
// failure. Sans-I/O: the caller passes the time and the random draw and performs the waiting.

import WaybillProto

public struct CircuitBreaker: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        /// Delivering.
        case closed
        /// Paused; the probe is due at this wall-clock time (ms since the epoch).
        case open(probeAtUnixMs: Int64)
        /// One probe may be in flight; nothing else is delivered until it succeeds.
        case halfOpen
    }

    public private(set) var state: State = .closed
    /// Transient failures since the last success (the backoff attempt number).
    public private(set) var consecutiveFailures = 0
    public let backoff: Backoff
    /// The longest Retry-After honoured (a misbehaving ERP cannot pause the bridge for a year).
    public let retryAfterMaxMilliseconds: Int64

    public init(backoff: Backoff, retryAfterMaxMilliseconds: Int64) {
        self.backoff = backoff
        self.retryAfterMaxMilliseconds = retryAfterMaxMilliseconds
    }

    /// True while new deliveries may start (the probe is started separately in half-open).
    public var isClosed: Bool { state == .closed }

    /// A transient failure of a delivery that counts (any while closed, or the probe): opens the
    /// breaker. Returns how long to wait before the probe: the jittered backoff, or Retry-After
    /// (capped at `retryAfterMaxMilliseconds`) when that is longer.
    public mutating func failed(nowUnixMs: Int64, retryAfterMilliseconds: Int64?, random: Double) -> Int64 {
        consecutiveFailures += 1
        let backedOff = backoff.delayMilliseconds(attempt: consecutiveFailures, random: random)
        let delay = max(backedOff, min(retryAfterMilliseconds ?? 0, retryAfterMaxMilliseconds))
        state = .open(probeAtUnixMs: nowUnixMs + delay)
        return delay
    }

    /// The backoff elapsed: let one probe through.
    public mutating func probeDue() {
        if case .open = state { state = .halfOpen }
    }

    /// A delivery succeeded (or the target answered with a permanent refusal: it is up).
    public mutating func succeeded() {
        state = .closed
        consecutiveFailures = 0
    }

    public var protoState: Waybill_V1_BridgeBreakerState {
        switch state {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    public var probeAtUnixMs: Int64 {
        if case .open(let at) = state { return at }
        return 0
    }
}
