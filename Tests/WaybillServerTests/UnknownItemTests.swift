// Issue 14 over the wire: a capture naming a SKU the item master lacks reaches the client as
// INVALID_ARGUMENT with details.field naming the line; a channel set to HOLD (LoadNetwork
// channel_settings) captures it on an ITEM_UNKNOWN hold that survives a restart, and UpsertItems
// lifts it and routes the order.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Unknown items at capture", .timeLimit(.minutes(3)))
struct UnknownItemTests {
    static func holdingMarketplace() -> Waybill_V1_NetworkModel {
        var settings = Waybill_V1_ChannelSettings()
        settings.channel = .marketplace
        settings.unknownItems = .hold
        var model = Waybill_V1_NetworkModel()
        model.channelSettings = [settings]
        return model
    }

    @Test("a line with an unknown SKU is INVALID_ARGUMENT with details.field order.lines[1].sku and ITEM_UNKNOWN; nothing is stored")
    func refusedOverTheWire() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let error = await expectStatus(.invalidArgument, field: "order.lines[1].sku") {
                try await client.captureOrder(Fixture.order("UNK-1", lines: [("SKU-A", 1), ("NEW-SKU-1", 1)]))
            }
            #expect(error?.details.currentState == "ITEM_UNKNOWN")
            #expect(error?.message.contains("unknown item NEW-SKU-1") == true, "\(error?.message ?? "")")
            await expectStatus(.notFound) { try await client.getOrder(channel: .web, externalOrderID: "UNK-1") }
            #expect(try await client.position("SKU-A", "WH-EAST").reserved == 0)

            // One order of a CaptureOrders batch is refused on its own, naming its line.
            let batch = try await client.captureOrders([Fixture.order("UNK-2"), Fixture.order("UNK-3", lines: [("NEW-SKU-1", 2)])])
            #expect(batch.results.count == 2)
            #expect(batch.results[0].status.code == .ok)
            #expect(batch.results[1].status.code == .invalidArgument)
            #expect(batch.results[1].status.details.field.hasSuffix("lines[0].sku"), "\(batch.results[1].status)")
        }
    }

    @Test("a HOLD channel's order waits on ITEM_UNKNOWN across a restart; UpsertItems lifts the hold and routes it")
    func heldAcrossRestart() async throws {
        let directory = try TemporaryDirectory("unknown-items")
        let heldID = try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let loaded = try await client.loadNetwork(Self.holdingMarketplace())
            #expect(loaded.channelSettings.first { $0.channel == .marketplace }?.unknownItems == .hold)
            #expect(loaded.channelSettings.first { $0.channel == .web }?.unknownItems == .refuse)
            await expectStatus(.invalidArgument, field: "order.lines[0].sku") {
                try await client.captureOrder(Fixture.order("WEB-UNK-1", lines: [("NEW-SKU-1", 1)]))
            }
            let held = try await client.captureOrder(Fixture.order("MKT-UNK-1", channel: .marketplace,
                                                                   lines: [("SKU-A", 1), ("NEW-SKU-1", 1)])).order
            #expect(held.status == .onHold)
            #expect(held.holds.map(\.reason) == [.itemUnknown])
            #expect(held.fulfillments.isEmpty)
            #expect(try await client.position("SKU-A", "MKT-VENDOR").reserved == 0)
            return held.orderID
        }
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            // The channel setting survived the restart.
            await expectStatus(.invalidArgument, field: "order.lines[0].sku") {
                try await client.captureOrder(Fixture.order("WEB-UNK-2", lines: [("NEW-SKU-1", 1)]))
            }
            let second = try await client.captureOrder(Fixture.order("MKT-UNK-2", channel: .marketplace, lines: [("NEW-SKU-1", 1)])).order
            #expect(second.holds.map(\.reason) == [.itemUnknown])

            var item = Waybill_V1_Item()
            item.sku = "NEW-SKU-1"
            item.weightGrams = 400
            item.active = true
            var request = Waybill_V1_UpsertItemsRequest()
            request.items = [item]
            let _: Waybill_V1_ItemsResponse = try await client.call(Method.NetworkService.upsertItems, request)

            let routed = try await client.getOrder(heldID)
            #expect(routed.holds.isEmpty)
            #expect(routed.status == .partiallyAllocated, "SKU-A allocated, NEW-SKU-1 has no stock yet: \(routed.status)")
            #expect(routed.lines.first { $0.sku == "SKU-A" }?.quantities.allocated == 1)
            let history = try await client.orderHistory(heldID)
            #expect(history.entries.last?.action == "hold_released" && history.entries.last?.reason == "item_unknown",
                    "\(history.entries.map(\.action))")
            #expect(try await client.getOrder(second.orderID).status == .backordered)
        }
    }
}
