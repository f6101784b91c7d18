// Item change events carry a per-item sequence that increases with every upsert, across restarts.

import Foundation
import SwiftProtobuf
import Testing
import WaybillCore
import WaybillProto
import WaybillStore

@Suite("Item versions")
struct ItemVersionTests {
    @Test("item.upserted sequences are 1, 2, 3 per item, and continue after a restart")
    func sequences() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("items.sqlite")
        let clock = ManualClock()
        func upsert(_ writer: StoreWriter, _ sku: String, weight: Int32) async throws {
            _ = try await writer.run { context in
                var item = Item(sku: SKU(sku))
                item.weightGrams = weight
                try context.engine.upsert(item: item, context: CommandContext(now: context.now), storage: context.engineStorage)
            }
        }
        var (database, writer) = try openStore(path, clock: clock)
        try await upsert(writer, "A", weight: 100)
        try await upsert(writer, "A", weight: 110)
        try await upsert(writer, "B", weight: 200)
        writer.stop()
        (database, writer) = try openStore(path, clock: clock)
        try await upsert(writer, "A", weight: 120)
        writer.stop()
        let events = try StoreReader(database: database).eventsNow(from: 1, limit: 100)
            .map { try Waybill_V1_ChangeEvent(serializedBytes: $0.body) }
            .filter { $0.type == "item.upserted" }
        #expect(events.map(\.aggregateID) == ["A", "A", "B", "A"])
        #expect(events.map(\.aggregateSequence) == [1, 2, 1, 3])
        #expect(events.last?.item.weightGrams == 120)
    }
}
