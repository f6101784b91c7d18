// The live driver's server as a child process (`waybill serve`), for scenarios with server
// faults: a kill -9 needs the server in a process of its own. It runs on a temporary database on
// the simulation's compressed clock (`serve --clock T@WxS`, a function of the wall clock alone,
// so a restart continues the same simulated time), is killed with SIGKILL and restarted on the
// same database and port, or stopped with SIGSTOP and continued with SIGCONT.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class LiveServerProcess: @unchecked Sendable {
    /// How long a start may take before the run gives up (a debug build on a loaded machine).
    static let startTimeoutMilliseconds: UInt64 = 60_000
    /// How long a SIGTERM'd server may take to drain before it is killed.
    static let stopTimeoutMilliseconds: UInt64 = 20_000

    let executable: String
    let database: String
    let clock: String
    /// More `serve` flags (the scenario's live.server settings that `serve` has flags for).
    let extraArguments: [String]
    let directory: URL
    private(set) var port = 0
    private(set) var starts = 0
    // Touched by one task at a time: the driver starts it, the fault schedule kills and restarts
    // it in order, and the driver stops it after the schedule finished.
    private var process: Process?

    init(executable: String, directory: URL, clock: String, extraArguments: [String] = []) {
        self.executable = executable
        self.extraArguments = extraArguments
        self.directory = directory
        database = directory.appendingPathComponent("sim.sqlite").path
        self.clock = clock
    }

    /// The waybill executable: `serverExecutable`, or this process when it is `waybill`.
    static func locateExecutable(_ explicit: String?) throws -> String {
        if let explicit {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw ScenarioError("server executable \(explicit) is not executable") }
            return explicit
        }
        if let own = Bundle.main.executablePath, URL(fileURLWithPath: own).lastPathComponent == "waybill" { return own }
        throw ScenarioError("server faults run `waybill serve` as a child process: run them with the waybill executable "
                            + "(SimulationOptions.serverExecutable names it when the simulator is embedded elsewhere)")
    }

    var logPath: String { directory.appendingPathComponent("server-\(starts).log").path }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts the server (on the port of the previous start, if any) and waits until it listens.
    func start() async throws {
        starts += 1
        let path = logPath
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["serve", "--db", database, "--listen", "127.0.0.1:\(port)", "--admin-listen", "off", "--threads", "2",
                           "--log-level", "info", "--clock", clock] + extraArguments
        child.standardError = logHandle
        child.standardOutput = logHandle
        child.standardInput = FileHandle.nullDevice
        try child.run()
        try? logHandle.close()
        process = child
        let deadline = wallNanoseconds() + Self.startTimeoutMilliseconds * 1_000_000
        while wallNanoseconds() < deadline {
            if let listening = Self.listeningPort(in: log) {
                port = listening
                return
            }
            if !child.isRunning { throw ScenarioError("waybill serve exited with status \(child.terminationStatus) on start \(starts):\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(child.processIdentifier, SIGKILL)
        throw ScenarioError("waybill serve did not listen within \(Self.startTimeoutMilliseconds / 1000) s:\n\(log)")
    }

    /// SIGKILL: no drain, no final checkpoint; returns once the process is gone.
    func kill9() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await exited(within: Self.stopTimeoutMilliseconds)
    }

    /// SIGSTOP: the process keeps its sockets (connections stay open, nothing is answered).
    func pause() { if let process, process.isRunning { kill(process.processIdentifier, SIGSTOP) } }
    func resume() { if let process, process.isRunning { kill(process.processIdentifier, SIGCONT) } }

    /// SIGTERM (graceful), then SIGKILL if it does not exit in time.
    func stop() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGTERM)
        if await !exited(within: Self.stopTimeoutMilliseconds) {
            kill(process.processIdentifier, SIGKILL)
            _ = await exited(within: Self.stopTimeoutMilliseconds)
        }
    }

    /// Polls without blocking a thread of the cooperative pool.
    private func exited(within milliseconds: UInt64) async -> Bool {
        guard let process else { return true }
        let deadline = wallNanoseconds() + milliseconds * 1_000_000
        while process.isRunning {
            if wallNanoseconds() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// "address=127.0.0.1:PORT" in the "waybill listening" log line.
    static func listeningPort(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("waybill listening") }),
              let range = line.range(of: "address=127.0.0.1:") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGKILL)
        }
    }
}
