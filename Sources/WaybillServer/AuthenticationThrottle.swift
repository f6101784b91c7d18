// Failed authentications throttled per peer address (issue 12): after
// authenticationFailuresPerPeerMax failures within authenticationFailureWindowMilliseconds, the
// peer's calls are refused RESOURCE_EXHAUSTED (with retry_after_ms: the rest of its window) before
// any token is looked at, so guessing tokens costs a window per few guesses. Memory is bounded:
// at most authenticationThrottlePeersMax peers are remembered, the oldest window forgotten first.
//
// Time is injected (monotonic nanoseconds, e.g. DispatchTime.now().uptimeNanoseconds) so the
// tests drive it.

import CoreMetrics
import Synchronization
import WaybillApplication
import WaybillProto
import WaybillWire

final class AuthenticationThrottle: Sendable {
    let failuresPerPeerMax: Int
    let windowNanoseconds: UInt64
    let windowMilliseconds: Int64
    let peersMax: Int

    /// One peer's current window: when its first failure was, and how many failures since.
    private struct Window {
        var startNanoseconds: UInt64
        var failures: Int
    }

    private struct State {
        var windows: [String: Window] = [:]
        /// Peers in the order their windows started (the front is the oldest). An entry whose
        /// window has since restarted or been forgotten is stale and skipped.
        var order: [(peer: String, startNanoseconds: UInt64)] = []
        var orderStart = 0
    }

    private let state = Mutex(State())
    /// Peers with a window (kept with `state`): while none failed, a call costs one atomic load.
    private let peersWithFailures = Atomic<Int>(0)
    private let failureCounters: [AuthenticationFailure: Counter]
    private let throttledCounter = Counter(label: "waybill_authentication_throttled_total")

    init(limits: TransportLimits) {
        failuresPerPeerMax = limits.authenticationFailuresPerPeerMax
        windowMilliseconds = limits.authenticationFailureWindowMilliseconds
        windowNanoseconds = UInt64(max(0, limits.authenticationFailureWindowMilliseconds)) * 1_000_000
        peersMax = max(1, limits.authenticationThrottlePeersMax)
        var counters: [AuthenticationFailure: Counter] = [:]
        for reason in AuthenticationFailure.allCases {
            counters[reason] = Counter(label: "waybill_authentication_failures_total", dimensions: [("reason", reason.rawValue)])
        }
        failureCounters = counters
    }

    /// Whether `peer`'s calls may be authenticated at `now` (false: refuse, counted as throttled).
    func allows(peer: String, now: UInt64) -> Bool {
        retryAfterMilliseconds(peer: peer, now: now) == nil
    }

    /// How long `peer` must wait, or nil when it is not throttled. Counts a throttled call.
    func retryAfterMilliseconds(peer: String, now: UInt64) -> UInt64? {
        if peersWithFailures.load(ordering: .relaxed) == 0 { return nil }
        let wait: UInt64? = state.withLock { state in
            guard let window = state.windows[peer], window.failures >= failuresPerPeerMax else { return nil }
            let end = window.startNanoseconds &+ windowNanoseconds
            guard now < end else { return nil }
            return (end - now + 999_999) / 1_000_000
        }
        if wait != nil { throttledCounter.increment() }
        return wait
    }

    /// The refusal of a throttled peer's call, or nil when its calls may be authenticated.
    func refusal(peer: String, now: UInt64) -> WaybillStatusError? {
        guard let wait = retryAfterMilliseconds(peer: peer, now: now) else { return nil }
        var error = WaybillStatusError.limit(.resourceExhausted, name: "authenticationFailuresPerPeerMax", value: failuresPerPeerMax,
                                             "too many failed authentications from this address; wait retry_after_ms")
        error.details.retryAfterMs = UInt32(clamping: wait)
        return error
    }

    /// A call from `peer` failed to authenticate at `now` (`reason` is counted, never answered).
    func recordFailure(peer: String, now: UInt64, reason: AuthenticationFailure = .unknown) {
        failureCounters[reason]?.increment()
        state.withLock { state in
            if var window = state.windows[peer], now < window.startNanoseconds &+ windowNanoseconds {
                window.failures += 1
                state.windows[peer] = window
                return
            }
            state.windows[peer] = Window(startNanoseconds: now, failures: 1)
            state.order.append((peer, now))
            Self.forgetExpiredAndExcess(&state, now: now, windowNanoseconds: windowNanoseconds, peersMax: peersMax)
            peersWithFailures.store(state.windows.count, ordering: .relaxed)
        }
    }

    /// Peers whose failures are remembered (tests: the bound on memory).
    var peersTracked: Int { state.withLock { $0.windows.count } }

    /// Drops windows from the front of `order` while they are stale, over, or too many.
    private static func forgetExpiredAndExcess(_ state: inout State, now: UInt64, windowNanoseconds: UInt64, peersMax: Int) {
        while state.orderStart < state.order.count {
            let (peer, start) = state.order[state.orderStart]
            let current = state.windows[peer]
            let stale = current?.startNanoseconds != start
            let over = now >= start &+ windowNanoseconds
            guard stale || over || state.windows.count > peersMax else { break }
            if !stale { state.windows.removeValue(forKey: peer) }
            state.orderStart += 1
        }
        // Compaction keeps `order` within twice the live windows (amortised O(1) per failure).
        if state.orderStart > 64 && state.orderStart * 2 > state.order.count {
            state.order.removeFirst(state.orderStart)
            state.orderStart = 0
        }
    }
}
