// Who a call comes from, decided before it is dispatched, on both transports: the bearer token
// in its `authorization` metadata (or, without one, the verified client certificate of a mutual
// TLS connection), looked up in the credential directory on every call, so a revocation takes
// effect on connections already open. docs/SECURITY.md.

import Logging
import WaybillApplication
import WaybillCore
import WaybillProto

/// The last token a connection presented and its hash: a connection sends the same token on every
/// call, so it is hashed once per connection, not once per call. Loop-bound (one per connection).
struct TokenMemo {
    private var token = ""
    private var hash: TokenHash?

    mutating func hash(of token: String) -> TokenHash {
        if let hash, token == self.token { return hash }
        let computed = AccessToken.hash(token)
        self.token = token
        hash = computed
        return computed
    }
}

extension Services {
    /// The caller a call proves, or the UNAUTHENTICATED answer (which never says why: that is logged
    /// and counted). `peer` is the remote address (throttling, logs).
    func authenticate(authorization: String?, certificateSubject: String?, peer: String, memo: inout TokenMemo)
        -> Result<Caller, WaybillStatusError> {
        guard configuration.authenticationRequired else { return .success(.unauthenticatedMeasurement) }
        // A peer that failed too often waits out its window before any token is looked at.
        let uptime = uptimeNanoseconds()
        if let refusal = authenticationThrottle.refusal(peer: peer, now: uptime) {
            metrics.rejected(reason: "authentication_throttled")
            return .failure(refusal)
        }
        let now = configuration.clock()
        let outcome: Result<Caller, AuthenticationFailure>
        if let authorization {
            if let token = AccessToken.fromAuthorization(authorization), !token.isEmpty {
                outcome = credentials.authenticate(tokenHash: memo.hash(of: token), now: now)
            } else {
                outcome = .failure(.malformed)
            }
        } else if let certificateSubject {
            outcome = credentials.authenticate(certificateSubject: certificateSubject, now: now)
        } else {
            outcome = .failure(.missing)
        }
        switch outcome {
        case .success(let caller): return .success(caller)
        case .failure(let reason):
            authenticationThrottle.recordFailure(peer: peer, now: uptime, reason: reason)
            logger.notice("call not authenticated", metadata: ["reason": "\(reason.rawValue)", "peer": "\(peer)"])
            return .failure(Self.unauthenticated)
        }
    }

    /// For a long-lived call (a change-feed stream): whether `caller`'s credential is still valid
    /// now (nil when authentication is off).
    func streamCredentialCheck(_ caller: Caller) -> (@Sendable () -> Bool)? {
        guard configuration.authenticationRequired else { return nil }
        let credentials = self.credentials, clock = configuration.clock, id = caller.credentialID
        return { credentials.isActive(credentialID: id, now: clock()) }
    }

    /// The only answer an unauthenticated caller gets.
    static let unauthenticated = WaybillStatusError(
        .unauthenticated, "a valid credential is required: send `authorization: Bearer TOKEN` metadata (docs/SECURITY.md)")
}

extension Caller {
    /// Every call of a server built with `authenticationRequired = false` (benchmarks measuring
    /// what authentication costs; no `waybill serve` flag sets it).
    static let unauthenticatedMeasurement = Caller(credentialID: "none", name: "unauthenticated", role: .admin)

    func maySee(_ order: Waybill_V1_Order) -> Bool {
        maySee(orderChannel: Channel(proto: order.channel)?.name ?? "", fulfillmentLocations: order.fulfillments.lazy.map(\.locationID))
    }

    func maySee(_ order: Order) -> Bool {
        maySee(orderChannel: order.channel.name, fulfillmentLocations: order.fulfillments.lazy.map(\.locationID.rawValue))
    }
}
