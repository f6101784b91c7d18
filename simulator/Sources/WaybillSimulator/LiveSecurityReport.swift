// What a live run proves about security: over which transport it ran, which credentials its actors
// held, how many calls each role made, and that none was refused for want of a credential, a role
// or a scope (UNAUTHENTICATED, PERMISSION_DENIED, or NOT_FOUND for an order that exists: the answer
// a caller gets for another channel's order). The `callers_authorized` check fails on any.

import Synchronization
import WaybillApplication
import WaybillCore
import WaybillProto

public struct SecurityReport: Codable, Sendable {
    /// "TLS (…)" or "plaintext".
    public var transport: String
    /// Credentials the actors held, by role name.
    public var credentialsByRole: [String: Int]
    /// Calls sent, by the role of the credential they carried ("none": without one).
    public var callsByRole: [String: Int]
    public var unauthenticated: Int
    public var permissionDenied: Int
    /// NOT_FOUND for an order the run knows exists (or for its own feed consumer): a scope refusal.
    public var notFoundInScope: Int
    /// Up to `LiveSecurityTally.examplesMax` refusals: RPC, role and the server's message.
    public var examples: [String]

    public var refusals: Int { unauthenticated + permissionDenied + notFoundInScope }

    var check: CheckResult {
        let calls = callsByRole.keys.sorted().map { "\($0) \(callsByRole[$0]!)" }.joined(separator: ", ")
        var detail = "\(unauthenticated) calls refused UNAUTHENTICATED, \(permissionDenied) PERMISSION_DENIED, "
            + "\(notFoundInScope) NOT_FOUND for an existing order; \(transport); calls by role: \(calls)"
        if !examples.isEmpty { detail += "; e.g. " + examples.joined(separator: " | ") }
        return CheckResult(name: "callers_authorized", passed: refusals == 0 && callsByRole["none"] == nil, detail: detail)
    }

    var summaryLines: [String] {
        let credentials = credentialsByRole.keys.sorted().map { "\(credentialsByRole[$0]!) \($0)" }.joined(separator: ", ")
        let calls = callsByRole.keys.sorted().map { "\($0) \(callsByRole[$0]!)" }.joined(separator: ", ")
        return ["  security: \(transport); credentials: \(credentials); calls by role: \(calls)"]
    }
}

/// Counts, from the live driver's threads, what `SecurityReport` reports.
final class LiveSecurityTally: Sendable {
    static let examplesMax = 5
    private struct State {
        var callsByRole: [String: Int] = [:]
        var unauthenticated = 0
        var permissionDenied = 0
        var notFoundInScope = 0
        var examples: [String] = []
    }
    private let state = Mutex(State())

    func sent(as actor: SimActor) {
        let role = actor.role?.rawValue ?? "none"
        state.withLock { $0.callsByRole[role, default: 0] += 1 }
    }

    /// An answer to `request` sent as `actor`: counted when it is a refusal of the caller.
    func answered(_ request: SimRequest, as actor: SimActor, _ result: Result<[UInt8], any Error>) {
        guard case .failure(let error) = result, let status = error as? WaybillStatusError else { return }
        let refusal: WritableKeyPath<State, Int>
        switch status.code {
        case .unauthenticated: refusal = \.unauthenticated
        case .permissionDenied: refusal = \.permissionDenied
        case .notFound:
            // A read-back by external id may rightly find nothing (the capture never happened);
            // every other call names an order or consumer the run knows exists.
            if case .getOrderByKey = request { return }
            refusal = \.notFoundInScope
        default: return
        }
        let example = "\(request.rpc.name) as \(actor.role?.rawValue ?? "no credential"): \(status.code.name) \(status.message)"
        state.withLock { state in
            state[keyPath: refusal] += 1
            if state.examples.count < Self.examplesMax { state.examples.append(example) }
        }
    }

    func report(transport: String, credentials: [CredentialSeed]) -> SecurityReport {
        var byRole: [String: Int] = [:]
        for seed in credentials { byRole[seed.role.rawValue, default: 0] += 1 }
        return state.withLock { state in
            SecurityReport(transport: transport, credentialsByRole: byRole, callsByRole: state.callsByRole,
                           unauthenticated: state.unauthenticated, permissionDenied: state.permissionDenied,
                           notFoundInScope: state.notFoundInScope, examples: state.examples)
        }
    }
}
