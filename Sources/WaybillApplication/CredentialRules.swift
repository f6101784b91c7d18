// What a credential may be: its name, its role's scopes, how many there may be, how long a
// rotation's grace may run. Pure (time and new tokens come in from the caller); the store applies
// the changes these rules accept, in the server's writer or in `waybill clients --database`.

import WaybillCore

/// Limits of credentials, each named (docs/SECURITY.md, "Credentials").
public struct CredentialLimits: Hashable, Sendable {
    /// Credentials stored, revoked ones included (a name stays taken after revocation).
    public var credentialsMax = 10_000
    /// Channels + locations one credential is scoped to.
    public var scopesPerCredentialMax = 1_000
    /// Bytes of a credential's name.
    public var credentialNameBytesMax = 64
    /// How long the previous token keeps working after a rotation that names no grace (24 h).
    public var credentialRotationGraceSecondsDefault: Int64 = 86_400
    /// The longest grace a rotation may give the previous token (30 days).
    public var credentialRotationGraceSecondsMax: Int64 = 30 * 86_400
    /// How often a server re-reads the store's credential version, so that changes written by
    /// another process on the same database file (`waybill clients --database`) take effect.
    public var credentialsRefreshIntervalMilliseconds = 500

    public init() {}

    /// Every limit, for documentation and GetServerInfo.
    public var named: [(name: String, value: Int64, description: String)] {
        [
            ("credentialsMax", Int64(credentialsMax), "credentials stored, revoked ones included"),
            ("scopesPerCredentialMax", Int64(scopesPerCredentialMax), "channels + locations one credential is scoped to"),
            ("credentialNameBytesMax", Int64(credentialNameBytesMax), "bytes of a credential's name ([A-Za-z0-9._-])"),
            ("credentialRotationGraceSecondsDefault", credentialRotationGraceSecondsDefault,
             "seconds the previous token keeps working after a rotation that names no grace"),
            ("credentialRotationGraceSecondsMax", credentialRotationGraceSecondsMax, "the longest grace of a rotation, in seconds"),
            ("credentialsRefreshIntervalMilliseconds", Int64(credentialsRefreshIntervalMilliseconds),
             "how often the server re-reads credentials written by another process"),
        ]
    }
}

/// A new credential as asked for (CreateCredential, `waybill clients add`).
public struct CredentialRequest: Sendable, Hashable {
    public var name: String
    public var role: Role
    public var channels: [String]
    public var locations: [String]
    /// Seconds from now until the credential ends on its own; nil = until revoked.
    public var expiresInSeconds: Int64?
    public var certificateSubject: String?

    public init(name: String, role: Role, channels: [String] = [], locations: [String] = [], expiresInSeconds: Int64? = nil,
                certificateSubject: String? = nil) {
        self.name = name
        self.role = role
        self.channels = channels
        self.locations = locations
        self.expiresInSeconds = expiresInSeconds
        self.certificateSubject = certificateSubject
    }
}

public enum CredentialRules {
    /// Characters of a name: it is recorded as who acted (history, events, logs), so nothing that
    /// needs quoting there.
    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }

    public static func validateName(_ name: String, limits: CredentialLimits, field: String = "name") throws(DomainError) {
        if name.isEmpty { throw DomainError.invalid(field, "a credential needs a name (1 to \(limits.credentialNameBytesMax) characters of A-Z a-z 0-9 . _ -)") }
        if name.utf8.count > limits.credentialNameBytesMax {
            throw DomainError.limit("credentialNameBytesMax", limits.credentialNameBytesMax, field: field, "\(name.utf8.count) bytes")
        }
        if let bad = name.unicodeScalars.first(where: { !isNameCharacter($0) }) {
            throw DomainError.invalid(field, "\"\(bad.escaped(asASCII: true))\" is not allowed in a credential name (A-Z a-z 0-9 . _ -)")
        }
    }

    /// A channel scope as its canonical name ("web", "click_and_collect"): accepts the canonical
    /// name, kebab case and the proto enum name (CHANNEL_CLICK_AND_COLLECT), any letter case.
    public static func channelName(_ text: String) -> String? {
        var key = text.lowercased().replacingOccurrences(of: "-", with: "_")
        if key.hasPrefix("channel_") { key.removeFirst("channel_".count) }
        return Channel.allCases.first { $0.name == key }?.name
    }

    /// The request's scopes, canonical (channel names), deduplicated and sorted, or the reason
    /// they do not fit the role: a channel credential needs at least one channel, a fulfillment
    /// credential at least one location, the other roles none. Locations need not exist yet
    /// (a store's credential may be issued before the store is loaded into the network).
    public static func scopes(role: Role, channels: [String], locations: [String], limits: CredentialLimits,
                              identifierBytesMax: Int = DomainLimits.default.identifierBytesMax) throws(DomainError)
        -> (channels: [String], locations: [String]) {
        var channelNames: Set<String> = []
        for (index, text) in channels.enumerated() {
            guard let name = channelName(text) else {
                throw DomainError.invalid("channels[\(index)]", "unknown channel \"\(text)\" (known: \(Channel.allCases.map(\.name).joined(separator: ", ")))")
            }
            channelNames.insert(name)
        }
        var locationIDs: Set<String> = []
        for (index, location) in locations.enumerated() {
            if location.isEmpty { throw DomainError.invalid("locations[\(index)]", "a location id must not be empty") }
            if location.utf8.count > identifierBytesMax {
                throw DomainError.limit("identifierBytesMax", identifierBytesMax, field: "locations[\(index)]", "\(location.utf8.count) bytes")
            }
            locationIDs.insert(location)
        }
        let count = channelNames.count + locationIDs.count
        if count > limits.scopesPerCredentialMax {
            throw DomainError.limit("scopesPerCredentialMax", limits.scopesPerCredentialMax, field: "locations", "\(count) scopes")
        }
        switch role {
        case .channel:
            if channelNames.isEmpty { throw DomainError.invalid("channels", "a channel credential needs at least one channel") }
            if !locationIDs.isEmpty { throw DomainError.invalid("locations", "a channel credential is scoped to channels, not locations") }
        case .fulfillment:
            if locationIDs.isEmpty { throw DomainError.invalid("locations", "a fulfillment credential needs at least one location") }
            if !channelNames.isEmpty { throw DomainError.invalid("channels", "a fulfillment credential is scoped to locations, not channels") }
        case .erp, .admin:
            if !channelNames.isEmpty || !locationIDs.isEmpty {
                throw DomainError.invalid(channelNames.isEmpty ? "locations" : "channels",
                                          "an \(role.rawValue) credential has no scopes (it acts for every channel and location)")
            }
        }
        return (channelNames.sorted(), locationIDs.sorted())
    }

    /// The grace, in milliseconds, of a rotation asked with `graceSeconds` (nil = the default;
    /// 0 = the previous token stops at once).
    public static func rotationGraceMilliseconds(_ graceSeconds: Int64?, limits: CredentialLimits) throws(DomainError) -> Int64 {
        let seconds = graceSeconds ?? limits.credentialRotationGraceSecondsDefault
        if seconds < 0 { throw DomainError.invalid("grace_seconds", "must not be negative") }
        if seconds > limits.credentialRotationGraceSecondsMax {
            throw DomainError(.invalidArgument, "grace_seconds: \(seconds) exceeds credentialRotationGraceSecondsMax (\(limits.credentialRotationGraceSecondsMax))",
                              field: "grace_seconds", limitName: "credentialRotationGraceSecondsMax", limitValue: limits.credentialRotationGraceSecondsMax)
        }
        return seconds * 1_000
    }

    /// Longest `expires_in_seconds` accepted (about 100 years): beyond it, "never" is meant.
    public static let expiresInSecondsMax: Int64 = 100 * 366 * 86_400

    public static func validateExpiry(_ seconds: Int64?) throws(DomainError) {
        guard let seconds else { return }
        if seconds <= 0 { throw DomainError.invalid("expires_in_seconds", "must be positive (omit it for a credential that lasts until revoked)") }
        if seconds > expiresInSecondsMax { throw DomainError.invalid("expires_in_seconds", "at most \(expiresInSecondsMax) (omit it for no expiry)") }
    }

    public static func validateCertificateSubject(_ subject: String?) throws(DomainError) {
        guard let subject else { return }
        if subject.isEmpty || subject.utf8.count > 256 {
            throw DomainError.invalid("certificate_subject", "a certificate subject common name is 1 to 256 bytes")
        }
    }

    /// A new credential id: "cred-" + 16 hex digits from `randomBits` (the caller's random source).
    public static func makeID(randomBits: UInt64) -> String {
        let hex = String(randomBits, radix: 16)
        return "cred-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension CredentialRecord {
    /// What the credential is now: active, revoked, or ended on its own.
    public func state(at now: Timestamp) -> CredentialState {
        if revokedAt != nil { return .revoked }
        if let expiresAt, now >= expiresAt { return .expired }
        return .active
    }

    /// Until when the previous token of a rotation still works, if it does at `now`.
    public func rotationGraceEnd(at now: Timestamp) -> Timestamp? {
        guard previousTokenHash != nil, let until = previousTokenExpiresAt, now < until, state(at: now) == .active else { return nil }
        return until
    }
}

public enum CredentialState: String, Sendable, Hashable {
    case active, revoked, expired
}
