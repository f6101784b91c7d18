// EditOrder over a real socket: the re-route and its reservations, the feed event with before and
// after, idempotency by request id, the refusal once it is too late, and the channel scope.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

@Suite("Order edits over the socket", .timeLimit(.minutes(3)))
struct OrderEditServerTests {
    static var reno: Waybill_V1_Address {
        var address = Waybill_V1_Address()
        address.name = "Ada Lovelace"
        address.lines = ["1 Virginia St"]
        address.city = "Reno"
        address.region = "NV"
        address.postalCode = "89501"
        address.country = "US"
        address.coordinates.latitude = 39.5296
        address.coordinates.longitude = -119.8138
        return address
    }

    static func request(_ id: String, _ orderID: String, _ edits: [Waybill_V1_OrderEdit]) -> Waybill_V1_EditOrderRequest {
        var request = Waybill_V1_EditOrderRequest()
        request.requestID = id
        request.orderID = orderID
        request.edits = edits
        request.reason = "customer called"
        return request
    }

    static func shipTo(_ address: Waybill_V1_Address) -> Waybill_V1_OrderEdit {
        var edit = Waybill_V1_OrderEdit()
        edit.changeShipTo.shipTo = address
        return edit
    }

    static func quantity(_ lineID: String, _ quantity: Int32) -> Waybill_V1_OrderEdit {
        var edit = Waybill_V1_OrderEdit()
        edit.changeLineQuantity.lineID = lineID
        edit.changeLineQuantity.quantity = quantity
        return edit
    }

    @Test("a ship-to edit re-routes to the best location, moves the reservation, and is on the feed with before and after")
    func shipToOverTheSocket() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let web = try await server.client(as: TestCredentials.web)
            let order = try await web.captureOrder(Fixture.order("ED-1", lines: [("SKU-A", 2)])).order
            #expect(order.fulfillments.map(\.locationID) == ["WH-EAST"])

            let response = try await web.editOrder(Self.request("edit-1", order.orderID, [Self.shipTo(Self.reno), Self.quantity("L1", 3)]))
            #expect(!response.replayed)
            let edited = response.order
            #expect(edited.shipTo.city == "Reno")
            #expect(edited.lines[0].quantity == 3)
            #expect(edited.fulfillments.map(\.status) == [.cancelled, .created])
            #expect(edited.fulfillments.last?.locationID == "WH-WEST")
            #expect(edited.capturedContent.shipTo.city == "Philadelphia", "the content as captured")
            #expect(edited.capturedContent.lines.map(\.quantity) == [2])
            #expect(edited.history.last?.action == "edited" && edited.history.last?.clientID == TestCredentials.web.name)
            #expect(try await admin.position("SKU-A", "WH-EAST").reserved == 0)
            #expect(try await admin.position("SKU-A", "WH-WEST").reserved == 3)

            // The feed: one order.edited event, the order as edited, before/after in its detail.
            let feed = try FeedCollector.subscribe(admin, consumer: "edits")
            let events = try await feed.waitForEvents(1)
            var edits: [Waybill_V1_ChangeEvent] = events.filter { $0.type == "order.edited" }
            if edits.isEmpty {
                _ = await eventually("order.edited on the feed") { feed.events.contains { $0.type == "order.edited" } }
                edits = feed.events.filter { $0.type == "order.edited" }
            }
            let event = try #require(edits.first)
            #expect(event.orderID == order.orderID && event.aggregateSequence == edited.version)
            #expect(event.order.lines[0].quantity == 3 && event.order.shipTo.city == "Reno")
            #expect(event.detail.contains("ship_to: Ada Lovelace, 1 Market St, Philadelphia, PA 19103, US"))
            #expect(event.detail.contains("line L1 quantity: 2 -> 3"))
            #expect(event.detail.contains("locations: WH-EAST -> WH-WEST"), "\(event.detail)")
            feed.cancel()

            // The same request again: the order as it is, nothing applied twice.
            let again = try await web.editOrder(Self.request("edit-1", order.orderID, [Self.shipTo(Self.reno), Self.quantity("L1", 3)]))
            #expect(again.replayed && again.order.version == edited.version)
            #expect(try await admin.position("SKU-A", "WH-WEST").reserved == 3)
            await expectStatus(.alreadyExists, field: "request_id") {
                try await web.editOrder(Self.request("edit-1", order.orderID, [Self.quantity("L1", 4)]))
            }
            // A capture retried after the edit is still the same capture.
            let retried = try await web.captureOrder(Fixture.order("ED-1", lines: [("SKU-A", 2)]))
            #expect(retried.replayed && retried.order.orderID == order.orderID && retried.order.lines[0].quantity == 3)
        }
    }

    @Test("too late after pick: FAILED_PRECONDITION naming the state; another channel's order is NOT_FOUND; shape errors are INVALID_ARGUMENT")
    func refusals() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let web = try await server.client(as: TestCredentials.web)
            let order = try await admin.captureOrder(Fixture.order("ED-2", lines: [("SKU-A", 1)])).order
            let fulfillmentID = try #require(order.fulfillments.first).fulfillmentID
            _ = try await admin.release(order.orderID, request: "ed-rel")
            _ = try await admin.fulfillmentStep(Method.OrderService.confirmPick, order.orderID, fulfillmentID, request: "ed-pick")
            let refused = try await answerMessage { try await web.editOrder(Self.request("edit-2", order.orderID, [Self.shipTo(Self.reno)])) }
            #expect(refused.code == .failedPrecondition)
            #expect(refused.details.currentState == "PICKED", "\(refused)")

            let marketplace = try await admin.captureOrder(Fixture.order("ED-3", channel: .marketplace, lines: [("SKU-A", 1)])).order
            await expectStatus(.notFound) {
                try await web.editOrder(Self.request("edit-3", marketplace.orderID, [Self.quantity("L1", 2)]))
            }
            #expect(try await admin.getOrder(marketplace.orderID).version == marketplace.version)

            let own = try await web.captureOrder(Fixture.order("ED-4", lines: [("SKU-A", 1)])).order
            await expectStatus(.invalidArgument, field: "edits[0]") {
                try await web.editOrder(Self.request("edit-4", own.orderID, [Waybill_V1_OrderEdit()]))
            }
            await expectStatus(.invalidArgument, field: "request_id") {
                try await web.editOrder(Self.request("", own.orderID, [Self.quantity("L1", 2)]))
            }
            // Too many edits: the named limit.
            let many = Array(repeating: Self.quantity("L1", 2), count: Int(DomainLimits.default.orderEditsPerRequestMax) + 1)
            let limit = try await answerMessage { try await web.editOrder(Self.request("edit-5", own.orderID, many)) }
            #expect(limit.code == .invalidArgument && limit.details.limitName == "orderEditsPerRequestMax")
        }
    }
}
