// An edited order's lines in SQLite: order_lines follows the edit, so a count that leaves a SKU's
// reservations short finds the orders holding it (reservationHolders) even when an edit added
// that SKU, and no longer names an order whose edit replaced it.

import Foundation
import Testing
import WaybillCore
import WaybillStore

struct EditedOrderLinesTests {
    @Test("order_lines is rewritten by edits: reservation holders are found by the SKUs an order holds now")
    func holdersFollowEdits() async throws {
        let directory = try TemporaryDirectory("edited-lines")
        let clock = ManualClock()
        let (database, writer) = try openStore(directory.path("waybill.sqlite"), clock: clock)
        defer {
            writer.stop()
            withExtendedLifetime(database) {}
        }
        try await StoreNet.setUp(writer)
        for sku in ["SKU-1", "SKU-2", "SKU-3"] { _ = try await receive(writer, "rcv-\(sku)", sku, "WH-1", 10) }
        let order = try await capture(writer, draft("EDIT-1", lines: [("SKU-1", 1)])).order
        func edit(_ requestID: String, _ edits: [OrderEdit]) async throws -> Order {
            try await writer.run { context in
                try context.engine.apply(.edit(edits, reason: "test"), to: order.orderID,
                                         context: CommandContext(now: context.now, clientID: "store-tests", requestID: requestID,
                                                                 fingerprint: testFingerprint(requestID)),
                                         storage: context.engineStorage).order
            }
        }
        func holders(_ sku: String, _ location: String) async throws -> [OrderID] {
            try await writer.run { try $0.engineStorage.reservationHolders(SKU(sku), LocationID(location), limit: 100) }
        }
        let added = try await edit("e-1", [.addLine(DraftLine(lineID: "L2", sku: SKU("SKU-2"), quantity: 3,
                                                               unitPrice: Money(minorUnits: 100, currency: "USD")))])
        let location = try #require(added.fulfillments.last { $0.lines.contains { $0.sku == SKU("SKU-2") } }).locationID
        #expect(try await holders("SKU-2", location.rawValue) == [order.orderID], "an added SKU is found")

        let replaced = try await edit("e-2", [.replaceSKU(lineID: "L2", sku: SKU("SKU-3"), unitPrice: nil)])
        let newLocation = try #require(replaced.fulfillments.last { $0.status == .created && $0.lines.contains { $0.sku == SKU("SKU-3") } }).locationID
        #expect(try await holders("SKU-3", newLocation.rawValue) == [order.orderID], "the replacing SKU is found")
        #expect(try await holders("SKU-2", location.rawValue).isEmpty, "the replaced SKU is no longer")
        #expect(try await holders("SKU-1", order.fulfillments[0].locationID.rawValue) == [order.orderID])
    }
}
