// An online copy of a live Waybill database (`waybill backup`), while the server keeps serving.
//
// SQLite's online backup API copies pages from a source connection of our own. The source holds one
// read transaction for the whole copy: in WAL mode that is a snapshot (the copy is the database as of
// the moment it began, whatever commits meanwhile) and a reader never blocks the writer, so captures
// are not blocked at all; without the open transaction, every commit by the server would restart a
// stepped backup and one under continuous load would never finish. The copy goes `backupPagesPerStep`
// pages at a time with `backupPauseMilliseconds` between steps, so the I/O it competes with the
// writer for (the WAL fsync) comes in short bursts. It is written to FILE.partial, fsynced, checked
// with PRAGMA quick_check and only then renamed to FILE: a FILE that exists is a whole copy.

import Foundation
import GRDBSQLite

public struct BackupLimits: Hashable, Sendable {
    /// Pages copied per sqlite3_backup_step (4 KiB pages: 4 MiB per step).
    public var backupPagesPerStep: Int32 = 1_024
    /// Pause between steps, leaving the disk to the server's commits.
    public var backupPauseMilliseconds = 5
    public init() {}
}

public struct BackupReport: Sendable {
    public var pages: Int
    public var steps: Int
    public var bytes: Int64
    public var seconds: Double
    /// "ok", or the problems PRAGMA quick_check found in the copy.
    public var check: [String]
}

public struct BackupError: Error, CustomStringConvertible {
    public var description: String
    /// SQLite's primary result code, when SQLite refused (SQLITE_CORRUPT, SQLITE_NOTADB: a damaged file).
    public var sqliteCode: Int32?

    public init(description: String, sqliteCode: Int32? = nil) {
        self.description = description
        self.sqliteCode = sqliteCode
    }

    init(_ db: OpaquePointer, _ what: String) {
        self.init(description: "\(what): \(DatabaseBackup.message(db))", sqliteCode: sqlite3_errcode(db) & 0xFF)
    }
}

public enum DatabaseBackup {
    /// Copies the database at `source` (served or not) to `destination`, which must not exist.
    public static func copy(from source: String, to destination: String, limits: BackupLimits = BackupLimits(),
                            progress: (_ remaining: Int, _ total: Int) -> Void = { _, _ in }) throws -> BackupReport {
        guard limits.backupPagesPerStep >= 1, limits.backupPauseMilliseconds >= 0 else {
            throw BackupError(description: "backupPagesPerStep must be at least 1 and backupPauseMilliseconds at least 0")
        }
        guard FileManager.default.fileExists(atPath: source) else {
            throw BackupError(description: "no database at \(source)")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw BackupError(description: "\(destination) exists already: choose a new file (a backup never overwrites one)")
        }
        let partial = destination + ".partial"
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
        let started = DispatchTime.now().uptimeNanoseconds
        let sourceDB = try openConnection(source, flags: SQLITE_OPEN_READWRITE, what: "the database")
        defer { sqlite3_close_v2(sourceDB) }
        sqlite3_busy_timeout(sourceDB, 5_000)
        let destinationDB = try openConnection(partial, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, what: "the backup file")
        var destinationOpen = true
        defer { if destinationOpen { sqlite3_close_v2(destinationDB) } }
        do {
            try execute(destinationDB, "PRAGMA synchronous = FULL")
            // The snapshot: one read transaction around the whole copy.
            try execute(sourceDB, "BEGIN")
            defer { sqlite3_exec(sourceDB, "COMMIT", nil, nil, nil) }
            try execute(sourceDB, "SELECT count(*) FROM sqlite_master")
            guard let backup = sqlite3_backup_init(destinationDB, "main", sourceDB, "main") else {
                throw BackupError(destinationDB, "cannot start the backup")
            }
            var steps = 0, code: Int32 = SQLITE_OK
            repeat {
                code = sqlite3_backup_step(backup, limits.backupPagesPerStep)
                steps += 1
                progress(Int(sqlite3_backup_remaining(backup)), Int(sqlite3_backup_pagecount(backup)))
                if code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED {
                    if limits.backupPauseMilliseconds > 0 { usleep(UInt32(limits.backupPauseMilliseconds) * 1_000) }
                }
            } while code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED
            let pages = Int(sqlite3_backup_pagecount(backup))
            let finish = sqlite3_backup_finish(backup)
            guard code == SQLITE_DONE, finish == SQLITE_OK else {
                throw BackupError(description: "the backup failed: \(String(cString: sqlite3_errstr(code == SQLITE_DONE ? finish : code))) (\(message(destinationDB)))")
            }
            let check = try quickCheck(destinationDB)
            // Fold the copy's own WAL (if any) into the file, so FILE alone is the whole backup.
            sqlite3_exec(destinationDB, "PRAGMA wal_checkpoint(TRUNCATE)", nil, nil, nil)
            sqlite3_close_v2(destinationDB)
            destinationOpen = false
            try syncToDisk(path: partial)
            guard check == ["ok"] else {
                throw BackupError(description: "the copy does not pass PRAGMA quick_check (left at \(partial)): \(check.prefix(10).joined(separator: "; "))")
            }
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
            guard rename(partial, destination) == 0 else {
                throw BackupError(description: "cannot rename \(partial) to \(destination): \(String(cString: strerror(errno)))")
            }
            try syncToDisk(path: (destination as NSString).deletingLastPathComponent.isEmpty ? "." : (destination as NSString).deletingLastPathComponent)
            let attributes = try? FileManager.default.attributesOfItem(atPath: destination)
            let bytes = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            return BackupReport(pages: pages, steps: steps, bytes: bytes,
                                seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, check: check)
        }
    }

    static func openConnection(_ path: String, flags: Int32, what: String) throws -> OpaquePointer {
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let text = db.map { message($0) } ?? String(cString: sqlite3_errstr(code))
            if let db { sqlite3_close_v2(db) }
            throw BackupError(description: "cannot open \(what) \(path): \(text)", sqliteCode: code & 0xFF)
        }
        return db
    }

    static func execute(_ db: OpaquePointer, _ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw BackupError(db, sql)
        }
    }

    static func message(_ db: OpaquePointer) -> String { String(cString: sqlite3_errmsg(db)) }

    /// The rows PRAGMA quick_check answers: ["ok"] for a sound file.
    static func quickCheck(_ db: OpaquePointer) throws -> [String] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BackupError(db, "PRAGMA quick_check")
        }
        defer { sqlite3_finalize(statement) }
        var rows: [String] = []
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw BackupError(db, "PRAGMA quick_check") }
            rows.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "")
        }
        return rows
    }

    private static func syncToDisk(path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw BackupError(description: "cannot open \(path) to fsync it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw BackupError(description: "fsync of \(path) failed: \(String(cString: strerror(errno)))")
        }
    }
}
