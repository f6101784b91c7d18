// When commits fail (a full database or filesystem, an injected I/O error), over real sockets: the failed captures are
// answered UNAVAILABLE with retry_after_ms, reads and the change feed keep serving, /readyz turns
// 503, and once there is room again writes succeed without a restart; every acknowledged order is
// there and nothing is half-applied (balances equal a rebuild from the ledger and the orders).

import Foundation
import GRDB
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillStore

@Suite("Storage failures", .serialized, .timeLimit(.minutes(4)))
struct StorageFailureTests {
    private static func content(_ external: String) -> Waybill_V1_Order {
        Fixture.order(external, lines: [("SKU-A", 1), ("SKU-B", 1)])
    }

    private static func loadNetwork(_ client: WaybillClient) async throws {
        var model = Fixture.network
        model.initialStock = [Fixture.stock("SKU-A", "WH-EAST", 100_000), Fixture.stock("SKU-B", "WH-EAST", 100_000)]
        _ = try await client.loadNetwork(model)
    }

    static let feedConsumer = "operations"

    /// Registers `feedConsumer` (a write) while commits still succeed.
    private static func registerConsumer(_ client: WaybillClient) async throws {
        let feed = try FeedCollector.subscribe(client, consumer: feedConsumer)
        _ = try await feed.waitForEvents(1)
        feed.cancel()
    }

    /// Captures one order after another until one is refused; returns the acknowledged ones and the refusal.
    private static func captureUntilRefused(_ client: WaybillClient, prefix: String, attemptsMax: Int)
        async throws -> (acknowledged: [String: Waybill_V1_Order], refused: String, error: WaybillStatusError) {
        var acknowledged: [String: Waybill_V1_Order] = [:]
        for n in 0..<attemptsMax {
            let external = "\(prefix)-\(n)"
            do {
                acknowledged[external] = try await client.captureOrder(content(external)).order
            } catch let error as WaybillStatusError {
                return (acknowledged, external, error)
            }
        }
        throw TimedOut(what: "a refused capture within \(attemptsMax) attempts")
    }

    /// The refusal, then reads, the feed and readiness while commits fail.
    private static func expectServingWhileFailing(_ server: TestServer, _ client: WaybillClient, known: Waybill_V1_Order,
                                                  refused: String, error: WaybillStatusError, refusedAgain: Bool = true) async throws {
        #expect(error.code == .unavailable, "\(error)")
        #expect(error.details.retryAfterMs > 0, "UNAVAILABLE carries retry_after_ms")
        #expect(error.message.contains("nothing was applied"), "\(error.message)")
        #expect(!server.server.writer.isHealthy)
        let adminPort = try #require(server.server.adminPort)
        let ready = try await httpGet(port: adminPort, "/readyz")
        #expect(ready.status == 503, "\(ready.body)")
        // Reads and the feed.
        #expect(try await client.getOrder(known.orderID) == known)
        let positions = try await client.availability(skus: ["SKU-A", "SKU-B"]).positions
        #expect(!positions.isEmpty)
        let head = try await client.feedInfo().headOffset
        #expect(head > 0)
        // A consumer registered before the failure subscribes again and reads the feed from its start
        // (a new consumer's registration is a write: it is refused with UNAVAILABLE like any other).
        let feed = try FeedCollector.subscribe(client, consumer: Self.feedConsumer, from: 1)
        let events = try await feed.waitForEvents(Int(head))
        #expect(events.last?.offset == head)
        feed.cancel()
        // The refused order was not stored, not even in part.
        let stored = try await client.allOrders()
        #expect(!stored.contains { $0.externalOrderID == refused })
        // Still failing: the same capture is refused again.
        if refusedAgain { await expectStatus(.unavailable) { try await client.captureOrder(content(refused)) } }
    }

    /// What a client does with retry_after_ms: retries the same order until it is accepted.
    private static func retryUntilAccepted(_ client: WaybillClient, _ external: String) async throws -> Waybill_V1_Order {
        var accepted: Waybill_V1_Order?
        let done = await eventually("the refused capture to be accepted on retry", timeout: .seconds(60), poll: .milliseconds(50)) {
            if let response = try? await client.captureOrder(content(external)) {
                #expect(!response.replayed, "a refused capture was not stored, so its retry is new")
                accepted = response.order
            }
            return accepted != nil
        }
        #expect(done)
        return try #require(accepted)
    }

    private static func expectAllThere(_ server: TestServer, _ client: WaybillClient, acknowledged: [String: Waybill_V1_Order]) async throws {
        let stored = Dictionary(grouping: try await client.allOrders(pageSize: 1_000), by: \.externalOrderID)
        #expect(stored.count == acknowledged.count, "one stored order per acknowledged capture, nothing else")
        for (external, order) in acknowledged {
            #expect(stored[external]?.count == 1, "\(external) stored once")
            #expect(stored[external]?.first?.orderID == order.orderID)
        }
        try await expectBalancesMatchRebuild(server.server)
    }

    @Test("a full database (max_page_count): UNAVAILABLE with retry_after_ms, reads and feed serve, writes resume")
    func databaseFull() async throws {
        try await withServer({ $0.adminPort = 0 }) { server in
            let client = try await server.client()
            try await Self.loadNetwork(client)
            var acknowledged: [String: Waybill_V1_Order] = [:]
            for n in 0..<20 { acknowledged["BEFORE-\(n)"] = try await client.captureOrder(Self.content("BEFORE-\(n)")).order }
            try await Self.registerConsumer(client)
            // The file may not grow past its current size: captures fill the free space, then fail with SQLITE_FULL.
            try await onWriter(server.server.writer) { context in
                try context.withDatabase { db in
                    let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
                    try db.execute(sql: "PRAGMA max_page_count = \(pages)")
                }
            }
            let filling = try await Self.captureUntilRefused(client, prefix: "FULL", attemptsMax: 5_000)
            acknowledged.merge(filling.acknowledged) { $1 }
            try await Self.expectServingWhileFailing(server, client, known: try #require(acknowledged["BEFORE-0"]),
                                                     refused: filling.refused, error: filling.error)
            // Room again (what freeing disk space is to a filesystem); the client retries as told.
            try await onWriter(server.server.writer) { context in
                try context.withDatabase { try $0.execute(sql: "PRAGMA max_page_count = 1073741823") }
            }
            acknowledged[filling.refused] = try await Self.retryUntilAccepted(client, filling.refused)
            #expect(server.server.writer.isHealthy)
            for n in 0..<20 { acknowledged["AFTER-\(n)"] = try await client.captureOrder(Self.content("AFTER-\(n)")).order }
            try await Self.expectAllThere(server, client, acknowledged: acknowledged)
        }
    }

    @Test("a full filesystem (a 3 MiB tmpfs): refused while full, resumes by itself once a file is deleted")
    func filesystemFull() async throws {
        let mountPoint = try TemporaryDirectory("tmpfs")
        let mounted = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint.url.path])
        guard mounted.status == 0 else {
            print("SKIPPED 'a full filesystem': cannot mount a tmpfs here (\(mounted.output.trimmingCharacters(in: .whitespacesAndNewlines))); "
                + "the max_page_count test covers the same path")
            return
        }
        defer { _ = try? runTool("/bin/umount", ["-l", mountPoint.url.path]) }
        let filler = mountPoint.path("filler")
        try await withServer({
            $0.adminPort = 0
            $0.databasePath = mountPoint.path("waybill.sqlite")
        }) { server in
            let client = try await server.client()
            try await Self.loadNetwork(client)
            var acknowledged: [String: Waybill_V1_Order] = [:]
            for n in 0..<20 { acknowledged["BEFORE-\(n)"] = try await client.captureOrder(Self.content("BEFORE-\(n)")).order }
            try await Self.registerConsumer(client)
            // Fill the filesystem to the last block.
            #expect(FileManager.default.createFile(atPath: filler, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: filler))
            let chunk = Data(count: 16_384)
            while (try? handle.write(contentsOf: chunk)) != nil {}
            try? handle.close()
            let filling = try await Self.captureUntilRefused(client, prefix: "FULL", attemptsMax: 20_000)
            acknowledged.merge(filling.acknowledged) { $1 }
            try await Self.expectServingWhileFailing(server, client, known: try #require(acknowledged["BEFORE-0"]),
                                                     refused: filling.refused, error: filling.error,
                                                     // A full tmpfs is not a steady state: a rolled-back WAL write
                                                     // or the checkpointer may hand blocks back at any moment.
                                                     refusedAgain: false)
            let retried = Task { try await Self.retryUntilAccepted(client, filling.refused) }
            // Space returns outside the server: writes resume without anything done to it.
            try FileManager.default.removeItem(atPath: filler)
            acknowledged[filling.refused] = try await retried.value
            for n in 0..<20 { acknowledged["AFTER-\(n)"] = try await client.captureOrder(Self.content("AFTER-\(n)")).order }
            try await Self.expectAllThere(server, client, acknowledged: acknowledged)
        }
    }

    @Test("an injected I/O error (writes fail with SQLITE_IOERR_WRITE): UNAVAILABLE with retry_after_ms, reads and feed serve, writes resume")
    func injectedIOError() async throws {
        try #require(FaultyVFS.install(), "the fault-injecting SQLite VFS could not be registered")
        let directory = try TemporaryDirectory(FaultyVFS.marker)
        try await withServer({
            $0.adminPort = 0
            $0.databasePath = directory.path("waybill.sqlite")
        }) { server in
            let client = try await server.client()
            try await Self.loadNetwork(client)
            var acknowledged: [String: Waybill_V1_Order] = [:]
            for n in 0..<20 { acknowledged["BEFORE-\(n)"] = try await client.captureOrder(Self.content("BEFORE-\(n)")).order }
            try await Self.registerConsumer(client)
            let refusedBefore = FaultyVFS.refusedWrites.load(ordering: .relaxed)
            FaultyVFS.failing.store(true, ordering: .releasing)
            defer { FaultyVFS.failing.store(false, ordering: .releasing) }
            let failing = try await Self.captureUntilRefused(client, prefix: "IOERR", attemptsMax: 3)
            #expect(FaultyVFS.refusedWrites.load(ordering: .relaxed) > refusedBefore, "the refusal came from the injected error")
            #expect(failing.error.message.contains("I/O error"), "\(failing.error.message)")
            acknowledged.merge(failing.acknowledged) { $1 }
            try await Self.expectServingWhileFailing(server, client, known: try #require(acknowledged["BEFORE-0"]),
                                                     refused: failing.refused, error: failing.error)
            let retried = Task { try await Self.retryUntilAccepted(client, failing.refused) }
            // The device works again: nothing is done to the server.
            FaultyVFS.failing.store(false, ordering: .releasing)
            acknowledged[failing.refused] = try await retried.value
            for n in 0..<20 { acknowledged["AFTER-\(n)"] = try await client.captureOrder(Self.content("AFTER-\(n)")).order }
            try await Self.expectAllThere(server, client, acknowledged: acknowledged)
        }
    }

    @Test("a WAL checkpointer that cannot open its connection makes /readyz 503 with the reason; it retries and recovers")
    func checkpointerCannotOpen() async throws {
        try #require(FaultyVFS.install(), "the fault-injecting SQLite VFS could not be registered")
        let directory = try TemporaryDirectory(FaultyVFS.marker)
        FaultyVFS.failingCheckpointerOpens.store(true, ordering: .releasing)
        defer { FaultyVFS.failingCheckpointerOpens.store(false, ordering: .releasing) }
        try await withServer({
            $0.adminPort = 0
            $0.databasePath = directory.path("waybill.sqlite")
            $0.walCheckpointIntervalMilliseconds = 10
        }) { server in
            let port = try #require(server.server.adminPort)
            #expect(await eventually("/readyz to report the checkpointer") {
                let answer = try? await httpGet(port: port, "/readyz")
                return answer?.status == 503 && answer?.body.contains("WAL checkpointer cannot open its connection") == true
            })
            #expect(server.server.writer.isHealthy, "the writer itself is fine")
            // Captures still commit: the checkpointer's failure does not stop writes, it lets the WAL grow.
            let client = try await server.client()
            _ = try await client.loadFixtureNetwork()
            FaultyVFS.failingCheckpointerOpens.store(false, ordering: .releasing)
            #expect(await eventually("the checkpointer to recover by itself") {
                (try? await httpGet(port: port, "/readyz"))?.status == 200
            })
        }
    }
}

/// Runs a system tool; its stdout and stderr together.
func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let folder = try TemporaryDirectory("tool")
    let out = folder.path("output")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return (127, "\(path): \(error)")
    }
    process.waitUntilExit()
    try? handle.close()
    return (process.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}
