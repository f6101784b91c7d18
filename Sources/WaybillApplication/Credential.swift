// A credential as stored (only token hashes), and the in-memory directory every call is
// authenticated against.

import Synchronization
import WaybillCore

/// One credential: a name, a role and its scopes, and the hashes of the tokens that prove it.
public struct CredentialRecord: Sendable, Hashable {
    /// Stable id ("cred-…"): feed consumers and audit refer to it.
    public var id: String
    /// Unique, human-chosen ("web-storefront", "store-0042", "erp-bridge"): recorded as who acted.
    public var name: String
    public var role: Role
    public var channels: [String]
    public var locations: [String]
    public var tokenHash: TokenHash
    /// After a rotation, the previous token keeps working until `previousTokenExpiresAt`.
    public var previousTokenHash: TokenHash?
    public var previousTokenExpiresAt: Timestamp?
    /// A credential that ends on its own (nil = until revoked).
    public var expiresAt: Timestamp?
    public var createdAt: Timestamp
    /// Set by revocation: every token of the credential stops working.
    public var revokedAt: Timestamp?
    /// The subject common name of a client certificate that proves this credential (mutual TLS).
    public var certificateSubject: String?

    public init(id: String, name: String, role: Role, channels: [String] = [], locations: [String] = [], tokenHash: TokenHash,
                previousTokenHash: TokenHash? = nil, previousTokenExpiresAt: Timestamp? = nil, expiresAt: Timestamp? = nil,
                createdAt: Timestamp, revokedAt: Timestamp? = nil, certificateSubject: String? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.channels = channels
        self.locations = locations
        self.tokenHash = tokenHash
        self.previousTokenHash = previousTokenHash
        self.previousTokenExpiresAt = previousTokenExpiresAt
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.certificateSubject = certificateSubject
    }

    public var caller: Caller {
        Caller(credentialID: id, name: name, role: role, channels: Set(channels), locations: Set(locations))
    }
}

/// Why a call was not authenticated. The caller is told only UNAUTHENTICATED (which of these it
/// was is logged and counted, never answered: it would help a guesser).
public enum AuthenticationFailure: String, Error, Sendable, Hashable, CaseIterable {
    case missing, malformed, unknown, revoked, expired
}

/// Every credential, by token hash and by certificate subject. Replaced whole when credentials
/// change (rare); read on every call (a lock and a dictionary lookup).
public final class CredentialDirectory: Sendable {
    private struct Tables: Sendable {
        var byTokenHash: [TokenHash: CredentialRecord] = [:]
        var byCertificateSubject: [String: CredentialRecord] = [:]
        var byID: [String: CredentialRecord] = [:]
        /// Each credential's caller, built once per change, not once per call (its scopes are sets).
        var callers: [String: Caller] = [:]
        /// The store's credential version these tables were read at (-1: not from the store).
        var version: Int64 = -1

        mutating func add(_ record: CredentialRecord) {
            byID[record.id] = record
            callers[record.id] = record.caller
            byTokenHash[record.tokenHash] = record
            if let previous = record.previousTokenHash { byTokenHash[previous] = record }
            if let subject = record.certificateSubject, !subject.isEmpty { byCertificateSubject[subject] = record }
        }
    }

    private let tables = Mutex(Tables())

    public init(_ records: [CredentialRecord] = []) { replaceAll(records) }

    /// Installs the current set of credentials (after a credential write commits, and at start).
    public func replaceAll(_ records: [CredentialRecord]) {
        var next = Tables()
        for record in records { next.add(record) }
        tables.withLock { $0 = next }
    }

    /// Installs `records` read at `version` of the store's credentials (a counter every credential
    /// write bumps), unless the same or a newer version is installed already: a poll that read
    /// before a write cannot undo it. True when installed.
    @discardableResult
    public func replaceAll(_ records: [CredentialRecord], version: Int64) -> Bool {
        var next = Tables()
        next.version = version
        for record in records { next.add(record) }
        return tables.withLock { tables in
            guard version > tables.version else { return false }
            tables = next
            return true
        }
    }

    /// The store's credential version installed (-1 before any).
    public var version: Int64 { tables.withLock { $0.version } }

    public var records: [CredentialRecord] { tables.withLock { Array($0.byID.values) } }
    public var isEmpty: Bool { tables.withLock { $0.byID.isEmpty } }

    /// The caller a bearer token proves at `now`.
    public func authenticate(tokenHash: TokenHash, now: Timestamp) -> Result<Caller, AuthenticationFailure> {
        let found = tables.withLock { tables in tables.byTokenHash[tokenHash].map { ($0, tables.callers[$0.id] ?? $0.caller) } }
        guard let (record, caller) = found else { return .failure(.unknown) }
        if record.revokedAt != nil { return .failure(.revoked) }
        if let expiresAt = record.expiresAt, now >= expiresAt { return .failure(.expired) }
        if tokenHash != record.tokenHash {
            // The previous token of a rotation: valid only within its grace period.
            guard let until = record.previousTokenExpiresAt, now < until else { return .failure(.expired) }
        }
        return .success(caller)
    }

    /// Whether the credential `id` may still call at `now` (known, not revoked, not expired). A
    /// long-lived call (a change-feed stream) authenticated once checks it as it goes, so a
    /// revocation or an expiry ends it too, not only the credential's next calls.
    public func isActive(credentialID id: String, now: Timestamp) -> Bool {
        guard let record = tables.withLock({ $0.byID[id] }) else { return false }
        if record.revokedAt != nil { return false }
        if let expiresAt = record.expiresAt, now >= expiresAt { return false }
        return true
    }

    /// The caller a verified client certificate's subject common name proves (mutual TLS).
    public func authenticate(certificateSubject: String, now: Timestamp) -> Result<Caller, AuthenticationFailure> {
        guard let record = tables.withLock({ $0.byCertificateSubject[certificateSubject] }) else { return .failure(.unknown) }
        if record.revokedAt != nil { return .failure(.revoked) }
        if let expiresAt = record.expiresAt, now >= expiresAt { return .failure(.expired) }
        return .success(record.caller)
    }
}

/// A credential given to a server at start with its token (embedded servers of the simulator,
/// `demo`, `bench` and tests; `waybill serve --credentials-file`): stored by name, hash only, and
/// replaced when the same name comes with another token or scope.
public struct CredentialSeed: Sendable, Hashable, Codable {
    public var name: String
    public var role: Role
    public var channels: [String]
    public var locations: [String]
    public var token: String

    public init(name: String, role: Role, channels: [String] = [], locations: [String] = [], token: String) {
        self.name = name
        self.role = role
        self.channels = channels
        self.locations = locations
        self.token = token
    }
}
