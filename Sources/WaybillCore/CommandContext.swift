// What every command carries (who, when, which idempotency key) and what a processed key leaves behind.

/// Who asked, when, and with which idempotency key.
public struct CommandContext: Sendable {
    public var now: Timestamp
    public var clientID: String
    /// Idempotency key of lifecycle calls; "" for calls that have their own key.
    public var requestID: String
    /// Fingerprint of the request content: a retry must match it.
    public var fingerprint: UInt64

    public init(now: Timestamp, clientID: String = "", requestID: String = "", fingerprint: UInt64 = 0) {
        self.now = now
        self.clientID = clientID
        self.requestID = requestID
        self.fingerprint = fingerprint
    }
}

/// A processed idempotency key (lifecycle request id, inventory change id, ERP message id).
public struct RequestRecord: Hashable, Sendable {
    public var key: String
    public var fingerprint: UInt64
    /// The order or position it concerned.
    public var subject: String
    public var at: Timestamp
    public init(key: String, fingerprint: UInt64, subject: String, at: Timestamp) {
        self.key = key
        self.fingerprint = fingerprint
        self.subject = subject
        self.at = at
    }
}
