// `waybill serve` as a child process, for durability tests that kill it with SIGKILL.

import Dispatch
import Foundation
import Synchronization
import Testing
import WaybillClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `waybill` executable built by `swift build` next to the test bundle, if there is one.
enum WaybillExecutable {
    static let url: URL? = locate()


    private static func locate() -> URL? {
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["WAYBILL_EXECUTABLE"] {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        if let first = CommandLine.arguments.first {
            let bundle = URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent()
            candidates.append(bundle.appendingPathComponent("waybill"))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("waybill"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("waybill"))
        // Tests/WaybillServerTests/Support/ServerProcess.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/waybill"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}

/// One `waybill serve --db PATH --listen 127.0.0.1:0` process; the port is read from its log.
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let logPath: String
    let database: String

    private init(process: Process, port: Int, logPath: String, database: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
        self.database = database
    }

    /// The admin token `waybill serve` wrote next to the database on its first start.
    var adminToken: String {
        ((try? String(contentsOfFile: database + ".admin-token", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A client configuration calling as that admin.
    var adminClientConfiguration: ClientConfiguration {
        var configuration = ClientConfiguration()
        configuration.token = adminToken
        return configuration
    }

    static func start(database: String, logPath: String) async throws -> ServerProcess {
        let executable = try #require(WaybillExecutable.url, "the waybill executable was not found (run `swift build` first, or set WAYBILL_EXECUTABLE)")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--db", database, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--threads", "2", "--log-level", "info"]
        process.standardError = log
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        var port: Int?
        let started = await eventually("waybill serve to listen", timeout: .seconds(60), poll: .milliseconds(20)) {
            port = Self.listeningPort(in: logPath)
            return port != nil || !process.isRunning
        }
        guard started, let port else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            await finish(process, "waybill serve after SIGKILL", within: .seconds(30))
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw TimedOut(what: "waybill serve to report its port; log:\n\(text)")
        }
        return ServerProcess(process: process, port: port, logPath: logPath, database: database)
    }

    /// A test that fails half-way must not leave a server running.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The admin listener's port ("admin listening" log line).
    var adminPort: Int? { Self.listeningPort(in: logPath, line: "admin listening") }

    /// "address=127.0.0.1:PORT" in the "waybill listening" (or another) log line.
    private static func listeningPort(in path: String, line marker: String = "waybill listening") -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.contains(marker) }),
              let range = line.range(of: "address=127.0.0.1:") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// SIGKILL: no drain, no final checkpoint, no chance to flush anything.
    func kill9() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        await waitUntilExit()
    }

    /// SIGTERM: graceful shutdown; returns the exit status. A server still running after
    /// `within` fails the test and is killed (a hung shutdown costs one test, not the run).
    func terminate(within bound: Duration = .seconds(60)) async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        if !(await exited(process, within: bound)) {
            Issue.record("waybill serve did not exit within \(bound) of SIGTERM; killed. Log:\n\(log)")
            await kill9()
        }
        return process.terminationStatus
    }

    /// Waits for the process to die after SIGKILL (the kernel ends it promptly).
    private func waitUntilExit() async {
        await finish(process, "waybill serve after SIGKILL", within: .seconds(30))
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
