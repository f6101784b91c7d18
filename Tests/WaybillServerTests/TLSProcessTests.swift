// `waybill serve --tls-cert/--tls-key` and `waybill call --tls-ca` as processes: the flags reach the
// server and the client, SIGHUP reloads the certificate without ending the process, and a key
// file others can read stops the start with the fix in the message.

import Foundation
import Testing
import WaybillTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `waybill` command run to its end: exit status and what it printed.
struct CommandRun {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// Runs `waybill ARGUMENTS` (bounded; killed and recorded if it hangs).
func runWaybill(_ arguments: [String], in directory: TemporaryDirectory, environment: [String: String] = [:]) async throws -> CommandRun {
    let executable = try #require(WaybillExecutable.url, "the waybill executable was not found (run `swift build` first)")
    let name = UUID().uuidString.prefix(8)
    let outPath = directory.path("out-\(name)"), errPath = directory.path("err-\(name)")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var inherited = ProcessInfo.processInfo.environment
    for key in ["WAYBILL_TOKEN", "WAYBILL_TOKEN_FILE", "WAYBILL_TLS_CA", "WAYBILL_SERVER"] { inherited[key] = nil }
    process.environment = inherited.merging(environment) { $1 }
    process.currentDirectoryURL = directory.url
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    await finish(process, "waybill \(arguments.first ?? "")", within: .seconds(120))
    return CommandRun(status: process.terminationStatus,
                      standardOutput: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      standardError: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// `waybill serve` with TLS flags as a child process, stopped by PID.
final class TLSServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let logPath: String

    private init(process: Process, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts it; nil port when it exited instead of listening (its log says why).
    static func start(_ arguments: [String], directory: TemporaryDirectory) async throws -> (TLSServerProcess?, String) {
        let executable = try #require(WaybillExecutable.url, "the waybill executable was not found (run `swift build` first)")
        let logPath = directory.path("serve-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--grpc-listen", "off", "--threads", "2",
                             "--log-level", "info"] + arguments
        process.currentDirectoryURL = directory.url
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var port: Int?
        _ = await eventually("waybill serve to listen or exit", timeout: .seconds(60), poll: .milliseconds(20)) {
            port = listeningPort(logPath)
            return port != nil || !process.isRunning
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let port else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            await finish(process, "waybill serve", within: .seconds(30))
            return (nil, log)
        }
        return (TLSServerProcess(process: process, port: port, logPath: logPath), log)
    }

    private static func listeningPort(_ path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.contains("waybill listening") }),
              let range = line.range(of: "address=127.0.0.1:") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    func stop() async {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        if !(await exited(process, within: .seconds(60))) {
            kill(process.processIdentifier, SIGKILL)
            _ = await exited(process, within: .seconds(10))
        }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

@Suite("TLS processes", .serialized)
struct TLSProcessTests {
    @Test("waybill serve --tls-cert/--tls-key serves waybill call --tls-ca; SIGHUP reloads replaced files; the process keeps running")
    func serveCallAndHangupReload() async throws {
        let fixture = try TLSFixture("tls-process")
        let database = fixture.directory.path("waybill.sqlite")
        let (started, startLog) = try await TLSServerProcess.start(
            ["--db", database, "--tls-cert", fixture.server.certificatePath, "--tls-key", fixture.server.privateKeyPath,
             "--tls-reload-check-ms", "0"], directory: fixture.directory)
        let server = try #require(started, "waybill serve did not start: \(startLog)")
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        // The first start's admin token (when the server writes one) is what the CLI reads by default
        // from the current directory; --token-file names it explicitly here.
        let tokenFile = database + ".admin-token"
        let tokenArguments = FileManager.default.fileExists(atPath: tokenFile) ? ["--token-file", tokenFile] : []
        let address = "127.0.0.1:\(server.port)"

        let call = try await runWaybill(["call", "server-info", "--server", address, "--tls-ca", fixture.caPath] + tokenArguments,
                                        in: fixture.directory)
        #expect(call.status == 0, "\(call.standardError)")
        #expect(call.standardOutput.contains("serverVersion"))

        // The credential by default: ./waybill.sqlite.admin-token in the current directory (the
        // first start wrote it beside the database); $WAYBILL_TOKEN comes before it.
        #expect(FileManager.default.fileExists(atPath: tokenFile), "waybill serve wrote no admin token file")
        let byDefault = try await runWaybill(["call", "server-info", "--server", address, "--tls-ca", fixture.caPath], in: fixture.directory)
        #expect(byDefault.status == 0, "\(byDefault.standardError)")
        let wrongToken = try await runWaybill(["call", "server-info", "--server", address, "--tls-ca", fixture.caPath], in: fixture.directory,
                                              environment: ["WAYBILL_TOKEN": "wbt_not-a-token-of-this-server"])
        #expect(wrongToken.status != 0)
        #expect(wrongToken.standardError.contains("UNAUTHENTICATED"), "\(wrongToken.standardError)")
        #expect(!wrongToken.standardError.contains("wbt_not-a-token"), "a token is never echoed")

        let plaintext = try await runWaybill(["call", "server-info", "--server", address] + tokenArguments, in: fixture.directory)
        #expect(plaintext.status != 0)
        #expect(plaintext.standardError.contains("requires TLS"), "\(plaintext.standardError)")

        // Another CA's pair replaces the files; only SIGHUP may reload (polling is off).
        var second = try ThrowawayCertificateAuthority(name: "Second CA")
        let secondCA = try second.write(to: fixture.directory.path("second-ca"))
        let staged = try second.issueServerCertificate(in: fixture.directory.path("staging"))
        #expect(rename(staged.privateKeyPath, fixture.server.privateKeyPath) == 0)
        #expect(rename(staged.certificatePath, fixture.server.certificatePath) == 0)
        let before = try await runWaybill(["call", "server-info", "--server", address, "--tls-ca", secondCA] + tokenArguments,
                                          in: fixture.directory)
        #expect(before.status != 0, "no reload without SIGHUP when polling is off")
        #expect(kill(server.process.processIdentifier, SIGHUP) == 0)
        #expect(await eventually("the SIGHUP reload", timeout: .seconds(20), poll: .milliseconds(50)) { server.log.contains("TLS certificate reloaded") })
        #expect(server.process.isRunning)
        let after = try await runWaybill(["call", "server-info", "--server", address, "--tls-ca", secondCA] + tokenArguments,
                                         in: fixture.directory)
        #expect(after.status == 0, "\(after.standardError)")
        await server.stop()
        #expect(server.process.terminationStatus == 0)
    }

    @Test("waybill serve refuses a TLS key file others can read, naming the file and chmod 600")
    func serveRefusesReadableKey() async throws {
        let fixture = try TLSFixture("tls-process-key")
        #expect(chmod(fixture.server.privateKeyPath, 0o644) == 0)
        let (started, log) = try await TLSServerProcess.start(
            ["--db", fixture.directory.path("waybill.sqlite"), "--tls-cert", fixture.server.certificatePath,
             "--tls-key", fixture.server.privateKeyPath], directory: fixture.directory)
        if let started { await started.stop() }
        #expect(started == nil, "the server started with a 0644 key")
        #expect(log.contains("chmod 600") && log.contains(fixture.server.privateKeyPath), "\(log)")
    }
}
