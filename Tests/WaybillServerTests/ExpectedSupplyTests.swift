// Expected supply over the wire: ErpService.ApplyExpectedReceipts is applied once per message id,
// all or nothing with errors naming the receipt; pre-orders are captured against it and served in
// capture order when it arrives; GetAvailability reports it apart from `available`; open receipts
// and the promises made from them survive a restart.

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Expected supply and pre-orders", .timeLimit(.minutes(3)))
struct ExpectedSupplyTests {
    static let day: Int64 = 86_400_000

    static func receipt(_ id: String, at location: String = "WH-EAST", expectedAt: Int64, _ lines: [(String, Int64)],
                        status: Waybill_V1_ExpectedReceiptStatus = .open) -> Waybill_V1_ExpectedReceipt {
        .with {
            $0.receiptID = id
            $0.locationID = location
            $0.expectedAtUnixMs = expectedAt
            $0.status = status
            $0.lines = lines.map { line in .with { $0.sku = line.0; $0.quantity = line.1 } }
        }
    }

    /// SKU-E (no stock in the fixture) sold as a pre-order, at most `cap` units waiting.
    static func allowPreorders(_ client: WaybillClient, cap: Int64) async throws {
        _ = try await client.upsertItems(.with {
            $0.items = [.with { $0.sku = "SKU-E"; $0.description_p = "drop"; $0.active = true; $0.preorder = true; $0.preorderCap = cap }]
        })
    }

    @Test("pre-orders are captured against a receipt, served in capture order when it arrives, never beyond what arrived")
    func preordersServedInCaptureOrder() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            try await Self.allowPreorders(client, cap: 0)
            let expectedAt = server.clock.now + 10 * Self.day
            let opened = try await client.applyExpectedReceipts(.with {
                $0.messageID = "po-1"
                $0.receipts = [Self.receipt("PO-1", expectedAt: expectedAt, [("SKU-E", 3)])]
            })
            #expect(opened.applied == 1 && !opened.replayed)
            let replay = try await client.applyExpectedReceipts(.with {
                $0.messageID = "po-1"
                $0.receipts = [Self.receipt("PO-1", expectedAt: expectedAt, [("SKU-E", 3)])]
            })
            #expect(replay.replayed, "the same message id is applied once")
            await expectStatus(.alreadyExists) {
                try await client.applyExpectedReceipts(.with {
                    $0.messageID = "po-1"
                    $0.receipts = [Self.receipt("PO-1", expectedAt: expectedAt, [("SKU-E", 4)])]
                })
            }

            // The options say what the capture then does: a pre-order promised from the receipt.
            let cart = Fixture.order("PRE-1", lines: [("SKU-E", 2)])
            let quoted = try await client.getFulfillmentOptions(.with {
                $0.queries = [.with { $0.queryID = "q"; $0.channel = .web; $0.lines = cart.lines; $0.shipTo = cart.shipTo
                                      $0.serviceLevels = [.standard] }]
            }).results[0].options[0]
            #expect(quoted.outcome == .preorder && quoted.preordered.map(\.quantity) == [2], "\(quoted)")
            #expect(quoted.expectedSupplyAtUnixMs == expectedAt)
            let first = try await client.captureOrder(cart).order
            #expect(first.lines[0].backorderPromisedAtUnixMs == quoted.backorderPromisedDeliveryUnixMs)
            #expect(first.lines[0].preordered == 2 && first.lines[0].quantities.backordered == 2)
            #expect(first.lines[0].expectedSupplyAtUnixMs == expectedAt)
            #expect(first.lines[0].backorderPromisedAtUnixMs > expectedAt)
            let second = try await client.captureOrder(Fixture.order("PRE-2", lines: [("SKU-E", 1)])).order
            #expect(second.lines[0].preordered == 1)

            let availability = try await client.getAvailability(.with { $0.skus = ["SKU-E"]; $0.channel = .web })
            #expect(availability.network.first?.available == 0, "expected supply is not available stock")
            #expect(availability.network.first?.expected == 3)
            #expect(availability.positions.first { $0.locationID == "WH-EAST" }?.expected.map(\.receiptID) == ["PO-1"])

            // Two of three arrive: the first order is served, the second waits without a promise.
            _ = try await client.applyExpectedReceipts(.with {
                $0.messageID = "po-1-arrived"
                $0.receipts = [Self.receipt("PO-1", expectedAt: 0, [("SKU-E", 2)], status: .received)]
            })
            let served = try await client.getOrder(first.orderID)
            #expect(served.lines[0].quantities.allocated == 2 && served.lines[0].preordered == 0)
            let waiting = try await client.getOrder(second.orderID)
            #expect(waiting.lines[0].quantities.backordered == 1 && waiting.lines[0].expectedSupplyAtUnixMs == 0)
            #expect(try await client.position("SKU-E", "WH-EAST").reserved == 2)
            #expect(try await client.position("SKU-E", "WH-EAST").onHand == 2)
            let history = try await client.orderHistory(second.orderID).entries.map(\.action)
            #expect(history.contains("repromised"), "\(history)")
            // A receipt id is received once.
            let again = await expectStatus(.failedPrecondition) {
                try await client.applyExpectedReceipts(.with {
                    $0.messageID = "po-1-arrived-again"
                    $0.receipts = [Self.receipt("PO-1", expectedAt: 0, [("SKU-E", 2)], status: .received)]
                })
            }
            #expect(again?.details.currentState == "RECEIVED")
            #expect(try await client.position("SKU-E", "WH-EAST").onHand == 2)
        }
    }

    @Test("a message is all or nothing, its error naming the receipt and field; the cap refuses what exceeds it")
    func allOrNothing() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            try await Self.allowPreorders(client, cap: 2)
            let expectedAt = server.clock.now + 5 * Self.day
            let error = await expectStatus(.notFound) {
                try await client.applyExpectedReceipts(.with {
                    $0.messageID = "bad"
                    $0.receipts = [Self.receipt("PO-A", expectedAt: expectedAt, [("SKU-E", 5)]),
                                   Self.receipt("PO-B", expectedAt: expectedAt, [("SKU-E", 1), ("NO-SUCH-SKU", 1)])]
                })
            }
            #expect(error?.details.field == "receipts[1].lines[1].sku", "\(error?.details.field ?? "")")
            let availability = try await client.getAvailability(.with { $0.skus = ["SKU-E"]; $0.channel = .web })
            #expect(availability.network.first?.expected == 0, "PO-A was not applied either")
            _ = try await client.applyExpectedReceipts(.with {
                $0.messageID = "good"
                $0.receipts = [Self.receipt("PO-A", expectedAt: expectedAt, [("SKU-E", 5)])]
            })
            _ = try await client.captureOrder(Fixture.order("CAP-1", lines: [("SKU-E", 2)]))
            // The fixture's policy backorders what cannot be served: beyond the cap the line waits
            // as a plain backorder, not as a pre-order.
            let beyond = try await client.captureOrder(Fixture.order("CAP-2", lines: [("SKU-E", 1)])).order
            #expect(beyond.lines[0].preordered == 0 && beyond.lines[0].quantities.backordered == 1)
            #expect(beyond.lines[0].expectedSupplyAtUnixMs == expectedAt, "a backorder is still promised from the receipt")
            await expectStatus(.invalidArgument) {
                try await client.applyExpectedReceipts(.with {
                    $0.messageID = "too-many"
                    $0.receipts = (0...TransportLimits().expectedReceiptsPerMessageMax).map {
                        Self.receipt("PO-\($0)", expectedAt: expectedAt, [("SKU-E", 1)])
                    }
                })
            }
        }
    }

    @Test("open receipts and the promises made from them survive a restart; the receipt still arrives")
    func survivesRestart() async throws {
        let directory = try TemporaryDirectory("supply-restart")
        var orderID = ""
        var expectedAt: Int64 = 0
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            try await Self.allowPreorders(client, cap: 0)
            expectedAt = server.clock.now + 3 * Self.day
            _ = try await client.applyExpectedReceipts(.with {
                $0.messageID = "po-r"
                $0.receipts = [Self.receipt("PO-R", expectedAt: expectedAt, [("SKU-E", 4)])]
            })
            orderID = try await client.captureOrder(Fixture.order("PRE-R", lines: [("SKU-E", 3)])).order.orderID
        }
        try await withServer({ $0.databasePath = directory.path("waybill.sqlite") }) { server in
            let client = try await server.client()
            #expect(try await client.getOrder(orderID).lines[0].expectedSupplyAtUnixMs == expectedAt)
            let availability = try await client.getAvailability(.with { $0.skus = ["SKU-E"]; $0.channel = .web })
            #expect(availability.network.first?.expected == 4)
            // What is left of the receipt after PRE-R (1 unit) can still be pre-ordered: the waiting line was rebuilt.
            #expect(try await client.captureOrder(Fixture.order("PRE-R2", lines: [("SKU-E", 1)])).order.lines[0].preordered == 1)
            _ = try await client.applyExpectedReceipts(.with {
                $0.messageID = "po-r-arrived"
                $0.receipts = [Self.receipt("PO-R", expectedAt: 0, [("SKU-E", 4)], status: .received)]
            })
            #expect(try await client.getOrder(orderID).lines[0].quantities.allocated == 3)
        }
    }
}
