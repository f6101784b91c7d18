// Credentials in SQLite (the `credentials` table, migration v7): every CredentialRecord field, token
// hashes only. Each change bumps `credentials_version` in the meta table in the same transaction,
// so a server notices changes another process wrote (`waybill clients --database`) by polling one
// row. The server's changes run as writer jobs (WriteContext.applyCredentialChange); a process
// without a writer changes the file in its own IMMEDIATE transaction
// (WaybillDatabase.applyCredentialChange).

import Foundation
import GRDB
import WaybillApplication
import WaybillCore

extension MetaKey {
    /// Bumped by every credential write: what a server polls.
    static let credentialsVersion = "credentials_version"
}

/// A stored credential: the record every call is authenticated against, and its audit fields.
public struct StoredCredential: Sendable, Hashable {
    public var record: CredentialRecord
    /// Who created it: a credential name, "seed", "first start", or "offline: USER".
    public var createdBy: String
    public var revokedBy: String?
    /// The last rotation, if any.
    public var rotatedAt: Timestamp?
}

/// Every credential at one version of the table.
public struct CredentialSnapshot: Sendable {
    /// Sorted by name.
    public var credentials: [StoredCredential]
    public var version: Int64
    public var records: [CredentialRecord] { credentials.map(\.record) }
}

/// One change to the credentials. Tokens never reach the store: only their hashes (seeds carry
/// tokens and are hashed here, before anything is written).
public enum CredentialChange: Sendable {
    case create(CredentialRequest, tokenHash: TokenHash)
    /// Idempotent: revoking a revoked credential changes nothing.
    case revoke(name: String)
    /// A new token; the previous one keeps working for `graceSeconds` (nil = the default, 0 = none).
    case rotate(name: String, tokenHash: TokenHash, graceSeconds: Int64?)
    /// Seeds installed by name: added, or replaced when their token, role or scopes differ.
    case install([CredentialSeed])
}

/// What became of one seed.
public enum SeedOutcome: String, Sendable, Hashable {
    case added, replaced, unchanged
    /// The stored credential of that name is revoked and the seed carries its revoked token: a
    /// revoked token never comes back (a new token in the seed replaces it).
    case stillRevoked = "still revoked"
}

public struct CredentialChangeResult: Sendable {
    /// The credential created, revoked or rotated (nil for `install`).
    public var credential: StoredCredential?
    /// `revoke` of a credential revoked before.
    public var alreadyRevoked = false
    /// Locations of a new fulfillment credential the network does not have (yet).
    public var locationsNotInNetwork: [String] = []
    /// `install`: each seed's name and outcome, in the seeds' order.
    public var seeds: [(name: String, outcome: SeedOutcome)] = []
    /// Every credential after the change, read in its transaction.
    public var snapshot: CredentialSnapshot
}

/// Shortest token a seed may carry: a credentials file is no place for a password.
public let credentialSeedTokenCharactersMin = 32

enum CredentialRows {
    static func version(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.credentialsVersion]) ?? 0
    }

    static func snapshot(_ db: Database) throws -> CredentialSnapshot {
        let rows = try Row.fetchAll(db, sql: """
            SELECT id, name, role, channels, locations, token_hash, previous_token_hash, previous_token_expires_at,
                   expires_at, created_at, created_by, revoked_at, revoked_by, rotated_at, certificate_subject
            FROM credentials ORDER BY name
            """)
        return CredentialSnapshot(credentials: try rows.map(decode), version: try version(db))
    }

    private static func decode(_ row: Row) throws -> StoredCredential {
        let roleName: String = row["role"]
        guard let role = Role(rawValue: roleName) else { throw StorageError("credentials: role \"\(roleName)\" is not a role") }
        let hash: Data = row["token_hash"]
        let previous: Data? = row["previous_token_hash"]
        func time(_ column: String) -> Timestamp? { (row[column] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)) }
        let record = CredentialRecord(
            id: row["id"], name: row["name"], role: role, channels: try list(row["channels"]), locations: try list(row["locations"]),
            tokenHash: TokenHash(bytes: Array(hash)), previousTokenHash: previous.map { TokenHash(bytes: Array($0)) },
            previousTokenExpiresAt: time("previous_token_expires_at"), expiresAt: time("expires_at"),
            createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]), revokedAt: time("revoked_at"),
            certificateSubject: row["certificate_subject"])
        return StoredCredential(record: record, createdBy: row["created_by"], revokedBy: row["revoked_by"], rotatedAt: time("rotated_at"))
    }

    private static func list(_ text: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }

    private static func text(_ list: [String]) -> String {
        // An array of strings always encodes.
        String(decoding: try! JSONEncoder().encode(list), as: UTF8.self)
    }

    private static func save(_ stored: StoredCredential, _ db: Database) throws {
        let record = stored.record
        try db.execute(sql: """
            INSERT OR REPLACE INTO credentials (id, name, role, channels, locations, token_hash, previous_token_hash,
                previous_token_expires_at, expires_at, created_at, created_by, revoked_at, revoked_by, rotated_at, certificate_subject)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                record.id, record.name, record.role.rawValue, text(record.channels), text(record.locations),
                Data(record.tokenHash.bytes), record.previousTokenHash.map { Data($0.bytes) },
                record.previousTokenExpiresAt?.millisecondsSinceEpoch, record.expiresAt?.millisecondsSinceEpoch,
                record.createdAt.millisecondsSinceEpoch, stored.createdBy, record.revokedAt?.millisecondsSinceEpoch,
                stored.revokedBy, stored.rotatedAt?.millisecondsSinceEpoch, record.certificateSubject,
            ])
    }

    private static func bumpVersion(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = value + 1
            """, arguments: [MetaKey.credentialsVersion])
    }

    /// Applies `change` all-or-nothing (a savepoint: a refusal leaves nothing written). Refusals
    /// are DomainErrors; anything else is a storage failure.
    static func apply(_ change: CredentialChange, actor: String, now: Timestamp, limits: CredentialLimits,
                      identifierBytesMax: Int, _ db: Database) throws -> CredentialChangeResult {
        var result: CredentialChangeResult?
        try db.inSavepoint {
            result = try applyUnguarded(change, actor: actor, now: now, limits: limits, identifierBytesMax: identifierBytesMax, db)
            return .commit
        }
        return result!
    }

    private static func applyUnguarded(_ change: CredentialChange, actor: String, now: Timestamp, limits: CredentialLimits,
                                       identifierBytesMax: Int, _ db: Database) throws -> CredentialChangeResult {
        var existing = try snapshot(db).credentials
        func find(_ name: String) throws(DomainError) -> Int {
            guard let index = existing.firstIndex(where: { $0.record.name == name }) else {
                throw DomainError(.notFound, "name: credential \"\(name)\" not found", field: "name")
            }
            return index
        }
        var outcome = CredentialChangeResult(snapshot: CredentialSnapshot(credentials: [], version: 0))
        var changed = false
        switch change {
        case .create(let request, let tokenHash):
            try CredentialRules.validateName(request.name, limits: limits)
            let scopes = try CredentialRules.scopes(role: request.role, channels: request.channels, locations: request.locations,
                                                    limits: limits, identifierBytesMax: identifierBytesMax)
            try CredentialRules.validateExpiry(request.expiresInSeconds)
            try CredentialRules.validateCertificateSubject(request.certificateSubject)
            if let taken = existing.first(where: { $0.record.name == request.name }) {
                let revoked = taken.record.revokedAt != nil ? " (revoked; a name is never reused, so history stays unambiguous)" : ""
                throw DomainError(.alreadyExists, "credential \"\(request.name)\" exists\(revoked): choose another name, or rotate it", field: "name")
            }
            if let subject = request.certificateSubject,
               let holder = existing.first(where: { $0.record.certificateSubject == subject && $0.record.revokedAt == nil }) {
                throw DomainError(.alreadyExists, "certificate subject \"\(subject)\" already proves credential \"\(holder.record.name)\"",
                                  field: "certificate_subject")
            }
            try checkCount(existing.count + 1, limits)
            let record = CredentialRecord(
                id: newID(), name: request.name, role: request.role, channels: scopes.channels, locations: scopes.locations,
                tokenHash: tokenHash, expiresAt: request.expiresInSeconds.map { now.adding(milliseconds: $0 * 1_000) },
                createdAt: now, certificateSubject: request.certificateSubject)
            let stored = StoredCredential(record: record, createdBy: actor)
            try save(stored, db)
            outcome.credential = stored
            outcome.locationsNotInNetwork = try scopes.locations.filter { location in
                try Int.fetchOne(db, sql: "SELECT 1 FROM locations WHERE location_id = ?", arguments: [location]) == nil
            }
            changed = true

        case .revoke(let name):
            let index = try find(name)
            if existing[index].record.revokedAt != nil {
                outcome.alreadyRevoked = true
            } else {
                existing[index].record.revokedAt = now
                existing[index].revokedBy = actor
                try save(existing[index], db)
                changed = true
            }
            outcome.credential = existing[index]

        case .rotate(let name, let tokenHash, let graceSeconds):
            let grace = try CredentialRules.rotationGraceMilliseconds(graceSeconds, limits: limits)
            let index = try find(name)
            var stored = existing[index]
            switch stored.record.state(at: now) {
            case .active: break
            case .revoked:
                throw DomainError(.failedPrecondition, "credential \"\(name)\" is revoked: add a new credential instead", currentState: "REVOKED")
            case .expired:
                throw DomainError(.failedPrecondition, "credential \"\(name)\" has expired: add a new credential instead", currentState: "EXPIRED")
            }
            // One previous token at a time: a second rotation within a grace ends the first one's.
            stored.record.previousTokenHash = grace > 0 ? stored.record.tokenHash : nil
            stored.record.previousTokenExpiresAt = grace > 0 ? now.adding(milliseconds: grace) : nil
            stored.record.tokenHash = tokenHash
            stored.rotatedAt = now
            try save(stored, db)
            outcome.credential = stored
            changed = true

        case .install(let seeds):
            var names: Set<String> = [], hashes: [TokenHash: String] = [:]
            var planned: [(StoredCredential, SeedOutcome)] = []
            for (index, seed) in seeds.enumerated() {
                let field = "credentials[\(index)]"
                try CredentialRules.validateName(seed.name, limits: limits, field: field + ".name")
                guard names.insert(seed.name).inserted else { throw DomainError.invalid(field + ".name", "\"\(seed.name)\" is named twice") }
                let scopes: (channels: [String], locations: [String])
                do {
                    scopes = try CredentialRules.scopes(role: seed.role, channels: seed.channels, locations: seed.locations,
                                                        limits: limits, identifierBytesMax: identifierBytesMax)
                } catch {
                    throw DomainError(error.code, "\(field) (\(seed.name)): \(error.message)", field: field + "." + (error.field ?? ""),
                                      limitName: error.limitName, limitValue: error.limitValue)
                }
                // Never echo the token: only its length.
                if seed.token.count < credentialSeedTokenCharactersMin {
                    throw DomainError.invalid(field + ".token", "\(seed.name)'s token has \(seed.token.count) characters, fewer than "
                        + "\(credentialSeedTokenCharactersMin): use a random token (`waybill clients add` makes one)")
                }
                let hash = AccessToken.hash(seed.token)
                if let other = hashes[hash] { throw DomainError.invalid(field + ".token", "\(seed.name) has the same token as \(other)") }
                hashes[hash] = seed.name
                if let holder = existing.first(where: { $0.record.name != seed.name && ($0.record.tokenHash == hash || $0.record.previousTokenHash == hash) }) {
                    throw DomainError.invalid(field + ".token", "\(seed.name) has the token of credential \(holder.record.name)")
                }
                if let index = existing.firstIndex(where: { $0.record.name == seed.name }) {
                    var stored = existing[index]
                    let sameToken = stored.record.tokenHash == hash
                    let sameScope = stored.record.role == seed.role && stored.record.channels == scopes.channels
                        && stored.record.locations == scopes.locations
                    if sameToken && sameScope && stored.record.expiresAt == nil {
                        planned.append((stored, stored.record.revokedAt != nil ? .stillRevoked : .unchanged))
                        continue
                    }
                    stored.record.role = seed.role
                    stored.record.channels = scopes.channels
                    stored.record.locations = scopes.locations
                    stored.record.expiresAt = nil
                    if !sameToken {
                        // The seed's token replaces every token of the credential, revoked or not.
                        stored.record.tokenHash = hash
                        stored.record.previousTokenHash = nil
                        stored.record.previousTokenExpiresAt = nil
                        stored.record.revokedAt = nil
                        stored.revokedBy = nil
                        stored.rotatedAt = now
                    }
                    planned.append((stored, sameToken && stored.record.revokedAt != nil ? .stillRevoked : .replaced))
                } else {
                    let record = CredentialRecord(id: newID(), name: seed.name, role: seed.role, channels: scopes.channels,
                                                  locations: scopes.locations, tokenHash: hash, createdAt: now)
                    planned.append((StoredCredential(record: record, createdBy: actor), .added))
                }
            }
            try checkCount(existing.count + planned.filter { $0.1 == .added }.count, limits)
            for (stored, seedOutcome) in planned {
                outcome.seeds.append((stored.record.name, seedOutcome))
                if seedOutcome == .added || seedOutcome == .replaced {
                    try save(stored, db)
                    changed = true
                } else if seedOutcome == .stillRevoked, let index = existing.firstIndex(where: { $0.record.id == stored.record.id }),
                          existing[index] != stored {
                    // Role or scopes changed on a revoked credential: stored, still revoked.
                    try save(stored, db)
                    changed = true
                }
            }
        }
        if changed { try bumpVersion(db) }
        outcome.snapshot = try snapshot(db)
        return outcome
    }

    private static func checkCount(_ count: Int, _ limits: CredentialLimits) throws(DomainError) {
        if count > limits.credentialsMax {
            throw DomainError(.resourceExhausted, "credentials: \(count) would exceed credentialsMax (\(limits.credentialsMax)), revoked ones included",
                              limitName: "credentialsMax", limitValue: Int64(limits.credentialsMax))
        }
    }

    private static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return CredentialRules.makeID(randomBits: generator.next())
    }
}

extension WaybillDatabase {
    /// Every credential and the table's version (one read transaction).
    public func credentialSnapshot() throws -> CredentialSnapshot {
        try pool.read { db in try CredentialRows.snapshot(db) }
    }

    /// The table's version: one more after every credential write.
    public func credentialsVersion() throws -> Int64 {
        try pool.read { db in try CredentialRows.version(db) }
    }

    /// Applies a change in its own IMMEDIATE transaction, for a process that has no writer on this
    /// file (`waybill clients --database`, also while a server runs on it: SQLite serialises the
    /// two writers, and the server picks the change up by polling the version). Blocking.
    public func applyCredentialChange(_ change: CredentialChange, actor: String, now: Timestamp, limits: CredentialLimits,
                                      identifierBytesMax: Int = DomainLimits.default.identifierBytesMax) throws -> CredentialChangeResult {
        try pool.writeWithoutTransaction { db in
            var result: CredentialChangeResult?
            try db.inTransaction(.immediate) {
                result = try CredentialRows.apply(change, actor: actor, now: now, limits: limits, identifierBytesMax: identifierBytesMax, db)
                return .commit
            }
            return result!
        }
    }
}

extension WriteContext {
    /// Applies a change inside the writer's batch (durable when the job's reply runs). A refusal is
    /// a DomainError and writes nothing.
    public func applyCredentialChange(_ change: CredentialChange, actor: String, limits: CredentialLimits) throws -> CredentialChangeResult {
        try CredentialRows.apply(change, actor: actor, now: now, limits: limits,
                                 identifierBytesMax: engine.limits.identifierBytesMax, db)
    }
}
