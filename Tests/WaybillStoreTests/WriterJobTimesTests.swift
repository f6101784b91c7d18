// The writer names what holds it: a job slower than slowJobLogMilliseconds is logged with its kind
// and time; quick jobs are not.

import Foundation
import Logging
import Synchronization
import Testing
import WaybillCore
import WaybillStore

/// Keeps the warnings a writer logs.
private final class WarningRecorder: Sendable {
    let lines = Mutex<[String]>([])
}

private struct RecordingLogHandler: LogHandler {
    let recorder: WarningRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorder.lines.withLock { $0.append("\(event.message) \(fields)") }
    }
}

@Suite("Writer job attribution")
struct WriterJobTimesTests {
    @Test("a job over slowJobLogMilliseconds is logged with its kind and time; quick ones are not")
    func slowJobsAreNamed() async throws {
        let directory = try TemporaryDirectory("job-times")
        let recorder = WarningRecorder()
        var limits = WriterLimits()
        limits.slowJobLogMilliseconds = 20
        let database = try WaybillDatabase(path: directory.path("db.sqlite"))
        let writer = try StoreWriter(database: database, limits: limits, clock: ManualClock().closure,
                                     logger: Logger(label: "writer") { _ in RecordingLogHandler(recorder: recorder) }, observer: nil)
        for _ in 0..<5 {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                writer.submit(Job(kind: "QuickJob", { _ in }) { continuation.resume(with: $0) })
            }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writer.submit(Job(kind: "SlowJob", { _ in Thread.sleep(forTimeInterval: 0.05) }) { continuation.resume(with: $0) })
        }
        writer.stop()
        database.close()
        let slow = recorder.lines.withLock { $0 }.filter { $0.hasPrefix("slow writer job") }
        #expect(slow.count == 1, "\(slow)")
        #expect(slow.first?.contains("kind=SlowJob") == true)
        let milliseconds = slow.first?.split(separator: " ").first { $0.hasPrefix("ms=") }.flatMap { Int($0.dropFirst(3)) }
        #expect((milliseconds ?? 0) >= 50, "\(slow)")
    }
}
