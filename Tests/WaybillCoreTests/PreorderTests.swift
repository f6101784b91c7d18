// Pre-orders and expected supply, example by example: what a receipt promises, who it serves and
// in which order, what its changes re-promise, and what is refused.

import Testing
@testable import WaybillCore

@Suite("Expected supply and pre-orders")
struct PreorderTests {
    static let day: Int64 = 24 * 3_600_000

    /// SKU-A (pre-orders allowed, cap `cap`) and SKU-B (not) with no stock anywhere.
    static func harness(allowBackorder: Bool = false, cap: Int64 = 0) throws -> Harness {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = allowBackorder
        let items = Net.items.map { item -> Item in
            var item = item
            if item.sku == Net.skuA { item.preorder = true; item.preorderCap = cap }
            return item
        }
        return try Harness(policy: policy, items: items)
    }

    static func receipt(_ id: String, at location: LocationID = Net.whEast, inDays days: Int64, _ lines: [(SKU, Int64)],
                        status: ExpectedReceipt.Status = .open, from harness: Harness) -> ExpectedReceipt {
        ExpectedReceipt(receiptID: id, locationID: location, expectedAt: harness.now.adding(milliseconds: days * day),
                        lines: lines.map { ExpectedReceiptLine(sku: $0.0, quantity: $0.1) }, status: status)
    }

    @discardableResult
    static func apply(_ receipt: ExpectedReceipt, to harness: Harness) throws -> ExpectedReceipt {
        harness.tick()
        return try harness.engine.applyExpectedReceipt(receipt, context: harness.context(), storage: harness.storage)
    }

    static func events(_ harness: Harness, _ type: String) -> [DomainEvent] {
        harness.storage.events.map(\.event).filter { $0.type == type }
    }

    @Test("a pre-order item without stock is captured against expected supply, promised from the receipt's date")
    func capturedAgainstSupply() throws {
        let harness = try Self.harness()
        let receipt = Self.receipt("PO-1", inDays: 10, [(Net.skuA, 5)], from: harness)
        try Self.apply(receipt, to: harness)
        let order = try harness.capture(Net.draft("P-1", [(Net.skuA, 3)]))
        #expect(order.lines[0].quantities.backordered == 3)
        #expect(order.lines[0].preordered == 3)
        #expect(order.lines[0].expectedSupplyAt == receipt.expectedAt)
        // Processed the day after arrival, then the standard service level's 5 transit days.
        #expect(order.lines[0].backorderPromisedAt == Timestamp.startOfDay(receipt.expectedAt.day + 1 + 5))
        #expect(harness.engine.state.backorders.preorderedUnits(Net.skuA) == 3)
        // The policy allows no backorder: units beyond the receipt are refused, not pre-ordered.
        #expect(throws: DomainError.self) { try harness.capture(Net.draft("P-2", [(Net.skuA, 3)])) }
        let last = try harness.capture(Net.draft("P-3", [(Net.skuA, 2)]))
        #expect(last.lines[0].preordered == 2)
        // An item that does not allow pre-orders is refused as before.
        #expect(throws: DomainError.self) { try harness.capture(Net.draft("P-4", [(Net.skuB, 1)])) }
    }

    @Test("a pickup pre-order is promised ready the day after the receipt arrives")
    func pickupPromise() throws {
        let harness = try Self.harness()
        let receipt = Self.receipt("PO-1", at: Net.stCenter, inDays: 4, [(Net.skuA, 5)], from: harness)
        try Self.apply(receipt, to: harness)
        let order = try harness.capture(Net.draft("P-1", [(Net.skuA, 1)], method: .pickup, pickup: Net.stCenter))
        #expect(order.lines[0].backorderPromisedAt == Timestamp.startOfDay(receipt.expectedAt.day + 1))
    }

    @Test("the item's cap bounds the pre-ordered units waiting at once")
    func cap() throws {
        let harness = try Self.harness(cap: 4)
        try Self.apply(Self.receipt("PO-1", inDays: 10, [(Net.skuA, 10)], from: harness), to: harness)
        try harness.capture(Net.draft("P-1", [(Net.skuA, 3)]))
        #expect(throws: DomainError.self) { try harness.capture(Net.draft("P-2", [(Net.skuA, 2)])) }
        try harness.capture(Net.draft("P-3", [(Net.skuA, 1)]))
        #expect(harness.engine.state.backorders.preorderedUnits(Net.skuA) == 4)
    }

    @Test("a receipt's arrival serves pre-orders in capture order, never beyond what arrived, and re-promises the rest")
    func arrivalServesInCaptureOrder() throws {
        let harness = try Self.harness()
        try Self.apply(Self.receipt("PO-1", inDays: 10, [(Net.skuA, 5)], from: harness), to: harness)
        try Self.apply(Self.receipt("PO-2", inDays: 20, [(Net.skuA, 2)], from: harness), to: harness)
        let first = try harness.capture(Net.draft("P-1", [(Net.skuA, 2)]))
        let second = try harness.capture(Net.draft("P-2", [(Net.skuA, 2)]))
        let third = try harness.capture(Net.draft("P-3", [(Net.skuA, 2)]))
        #expect(third.lines[0].expectedSupplyAt == harness.engine.state.supply.slots(Net.skuA)[1].expectedAt)
        // Four of the five expected arrive: the first two orders are served, the third waits for PO-2.
        try Self.apply(Self.receipt("PO-1", inDays: 0, [(Net.skuA, 4)], status: .received, from: harness), to: harness)
        #expect(harness.order(first.orderID).lines[0].quantities.allocated == 2)
        #expect(harness.order(second.orderID).lines[0].quantities.allocated == 2)
        #expect(harness.order(third.orderID).lines[0].quantities.backordered == 2)
        #expect(harness.balance(Net.skuA, Net.whEast).reserved == 4)
        #expect(harness.balance(Net.skuA, Net.whEast).onHand == 4)
        #expect(harness.engine.state.supply.receipts["PO-1"] == nil)
        #expect(harness.storage.receipts["PO-1"]?.status == .received)
        // PO-2 covers the third order still: its promise did not move.
        #expect(harness.order(third.orderID).lines[0].expectedSupplyAt == harness.storage.receipts["PO-2"]!.expectedAt)
        // The arrival is stock: an inventory.received event refers to the receipt.
        #expect(Self.events(harness, "inventory.received").contains { $0.detail == "receipt PO-1" })
        #expect(Self.events(harness, "receipt.received").count == 1)
    }

    @Test("a later date, a smaller quantity or a cancellation re-promises waiting orders with order.repromised")
    func changesRepromise() throws {
        let harness = try Self.harness()
        try Self.apply(Self.receipt("PO-1", inDays: 10, [(Net.skuA, 4)], from: harness), to: harness)
        let first = try harness.capture(Net.draft("P-1", [(Net.skuA, 2)]))
        let second = try harness.capture(Net.draft("P-2", [(Net.skuA, 2)]))
        // Later: both move.
        let later = Self.receipt("PO-1", inDays: 15, [(Net.skuA, 4)], from: harness)
        try Self.apply(later, to: harness)
        #expect(harness.order(first.orderID).lines[0].expectedSupplyAt == later.expectedAt)
        #expect(harness.order(second.orderID).lines[0].expectedSupplyAt == later.expectedAt)
        #expect(Self.events(harness, "order.repromised").count == 2)
        #expect(Self.events(harness, "receipt.changed").count == 1)
        // Fewer: the younger order loses its promise, the older keeps it.
        var fewer = later
        fewer.lines = [ExpectedReceiptLine(sku: Net.skuA, quantity: 3)]
        try Self.apply(fewer, to: harness)
        #expect(harness.order(first.orderID).lines[0].expectedSupplyAt == later.expectedAt)
        #expect(harness.order(second.orderID).lines[0].expectedSupplyAt == .zero)
        #expect(harness.order(second.orderID).lines[0].backorderPromisedAt == .zero)
        let lost = Self.events(harness, "order.repromised").last!
        #expect(lost.detail.hasSuffix("→ none"))
        // Cancelled: nobody is promised; the orders still wait (pre-orders are not cancelled by Waybill).
        try Self.apply(ExpectedReceipt(receiptID: "PO-1", locationID: Net.whEast, expectedAt: .zero, lines: [], status: .cancelled),
                       to: harness)
        #expect(harness.order(first.orderID).lines[0].expectedSupplyAt == .zero)
        #expect(harness.order(first.orderID).lines[0].quantities.backordered == 2)
        #expect(harness.engine.state.supply.openReceiptCount == 0)
        // A cancelled receipt cannot be expected again under its id; cancelling it again changes nothing.
        #expect(throws: DomainError.self) { try Self.apply(Self.receipt("PO-1", inDays: 3, [(Net.skuA, 4)], from: harness), to: harness) }
        let again = try Self.apply(ExpectedReceipt(receiptID: "PO-1", locationID: Net.whEast, expectedAt: .zero, lines: [], status: .cancelled),
                                   to: harness)
        #expect(again.version == harness.storage.receipts["PO-1"]!.version)
    }

    @Test("backorders of items without pre-orders get a promise date from expected supply")
    func backorderPromise() throws {
        let harness = try Self.harness(allowBackorder: true)
        let order = try harness.capture(Net.draft("B-1", [(Net.skuB, 2)]))
        #expect(order.lines[0].expectedSupplyAt == .zero)
        let receipt = Self.receipt("PO-9", inDays: 7, [(Net.skuB, 10)], from: harness)
        try Self.apply(receipt, to: harness)
        #expect(harness.order(order.orderID).lines[0].expectedSupplyAt == receipt.expectedAt)
        #expect(harness.order(order.orderID).lines[0].preordered == 0)
        let next = try harness.capture(Net.draft("B-2", [(Net.skuB, 1)]))
        #expect(next.lines[0].expectedSupplyAt == receipt.expectedAt)
    }

    @Test("a received receipt is not received twice; bad receipts are refused naming the field")
    func refusals() throws {
        let harness = try Self.harness()
        try Self.apply(Self.receipt("PO-1", inDays: 1, [(Net.skuA, 3)], from: harness), to: harness)
        try Self.apply(Self.receipt("PO-1", inDays: 0, [(Net.skuA, 3)], status: .received, from: harness), to: harness)
        #expect(harness.balance(Net.skuA, Net.whEast).onHand == 3)
        do {
            try Self.apply(Self.receipt("PO-1", inDays: 0, [(Net.skuA, 3)], status: .received, from: harness), to: harness)
            Issue.record("received twice")
        } catch let error as DomainError {
            #expect(error.code == .failedPrecondition && error.currentState == "RECEIVED")
        }
        #expect(harness.balance(Net.skuA, Net.whEast).onHand == 3)
        func field(_ receipt: ExpectedReceipt) -> String? {
            do { try Self.apply(receipt, to: harness); return nil } catch let error as DomainError { return error.field } catch { return "?" }
        }
        #expect(field(Self.receipt("PO-2", at: LocationID("NOWHERE"), inDays: 1, [(Net.skuA, 1)], from: harness)) == "location_id")
        #expect(field(Self.receipt("PO-2", inDays: 1, [(SKU("NOPE"), 1)], from: harness)) == "lines[0].sku")
        #expect(field(Self.receipt("PO-2", inDays: 1, [(Net.skuA, 1), (Net.skuA, 2)], from: harness)) == "lines[1].sku")
        #expect(field(Self.receipt("PO-2", inDays: 1, [(Net.skuA, 0)], from: harness)) == "lines[0].quantity")
        #expect(field(Self.receipt("PO-2", inDays: 1, [], from: harness)) == "lines")
        #expect(field(ExpectedReceipt(receiptID: "PO-2", locationID: Net.whEast, expectedAt: .zero, lines: [ExpectedReceiptLine(sku: Net.skuA, quantity: 1)]))
                == "expected_at_unix_ms")
        #expect(field(Self.receipt("", inDays: 1, [(Net.skuA, 1)], from: harness)) == "receipt_id")
        #expect(harness.storage.receipts["PO-2"] == nil)
    }

    @Test("expectedReceiptLinesMax and expectedReceiptsOpenMax are enforced with their names")
    func limits() throws {
        var limits = DomainLimits()
        limits.expectedReceiptLinesMax = 2
        limits.expectedReceiptsOpenMax = 1
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        let harness = try Harness(policy: policy, limits: limits)
        do {
            try Self.apply(Self.receipt("PO-1", inDays: 1, [(Net.skuA, 1), (Net.skuB, 1), (Net.skuC, 1)], from: harness), to: harness)
            Issue.record("three lines accepted")
        } catch let error as DomainError {
            #expect(error.limitName == "expectedReceiptLinesMax" && error.field == "lines")
        }
        try Self.apply(Self.receipt("PO-1", inDays: 1, [(Net.skuA, 1)], from: harness), to: harness)
        // Replacing the open receipt is not one more.
        try Self.apply(Self.receipt("PO-1", inDays: 2, [(Net.skuA, 2)], from: harness), to: harness)
        do {
            try Self.apply(Self.receipt("PO-2", inDays: 1, [(Net.skuA, 1)], from: harness), to: harness)
            Issue.record("a second open receipt accepted")
        } catch let error as DomainError {
            #expect(error.code == .resourceExhausted && error.limitName == "expectedReceiptsOpenMax")
        }
    }

    @Test("a receipt's arrival serves up to receiptReleaseOrdersMax waiting orders, beyond backorderReleaseBatchMax")
    func arrivalServesTheWholeCampaign() throws {
        var limits = DomainLimits()
        limits.backorderReleaseBatchMax = 2
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        var items = Net.items
        items[0].preorder = true
        let harness = try Harness(policy: policy, items: items, limits: limits)
        try Self.apply(Self.receipt("PO-1", inDays: 3, [(Net.skuA, 6)], from: harness), to: harness)
        let orders = try (1...6).map { try harness.capture(Net.draft("P-\($0)", [(Net.skuA, 1)])) }
        try Self.apply(Self.receipt("PO-1", inDays: 0, [(Net.skuA, 6)], status: .received, from: harness), to: harness)
        for order in orders { #expect(harness.order(order.orderID).lines[0].quantities.allocated == 1) }
    }
}
