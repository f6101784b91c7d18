// A pruning round deletes its backlog in writer slices of pruneBatchMax events, each its own
// transaction, with other writes running between them.

import Synchronization
import Testing
@testable import WaybillServer
import WaybillClient
import WaybillProto

@Suite("Change-feed pruning in slices")
struct FeedPruningSliceTests {
    @Test("one round deletes a backlog of many slices, one transaction per slice, captures interleaved; a short slice ends it")
    func roundRunsInSlices() async throws {
        try await withServer({
            $0.feedRetentionMilliseconds = 60_000
            $0.pruneBatchMax = 10
            $0.pruneSlicesPerRoundMax = 1_000
        }) { server in
            let client = try await server.client()
            _ = try await client.loadFixtureNetwork()
            for number in 0..<100 { _ = try await client.captureOrder(Fixture.order("P-\(number)")) }
            let head = try await client.feedInfo().headOffset
            #expect(head > 100, "enough events for several slices")
            server.clock.advance(milliseconds: 120_000)  // all of them older than the retention
            // The pruner keeps what the order search index has not covered yet.
            #expect(server.server.database.searchIndex.waitUntilIndexed(through: Int64(head)))

            let batchesBefore = server.server.writer.statistics.batches
            let deleted = Mutex<Int?>(nil)
            server.server.pruner.runRound { total in deleted.withLock { $0 = total } }
            // Captures sent while the round runs are not held behind it.
            for number in 0..<20 { _ = try await client.captureOrder(Fixture.order("DURING-\(number)")) }
            #expect(await eventually("the round ends") { deleted.withLock { $0 } != nil })

            let total = try #require(deleted.withLock { $0 })
            #expect(total >= Int(head) - 10, "the round went on past its first slice: \(total) of \(head)")
            #expect(try await client.feedInfo().earliestOffset > UInt64(total))
            // At least one transaction per slice of 10.
            let slices = (total + 9) / 10
            #expect(server.server.writer.statistics.batches - batchesBefore >= slices)
        }
    }
}
