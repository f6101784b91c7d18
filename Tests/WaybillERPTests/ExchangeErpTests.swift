// Exchanges as the ERP sees them: order.exchange_created carries the credit, the new order's
// amount and the difference; every message of the replacement names the order it replaces
// units of (JSON and CSV); reconciliation reports an ERP record lacking or contradicting the link.

import Foundation
import Testing
import WaybillCore
import WaybillERP
import WaybillProto

@Suite("ERP: exchanges")
struct ExchangeErpTests {
    static func usd(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: "USD") }

    static func order(_ sequence: Int64, external: String, sku: String, price: Int64) -> Order {
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = external
        draft.shipTo.postalCode = "10001"
        draft.shipTo.country = "US"
        draft.lines = [DraftLine(lineID: "1", sku: SKU(sku), quantity: 2, unitPrice: usd(price))]
        return Order(id: OrderID(sequence: sequence), draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: 1_000), captureSequence: sequence)
    }

    /// W-1 (2 × MUG at 10.00) with return R1 exchanged for W-2 (2 × MUG-L at 12.50).
    static func pair() -> (original: Order, replacement: Order) {
        var original = order(1, external: "WEB-1", sku: "MUG", price: 1_000)
        var replacement = order(2, external: "WEB-1/exchange/R1", sku: "MUG-L", price: 1_250)
        replacement.exchangeOf = ExchangeLink(orderID: original.orderID, returnID: "R1")
        var ret = Return(returnID: "R1", lines: [ReturnLine(lineID: "1", quantity: 2)], reason: "size", requestedAt: .zero)
        ret.exchange = Exchange(reserveAt: .atCreation, status: .created, lines: replacement.draft.lines, externalOrderID: replacement.externalOrderID,
                                shipTo: replacement.shipTo, fulfillment: replacement.requestedFulfillment, replacementOrderID: replacement.orderID,
                                creditAmount: usd(2_000), newOrderAmount: usd(2_500))
        original.returns = [ret]
        return (original, replacement)
    }

    static func event(_ type: String, _ order: Order, offset: UInt64, returnID: String = "") -> Waybill_V1_ChangeEvent {
        var event = Waybill_V1_ChangeEvent()
        event.offset = offset
        event.eventID = "evt-\(offset)"
        event.type = type
        event.aggregateType = "order"
        event.aggregateID = order.orderID.rawValue
        event.aggregateSequence = 2
        event.orderID = order.orderID.rawValue
        event.returnID = returnID
        event.order = order.proto
        return event
    }

    @Test("order.exchange_created: credit, new order amount, difference and the replacement; the replacement's messages name the original")
    func payloads() throws {
        let (original, replacement) = Self.pair()
        let created = try ErpMessage(event: Self.event("order.exchange_created", original, offset: 7, returnID: "R1"))
        let exchange = try #require(created.exchange)
        #expect(exchange.returnId == "R1" && exchange.status == "created" && exchange.replacementOrderId == "W-00000002")
        #expect(exchange.creditAmountMinor == 2_000 && exchange.newOrderAmountMinor == 2_500 && exchange.priceDifferenceMinor == 500)
        #expect(exchange.currency == "USD" && created.exchangeOfOrderId == nil)

        let captured = try ErpMessage(event: Self.event("order.captured", replacement, offset: 6))
        #expect(captured.exchangeOfOrderId == "W-00000001" && captured.exchangeOfReturnId == "R1" && captured.exchange == nil)

        // JSON round trip, and the CSV columns (appended at the end).
        #expect(try ErpMessage.decode(created.json()) == created)
        let createdRow = Dictionary(uniqueKeysWithValues: zip(ErpMessage.csvColumns, created.csvRow.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        #expect(createdRow["exchange_replacement_order_id"] == "W-00000002" && createdRow["exchange_price_difference_minor"] == "500")
        #expect(createdRow["exchange_credit_amount_minor"] == "2000" && createdRow["exchange_new_order_amount_minor"] == "2500")
        #expect(createdRow["exchange_status"] == "created")
        let capturedRow = Dictionary(uniqueKeysWithValues: zip(ErpMessage.csvColumns, captured.csvRow.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        #expect(capturedRow["exchange_of_order_id"] == "W-00000001" && capturedRow["exchange_of_return_id"] == "R1")
        #expect(Array(ErpMessage.csvColumns.suffix(7)) == ["exchange_of_order_id", "exchange_of_return_id", "exchange_status", "exchange_replacement_order_id",
                                                          "exchange_credit_amount_minor", "exchange_new_order_amount_minor", "exchange_price_difference_minor"])
    }

    @Test("reconciliation: a replacement whose ERP record lacks or contradicts the link, or a plain order linked by the ERP, is EXCHANGE_LINK_MISMATCH")
    func linkMismatch() {
        let (original, replacement) = Self.pair()
        func record(_ order: Order, link: OrderID?) -> ErpOrderRecord {
            ErpOrderRecord(orderID: order.orderID, documentNumber: "SO-\(order.orderID)", status: Reconciler.erpStatus(order),
                           lines: Reconciler.erpLines(order), exchangeOfOrderID: link)
        }
        func mismatches(_ records: [ErpOrderRecord]) -> [Discrepancy] {
            let extract = ErpExtract(asOf: Timestamp(millisecondsSinceEpoch: 10_000), orders: records, stock: [], includeOrdersAfterAsOf: true)
            return Reconciler.compare(orders: [original, replacement], onHand: [:], extract: extract)
        }
        #expect(mismatches([record(original, link: nil), record(replacement, link: original.orderID)]).isEmpty, "the ERP holds the link")

        let lacking = mismatches([record(original, link: nil), record(replacement, link: nil)])
        #expect(lacking.map(\.kind) == [.exchangeLinkMismatch] && lacking.first?.orderID == replacement.orderID)
        #expect(lacking.first?.waybillValue == "exchange of W-00000001" && lacking.first?.erpValue == "no exchange")
        #expect(lacking.first?.repairAction == Reconciler.RepairAction.reemit)

        let wrong = mismatches([record(original, link: OrderID("W-00000009")), record(replacement, link: original.orderID)])
        #expect(wrong.map(\.kind) == [.exchangeLinkMismatch] && wrong.first?.orderID == original.orderID)

        let missing = mismatches([record(original, link: nil)])
        #expect(missing.map(\.kind) == [.missingInErp] && missing.first?.orderID == replacement.orderID, "a replacement the ERP lacks is missing like any order")
        #expect(DiscrepancyKind.exchangeLinkMismatch.description == "exchange_link_mismatch")
        #expect(DiscrepancyKind.exchangeLinkMismatch.proto == .exchangeLinkMismatch)
    }
}
