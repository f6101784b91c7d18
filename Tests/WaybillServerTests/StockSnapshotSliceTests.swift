// ApplyStockSnapshot in writer jobs of at most `snapshotLevelsPerWriterJobMax` levels
// (StockSnapshotSlices.swift): other writes run between the slices, the call is answered once
// after the last, and the message is applied once.
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillStore
import WaybillWire

/// Records the kind of every job the writer runs; on the first job of `trigger`'s kind, runs
/// `onTrigger` (on the writer's thread, while that job runs).
private final class JobKinds: WriteJobInterceptor {
    let trigger: String
    private let state = Mutex<(kinds: [String], onTrigger: (@Sendable () -> Void)?)>(([], nil))
    init(trigger: String) { self.trigger = trigger }

    func whenFirst(_ action: @escaping @Sendable () -> Void) { state.withLock { $0.onTrigger = action } }
    var kinds: [String] { state.withLock { $0.kinds } }

    func intercept(_ job: any WriteJob, proceed: () throws -> Void) throws {
        let action: (@Sendable () -> Void)? = state.withLock { state in
            state.kinds.append(job.kind)
            guard job.kind == trigger, let action = state.onTrigger else { return nil }
            state.onTrigger = nil
            return action
        }
        action?()
        try proceed()
    }
}

@Suite("ERP stock snapshots in writer slices")
struct StockSnapshotSliceTests {
    static func snapshot(_ id: String, at location: String, asOf: Int64, _ levels: [(String, Int64)]) -> Waybill_V1_StockSnapshotMessage {
        var message = Waybill_V1_StockSnapshotMessage()
        message.messageID = id
        message.locationID = location
        message.asOfUnixMs = asOf
        message.levels = levels.map { sku, onHand in
            var level = Waybill_V1_StockLevel()
            level.sku = sku
            level.onHand = onHand
            return level
        }
        return message
    }

    @Test("10 levels with snapshotLevelsPerWriterJobMax 3: four writer jobs, a write queued during the first runs before the second; one answer with all 10; a resend is a replay")
    func slicesInterleaveWithOtherWrites() async throws {
        let kinds = JobKinds(trigger: "ApplyStockSnapshot")
        try await withServer({
            $0.snapshotLevelsPerWriterJobMax = 3
            $0.writeJobInterceptor = kinds
        }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            // Queued while the first slice runs: it must not wait for the whole snapshot.
            let writer = server.server.writer
            kinds.whenFirst { writer.submit(Job(kind: "probe", { _ in }) { _ in }) }
            let levels = (0..<10).map { ("SKU-SNAP-\($0)", Int64($0 + 1)) }
            let message = Self.snapshot("count-sliced", at: "WH-EAST", asOf: server.clock.now, levels)
            let result: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, message)
            #expect(!result.replayed && result.applied == 10)
            #expect(result.positions.map(\.sku) == levels.map(\.0), "every moved position, in SKU order")
            #expect(result.positions.map(\.onHand) == levels.map(\.1))
            let order = kinds.kinds.filter { $0 == "ApplyStockSnapshot" || $0 == "probe" }
            #expect(order == ["ApplyStockSnapshot", "probe", "ApplyStockSnapshot", "ApplyStockSnapshot", "ApplyStockSnapshot"],
                    "slices of 3, 3, 3, 1 with the probe between the first two: \(order)")
            for (sku, onHand) in levels { #expect(try await client.position(sku, "WH-EAST").onHand == onHand) }
            // The same message again: one job, a replay, nothing moved.
            let before = kinds.kinds.count
            let again: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, message)
            #expect(again.replayed && again.applied == 0 && again.positions.isEmpty)
            #expect(kinds.kinds[before...].filter { $0 == "ApplyStockSnapshot" }.count == 1)
            // The same id with other levels is refused, whole.
            let changed = Self.snapshot("count-sliced", at: "WH-EAST", asOf: server.clock.now, [("SKU-SNAP-0", 99)])
            await #expect(throws: WaybillStatusError.self) {
                let _: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, changed)
            }
            #expect(try await client.position("SKU-SNAP-0", "WH-EAST").onHand == 1)
        }
    }

    @Test("a snapshot within one slice is one writer job, as before")
    func smallSnapshotIsOneJob() async throws {
        let kinds = JobKinds(trigger: "none")
        try await withServer({
            $0.snapshotLevelsPerWriterJobMax = 3
            $0.writeJobInterceptor = kinds
        }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let message = Self.snapshot("count-small", at: "WH-EAST", asOf: server.clock.now, [("SKU-A", 4), ("SKU-B", 2), ("SKU-Z", 1)])
            let result: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyStockSnapshot, message)
            #expect(!result.replayed && result.applied == 3)
            #expect(kinds.kinds.filter { $0 == "ApplyStockSnapshot" }.count == 1)
            #expect(try await client.position("SKU-Z", "WH-EAST").onHand == 1)
        }
    }
}
