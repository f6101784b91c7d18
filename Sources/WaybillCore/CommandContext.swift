// What every command carries (who, when, which idempotency key) and what a processed key leaves behind.

/// Who asked, when, and with which idempotency key.
public struct CommandContext: Sendable {
    public var now: Timestamp
    public var clientID: String
    /// Idempotency key of lifecycle calls; "" for calls that have their own key.
    public var requestID: String
    /// Fingerprint of the request content: a retry must match it.
    public var fingerprint: Fingerprint

    public init(now: Timestamp, clientID: String = "", requestID: String = "", fingerprint: Fingerprint = .none) {
        self.now = now
        self.clientID = clientID
        self.requestID = requestID
        self.fingerprint = fingerprint
    }
}

/// A processed idempotency key (lifecycle request id, inventory change id, ERP message id).
public struct RequestRecord: Hashable, Sendable {
    public var key: String
    public var fingerprint: Fingerprint
    /// The order or position it concerned.
    public var subject: String
    public var at: Timestamp
    public init(key: String, fingerprint: Fingerprint, subject: String, at: Timestamp) {
        self.key = key
        self.fingerprint = fingerprint
        self.subject = subject
        self.at = at
    }
}

/// The fingerprint of a request's content: 32 bytes, a SHA-256 computed outside the core
/// (WaybillApplication.RequestFingerprint), so a crafted request cannot collide with another's
/// and pass itself off as its retry. Compared as four words.
public struct Fingerprint: Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public static let byteCount = 32
    private var word0: UInt64
    private var word1: UInt64
    private var word2: UInt64
    private var word3: UInt64

    /// No fingerprint (a record whose key is only a marker).
    public static let none = Fingerprint(0)

    /// From 32 bytes; nil for any other length (a row written before fingerprints were SHA-256).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() { words[index / 8] = words[index / 8] << 8 | UInt64(byte) }
        (word0, word1, word2, word3) = (words[0], words[1], words[2], words[3])
    }

    /// A fingerprint Waybill derives itself from a small number (keys of its own commands, tests):
    /// never equal to a request's SHA-256 in practice (its first 24 bytes are zero).
    public init(_ value: UInt64) {
        (word0, word1, word2, word3) = (0, 0, 0, value)
    }

    public init(integerLiteral value: UInt64) { self.init(value) }

    public var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for word in [word0, word1, word2, word3] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return bytes
    }

    /// A distinct fingerprint for part `value` of one request (the n-th change of a batch, a
    /// location's slice): still a function of the whole request.
    public func deriving(_ value: UInt64) -> Fingerprint {
        var derived = self
        derived.word3 ^= value
        derived.word2 ^= 0x9E37_79B9_7F4A_7C15
        return derived
    }

    public var description: String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}
