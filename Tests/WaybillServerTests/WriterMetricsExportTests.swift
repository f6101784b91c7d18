// What the writer's statistics say is exported as metrics, not only read by `waybill bench`: a
// real `waybill serve` (its Prometheus backend) answers /metrics with a series for each figure of
// WriterStatistics (queue depth, batch sizes, phase times, CPU, checkpoints, shed writes).

import Foundation
import Testing
import WaybillClient

#if canImport(Glibc)
import Glibc
#endif

@Suite("Writer statistics as metrics", .timeLimit(.minutes(2)),
       .enabled(if: WaybillExecutable.url != nil, "the waybill executable was not found: run `swift build` first, or set WAYBILL_EXECUTABLE"))
struct WriterMetricsExportTests {
    /// The value of the sample `name` (no labels) in Prometheus text, nil when absent.
    private static func sample(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("after captures commit, /metrics counts the batches' jobs, phase times and CPU; queue depth, checkpoints and shedding have series")
    func writerFiguresAreExported() async throws {
        let directory = try TemporaryDirectory("writer-metrics")
        let server = try await ServerProcess.start(database: directory.path("waybill.sqlite"), logPath: directory.path("server.log"))
        let adminPort = try #require(server.adminPort, "no admin listening line in:\n\(server.log)")
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: server.adminClientConfiguration, group: clientGroup)
        try await client.loadFixtureNetwork()
        for number in 0..<3 { _ = try await client.captureOrder(Fixture.order("METRICS-\(number)")) }
        await client.close()
        let metrics = try await httpGet(port: adminPort, "/metrics")
        #expect(metrics.status == 200)
        let text = metrics.body
        // Network load + 3 captures: at least 4 committed jobs, each batch timed in every phase.
        #expect((Self.sample("waybill_writer_jobs_committed_total", in: text) ?? 0) >= 4, "\(text)")
        for histogram in ["waybill_writer_batch_jobs", "waybill_writer_run_seconds", "waybill_writer_commit_seconds",
                          "waybill_writer_publish_seconds", "waybill_writer_batch_seconds", "waybill_writer_batch_cpu_seconds"] {
            #expect((Self.sample(histogram + "_count", in: text) ?? 0) >= 1, "\(histogram) counts batches")
            #expect((Self.sample(histogram + "_sum", in: text) ?? 0) > 0, "\(histogram) sums something")
        }
        // No balance checkpoint is due after four jobs and nothing is shed: the series exist at zero.
        for series in ["waybill_writer_queue_depth", "waybill_writer_balance_checkpoint_backlog",
                       "waybill_writer_balance_checkpoint_rows_total", "waybill_writer_balance_checkpoint_seconds_count",
                       "waybill_writer_shed_jobs_total"] {
            #expect(Self.sample(series, in: text) != nil, "\(series) is exported")
        }
        #expect(await server.terminate() == 0)
    }
}
