// `waybill backup --db LIVE --to FILE`: an online, consistent copy of the database while the server
// runs (same machine; SQLite's file locks coordinate). See DatabaseBackup and docs/OPERATIONS.md.

import ArgumentParser
import Foundation
import WaybillStore

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the database to a new file while the server keeps serving.",
        discussion: "The copy is the database as of the moment the backup began (one read snapshot); captures are not blocked. "
            + "FILE must not exist; it appears only once whole, fsynced and passing PRAGMA quick_check. "
            + "Restore: stop the server, put FILE in place of the database (no -wal/-shm beside it), start `waybill serve --db FILE`.")

    @Option(help: "The live database file (the server's --db).") var db = "./waybill.sqlite"
    @Option(help: "The new backup file (must not exist).") var to: String
    @Option(help: "Pages copied per step (backupPagesPerStep).") var pagesPerStep = Int(BackupLimits().backupPagesPerStep)
    @Option(help: "Milliseconds paused between steps (backupPauseMilliseconds).") var pauseMs = BackupLimits().backupPauseMilliseconds

    func validate() throws {
        guard (1...Int(Int32.max)).contains(pagesPerStep), pauseMs >= 0 else {
            throw ValidationError("--pages-per-step must be at least 1 and --pause-ms at least 0")
        }
    }

    func run() throws {
        var limits = BackupLimits()
        limits.backupPagesPerStep = Int32(pagesPerStep)
        limits.backupPauseMilliseconds = pauseMs
        do {
            let report = try DatabaseBackup.copy(from: db, to: to, limits: limits)
            print("backup of \(db) written to \(to): \(report.pages) pages, \(report.bytes) bytes in \(report.steps) steps, "
                + String(format: "%.2f s", report.seconds) + "; quick_check ok")
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
