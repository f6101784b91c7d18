// `DatabaseBackup` (what `waybill backup` runs) against a server under load over real sockets:
// the copy is taken while captures stream in, then a second server starts on it. Every order
// acknowledged before the backup began is there, nothing sent after it ended is (a snapshot, not
// a live file), and its balances equal a rebuild from its ledger and orders.

import Dispatch
import Foundation
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillStore

@Suite("Online backup", .serialized, .timeLimit(.minutes(4)))
struct BackupTests {
    private final class Tally: Sendable {
        /// External id → the acknowledged order.
        let acknowledged = Mutex<[String: Waybill_V1_Order]>([:])
        /// External id → when its capture was sent (uptime ns).
        let sent = Mutex<[String: UInt64]>([:])
        /// (sent at, latency) of each acknowledged capture, in nanoseconds.
        let latencies = Mutex<[(UInt64, UInt64)]>([])
        let stop = Atomic(false)
    }

    private static func content(_ external: String) -> Waybill_V1_Order {
        Fixture.order(external, lines: [("SKU-A", 1), ("SKU-B", 1)])
    }

    private static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    @Test("a backup under load holds every order acknowledged before it began, none sent after it ended; balances equal a rebuild")
    func backupUnderLoad() async throws {
        let backups = try TemporaryDirectory("backup")
        let copy = backups.path("copy.sqlite")
        let tally = Tally()
        var acknowledgedBeforeBackup: Set<String> = []
        var backupEndedAt: UInt64 = 0
        try await withServer { server in
            let setup = try await server.client("setup")
            var model = Fixture.network
            model.initialStock = [Fixture.stock("SKU-A", "WH-EAST", 1_000_000), Fixture.stock("SKU-B", "WH-EAST", 1_000_000)]
            _ = try await setup.loadNetwork(model)
            var clients: [WaybillClient] = []
            for c in 0..<3 { clients.append(try await server.client("load-\(c)")) }
            let content = Self.content
            let lanes = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (c, client) in clients.enumerated() {
                        for lane in 0..<4 {
                            group.addTask {
                                var n = 0
                                while !tally.stop.load(ordering: .relaxed) {
                                    let external = "B\(c)x\(lane)-\(n)"
                                    let sentAt = DispatchTime.now().uptimeNanoseconds
                                    tally.sent.withLock { $0[external] = sentAt }
                                    guard let response = try? await client.captureOrder(content(external)) else { return }
                                    let latency = DispatchTime.now().uptimeNanoseconds - sentAt
                                    tally.acknowledged.withLock { $0[external] = response.order }
                                    tally.latencies.withLock { $0.append((sentAt, latency)) }
                                    n += 1
                                }
                            }
                        }
                    }
                }
            }
            #expect(await eventually("400 acknowledged captures", timeout: .seconds(120)) { tally.acknowledged.withLock { $0.count } >= 400 })
            acknowledgedBeforeBackup = Set(tally.acknowledged.withLock { $0.keys })
            let backupStartedAt = DispatchTime.now().uptimeNanoseconds
            var limits = BackupLimits()
            limits.backupPagesPerStep = 8  // many steps, so commits land between them
            limits.backupPauseMilliseconds = 2
            let source = server.databasePath
            let stepped = limits
            let report = try await Self.offPool { try DatabaseBackup.copy(from: source, to: copy, limits: stepped) }
            backupEndedAt = DispatchTime.now().uptimeNanoseconds
            let countAtEnd = tally.acknowledged.withLock { $0.count }
            #expect(await eventually("captures to go on after the backup", timeout: .seconds(60)) {
                tally.acknowledged.withLock { $0.count } >= countAtEnd + 100
            })
            tally.stop.store(true, ordering: .relaxed)
            await lanes.value
            #expect(report.steps > 1, "the copy went in steps (\(report.steps))")
            #expect(report.check == ["ok"])
            let during = tally.latencies.withLock { $0.filter { $0.0 >= backupStartedAt && $0.0 < backupEndedAt } }
            #expect(!during.isEmpty, "captures were acknowledged while the backup ran")
            let before = tally.latencies.withLock { $0.filter { $0.0 < backupStartedAt } }
            func summary(_ list: [(UInt64, UInt64)]) -> String {
                let sorted = list.map(\.1).sorted()
                guard !sorted.isEmpty else { return "none" }
                return String(format: "%d captures, p50 %.2f ms, p99 %.2f ms, max %.2f ms", sorted.count,
                              Double(sorted[sorted.count / 2]) / 1e6, Double(sorted[sorted.count * 99 / 100]) / 1e6, Double(sorted.last!) / 1e6)
            }
            print("backup under load: \(report.pages) pages in \(report.steps) steps, \(String(format: "%.3f", report.seconds)) s; "
                + "capture latency before: \(summary(before)); during: \(summary(during))")
        }
        let acknowledged = tally.acknowledged.withLock { $0 }
        let sent = tally.sent.withLock { $0 }
        try await withServer({ $0.databasePath = copy }) { restored in
            let client = try await restored.client()
            let stored = Dictionary(grouping: try await client.allOrders(pageSize: 1_000), by: \.externalOrderID)
            for external in acknowledgedBeforeBackup {
                let order = try #require(acknowledged[external])
                #expect(stored[external]?.first?.orderID == order.orderID, "\(external), acknowledged before the backup began, is in the copy")
                #expect(stored[external]?.first?.lines == order.lines)
            }
            for (external, orders) in stored {
                #expect(orders.count == 1, "\(external) once")
                let sentAt = try #require(sent[external], "\(external) was sent by the test")
                #expect(sentAt < backupEndedAt, "\(external) was sent after the backup ended, yet it is in the copy")
            }
            try await expectBalancesMatchRebuild(restored.server)
            // The copy serves writes too.
            let next = try await client.captureOrder(Self.content("AFTER-RESTORE"))
            #expect(!next.replayed)
        }
    }

    @Test("a backup never overwrites a file, and a missing source is named")
    func refusals() async throws {
        let directory = try TemporaryDirectory("backup-refusals")
        let existing = directory.path("existing.sqlite")
        #expect(FileManager.default.createFile(atPath: existing, contents: Data("keep me".utf8)))
        let missing = directory.path("missing.sqlite")
        let noSource = #expect(throws: BackupError.self) { try DatabaseBackup.copy(from: missing, to: directory.path("b.sqlite")) }
        #expect(noSource?.description.contains("no database at \(missing)") == true)
        try await withServer { server in
            let exists = #expect(throws: BackupError.self) { try DatabaseBackup.copy(from: server.databasePath, to: existing) }
            #expect(exists?.description.contains("exists already") == true)
            let kept = try String(contentsOfFile: existing, encoding: .utf8)
            #expect(kept == "keep me")
            var limits = BackupLimits()
            limits.backupPagesPerStep = 0
            #expect(throws: BackupError.self) { try DatabaseBackup.copy(from: server.databasePath, to: directory.path("c.sqlite"), limits: limits) }
        }
    }
}
