// SearchOrders and ListLocationQueue over the protocol: scope per role, pagination while orders
// are being captured, the queue as work moves on, and the limits.

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("SearchOrders and ListLocationQueue", .timeLimit(.minutes(3)))
struct OrderSearchTests {
    static func order(_ external: String, channel: Waybill_V1_Channel, email: String, lines: [(String, Int32)] = [("SKU-A", 1)]) -> Waybill_V1_Order {
        var order = Fixture.order(external, channel: channel, lines: lines)
        order.customer.email = email
        order.customer.phone = "+1 215 555 0100"
        return order
    }

    @Test("a channel credential never finds another channel's order: by email, id, external id or free text")
    func channelScope() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let web = try await server.client(as: TestCredentials.web)
            let mine = try await web.captureOrder(Self.order("W-1", channel: .web, email: "shared@example.com")).order
            let theirs = try await admin.captureOrder(Self.order("M-1", channel: .marketplace, email: "shared@example.com")).order

            func found(_ client: WaybillClient, _ configure: (inout Waybill_V1_SearchOrdersRequest) -> Void) async throws -> [String] {
                var request = Waybill_V1_SearchOrdersRequest()
                configure(&request)
                return try await client.searchOrders(request).orders.map(\.orderID)
            }
            #expect(try await found(admin) { $0.customerEmail = "Shared@Example.com" } == [theirs.orderID, mine.orderID])
            #expect(try await found(web) { $0.customerEmail = "shared@example.com" } == [mine.orderID])
            #expect(try await found(web) { $0.query = theirs.orderID } == [])
            #expect(try await found(web) { $0.query = "M-1" } == [])
            #expect(try await found(web) { $0.channel = .marketplace; $0.externalOrderID = "M-1" } == [])
            #expect(try await found(web) { $0.customerPhone = "2155550100" } == [], "the country code is part of the digits")
            #expect(try await found(web) { $0.customerPhone = "+1 (215) 555-0100" } == [mine.orderID])
            #expect(try await found(admin) { $0.channel = .marketplace; $0.externalOrderID = "M-1" } == [theirs.orderID])
            let erp = try await server.client(as: TestCredentials.erp)
            #expect(try await found(erp) { $0.query = "shared@example.com" } == [theirs.orderID, mine.orderID])
            // A fulfillment credential: orders with a fulfillment at its locations (WH-EAST serves both).
            let east = try await server.client(as: TestCredentials.eastWarehouse)
            #expect(try await found(east) { $0.locationID = "WH-EAST" } == [theirs.orderID, mine.orderID].filter { id in
                [theirs, mine].first { $0.orderID == id }!.fulfillments.contains { $0.locationID == "WH-EAST" }
            })
            await expectStatus(.invalidArgument) { try await web.searchOrders(.with { $0.externalOrderID = "W-1" }) }
            await expectStatus(.invalidArgument) { try await web.searchOrders(.with { $0.customerPhone = "call me" }) }
        }
    }

    @Test("pages of a search neither repeat nor miss an order while others are being captured")
    func pagesWhileCapturing() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var expected: [String] = []
            for n in 0..<30 {
                expected.append(try await client.captureOrder(Self.order("PG-\(n)", channel: .web, email: "pager@example.com")).order.orderID)
            }
            var request = Waybill_V1_SearchOrdersRequest()
            request.customerEmail = "pager@example.com"
            request.pageSize = 4
            var seen: [String] = []
            var more = 0
            repeat {
                let page = try await client.searchOrders(request)
                seen += page.orders.map(\.orderID)
                // Captured between pages: newer than the first page, so never in a later one.
                _ = try await client.captureOrder(Self.order("PG-late-\(more)", channel: .web, email: "pager@example.com"))
                more += 1
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty
            #expect(seen == expected.reversed(), "newest first, each once")
            var fresh = Waybill_V1_SearchOrdersRequest()
            fresh.customerEmail = "pager@example.com"
            fresh.pageSize = 200
            #expect(try await client.searchOrders(fresh).orders.count == 30 + more)
        }
    }

    @Test("a location's queue: oldest first, only its own for a fulfillment credential, an entry leaves after pick, pack and ship")
    func locationQueue() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            var orders: [Waybill_V1_Order] = []
            for n in 0..<3 {
                orders.append(try await admin.captureOrder(Self.order("Q-\(n)", channel: .web, email: "q@example.com")).order)
                server.clock.advance(milliseconds: 60_000)
            }
            let east = try await server.client(as: TestCredentials.eastWarehouse)
            func queue(_ client: WaybillClient, _ statuses: [Waybill_V1_FulfillmentStatus] = []) async throws -> [Waybill_V1_LocationQueueEntry] {
                var request = Waybill_V1_ListLocationQueueRequest()
                request.locationID = "WH-EAST"
                request.statuses = statuses
                request.pageSize = 2
                var entries: [Waybill_V1_LocationQueueEntry] = []
                repeat {
                    let page = try await client.listLocationQueue(request)
                    entries += page.entries
                    request.pageToken = page.nextPageToken
                } while !request.pageToken.isEmpty
                return entries
            }
            let entries = try await queue(east)
            #expect(entries.map(\.orderID) == orders.map(\.orderID))
            let first = try #require(entries.first)
            #expect(first.fulfillmentStatus == .created && first.method == .ship && first.channel == .web)
            #expect(first.customerName == "Ada Lovelace" && first.lineCount == 1 && first.units == 1 && !first.onHold)
            #expect(first.orderStatus == .allocated && first.promisedDeliveryUnixMs > 0)

            let (orderID, fulfillmentID) = (first.orderID, first.fulfillmentID)
            _ = try await east.release(orderID, fulfillmentID, request: "qr")
            #expect(try await queue(east, [.released]).map(\.fulfillmentID) == [fulfillmentID])
            _ = try await east.fulfillmentStep(Method.OrderService.confirmPick, orderID, fulfillmentID, request: "qp")
            #expect(try await queue(east, [.picked]).map(\.fulfillmentID) == [fulfillmentID])
            _ = try await east.fulfillmentStep(Method.OrderService.confirmPack, orderID, fulfillmentID, request: "qk")
            #expect(try await queue(east, [.packed]).map(\.fulfillmentID) == [fulfillmentID])
            _ = try await east.ship(orderID, fulfillmentID, request: "qs")
            #expect(try await queue(east).map(\.orderID) == Array(orders.dropFirst().map(\.orderID)))
            _ = try await admin.hold(orders[2].orderID, request: "qh")
            #expect(try await queue(east).last?.onHold == true)

            await expectStatus(.permissionDenied) { try await east.listLocationQueue(.with { $0.locationID = "WH-WEST" }) }
            let web = try await server.client(as: TestCredentials.web)
            await expectStatus(.permissionDenied) { try await web.listLocationQueue(.with { $0.locationID = "WH-EAST" }) }
            await expectStatus(.invalidArgument) { try await admin.listLocationQueue(.with { $0.locationID = "" }) }
            await expectStatus(.invalidArgument) { try await admin.listLocationQueue(.with { $0.locationID = "WH-EAST"; $0.statuses = [.delivered] }) }
            await expectStatus(.invalidArgument) { try await admin.listLocationQueue(.with { $0.locationID = "WH-EAST"; $0.pageToken = "x" }) }
        }
    }

    @Test("searchPageSizeMax and searchCandidatesScannedMax: named refusals, and a page cut short with a cursor")
    func limits() async throws {
        try await withServer({ $0.transport.searchPageSizeMax = 10; $0.transport.searchCandidatesScannedMax = 3 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            for n in 0..<5 { _ = try await client.captureOrder(Self.order("LIM-\(n)", channel: .web, email: "lim@example.com")) }
            var request = Waybill_V1_SearchOrdersRequest()
            request.pageSize = 11
            let error = await expectStatus(.invalidArgument) { try await client.searchOrders(request) }
            #expect(error?.details.limitName == "searchPageSizeMax")
            #expect(error?.details.limitValue == 10)
            let queueError = await expectStatus(.invalidArgument) {
                try await client.listLocationQueue(.with { $0.locationID = "WH-EAST"; $0.pageSize = 11 })
            }
            #expect(queueError?.details.limitName == "searchPageSizeMax")
            request.pageSize = 10
            request.customerEmail = "lim@example.com"
            let first = try await client.searchOrders(request)
            #expect(first.orders.count == 3 && first.candidatesLimitReached && !first.nextPageToken.isEmpty)
            request.pageToken = first.nextPageToken
            let second = try await client.searchOrders(request)
            #expect(second.orders.count == 2 && !second.candidatesLimitReached && second.nextPageToken.isEmpty)
            request.pageToken = "after:3"
            await expectStatus(.invalidArgument) { try await client.searchOrders(request) }
        }
    }
}
