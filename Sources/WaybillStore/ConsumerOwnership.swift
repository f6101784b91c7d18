// Change-feed consumers belong to the credential that created them (issue 12): the owner is stored
// with the consumer (`consumers.owner_credential_id`; NULL for consumers created before
// credentials existed). The rules of who may use which consumer are the server's
// (ChangeFeedService); these are the writer-side reads and writes they need, each inside the
// writer's transaction, so a check and the write it allows cannot be separated by another write.

import GRDB
import WaybillCore

/// A consumer and the credential that owns it ("" when it predates owners).
public struct OwnedConsumer: Sendable, Hashable {
    public var record: ConsumerRecord
    public var ownerCredentialID: String
}

extension Schema {
    static func registerConsumerOwners(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8: change-feed consumer owners") { db in
            try db.execute(sql: "ALTER TABLE consumers ADD COLUMN owner_credential_id TEXT")
            try db.execute(sql: "CREATE INDEX consumers_by_owner ON consumers (owner_credential_id)")
        }
    }
}

extension WriteContext {
    /// The consumer named `name` and its owner, or nil when there is none.
    public func ownedConsumer(_ name: String) throws -> OwnedConsumer? {
        try withDatabase { db in
            try Row.fetchOne(db, sql: """
                SELECT acknowledged_offset, acknowledged_at, registered_at, owner_credential_id FROM consumers WHERE name = ?
                """, arguments: [name]).map { row in
                OwnedConsumer(record: ConsumerRecord(name: name, acknowledgedOffset: UInt64(row[0] as Int64),
                                                     acknowledgedAt: Timestamp(millisecondsSinceEpoch: row[1]),
                                                     registeredAt: Timestamp(millisecondsSinceEpoch: row[2])),
                              ownerCredentialID: (row[3] as String?) ?? "")
            }
        }
    }

    /// How many consumers `credentialID` owns.
    public func consumerCount(ownedBy credentialID: String) throws -> Int {
        try withDatabase { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM consumers WHERE owner_credential_id = ?", arguments: [credentialID]) ?? 0
        }
    }

    /// Moves an existing consumer's acknowledged offset forward (never back, never creating one: a
    /// consumer deleted meanwhile stays deleted). Whether it moved.
    @discardableResult
    public func advanceAcknowledgement(consumer name: String, to offset: UInt64) throws -> Bool {
        try withDatabase { db in
            try db.execute(sql: "UPDATE consumers SET acknowledged_offset = ?, acknowledged_at = ? WHERE name = ? AND acknowledged_offset < ?",
                           arguments: [Int64(offset), now.millisecondsSinceEpoch, name, Int64(offset)])
            return db.changesCount > 0
        }
    }

    /// Registers `name` for `credentialID` if new (or takes over one without an owner) and moves its
    /// acknowledged offset forward (never back). The caller has checked that it may.
    @discardableResult
    public func acknowledge(consumer name: String, offset: UInt64, ownerCredentialID credentialID: String) throws -> ConsumerRecord {
        let record = try acknowledge(consumer: name, offset: offset)
        try withDatabase { db in
            try db.execute(sql: "UPDATE consumers SET owner_credential_id = ? WHERE name = ? AND owner_credential_id IS NULL",
                           arguments: [credentialID, name])
        }
        return record
    }
}
