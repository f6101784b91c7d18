// How the live driver sends one call: again after a refusal that did nothing and named a wait
// (overload shedding, a storage failure), and again — with the same bytes, so the same
// idempotency key, external id or message id — after no answer came (the connection was lost, or
// with server faults, the deadline passed), reconnecting first when the connection is gone. What a
// well-behaved channel client does; the latency still counts from the intended send time, so
// waits and outages show in the report. The fault monitor sees every unanswered and answered
// call and measures outages from the driver's side.

import Dispatch
import Foundation
import NIOCore
import Synchronization
import WaybillClient
import WaybillProto

/// The live driver's limits for calls without an answer.
public enum LiveFaultLimits {
    /// How often one call is sent again after a refusal that named retry_after_ms.
    public static let refusalRetriesMax = 50
    /// How long (wall) one call is sent again for after its first attempt without an answer;
    /// past it the model is told the call timed out and reads the outcome back. Longer than any
    /// server fault's down_seconds (FaultConfig.serverDownSecondsMax) plus a restart.
    public static let unansweredResendWindowMilliseconds: UInt64 = 90_000
    /// Wall time between sending again (and reconnecting) while the server does not answer.
    public static let unansweredResendDelayMilliseconds = 100
}

/// Outages as the driver sees them: from the first attempt of a call that got no answer to the
/// next answer from the server.
final class LiveFaultMonitor: Sendable {
    struct Outage: Sendable {
        /// Wall (monotonic) ns: the send of the first attempt that got no answer.
        var start: UInt64
        /// The first answer after it; nil while the server is still silent.
        var end: UInt64?
        var unansweredAttempts: Int
    }
    private struct State {
        var outages: [Outage] = []
        var resent = 0
    }
    private let state = Mutex(State())

    func unanswered(sentAt: UInt64, resending: Bool) {
        state.withLock { state in
            if resending { state.resent += 1 }
            if let last = state.outages.indices.last, state.outages[last].end == nil {
                state.outages[last].start = min(state.outages[last].start, sentAt)
                state.outages[last].unansweredAttempts += 1
            } else {
                state.outages.append(Outage(start: sentAt, end: nil, unansweredAttempts: 1))
            }
        }
    }

    func answered(at time: UInt64) {
        state.withLock { state in
            if let last = state.outages.indices.last, state.outages[last].end == nil, time > state.outages[last].start {
                state.outages[last].end = time
            }
        }
    }

    var outages: [Outage] { state.withLock { $0.outages } }
    /// Attempts sent again because the previous one got no answer.
    var resent: Int { state.withLock { $0.resent } }
}

/// One call on its way, sent until answered (within the limits above).
struct LiveCall: Sendable {
    let connection: LiveConnection
    let method: String
    let payload: [UInt8]
    /// The calling actor's bearer token (nil: none), sent with every attempt.
    let token: String?
    let timeoutMilliseconds: UInt32
    /// Whether a call whose deadline passed is sent again (runs with server faults: a paused
    /// server answers nothing) rather than handed to the model as timed out.
    let resendsTimedOut: Bool
    let monitor: LiveFaultMonitor
    let completion: @Sendable (Result<[UInt8], any Error>) -> Void

    enum Outcome {
        case answered
        /// Refused without doing anything; send again after this many ms.
        case refused(milliseconds: Int)
        /// No answer: the connection is gone (true), or the deadline passed (false).
        case unanswered(connectionLost: Bool)
    }

    static func outcome(_ result: Result<[UInt8], any Error>) -> Outcome {
        guard case .failure(let error) = result else { return .answered }
        guard let status = error as? WaybillStatusError else { return .unanswered(connectionLost: true) }
        if status.details.retryAfterMs > 0, status.code == .resourceExhausted || status.code == .unavailable {
            return .refused(milliseconds: Int(status.details.retryAfterMs))
        }
        switch status.code {
        case .unavailable: return .unanswered(connectionLost: true)
        case .deadlineExceeded, .cancelled: return .unanswered(connectionLost: false)
        default: return .answered
        }
    }

    func start() { attempt(refusalsLeft: LiveFaultLimits.refusalRetriesMax, firstUnanswered: nil) }

    private func attempt(refusalsLeft: Int, firstUnanswered: UInt64?) {
        let sentAt = wallNanoseconds()
        guard let client = connection.client else {
            // Not connected (the server is down): reconnect, then try again.
            unanswered(client: nil, connectionLost: true, sentAt: sentAt, refusalsLeft: refusalsLeft, firstUnanswered: firstUnanswered,
                       result: .failure(WaybillStatusError(.unavailable, "not connected to \(connection.host):\(connection.port)")))
            return
        }
        client.send(method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds, token: token).whenComplete { result in
            switch Self.outcome(result) {
            case .answered:
                monitor.answered(at: wallNanoseconds())
                completion(result)
            case .refused(let milliseconds):
                monitor.answered(at: wallNanoseconds())
                guard refusalsLeft > 0 else { completion(result); return }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) {
                    attempt(refusalsLeft: refusalsLeft - 1, firstUnanswered: firstUnanswered)
                }
            case .unanswered(let connectionLost):
                unanswered(client: client, connectionLost: connectionLost, sentAt: sentAt, refusalsLeft: refusalsLeft,
                           firstUnanswered: firstUnanswered, result: result)
            }
        }
    }

    private func unanswered(client: WaybillClient?, connectionLost: Bool, sentAt: UInt64, refusalsLeft: Int, firstUnanswered: UInt64?,
                            result: Result<[UInt8], any Error>) {
        let first = firstUnanswered ?? sentAt
        let resends = (connectionLost || resendsTimedOut)
            && wallNanoseconds() - first < LiveFaultLimits.unansweredResendWindowMilliseconds * 1_000_000
        monitor.unanswered(sentAt: sentAt, resending: resends)
        guard resends else { completion(result); return }
        guard connectionLost else {
            // The deadline already waited; the connection still stands (a paused server).
            attempt(refusalsLeft: refusalsLeft, firstUnanswered: first)
            return
        }
        let connection = self.connection
        Task {
            await connection.reconnect(replacing: client)
            try? await Task.sleep(for: .milliseconds(LiveFaultLimits.unansweredResendDelayMilliseconds))
            attempt(refusalsLeft: refusalsLeft, firstUnanswered: first)
        }
    }
}
