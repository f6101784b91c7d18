// A damaged database file with the real executable: `waybill serve` says the file is damaged, names
// `waybill check`, and exits with its own status instead of crashing or serving; `waybill check`
// lists what PRAGMA quick_check found; `waybill backup` writes a copy that checks ok.

import Foundation
import Testing
import WaybillProto
import WaybillStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Damaged database file", .serialized, .timeLimit(.minutes(3)),
       .enabled(if: WaybillExecutable.url != nil, "the waybill executable was not found: run `swift build` first, or set WAYBILL_EXECUTABLE"))
struct DamagedDatabaseTests {
    /// Exit status of `waybill serve` on a damaged file (Serve.damagedDatabaseExitCode).
    static let damagedExitStatus: Int32 = 3

    /// A database with a network and some orders, as one self-contained file (no -wal beside it).
    private static func makeDatabase(_ directory: TemporaryDirectory) async throws -> String {
        let copy = directory.path("sound.sqlite")
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            for n in 0..<60 { _ = try await client.captureOrder(Fixture.order("D-\(n)")) }
            _ = try DatabaseBackup.copy(from: server.databasePath, to: copy)
        }
        return copy
    }

    /// Runs the executable for at most `timeout`; a process still running then is killed (a server
    /// that started serving a damaged file would never exit by itself).
    private static func runBounded(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (result: CommandResult, timedOut: Bool) {
        let executable = try #require(WaybillExecutable.url)
        let folder = try TemporaryDirectory("bounded")
        let out = folder.path("stdout"), err = folder.path("stderr")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let exited = await eventually("waybill \(arguments.first ?? "") to exit", timeout: timeout, poll: .milliseconds(20)) { !process.isRunning }
        if !exited { kill(process.processIdentifier, SIGKILL) }
        await finish(process, "waybill \(arguments.first ?? "") after SIGKILL", within: .seconds(10))
        let result = CommandResult(status: process.terminationStatus,
                                   stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                                   stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        return (result, !exited)
    }

    private static func serve(_ database: String) async throws -> (result: CommandResult, timedOut: Bool) {
        try await runBounded(["serve", "--db", database, "--listen", "127.0.0.1:0", "--admin-listen", "off", "--threads", "1"])
    }

    @Test("pages overwritten with garbage: serve reports the damage and exits 3, check lists it; a backup checks ok")
    func garbledPages() async throws {
        let directory = try TemporaryDirectory("damaged")
        let sound = try await Self.makeDatabase(directory)
        let good = try await runWaybill(["check", "--db", sound])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("ok"))
        let backedUp = try await runWaybill(["backup", "--db", sound, "--to", directory.path("backup.sqlite")])
        #expect(backedUp.status == 0, "\(backedUp.stderr)")
        #expect(backedUp.stdout.contains("quick_check ok"))
        #expect(try await runWaybill(["check", "--db", directory.path("backup.sqlite")]).status == 0)
        let again = try await runWaybill(["backup", "--db", sound, "--to", directory.path("backup.sqlite")])
        #expect(again.status != 0 && again.stderr.contains("exists already"), "\(again.stderr)")

        // Every page but the first (the header and the schema) overwritten with a byte pattern.
        let damaged = directory.path("damaged.sqlite")
        try FileManager.default.copyItem(atPath: sound, toPath: damaged)
        let handle = try #require(FileHandle(forUpdatingAtPath: damaged))
        let size = try handle.seekToEnd()
        let pageSize: UInt64 = 4_096
        #expect(size > pageSize * 4, "a database of several pages (\(size) bytes)")
        let garbage = Data((0..<Int(pageSize)).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) })
        var offset = pageSize
        while offset < size {
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: garbage)
            offset += pageSize
        }
        try handle.close()

        let served = try await Self.serve(damaged)
        #expect(!served.timedOut, "serve must not start on a damaged file:\n\(served.result.stderr)")
        #expect(served.result.status == Self.damagedExitStatus, "\(served.result.stderr)")
        #expect(served.result.stderr.contains("the database file is damaged"), "\(served.result.stderr)")
        #expect(served.result.stderr.contains("waybill check --db \(damaged)"), "\(served.result.stderr)")

        let checked = try await runWaybill(["check", "--db", damaged])
        #expect(checked.status == 1)
        #expect(checked.stderr.contains("damaged"), "\(checked.stderr)")
    }

    @Test("a file that is not a database at all: serve reports it as damaged and exits 3")
    func notADatabase() async throws {
        let directory = try TemporaryDirectory("not-a-database")
        let path = directory.path("waybill.sqlite")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x5A, count: 65_536)))
        let served = try await Self.serve(path)
        #expect(!served.timedOut)
        #expect(served.result.status == Self.damagedExitStatus, "\(served.result.stderr)")
        #expect(served.result.stderr.contains("the database file is damaged"), "\(served.result.stderr)")
        let checked = try await runWaybill(["check", "--db", path])
        #expect(checked.status == 1)
        #expect(checked.stderr.contains("damaged"), "\(checked.stderr)")
    }
}
