// The writer's one extension point (WriteJobInterceptor): it runs around every job, inside the
// batch's transaction, and a throw from it is a storage failure that aborts the whole batch.

import Foundation
import Synchronization
import Testing
import WaybillCore
import WaybillStore

/// What the interceptor and the jobs did, in order.
private final class Trace: Sendable {
    let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Records each job's kind before and after it runs; throws instead of running a job of `poisonedKind`.
private struct TracingInterceptor: WriteJobInterceptor {
    let trace: Trace
    var poisonedKind: String?

    func intercept(_ job: any WriteJob, proceed: () throws -> Void) throws {
        if job.kind == poisonedKind { throw StorageError("interceptor refused \(job.kind)") }
        trace.append("before \(job.kind)")
        try proceed()
        trace.append("after \(job.kind)")
    }
}

@Suite("Writer job interceptor")
struct WriteJobInterceptorTests {
    @Test("an interceptor wraps every job: before, the job itself, after; the job's outcome is unchanged")
    func wrapsEveryJob() async throws {
        let directory = try TemporaryDirectory("interceptor")
        let trace = Trace()
        let database = try WaybillDatabase(path: directory.path("db.sqlite"))
        let writer = try StoreWriter(database: database, clock: ManualClock().closure, logger: quietLogger,
                                     interceptor: TracingInterceptor(trace: trace))
        defer { writer.stop() }
        for kind in ["First", "Second"] {
            let answer = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, Error>) in
                writer.submit(Job(kind: kind, { _ in
                    trace.append("run \(kind)")
                    return "answer of \(kind)"
                }) { continuation.resume(with: $0) })
            }
            #expect(answer == "answer of \(kind)")
        }
        #expect(trace.all == ["before First", "run First", "after First", "before Second", "run Second", "after Second"])
    }

    @Test("an interceptor that throws aborts the batch: every job of it fails and nothing of it is applied; the next batch commits")
    func throwingAbortsBatch() async throws {
        let directory = try TemporaryDirectory("interceptor-abort")
        let database = try WaybillDatabase(path: directory.path("db.sqlite"))
        let writer = try StoreWriter(database: database, clock: ManualClock().closure, logger: quietLogger,
                                     interceptor: TracingInterceptor(trace: Trace(), poisonedKind: "Poisoned"))
        defer { writer.stop() }
        try await StoreNet.setUp(writer)
        let before = try await balances(writer)
        // Both jobs wait behind the gate, so they run in one batch.
        let gate = Gate()
        await gate.close(writer)
        let replies = Replies<Void>()
        replies.expect()
        writer.submit(Job(kind: "ReceiveInventory", { context in
            _ = try context.engine.applyInventoryChange(
                InventoryChange(changeID: "r-1", kind: .receipt, sku: SKU("SKU-1"), locationID: LocationID("WH-1"), quantity: 5),
                context: CommandContext(now: context.now), storage: context.engineStorage)
        }) { replies.record(0, $0) })
        replies.expect()
        writer.submit(Job(kind: "Poisoned", { _ in }) { replies.record(1, $0) })
        gate.open()
        let results = await replies.wait()
        for index in 0..<2 {
            #expect(throws: WriterError.self, "job \(index) fails with its batch") { try results[index]!.get() }
        }
        #expect(try await balances(writer) == before, "the receipt of the aborted batch is not applied")
        #expect(try await receive(writer, "r-1", "SKU-1", "WH-1", 5).replayed == false, "the same receipt commits in a later batch")
    }
}
