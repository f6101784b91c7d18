// Telling a damaged database file apart from other failures, and checking a file on request
// (`waybill check`, PRAGMA quick_check): a damaged file is reported as such, never a crash.

import Foundation
import GRDB
import GRDBSQLite

public enum DatabaseCheck {
    /// What PRAGMA quick_check says about the file at `path`: ["ok"] when sound, otherwise one row
    /// per problem. Throws when the file cannot be opened or is not a database at all.
    public static func quickCheck(path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw BackupError(description: "no database at \(path)")
        }
        // Read-write without create: a WAL database needs its -shm; nothing is written.
        let db = try DatabaseBackup.openConnection(path, flags: SQLITE_OPEN_READWRITE, what: "the database")
        defer { sqlite3_close_v2(db) }
        sqlite3_busy_timeout(db, 5_000)
        return try DatabaseBackup.quickCheck(db)
    }

    /// SQLite's message when `error` says the database file is damaged (SQLITE_CORRUPT, or
    /// SQLITE_NOTADB: not a database file at all); nil for any other error.
    public static func damage(in error: any Error) -> String? {
        if let error = error as? BackupError {
            guard let code = error.sqliteCode, code == SQLITE_CORRUPT || code == SQLITE_NOTADB else { return nil }
            return error.description
        }
        guard let error = error as? DatabaseError,
              error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB else { return nil }
        return error.message ?? "\(error.resultCode)"
    }
}
