// requests.fingerprint holds a 32-byte SHA-256 BLOB (RequestFingerprint). Rows written before
// (a 64-bit integer) are kept and never match: a retry of a request sent before the upgrade is
// refused ALREADY_EXISTS instead of being applied a second time.

import GRDB
import WaybillCore

extension Fingerprint {
    /// What a pre-SHA-256 row reads as: no request's SHA-256 (all bits set).
    static let legacy = Fingerprint(bytes: [UInt8](repeating: 0xFF, count: Fingerprint.byteCount))!
}

extension Schema {
    static func registerBlobFingerprints(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9: SHA-256 request fingerprints") { db in
            // SQLite cannot change a column's type: the table is rebuilt with the old rows as they were.
            try db.execute(sql: """
                CREATE TABLE requests_sha256 (
                    key TEXT PRIMARY KEY,
                    fingerprint BLOB NOT NULL,
                    subject TEXT NOT NULL,
                    at INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO requests_sha256 (key, fingerprint, subject, at) SELECT key, fingerprint, subject, at FROM requests;
                DROP TABLE requests;
                ALTER TABLE requests_sha256 RENAME TO requests;
                """)
        }
    }
}
