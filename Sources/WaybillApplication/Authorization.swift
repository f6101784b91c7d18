// Where authorization decisions are made: one place for every transport and the in-process
// simulator. Today every caller may call every method (Waybill trusts its network); the issue that
// adds authentication fills in who the caller is and what it may do.

/// Who is calling: today the client id the caller states (not proven).
public struct Caller: Sendable, Hashable {
    public var clientID: String
    public init(clientID: String) { self.clientID = clientID }
}

public enum AuthorizationDecision: Sendable, Equatable {
    case allowed
    /// PERMISSION_DENIED with this message.
    case denied(String)
}

public struct Authorization: Sendable {
    public init() {}

    /// Whether `caller` may call `method`. Every caller is allowed until authentication exists.
    public func decide(_ caller: Caller, method: String) -> AuthorizationDecision { .allowed }
}
