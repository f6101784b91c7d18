// A log, on standard error, of what the embedded server's writer and calls spent beyond a
// threshold, each line with its wall time since the log started: the measurement behind
// "which job held the writer when that call was slow" (live.server.slow_log_milliseconds).
// It receives the server's swift-metrics instruments (WriterMetrics, ServerMetrics) through a
// metrics backend bootstrapped once per process, and the server's log lines (each prune) through
// a log handler on the same clock.

import CoreMetrics
import Foundation
import Histogram
import Logging
import Synchronization

enum SlowSampleLog {
    private static let threshold = Mutex<Int64>(.max)
    private static let origin = wallNanoseconds()
    /// The writer records a batch's jobs, run, commit and whole time in that order, on its thread.
    private static let pendingBatch = Mutex<(jobs: Int64, run: Int64, commit: Int64)>((0, 0, 0))
    /// Every call's server-side time by method, and every writer batch's, in microseconds: what the
    /// server itself took, to set beside what the driver measured (`noteServerLatency`).
    private static let serverTimes = Mutex<[String: Histogram<UInt64>]>([:])

    private static func recordServerTime(_ name: String, nanoseconds: Int64) {
        let microseconds = UInt64(max(1, nanoseconds / 1_000))
        serverTimes.withLock { times in
            if times[name] == nil { times[name] = makeHistogram() }
            _ = times[name]!.record(microseconds)
        }
    }

    /// Writes the server-side latency of every method and of the writer's batches, since the log
    /// started (call before the server stops; the driver's own figures are in the report).
    static func noteServerLatency() {
        let times = serverTimes.withLock { $0 }
        note("server-side ms                              count      p50      p90      p99     p999      max")
        for name in times.keys.sorted() {
            let summary = LatencySummary(times[name]!)
            note(name.padding(toLength: 40, withPad: " ", startingAt: 0)
                 + String(format: " %8llu %8.3f %8.3f %8.3f %8.3f %8.3f", summary.count, summary.p50, summary.p90, summary.p99, summary.p999, summary.max))
        }
    }

    /// Bootstraps the process's metrics backend (once: swift-metrics allows one bootstrap) and sets
    /// the threshold (the latest call wins).
    static func start(thresholdMilliseconds: Double) {
        threshold.withLock { $0 = Int64(thresholdMilliseconds * 1_000_000) }
        _ = bootstrapped
    }

    private static let bootstrapped: Void = MetricsSystem.bootstrap(Factory())

    static func note(_ text: String) {
        let start = origin  // first use sets it: before reading the clock, or the difference underflows
        let seconds = Double(wallNanoseconds() - start) / 1e9
        FileHandle.standardError.write(Data(Array(String(format: "[%10.3f s] ", seconds).utf8) + Array(text.utf8) + [10]))
    }

    private static func milliseconds(_ nanoseconds: Int64) -> String { String(format: "%.1f ms", Double(nanoseconds) / 1e6) }

    fileprivate static func timed(label: String, dimensions: [(String, String)], nanoseconds: Int64) {
        switch label {
        case "waybill_writer_run_seconds": pendingBatch.withLock { $0.run = nanoseconds }
        case "waybill_writer_commit_seconds": pendingBatch.withLock { $0.commit = nanoseconds }
        case "waybill_writer_job_seconds":
            recordServerTime("(writer job) " + (dimensions.first { $0.0 == "kind" }?.1 ?? "?"), nanoseconds: nanoseconds)
        case "waybill_writer_batch_seconds":
            recordServerTime("(writer batch)", nanoseconds: nanoseconds)
            let batch = pendingBatch.withLock { $0 }
            guard nanoseconds >= threshold.withLock({ $0 }) else { return }
            note("slow writer batch \(milliseconds(nanoseconds)): run \(milliseconds(batch.run)), commit \(milliseconds(batch.commit)), \(batch.jobs) jobs")
        case "waybill_call_duration_seconds":
            let fields = Dictionary(dimensions, uniquingKeysWith: { first, _ in first })
            recordServerTime(String((fields["method"] ?? "?").split(separator: "/").last ?? "?"), nanoseconds: nanoseconds)
            guard nanoseconds >= threshold.withLock({ $0 }) else { return }
            note("slow call \(fields["method"] ?? "?") \(fields["code"] ?? "?") \(milliseconds(nanoseconds))")
        default: return
        }
    }

    fileprivate static func recorded(label: String, value: Int64) {
        if label == "waybill_writer_batch_jobs" { pendingBatch.withLock { $0.jobs = value } }
    }

    private final class Factory: MetricsFactory {
        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { NOOPMetricsHandler.instance }
        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            label == "waybill_writer_batch_jobs" ? Recorder(label: label) : NOOPMetricsHandler.instance
        }
        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Timer(label: label, dimensions: dimensions) }
        func destroyCounter(_ handler: any CounterHandler) {}
        func destroyRecorder(_ handler: any RecorderHandler) {}
        func destroyTimer(_ handler: any TimerHandler) {}
    }

    private final class Timer: TimerHandler {
        let label: String
        let dimensions: [(String, String)]
        init(label: String, dimensions: [(String, String)]) { self.label = label; self.dimensions = dimensions }
        func recordNanoseconds(_ duration: Int64) { SlowSampleLog.timed(label: label, dimensions: dimensions, nanoseconds: duration) }
    }

    private final class Recorder: RecorderHandler {
        let label: String
        init(label: String) { self.label = label }
        func record(_ value: Int64) { SlowSampleLog.recorded(label: label, value: value) }
        func record(_ value: Double) { SlowSampleLog.recorded(label: label, value: Int64(value)) }
    }

    /// The server's log lines (info and up), on the same clock as the samples.
    struct Handler: LogHandler {
        let label: String
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            SlowSampleLog.note("\(event.level) \(label): \(event.message)\(fields)")
        }
    }
}
