// `waybill check --db FILE`: PRAGMA quick_check of a database file, e.g. after `waybill serve`
// reported it damaged. Exit status 0 when sound, 1 otherwise.

import ArgumentParser
import Foundation
import WaybillStore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a database file for damage (PRAGMA quick_check).",
        discussion: "Safe while the server runs. A damaged file: restore the last backup (docs/OPERATIONS.md).")

    @Option(help: "The database file.") var db = "./waybill.sqlite"

    func run() throws {
        let rows: [String]
        do {
            rows = try DatabaseCheck.quickCheck(path: db)
        } catch {
            let damage = DatabaseCheck.damage(in: error).map { "the database file is damaged: \($0)" } ?? "\(error)"
            FileHandle.standardError.write(Data("\(db): \(damage)\n".utf8))
            throw ExitCode(1)
        }
        if rows == ["ok"] {
            print("\(db): ok (PRAGMA quick_check)")
            return
        }
        FileHandle.standardError.write(Data("\(db): the database file is damaged; PRAGMA quick_check found \(rows.count) problem(s):\n".utf8))
        for row in rows { FileHandle.standardError.write(Data("  \(row)\n".utf8)) }
        throw ExitCode(1)
    }
}
