// A real Prometheus (Debian's `prometheus`, installed by scripts/install-deps.sh) scrapes a real
// `waybill serve` through its admin listener; a query through Prometheus's HTTP API returns
// Waybill's series. Both processes are started here and stopped by PID.

import Foundation
import NIOCore
import NIOPosix
import Testing
import WaybillClient

#if canImport(Glibc)
import Glibc
#endif

/// A loopback port free at the time of asking (Prometheus needs a fixed web port on its command line).
func freeLoopbackPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: clientGroup).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 0
    try await channel.close()
    return port
}

@Suite("Prometheus scrape")
struct PrometheusScrapeTests {
    static let prometheus = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("Prometheus scrapes /metrics of a live server; its query API returns waybill series")
    func scrape() async throws {
        let binary = try #require(Self.prometheus, "prometheus is not installed: run scripts/install-deps.sh")
        let directory = try TemporaryDirectory("prometheus")
        let server = try await ServerProcess.start(database: directory.path("waybill.sqlite"), logPath: directory.path("server.log"))
        defer { kill(server.process.processIdentifier, SIGKILL) }
        let adminPort = try #require(server.adminPort, "no admin listening line in:\n\(server.log)")
        // One call, so the call metrics have a series too.
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: server.adminClientConfiguration, group: clientGroup)
        #expect(try await client.serverInfo().limits.isEmpty == false)
        await client.close()

        let webPort = try await freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: waybill
                static_configs:
                  - targets: ["127.0.0.1:\(adminPort)"]
            """
        try config.write(toFile: directory.path("prometheus.yml"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config.file=\(directory.path("prometheus.yml"))", "--storage.tsdb.path=\(directory.path("tsdb"))",
                             "--web.listen-address=127.0.0.1:\(webPort)"]
        let log = directory.path("prometheus.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // SIGKILL: this Prometheus keeps nothing, and a graceful stop would block a pool thread.
        defer { kill(process.processIdentifier, SIGKILL) }

        var answer = ""
        let scraped = await eventually("Prometheus has scraped waybill_writer_healthy", timeout: .seconds(60), poll: .milliseconds(250)) {
            guard let reply = try? await httpGet(port: webPort, "/api/v1/query?query=waybill_writer_healthy") else { return false }
            answer = reply.body
            return reply.status == 200 && answer.contains("\"__name__\":\"waybill_writer_healthy\"")
        }
        #expect(scraped, "last answer: \(answer)\nprometheus log:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(answer.contains("\"job\":\"waybill\""))
        #expect(answer.contains(",\"1\"]"), "the writer reports healthy: \(answer)")
        // The target is up, and the call metrics are there under their method label.
        let up = try await httpGet(port: webPort, "/api/v1/query?query=up%7Bjob%3D%22waybill%22%7D")
        #expect(up.body.contains(",\"1\"]"), "up{job=\"waybill\"}: \(up.body)")
        let calls = try await httpGet(port: webPort, "/api/v1/query?query=waybill_calls_total")
        #expect(calls.body.contains("GetServerInfo"), "waybill_calls_total: \(calls.body)")
    }
}
