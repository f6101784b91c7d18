// Foundation (issue 2): capture, reads, idempotency, validation, batches, listing, concurrency.

import Foundation
import NIOCore
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Capture and reads", .timeLimit(.minutes(3)))
struct CaptureTests {
    @Test("capture, then GetOrder by id and by capture key, answers the same order")
    func captureAndGet() async throws {
        try await withServer { server in
            let client = try await server.client("channel-web")
            try await client.loadFixtureNetwork()
            var order = Fixture.order("WEB-1001", lines: [("SKU-A", 2), ("SKU-B", 1)])
            order.attributes = ["payment_ref": "pi_123", "campaign": "spring"]
            order.fulfillment.serviceLevel = .expedited
            let response = try await client.captureOrder(order)
            #expect(!response.replayed)
            let captured = response.order
            #expect(captured.orderID == "W-00000001")
            #expect(captured.externalOrderID == "WEB-1001")
            #expect(captured.channel == .web)
            #expect(captured.status == .allocated)
            #expect(captured.version == 1)
            #expect(captured.capturedAtUnixMs == server.clock.now)
            #expect(captured.lines.map(\.lineID) == ["L1", "L2"])
            #expect(captured.lines.map(\.quantity) == [2, 1])
            #expect(captured.lines.map(\.quantities.allocated) == [2, 1])
            #expect(captured.attributes == order.attributes)
            #expect(captured.customer == order.customer)
            #expect(captured.shipTo == order.shipTo)
            #expect(captured.fulfillment.serviceLevel == .expedited)
            #expect(captured.history.first?.action == "captured")
            #expect(captured.history.first?.clientID == TestCredentials.admin.name, "who acted is the credential, not the client-id")

            let byID = try await client.getOrder("W-00000001")
            #expect(byID == captured)
            let byKey = try await client.getOrder(channel: .web, externalOrderID: "WEB-1001")
            #expect(byKey == captured)

            await expectStatus(.notFound) { try await client.getOrder("W-99999999") }
            await expectStatus(.notFound) { try await client.getOrder(channel: .marketplace, externalOrderID: "WEB-1001") }
            await expectStatus(.invalidArgument) { try await client.call(Method.OrderService.getOrder, Waybill_V1_GetOrderRequest(), as: Waybill_V1_Order.self) }
        }
    }

    @Test("a retry with the same (channel, external id) and content answers the original order, replayed")
    func idempotentRetry() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            var draft = Fixture.order("WEB-2001", lines: [("SKU-A", 1)], holds: [.payment])
            draft.attributes = ["k": "v"]
            let order = draft
            let first = try await client.captureOrder(order)
            let headBefore = try await client.feedInfo().headOffset
            let retries = try await withThrowingTaskGroup(of: Waybill_V1_CaptureOrderResponse.self) { group in
                for _ in 0..<5 { group.addTask { try await client.captureOrder(order) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for retry in retries {
                #expect(retry.replayed)
                #expect(retry.order.orderID == first.order.orderID)
                #expect(retry.order == first.order, "the original order, unchanged")
            }
            // Output-only fields sent back by a client do not make it a different order.
            var echoed = first.order
            echoed.status = .cancelled
            echoed.version = 77
            let echoedRetry = try await client.captureOrder(echoed)
            #expect(echoedRetry.replayed && echoedRetry.order.orderID == first.order.orderID)
            #expect(try await client.feedInfo().headOffset == headBefore, "no event for a replay")
            #expect(try await client.allOrders().count == 1)
        }
    }

    @Test("the same key with different content is ALREADY_EXISTS and changes nothing")
    func conflictingRetry() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let original = Fixture.order("WEB-3001", lines: [("SKU-A", 2)])
            let first = try await client.captureOrder(original)
            let before = try await client.getOrder(first.order.orderID)
            let positionBefore = try await client.position("SKU-A", "WH-EAST")
            let headBefore = try await client.feedInfo().headOffset

            var changes: [(String, Waybill_V1_Order)] = []
            var quantity = original; quantity.lines[0].quantity = 3; changes.append(("quantity", quantity))
            var sku = original; sku.lines[0].sku = "SKU-B"; changes.append(("sku", sku))
            var price = original; price.lines[0].unitPrice.minorUnits = 1; changes.append(("price", price))
            var address = original; address.shipTo.postalCode = "19104"; changes.append(("address", address))
            var hold = original; hold.holds = [Fixture.order("x", holds: [.fraud]).holds[0]]; changes.append(("holds", hold))
            var attributes = original; attributes.attributes = ["a": "b"]; changes.append(("attributes", attributes))
            var lines = original; lines.lines.append(Fixture.line("L2", "SKU-A", 1)); changes.append(("extra line", lines))
            for (what, changed) in changes {
                let error = await expectStatus(.alreadyExists, field: "order.external_order_id", "changed \(what)") {
                    try await client.captureOrder(changed)
                }
                #expect(error?.details.existingOrderID == first.order.orderID)
            }
            // Same external id on another channel is another order.
            var otherChannel = original
            otherChannel.channel = .mobileApp
            let other = try await client.captureOrder(otherChannel)
            #expect(!other.replayed && other.order.orderID == "W-00000002")

            #expect(try await client.getOrder(first.order.orderID) == before)
            let positionAfter = try await client.position("SKU-A", "WH-EAST")
            #expect(positionAfter.reserved == positionBefore.reserved + 2, "only the mobile-app order reserved more")
            #expect(try await client.feedInfo().headOffset == headBefore + 1, "only the mobile-app capture produced an event")
        }
    }

    @Test("every validation rule is INVALID_ARGUMENT naming the field, and nothing is stored")
    func validationRules() async throws {
        try await withServer({ $0.domain.linesPerOrderMax = 5 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let valid = Fixture.order("VALID")
            let long = String(repeating: "x", count: 1_025)
            var cases: [(String, Waybill_V1_Order)] = []
            func add(_ field: String, _ change: (inout Waybill_V1_Order) -> Void) {
                var order = valid
                change(&order)
                cases.append((field, order))
            }
            add("order.channel") { $0.channel = .unspecified }
            add("order.channel") { $0.channel = .UNRECOGNIZED(99) }
            add("order.external_order_id") { $0.externalOrderID = "" }
            add("order.external_order_id") { $0.externalOrderID = String(repeating: "e", count: 129) }
            add("order.external_order_id") { $0.externalOrderID = "bad\nid" }
            add("order.external_order_id") { $0.externalOrderID = " padded" }
            add("order.lines") { $0.lines = [] }
            add("order.lines") { order in order.lines = (1...6).map { Fixture.line("L\($0)", "SKU-A", 1) } }
            add("order.created_at_unix_ms") { $0.createdAtUnixMs = -1 }
            add("order.lines[0].line_id") { $0.lines[0].lineID = "" }
            add("order.lines[1].line_id") { $0.lines = [Fixture.line("L1", "SKU-A", 1), Fixture.line("L1", "SKU-B", 1)] }
            add("order.lines[0].sku") { $0.lines[0].sku = "" }
            add("order.lines[0].sku") { $0.lines[0].sku = "-starts-with-dash" }
            add("order.lines[0].sku") { $0.lines[0].sku = "has space" }
            add("order.lines[0].sku") { $0.lines[0].sku = String(repeating: "S", count: 129) }
            add("order.lines[0].quantity") { $0.lines[0].quantity = 0 }
            add("order.lines[0].quantity") { $0.lines[0].quantity = -2 }
            add("order.lines[0].quantity") { $0.lines[0].quantity = 1_000_001 }
            add("order.lines[0].unit_price.currency") { $0.lines[0].unitPrice.currency = "usd" }
            add("order.lines[0].unit_price.currency") { $0.lines[0].unitPrice.currency = "" }
            add("order.lines[1].unit_price.currency") { order in
                var euro = Fixture.line("L2", "SKU-B", 1)
                euro.unitPrice.currency = "EUR"
                order.lines.append(euro)
            }
            add("order.lines[0].unit_price.minor_units") { $0.lines[0].unitPrice.minorUnits = -1 }
            add("order.fulfillment.method") { $0.fulfillment.method = .UNRECOGNIZED(9) }
            add("order.fulfillment.service_level") { $0.fulfillment.serviceLevel = .UNRECOGNIZED(9) }
            add("order.fulfillment.pickup_location_id") { $0.fulfillment.method = .pickup }
            add("order.fulfillment.pickup_location_id") { $0.fulfillment.method = .pickup; $0.fulfillment.pickupLocationID = "ST-NOWHERE" }
            add("order.fulfillment.pickup_location_id") { $0.fulfillment.method = .pickup; $0.fulfillment.pickupLocationID = "WH-EAST" }
            add("order.ship_to.country") { $0.shipTo.country = "" }
            add("order.ship_to.country") { $0.shipTo.country = "USA" }
            add("order.ship_to.country") { $0.shipTo.country = "us" }
            add("order.ship_to.postal_code") { $0.shipTo.postalCode = "" }
            add("order.ship_to.coordinates.latitude") { $0.shipTo.coordinates.latitude = 91 }
            add("order.ship_to.coordinates.latitude") { $0.shipTo.coordinates.latitude = .nan }
            add("order.ship_to.coordinates.longitude") { $0.shipTo.coordinates.longitude = -180.5 }
            add("order.ship_to.name") { $0.shipTo.name = long }
            add("order.ship_to.city") { $0.shipTo.city = long }
            add("order.ship_to.lines") { $0.shipTo.lines = Array(repeating: "line", count: 9) }
            add("order.ship_to.lines[1]") { $0.shipTo.lines = ["ok", long] }
            add("order.customer.email") { $0.customer.email = long }
            add("order.customer.customer_id") { $0.customer.customerID = long }
            add("order.holds[0].reason") { order in order.holds = [Waybill_V1_Hold()] }
            add("order.holds[1].reason") { order in
                order.holds = Fixture.order("x", holds: [.payment, .payment]).holds
            }
            add("order.holds") { order in
                order.holds = (0..<17).map { index in
                    var hold = Waybill_V1_Hold()
                    hold.reason = Waybill_V1_HoldReason(rawValue: 1 + index % 5)!
                    return hold
                }
            }
            add("order.attributes") { order in
                order.attributes = Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })
            }
            add("order.attributes key") { $0.attributes = ["": "v"] }
            add("order.attributes[note]") { $0.attributes = ["note": long] }

            for (field, order) in cases {
                await expectStatus(.invalidArgument, field: field, "\(field)") { try await client.captureOrder(order) }
            }
            // Limits say which limit.
            var tooMany = valid
            tooMany.lines = (1...6).map { Fixture.line("L\($0)", "SKU-A", 1) }
            let limit = await expectStatus(.invalidArgument, field: "order.lines") { try await client.captureOrder(tooMany) }
            #expect(limit?.details.limitName == "linesPerOrderMax")
            #expect(limit?.details.limitValue == 5)
            // A payload that is not a CaptureOrderRequest at all.
            await expectStatus(.invalidArgument) {
                try await client.send(method: Method.OrderService.captureOrder, payload: [0x0A, 0x05, 0x01]).get()
            }

            #expect(try await client.allOrders().isEmpty, "no invalid order was stored")
            let info = try await client.feedInfo()
            let ordersInFeed = try await client.allOrders()
            #expect(ordersInFeed.isEmpty && info.headOffset > 0)
            // The valid order still goes through, and gets the first order number.
            #expect(try await client.captureOrder(valid).order.orderID == "W-00000001")
        }
    }

    @Test("CaptureOrders: each order succeeds or fails on its own, in request order")
    func captureOrdersBatch() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let existing = try await client.captureOrder(Fixture.order("B-0"))
            var invalid = Fixture.order("B-2")
            invalid.lines[0].quantity = 0
            var conflicting = Fixture.order("B-0")
            conflicting.lines[0].quantity = 9
            var pickupNowhere = Fixture.pickupOrder("B-5", store: "ST-NOWHERE", lines: [("SKU-A", 1)])
            pickupNowhere.customer.name = "x"
            let batch = [
                Fixture.order("B-1"),            // new
                invalid,                         // invalid: field names its index
                Fixture.order("B-0"),            // replay of an earlier capture
                conflicting,                     // same key, other content
                Fixture.order("B-1"),            // replay of the first order of this very batch
                pickupNowhere,                   // refused by the engine (unknown store)
                Fixture.order("B-6", lines: [("SKU-B", 1)]),
            ]
            let response = try await client.captureOrders(batch)
            #expect(response.results.count == batch.count)
            let codes = response.results.map(\.status.code)
            #expect(codes == [.ok, .invalidArgument, .ok, .alreadyExists, .ok, .invalidArgument, .ok])
            #expect(response.results[0].response.order.orderID == "W-00000002")
            #expect(!response.results[0].response.replayed)
            #expect(response.results[1].status.details.field == "orders[1].lines[0].quantity")
            #expect(!response.results[1].hasResponse)
            #expect(response.results[2].response.replayed && response.results[2].response.order.orderID == existing.order.orderID)
            #expect(response.results[3].status.details.existingOrderID == existing.order.orderID)
            #expect(response.results[3].status.details.field == "orders[3].external_order_id")
            #expect(response.results[4].response.replayed && response.results[4].response.order.orderID == "W-00000002")
            #expect(response.results[5].status.details.field == "orders[5].fulfillment.pickup_location_id")
            #expect(response.results[6].response.order.orderID == "W-00000003")
            let stored = try await client.allOrders().map(\.externalOrderID)
            #expect(stored == ["B-0", "B-1", "B-6"])
            #expect(try await client.getOrder("W-00000003").lines[0].sku == "SKU-B")
        }
    }

    @Test("CaptureOrders over ordersPerBatchMax is refused whole")
    func captureOrdersOverLimit() async throws {
        try await withServer({ $0.transport.ordersPerBatchMax = 4 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let five = (1...5).map { Fixture.order("OVER-\($0)") }
            let error = await expectStatus(.invalidArgument) { try await client.captureOrders(five) }
            #expect(error?.details.limitName == "ordersPerBatchMax")
            #expect(error?.details.limitValue == 4)
            #expect(try await client.allOrders().isEmpty)
            let four = try await client.captureOrders(Array(five.prefix(4)))
            #expect(four.results.allSatisfy { $0.status.code == .ok })
            let empty = try await client.captureOrders([])
            #expect(empty.results.isEmpty)
        }
    }
}

@Suite("ListOrders", .timeLimit(.minutes(3)))
struct ListOrdersTests {
    @Test("filters by channel, status and capture time, and pages without duplicates or misses")
    func filtersAndPages() async throws {
        try await withServer({ $0.transport.listPageSizeMax = 20 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let channels: [Waybill_V1_Channel] = [.web, .marketplace, .callCentre]
            var captured: [Waybill_V1_Order] = []
            for period in 0..<3 {
                for n in 0..<17 {
                    let channel = channels[(n + period) % channels.count]
                    // SKU-E has no stock: backordered. A payment hold: on hold. Otherwise allocated.
                    let lines: [(String, Int32)] = n % 4 == 0 ? [("SKU-E", 1)] : [("SKU-A", 1)]
                    let order = Fixture.order("P\(period)-\(n)", channel: channel, lines: lines, holds: n % 5 == 1 ? [.payment] : [])
                    captured.append(try await client.captureOrder(order).order)
                }
                server.clock.advance(milliseconds: 3_600_000)
            }
            let times = Set(captured.map(\.capturedAtUnixMs)).sorted()
            #expect(times.count == 3)
            #expect(Set(captured.map(\.status)) == [.allocated, .backordered, .onHold])

            func listed(pageSize: Int32, _ filter: (inout Waybill_V1_ListOrdersRequest) -> Void) async throws -> [String] {
                var request = Waybill_V1_ListOrdersRequest()
                filter(&request)
                request.pageSize = pageSize
                var ids: [String] = []
                var pages = 0
                while true {
                    let page = try await client.listOrders(request)
                    #expect(page.orders.count <= Int(pageSize))
                    ids += page.orders.map(\.orderID)
                    pages += 1
                    if page.nextPageToken.isEmpty { break }
                    request.pageToken = page.nextPageToken
                    #expect(pages < 100)
                }
                return ids
            }
            func expected(_ keep: (Waybill_V1_Order) -> Bool) -> [String] { captured.filter(keep).map(\.orderID) }

            for pageSize: Int32 in [1, 7, 20] {
                let all = try await listed(pageSize: pageSize) { _ in }
                #expect(all == captured.map(\.orderID), "every order once, in capture order (page size \(pageSize))")
                #expect(Set(all).count == all.count)
            }
            #expect(try await listed(pageSize: 7) { $0.channel = .web } == expected { $0.channel == .web })
            #expect(try await listed(pageSize: 7) { $0.statuses = [.onHold] } == expected { $0.status == .onHold })
            #expect(try await listed(pageSize: 3) { $0.statuses = [.backordered, .onHold] }
                        == expected { $0.status == .backordered || $0.status == .onHold })
            #expect(try await listed(pageSize: 5) { $0.capturedFromUnixMs = times[1] } == expected { $0.capturedAtUnixMs >= times[1] })
            #expect(try await listed(pageSize: 5) { $0.capturedToUnixMs = times[1] } == expected { $0.capturedAtUnixMs < times[1] })
            #expect(try await listed(pageSize: 4) {
                $0.capturedFromUnixMs = times[1]
                $0.capturedToUnixMs = times[2]
                $0.channel = .marketplace
                $0.statuses = [.allocated]
            } == expected { $0.capturedAtUnixMs == times[1] && $0.channel == .marketplace && $0.status == .allocated })
            #expect(try await listed(pageSize: 5) { $0.channel = .storePos }.isEmpty)

            // A page token stays valid while new orders arrive: the new ones come at the end.
            var request = Waybill_V1_ListOrdersRequest()
            request.pageSize = 10
            let first = try await client.listOrders(request)
            _ = try await client.captureOrder(Fixture.order("LATE-1"))
            request.pageToken = first.nextPageToken
            var rest = first.orders.map(\.orderID)
            while true {
                let page = try await client.listOrders(request)
                rest += page.orders.map(\.orderID)
                if page.nextPageToken.isEmpty { break }
                request.pageToken = page.nextPageToken
            }
            #expect(rest == captured.map(\.orderID) + ["W-00000052"])

            // Default page size (100) when the request says 0.
            var defaults = Waybill_V1_ListOrdersRequest()
            defaults.pageSize = 0
            #expect(try await client.listOrders(defaults).orders.count == 52)
        }
    }

    @Test("page sizes over listPageSizeMax, negative sizes and foreign tokens are refused")
    func badRequests() async throws {
        try await withServer({ $0.transport.listPageSizeMax = 20 }) { server in
            let client = try await server.client()
            var request = Waybill_V1_ListOrdersRequest()
            request.pageSize = 21
            let error = await expectStatus(.invalidArgument) { try await client.listOrders(request) }
            #expect(error?.details.limitName == "listPageSizeMax")
            #expect(error?.details.limitValue == 20)
            request.pageSize = 20
            #expect(try await client.listOrders(request).orders.isEmpty)
            request.pageSize = -1
            await expectStatus(.invalidArgument) { try await client.listOrders(request) }
            request.pageSize = 5
            request.pageToken = "page-2"
            await expectStatus(.invalidArgument) { try await client.listOrders(request) }
            request.pageToken = ""
            request.statuses = [.unspecified]
            await expectStatus(.invalidArgument) { try await client.listOrders(request) }
        }
    }
}

@Suite("Concurrent captures", .timeLimit(.minutes(4)))
struct ConcurrentCaptureTests {
    @Test("16 connections × 200 calls in flight: all acknowledged exactly once and all readable")
    func manyConnections() async throws {
        // 3,200 writes at once is an overload burst: admission by queueing time is off here (tested in BackpressureTests).
        try await withServer({ $0.writer.admission.writeQueueDelayTargetMilliseconds = 600_000 }) { server in
            let setup = try await server.client()
            var model = Fixture.network
            model.initialStock = ["WH-EAST", "WH-WEST"].flatMap { location in
                ["SKU-A", "SKU-B", "SKU-C"].map { Fixture.stock($0, location, 100_000) }
            }
            _ = try await setup.loadNetwork(model)
            let connections = 16, perConnection = 200
            let clients = try await withThrowingTaskGroup(of: WaybillClient.self) { group in
                for index in 0..<connections { group.addTask { try await server.client("conn-\(index)") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let skus = ["SKU-A", "SKU-B", "SKU-C"]
            // Every connection fires its 200 calls at once and only then waits.
            let acknowledged = try await withThrowingTaskGroup(of: [(String, Waybill_V1_CaptureOrderResponse)].self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        let futures = (0..<perConnection).map { n -> (String, EventLoopFuture<[UInt8]>) in
                            let external = "C\(index)-\(n)"
                            var request = Waybill_V1_CaptureOrderRequest()
                            request.order = Fixture.order(external, lines: [(skus[n % 3], Int32(1 + n % 3))])
                            return (external, client.send(method: Method.OrderService.captureOrder, payload: try! request.serializedBytes()))
                        }
                        var answers: [(String, Waybill_V1_CaptureOrderResponse)] = []
                        for (external, future) in futures {
                            answers.append((external, try Waybill_V1_CaptureOrderResponse(serializedBytes: try await future.get())))
                        }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(acknowledged.count == connections * perConnection)
            #expect(acknowledged.allSatisfy { !$0.1.replayed })
            #expect(acknowledged.allSatisfy { $0.0 == $0.1.order.externalOrderID })
            let ids = Set(acknowledged.map(\.1.order.orderID))
            #expect(ids.count == connections * perConnection, "one order per call")
            let numbers = ids.compactMap { Int($0.dropFirst(2)) }.sorted()
            #expect(numbers == Array(1...(connections * perConnection)), "order numbers are dense")

            let stored = try await setup.allOrders(pageSize: 1_000)
            #expect(stored.count == connections * perConnection)
            let byExternal = Dictionary(uniqueKeysWithValues: stored.map { ($0.externalOrderID, $0.orderID) })
            for (external, response) in acknowledged {
                #expect(byExternal[external] == response.order.orderID)
            }
            // Each one readable by its key, on any connection.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        for (external, response) in acknowledged where Int(external.dropFirst().prefix { $0 != "-" })! == index {
                            let order = try await client.getOrder(channel: .web, externalOrderID: external)
                            #expect(order.orderID == response.order.orderID)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Reservations add up to the units acknowledged.
            let units = acknowledged.reduce(into: [String: Int64]()) { $0[$1.1.order.lines[0].sku, default: 0] += Int64($1.1.order.lines[0].quantity) }
            let availability = try await setup.availability(skus: skus, locations: ["WH-EAST", "WH-WEST"])
            for sku in skus {
                let reserved = availability.positions.filter { $0.sku == sku }.reduce(0) { $0 + $1.reserved }
                #expect(reserved == units[sku], "\(sku)")
            }
        }
    }
}
