// The cart limits reached: cartsOpenMax refuses one cart more (and frees a place when one
// closes), cartsExpiredPerJobMax bounds one expiry job (the next job releases the rest, earliest
// deadline first), and a count below reservations takes from the carts holding that position only.

import Testing
@testable import WaybillCore

@Suite("Cart limits and the cart book's indexes")
struct CartLimitTests {
    static func harness(cartsOpenMax: Int = 100_000, cartsExpiredPerJobMax: Int = 1_000) throws -> Harness {
        var limits = DomainLimits()
        limits.cartsOpenMax = cartsOpenMax
        limits.cartsExpiredPerJobMax = cartsExpiredPerJobMax
        return try Harness(stock: [(Net.skuA, Net.whEast, 100), (Net.skuB, Net.whEast, 100)], limits: limits)
    }

    @discardableResult
    static func reserve(_ harness: Harness, _ id: String, _ sku: SKU = Net.skuA, ttlMinutes: Int64 = 10) throws -> Cart {
        harness.tick(1_000)
        let draft = CartDraft(key: CartKey(channel: .web, cartID: id),
                              lines: [DraftLine(lineID: "1", sku: sku, quantity: 1, unitPrice: Net.money(500))],
                              shipTo: Net.shipTo, ttlMilliseconds: ttlMinutes * 60_000)
        return try harness.engine.reserveCart(draft, context: harness.context(), storage: harness.storage).cart
    }

    @Test("cartsOpenMax: one cart more is RESOURCE_EXHAUSTED naming the limit; a released cart frees its place")
    func openMax() throws {
        let harness = try Self.harness(cartsOpenMax: 3)
        for id in ["C1", "C2", "C3"] { try Self.reserve(harness, id) }
        do {
            try Self.reserve(harness, "C4")
            Issue.record("a fourth cart was accepted")
        } catch let error as DomainError {
            #expect(error.code == .resourceExhausted && error.limitName == "cartsOpenMax" && error.limitValue == 3)
        }
        #expect(harness.balance(Net.skuA, Net.whEast).reserved == 3, "the refused cart holds nothing")
        // Replacing an open cart's content is not one more.
        try Self.reserve(harness, "C2", Net.skuB)
        _ = try harness.engine.releaseCart(CartKey(channel: .web, cartID: "C1"), context: harness.context(), storage: harness.storage)
        try Self.reserve(harness, "C4")
        #expect(harness.engine.state.carts.count == 3)
    }

    @Test("cartsExpiredPerJobMax: a job releases at most that many, earliest deadline first; the next job the rest")
    func expiredPerJob() throws {
        let harness = try Self.harness(cartsExpiredPerJobMax: 2)
        // Deadlines out of reservation order: C3 first, then C1, C2, then C4 (not due).
        try Self.reserve(harness, "C1", ttlMinutes: 5)
        try Self.reserve(harness, "C2", ttlMinutes: 6)
        try Self.reserve(harness, "C3", ttlMinutes: 2)
        try Self.reserve(harness, "C4", ttlMinutes: 60)
        harness.tick(10 * 60_000)
        #expect(try harness.engine.expireCarts(context: harness.context(), storage: harness.storage) == 2)
        let expired = harness.storage.events.map(\.event).filter { $0.type == "cart.expired" }.map(\.aggregateID)
        #expect(expired == ["web/C3", "web/C1"] || expired == ["WEB/C3", "WEB/C1"], "\(expired)")
        #expect(harness.engine.state.carts.nextDeadline == harness.engine.state.carts[CartKey(channel: .web, cartID: "C2")]?.expiresAt)
        #expect(try harness.engine.expireCarts(context: harness.context(), storage: harness.storage) == 1)
        #expect(try harness.engine.expireCarts(context: harness.context(), storage: harness.storage) == 0)
        #expect(harness.engine.state.carts.count == 1)
        #expect(harness.balance(Net.skuA, Net.whEast).reserved == 1, "only C4 still holds")
    }

    @Test("a count below reservations takes from the carts holding that position, newest first, and no other")
    func shortageTakesFromHolders() throws {
        let harness = try Self.harness()
        try Self.reserve(harness, "A-OLD", Net.skuA)
        try Self.reserve(harness, "B-ONLY", Net.skuB)
        try Self.reserve(harness, "A-NEW", Net.skuA)
        // Count SKU-A at WH-EAST down to 1: one of the two A carts must give way — the newer.
        try harness.change(InventoryChange(changeID: "count-a", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -99))
        let carts = harness.engine.state.carts
        #expect(carts[CartKey(channel: .web, cartID: "A-OLD")]?.reservations.isEmpty == false)
        #expect(carts[CartKey(channel: .web, cartID: "A-NEW")]?.unallocated.map(\.quantity) == [1])
        #expect(carts[CartKey(channel: .web, cartID: "B-ONLY")]?.unallocated.isEmpty == true)
        #expect(carts.holding(InventoryKey(sku: Net.skuA, locationID: Net.whEast)).map(\.key.cartID) == ["A-OLD"])
        #expect(harness.balance(Net.skuA, Net.whEast).reserved == 1)
    }
}
