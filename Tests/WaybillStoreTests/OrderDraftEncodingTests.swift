// A draft (what a client captures) is encoded by the same encoder as the stored order: the bytes
// must decode to the message swift-protobuf builds field by field, and back to the same draft.

import SwiftProtobuf
import Testing
import WaybillBenchmarks
import WaybillCore
import WaybillProto

@Suite("Order draft encoding")
struct OrderDraftEncodingTests {
    static func drafts() -> [OrderDraft] {
        (0..<8).map { number in
            var draft = OrderDraft()
            draft.channel = number == 7 ? nil : Channel.allCases[number % Channel.allCases.count]
            draft.externalOrderID = "ext-\(number)"
            draft.customer.name = number % 2 == 0 ? "Ada Lovelace" : ""
            draft.customer.phone = number % 3 == 0 ? "+1 555 0100" : ""
            draft.shipTo.lines = number % 2 == 0 ? ["1 Main St", ""] : []
            draft.shipTo.city = "New York"
            draft.shipTo.coordinates = number % 4 == 3 ? nil : Coordinates(latitude: 40.7, longitude: number % 5 == 0 ? 0 : -74.0)
            draft.createdAt = Timestamp(millisecondsSinceEpoch: number % 3 == 0 ? 0 : 1_795_700_000_000 + Int64(number))
            if number == 5 { draft.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: LocationID("ST-1")) }
            if number % 2 == 1 { draft.fulfillment.serviceLevel = .expedited }
            if number % 4 == 1 { draft.holds = [Hold(reason: .payment, note: "auth pending"), Hold(reason: .fraud)] }
            draft.attributes = number % 2 == 0 ? ["payment_ref": "pi_\(number)"] : [:]
            draft.lines = (0..<(number % 4)).map { line in
                DraftLine(lineID: "\(line + 1)", sku: SKU("SKU-\(line)"), quantity: Int32(line + number - 3),
                          unitPrice: Money(minorUnits: Int64(999 * line), currency: line == 0 ? "" : "USD"))
            }
            return draft
        }
    }

    @Test("the draft's bytes are swift-protobuf's, and decode to the same draft")
    func matchesSwiftProtobuf() throws {
        for draft in Self.drafts() {
            let fast = draft.encodedProto()
            let reference: [UInt8] = try draft.referenceMessage.serializedBytes()
            #expect(fast == reference, "draft \(draft.externalOrderID)")
            #expect(try OrderDraft(proto: Waybill_V1_Order(serializedBytes: fast)) == draft, "draft \(draft.externalOrderID)")
            #expect(draft.proto == draft.referenceMessage)
        }
    }
}
