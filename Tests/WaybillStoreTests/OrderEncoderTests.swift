// The direct order encoder must produce exactly what swift-protobuf produces from a message built
// field by field (OrderReferenceMessage.swift): it is the storage format and is spliced into change events.

import SwiftProtobuf
import Testing
import WaybillBenchmarks
import WaybillCore
import WaybillProto

@Suite("Order encoder")
struct OrderEncoderTests {
    /// Orders in many shapes: driven through the engine (fulfillments, splits, holds, returns,
    /// cancellations, ERP documents) so every field is exercised.
    static func orders() throws -> [Order] {
        let storage = MemoryStorage()
        // Ship-tos without coordinates are routed from their city's centroid (and the decision says so).
        var engine = Engine(gazetteer: Gazetteer(places: [
            Gazetteer.Place(name: "New York City", region: "NY", country: "US", coordinates: Coordinates(latitude: 40.7143, longitude: -74.006)),
        ]))
        let now = Timestamp(millisecondsSinceEpoch: 1_795_700_000_000)
        let context = CommandContext(now: now, clientID: "tests")
        var carrier = Carrier(carrierID: "UPX")
        var service = CarrierService(service: "ground")
        service.rates = [RateBand(maxDistanceKilometres: 5_000, maxWeightGrams: 50_000, cost: Money(minorUnits: 700, currency: "USD"), transitDays: 3)]
        carrier.services = [service]
        try engine.upsert(carrier: carrier, context: context, storage: storage)
        for (index, (latitude, longitude)) in [(40.7, -74.0), (34.0, -118.2), (41.8, -87.6)].enumerated() {
            var location = Location(locationID: LocationID("L\(index)"))
            location.coordinates = Coordinates(latitude: latitude, longitude: longitude)
            location.processingCost = Money(minorUnits: 150, currency: "USD")
            location.pickup = index == 2
            location.type = index == 2 ? .store : .warehouse
            try engine.upsert(location: location, context: context, storage: storage)
        }
        for (index, sku) in ["A", "B", "C"].enumerated() {
            var item = Item(sku: SKU(sku))
            item.weightGrams = Int32(200 * (index + 1))
            try engine.upsert(item: item, context: context, storage: storage)
            for location in 0..<3 where (index + location) % 2 == 0 {
                _ = try engine.applyInventoryChange(InventoryChange(changeID: "in-\(sku)-\(location)", kind: .receipt, sku: SKU(sku),
                                                                    locationID: LocationID("L\(location)"), quantity: 5),
                                                    context: context, storage: storage)
            }
        }
        var orders: [Order] = []
        for number in 0..<12 {
            var draft = OrderDraft()
            draft.channel = Channel.allCases[number % Channel.allCases.count]
            draft.externalOrderID = "ext-\(number)"
            draft.customer.name = number % 2 == 0 ? "Ada Lovelace" : ""
            draft.customer.email = number % 3 == 0 ? "ada@example.com" : ""
            draft.shipTo.postalCode = "10001"
            draft.shipTo.country = "US"
            draft.shipTo.lines = number % 2 == 0 ? ["1 Main St", ""] : []
            draft.shipTo.coordinates = number % 4 == 3 ? nil : Coordinates(latitude: 40.0 + Double(number), longitude: number % 5 == 0 ? 0 : -80.5)
            if number % 4 == 3 { (draft.shipTo.city, draft.shipTo.region) = ("New York", "NY") }
            draft.createdAt = now.adding(milliseconds: Int64(-number))
            if number == 5 { draft.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: LocationID("L2")) }
            if number % 4 == 1 { draft.holds = [Hold(reason: .payment, note: "auth pending")] }
            draft.attributes = number % 2 == 0 ? ["payment_ref": "pi_\(number)", "empty": ""] : [:]
            draft.lines = (0..<(1 + number % 3)).map { line in
                DraftLine(lineID: "\(line + 1)", sku: SKU(["A", "B", "C"][(number + line) % 3]), quantity: Int32(1 + (number + line) % 4),
                          unitPrice: Money(minorUnits: Int64(999 + number), currency: "USD"))
            }
            var order = try engine.capture(draft, context: context, storage: storage).order
            let id = order.orderID
            func apply(_ command: OrderCommand, _ request: String) throws {
                order = try engine.apply(command, to: id, context: CommandContext(now: now.adding(milliseconds: 1000), clientID: "ops",
                                                                                  requestID: request), storage: storage).order
            }
            if number % 4 == 1 { try apply(.releaseHold(nil, note: "paid"), "r\(number)") }
            if number % 3 == 0, let first = order.fulfillments.first {
                try apply(.releaseFulfillment(nil), "rel\(number)")
                try apply(.confirmShipment(first.fulfillmentID, carrierID: "UPX", trackingNumber: "1Z\(number)"), "ship\(number)")
                // Returns of orders 3 and 6 are exchanges (at receipt, at creation): a replacement order linked to each.
                let exchange = number % 9 == 0 ? nil : ExchangeRequest(
                    lines: [DraftLine(lineID: "1", sku: SKU("A"), quantity: 1, unitPrice: Money(minorUnits: 1_500, currency: "USD"))],
                    reserveAt: number % 2 == 1 ? .atReceipt : .atCreation)
                try apply(.createReturn(returnID: "rma-\(number)", lines: [LineQuantity(lineID: first.lines[0].lineID, quantity: 1)],
                                        reason: "too small", exchange: exchange), "ret\(number)")
                try apply(.receiveReturn(returnID: "rma-\(number)", locationID: first.locationID,
                                         lines: [ReturnLine(lineID: first.lines[0].lineID, quantity: 1, disposition: .restock)]), "rcv\(number)")
            }
            if number % 4 == 2, order.fulfillments.allSatisfy({ $0.status == .created }) {
                var moved = draft.shipTo
                moved.lines = ["2 Moved St"]
                moved.coordinates = Coordinates(latitude: 41.0, longitude: -81.0)
                try apply(.edit([.changeShipTo(moved), .changeLineQuantity(lineID: "1", quantity: order.lines[0].activeQuantity + 1)],
                                reason: "customer"), "e\(number)")
            }
            if number % 5 == 2, order.lines.contains(where: { $0.openQuantity > 0 }) { try apply(.cancelOrder(reason: "customer"), "c\(number)") }
            if number % 3 == 1, let first = order.fulfillments.first, first.status == .created {
                try apply(.rejectFulfillment(first.fulfillmentID, lines: [], reason: "not found", stockMissing: false), "rej\(number)")
            }
            if number % 2 == 1 {
                order = try engine.recordErpAcknowledgement(orderID: id, documentNumber: "SO-\(number)", status: .posted,
                                                            messageID: "ack-\(number)", context: context, storage: storage).order
                order = try engine.recordErpDocument(orderID: id, document: ErpDocument(kind: "invoice", documentNumber: "INV-\(number)",
                                                                                        amount: Money(minorUnits: 1234, currency: "USD"), postedAt: now),
                                                     messageID: "doc-\(number)", context: context, storage: storage).order
            }
            orders.append(order)
        }
        // The replacements (exchange_of) are orders of their own.
        return orders + storage.orders.values.filter { $0.exchangeOf != nil }.sorted { $0.orderID.rawValue < $1.orderID.rawValue }
    }

    @Test("decodes to the same message swift-protobuf builds, for orders of every shape")
    func matchesSwiftProtobuf() throws {
        let orders = try Self.orders()
        #expect(orders.contains { $0.routingDecisions.contains { !$0.destinationApproximation.isEmpty } }, "routing decision field 10 is exercised")
        #expect(orders.contains { !$0.returns.isEmpty } && orders.contains { $0.erp != ErpOrderState() }
                && orders.contains { !$0.excludedLocationIDs.isEmpty } && orders.contains { !$0.attributes.isEmpty }
                && orders.contains { $0.capturedContent != nil } && orders.contains { $0.exchangeOf != nil }
                && orders.contains { $0.returns.contains { $0.exchange?.status == .created && $0.exchange?.reserveAt == .atCreation } }
                && orders.contains { $0.returns.contains { $0.exchange?.status == .created && $0.exchange?.reserveAt == .atReceipt } })
        for order in orders {
            let fast = order.encodedProto()
            let reference = order.referenceMessage
            #expect(try Waybill_V1_Order(serializedBytes: fast) == reference, "order \(order.orderID)")
            if order.attributes.count <= 1 {
                // Without a map (whose order swift-protobuf does not fix) the bytes are identical.
                let bytes: [UInt8] = try reference.serializedBytes()
                #expect(fast == bytes, "order \(order.orderID)")
            }
            #expect(try Order(proto: Waybill_V1_Order(serializedBytes: fast)) == order)
        }
    }

    @Test("nested messages of every length prefix size: 1, 2 and 3 bytes", arguments: [0, 1, 127, 128, 300, 16_383, 16_384, 40_000])
    func nestedLengths(length: Int) throws {
        // Nested messages are written in place behind a one-byte length and moved up when the
        // length needs more: customer (one level) and ship-to lines (inside the address).
        var order = try #require(Self.orders().first { $0.attributes.count <= 1 && !$0.routingDecisions.isEmpty })
        order.customer.name = String(repeating: "n", count: length)
        order.shipTo.lines = [String(repeating: "a", count: length / 2), "x"]
        let fast = order.encodedProto()
        let bytes: [UInt8] = try order.referenceMessage.serializedBytes()
        #expect(fast == bytes)
        #expect(try Order(proto: Waybill_V1_Order(serializedBytes: fast)) == order)
    }

    @Test("both forms from one encoding are byte for byte the full and the lean encodings")
    func forms() throws {
        let orders = try Self.orders()
        #expect(orders.contains { !$0.routingDecisions.isEmpty && !$0.returns.isEmpty })
        for order in orders {
            let (full, lean) = order.encodedProtoForms()
            #expect(full == order.encodedProto(), "order \(order.orderID)")
            #expect(lean == order.encodedProto(audit: false), "order \(order.orderID)")
            #expect(lean.count < full.count)
        }
    }

    @Test("order change events: direct encoding decodes to the generated event with the order spliced in")
    func events() throws {
        for order in try Self.orders() {
            var event = DomainEvent(type: "order.captured", aggregate: .order(order), aggregateSequence: order.version,
                                    occurredAt: order.updatedAt, clientID: "tests", detail: "d")
            event.fulfillmentID = order.fulfillments.first?.fulfillmentID ?? ""
            var expected = event.protoWithoutOrder(offset: 42)
            expected.order = order.referenceMessage
            #expect(try Waybill_V1_ChangeEvent(serializedBytes: event.encoded(offset: 42, orderBytes: nil)) == expected)
            #expect(try Waybill_V1_ChangeEvent(serializedBytes: event.encoded(offset: 42, orderBytes: order.encodedProto())) == expected)
            // Change events carry the order without its audit trail.
            var lean = expected
            lean.order.routingDecisions = []
            lean.order.history = []
            #expect(try Waybill_V1_ChangeEvent(serializedBytes: event.encoded(offset: 42)) == lean)
            #expect(!order.history.isEmpty)
        }
    }
}
