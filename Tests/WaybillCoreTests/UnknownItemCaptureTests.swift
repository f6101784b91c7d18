// Issue 14, "bad input that is accepted today": an order line for a SKU the item master does not
// know (or marks inactive) is refused at capture, naming the line; a channel whose unknown_items
// setting is HOLD captures such an order on an ITEM_UNKNOWN hold reserving nothing, and the item
// upsert that makes its last SKU an active item lifts the hold and routes it in the same command.
import Testing
import WaybillCore

struct UnknownItemCaptureTests {
    static let newSKU = SKU("NEW-SKU-1")
    static let otherNewSKU = SKU("NEW-SKU-2")

    static func item(_ sku: SKU, active: Bool = true, grams: Int32 = 500) -> Item {
        var item = Item(sku: sku)
        item.weightGrams = grams
        item.active = active
        return item
    }

    static func holding(_ h: Harness, _ channel: Channel = .marketplace) throws {
        try h.engine.set(channelSettings: ChannelSettings(channel: channel, unknownItems: .hold), context: h.context(), storage: h.storage)
    }

    func upsert(_ item: Item, _ h: Harness) throws {
        h.tick()
        try h.engine.upsert(item: item, context: h.context(), storage: h.storage)
    }

    @Test("a line with an unknown SKU is refused INVALID_ARGUMENT naming the line, the SKU and how to load it (was: captured, backordered forever)")
    func unknownRefused() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        let eventsBefore = h.storage.eventCount
        let draft = Net.draft("UNK-1", [(Net.skuA, 1), (Self.newSKU, 2), (Self.otherNewSKU, 1)])
        let error = expectDomainError(.invalidArgument, field: "order.lines[1].sku") { _ = try h.capture(draft) }
        #expect(error?.currentState == "ITEM_UNKNOWN")
        let message = error?.message ?? ""
        #expect(message.hasPrefix("order.lines[1].sku: unknown item NEW-SKU-1 (and 1 more line with unknown items)"), "\(message)")
        #expect(message.contains("LoadNetwork items, UpsertItems or an ERP item master message"), "\(message)")
        #expect(message.contains("unknown_items: HOLD"), "names the channel setting: \(message)")
        #expect(h.storage.orders.isEmpty)
        #expect(h.storage.eventCount == eventsBefore)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 0)
        #expect(h.engine.state.nextOrderSequence == 1, "no order number was used")
    }

    @Test("a line with an inactive SKU is refused INVALID_ARGUMENT, ITEM_INACTIVE, on every channel (was: FAILED_PRECONDITION)")
    func inactiveRefused() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try upsert(Self.item(Net.skuB, active: false), h)
        try Self.holding(h)
        for channel in [Channel.web, .marketplace] {
            let draft = Net.draft("INACT-\(channel.name)", [(Net.skuA, 1), (Net.skuB, 1)], channel: channel)
            let error = expectDomainError(.invalidArgument, field: "order.lines[1].sku") { _ = try h.capture(draft) }
            #expect(error?.currentState == "ITEM_INACTIVE")
            #expect(error?.message.hasPrefix("order.lines[1].sku: item SKU-B is inactive in the item master") == true, "\(error?.message ?? "")")
        }
        #expect(h.storage.orders.isEmpty)
    }

    @Test("a retried capture refused for an unknown item stays refused, and is captured once the item is loaded")
    func refusedRetry() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        let draft = Net.draft("RETRY-1", [(Self.newSKU, 1)])
        for _ in 0..<3 {
            expectDomainError(.invalidArgument, field: "order.lines[0].sku") { _ = try h.capture(draft) }
        }
        #expect(h.storage.orders.isEmpty, "a refusal stores nothing: not even the idempotency key")
        try upsert(Self.item(Self.newSKU), h)
        try h.receive(Self.newSKU, at: Net.whEast, 1)
        let order = try h.capture(draft)
        #expect(order.status == .allocated)
    }

    @Test("a HOLD channel captures the order on an ITEM_UNKNOWN hold reserving nothing; other channels still refuse")
    func heldCapture() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h, .marketplace)
        expectDomainError(.invalidArgument, field: "order.lines[1].sku") {
            _ = try h.capture(Net.draft("WEB-1", [(Net.skuA, 1), (Self.newSKU, 1)], channel: .web))
        }
        let order = try h.capture(Net.draft("MKT-1", [(Net.skuA, 1), (Self.newSKU, 2)], channel: .marketplace))
        #expect(order.status == .onHold)
        #expect(order.holds.map(\.reason) == [.itemUnknown])
        #expect(order.holds.first?.note == "item master lacks NEW-SKU-1 (lines[1])")
        #expect(order.fulfillments.isEmpty && order.reservedUnits == 0)
        #expect(order.lines.map(\.quantities.backordered) == [1, 2], "the whole order waits")
        #expect(order.history.first?.action == "captured" && order.history.first?.reason == "item_unknown")
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 0)
        let captured = h.storage.events.filter { $0.event.type == "order.captured" && $0.event.aggregateID == order.orderID.rawValue }
        #expect(captured.map(\.event.detail) == ["ON_HOLD"])

        // Stock of its known SKU does not serve it: it waits for its item, not for stock.
        try h.receive(Net.skuA, at: Net.stCenter, 3)
        #expect(h.order(order.orderID).reservedUnits == 0)
        #expect(h.order(order.orderID).version == 1)
    }

    @Test("the item arriving inactive keeps the order held; arriving active lifts the hold and routes it, in the same command")
    func itemArrivalLiftsHold() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let held = try h.capture(Net.draft("MKT-2", [(Net.skuA, 1), (Self.newSKU, 2)], channel: .marketplace))

        try upsert(Self.item(Self.newSKU, active: false), h)
        #expect(h.order(held.orderID).holds.map(\.reason) == [.itemUnknown], "an inactive item is not for sale: still held")
        #expect(h.order(held.orderID).version == 1)

        let eventsBefore = h.storage.events.count
        try upsert(Self.item(Self.newSKU), h)
        let routed = h.order(held.orderID)
        #expect(routed.holds.isEmpty)
        #expect(routed.version == 2)
        #expect(routed.lines[0].quantities.allocated == 1, "SKU-A reserved at once")
        #expect(routed.lines[1].quantities.backordered == 2, "no stock of the new item yet: backordered like a fresh capture")
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 1)
        #expect(routed.history.last?.action == "hold_released" && routed.history.last?.reason == "item_unknown")
        let newEvents = h.storage.events.dropFirst(eventsBefore).map(\.event)
        #expect(newEvents.map(\.type) == ["item.upserted", "order.hold_released"], "one command: the item and the order it released")
        #expect(newEvents.last?.detail == "item_unknown")

        // From here it is an ordinary backorder.
        try h.receive(Self.newSKU, at: Net.whEast, 2)
        #expect(h.order(held.orderID).status == .allocated)
    }

    @Test("an order waiting for two items is routed only when the second arrives")
    func waitsForEveryItem() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let held = try h.capture(Net.draft("MKT-3", [(Self.newSKU, 1), (Self.otherNewSKU, 1)], channel: .marketplace))
        #expect(held.holds.first?.note == "item master lacks NEW-SKU-1 (lines[0]), NEW-SKU-2 (lines[1])")
        try upsert(Self.item(Self.newSKU), h)
        #expect(h.order(held.orderID).waitsForItems)
        try upsert(Self.item(Self.otherNewSKU), h)
        #expect(!h.order(held.orderID).waitsForItems)
        #expect(h.order(held.orderID).status == .backordered)
    }

    @Test("a lifted order is routed as a fresh capture of it would have been (same locations, lines, carrier)")
    func liftedRoutesLikeFreshCapture() throws {
        let stock: [(SKU, LocationID, Int32)] = [(Net.skuA, Net.whEast, 5), (Net.skuB, Net.stSuburb, 2), (Net.skuA, Net.stCenter, 1)]
        let lines: [(SKU, Int32)] = [(Net.skuA, 2), (Net.skuB, 1), (Self.newSKU, 1)]
        let draft = Net.draft("MKT-4", lines, channel: .marketplace)
        let held = try Harness(stock: stock)
        try Self.holding(held)
        let waiting = try held.capture(draft)
        try upsert(Self.item(Self.newSKU), held)
        let lifted = held.order(waiting.orderID)

        let fresh = try Harness(items: Net.items + [Self.item(Self.newSKU)], stock: stock)
        fresh.now = held.now
        let captured = try fresh.engine.capture(draft, context: fresh.context(), storage: fresh.storage).order

        func shape(_ order: Order) -> [String] {
            order.fulfillments.map { f in
                "\(f.locationID) \(f.carrierID)/\(f.carrierService) " + f.lines.map { "\($0.lineID)×\($0.quantity)" }.joined(separator: ",")
            }
        }
        #expect(!lifted.fulfillments.isEmpty)
        #expect(shape(lifted) == shape(captured))
        #expect(lifted.lines.map(\.quantities) == captured.lines.map(\.quantities))
        #expect(lifted.status == captured.status, "\(lifted.status) vs \(captured.status)")
        for key in [(Net.skuA, Net.whEast), (Net.skuA, Net.stCenter), (Net.skuB, Net.stSuburb)] {
            #expect(held.balance(key.0, key.1).reserved == fresh.balance(key.0, key.1).reserved, "\(key)")
        }
    }

    @Test("a retried held capture replays the same order, before and after the hold is lifted")
    func heldReplay() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let draft = Net.draft("MKT-5", [(Self.newSKU, 1)], channel: .marketplace)
        let first = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        h.tick()
        let again = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        #expect(!first.replayed && again.replayed)
        #expect(again.order.orderID == first.order.orderID && again.order.waitsForItems)
        try upsert(Self.item(Self.newSKU), h)
        h.tick()
        let afterLift = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        #expect(afterLift.replayed && afterLift.order.orderID == first.order.orderID && !afterLift.order.waitsForItems)
        #expect(h.storage.orders.count == 1)
        var changed = draft
        changed.lines[0].quantity = 2
        expectDomainError(.alreadyExists, field: "order.external_order_id") {
            _ = try h.engine.capture(changed, context: h.context(), storage: h.storage)
        }
    }

    @Test("clients can neither place nor release ITEM_UNKNOWN; releasing every hold keeps it")
    func clientsCannotTouchTheHold() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        expectDomainError(.invalidArgument, field: "order.holds[0].reason") {
            _ = try h.capture(Net.draft("MKT-6", [(Net.skuA, 1)], channel: .marketplace, holds: [Hold(reason: .itemUnknown)]))
        }
        let order = try h.capture(Net.draft("MKT-7", [(Self.newSKU, 1)], channel: .marketplace, holds: [Hold(reason: .payment)]))
        #expect(order.holds.map(\.reason) == [.payment, .itemUnknown])
        let placed = try h.capture(Net.draft("MKT-8", [(Net.skuA, 1)], channel: .marketplace))
        expectDomainError(.invalidArgument, field: "reason") { try h.apply(.hold(.itemUnknown, note: ""), to: placed.orderID) }
        let release = expectDomainError(.failedPrecondition) { try h.apply(.releaseHold(.itemUnknown, note: ""), to: order.orderID) }
        #expect(release?.message.contains("lifted by Waybill when the item master gains") == true, "\(release?.message ?? "")")
        try h.apply(.releaseHold(nil, note: "paid"), to: order.orderID)
        #expect(h.order(order.orderID).holds.map(\.reason) == [.itemUnknown])
        expectDomainError(.failedPrecondition) { try h.apply(.releaseHold(nil, note: ""), to: order.orderID) }
        #expect(h.order(order.orderID).reservedUnits == 0)
    }

    @Test("a held order cancelled while waiting is not routed when the item arrives; reallocation does not route a held order")
    func cancelledWhileHeld() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let cancelled = try h.capture(Net.draft("MKT-9", [(Net.skuA, 1), (Self.newSKU, 1)], channel: .marketplace))
        let waiting = try h.capture(Net.draft("MKT-10", [(Net.skuA, 1), (Self.newSKU, 1)], channel: .marketplace))
        try h.apply(.cancelOrder(reason: "customer"), to: cancelled.orderID)
        #expect(h.order(cancelled.orderID).status == .cancelled)
        h.tick()
        let reallocated = try h.engine.reallocate(orderIDs: [waiting.orderID], allBackorders: false,
                                                  context: h.context(requestID: "realloc-1", fingerprint: 1), storage: h.storage)
        #expect(reallocated.outcomes.first?.unitsAllocated == 0)
        #expect(h.order(waiting.orderID).reservedUnits == 0 && h.order(waiting.orderID).waitsForItems)
        let cancelledVersion = h.order(cancelled.orderID).version
        try upsert(Self.item(Self.newSKU), h)
        #expect(h.order(cancelled.orderID).version == cancelledVersion, "a cancelled order stays as it was")
        #expect(h.order(waiting.orderID).lines[0].quantities.allocated == 1)
        #expect(h.balance(Net.skuA, Net.whEast).reserved == 1)
    }

    @Test("under a policy allowing no backorder, the units a fresh capture could not serve are cancelled when the hold lifts")
    func noBackorderPolicy() throws {
        var policy = RoutingPolicy.standard
        policy.allowBackorder = false
        policy.allowPartialAllocation = true
        let h = try Harness(policy: policy, stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let held = try h.capture(Net.draft("MKT-11", [(Net.skuA, 1), (Self.newSKU, 3)], channel: .marketplace))
        try upsert(Self.item(Self.newSKU), h)
        let order = h.order(held.orderID)
        #expect(order.lines[0].quantities.allocated == 1)
        #expect(order.lines[1].quantities.cancelled == 3)
        #expect(order.history.last?.detail.contains("3 units cancelled") == true, "\(order.history.last?.detail ?? "")")
    }

    @Test("a channel going back to REFUSE refuses new orders and keeps those already held")
    func settingChangeKeepsHeld() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        try Self.holding(h)
        let held = try h.capture(Net.draft("MKT-12", [(Self.newSKU, 1)], channel: .marketplace))
        try h.engine.set(channelSettings: ChannelSettings(channel: .marketplace, unknownItems: .refuse), context: h.context(), storage: h.storage)
        #expect(h.storage.channelSettings[.marketplace]?.unknownItems == .refuse)
        expectDomainError(.invalidArgument, field: "order.lines[0].sku") {
            _ = try h.capture(Net.draft("MKT-13", [(Self.newSKU, 1)], channel: .marketplace))
        }
        #expect(h.order(held.orderID).waitsForItems)
        try upsert(Self.item(Self.newSKU), h)
        #expect(!h.order(held.orderID).waitsForItems)
    }
}
