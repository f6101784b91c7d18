// Carts against every interleaving: random sequences of ReserveCart (new and replacing), ExtendCart,
// ReleaseCart, time passing with the expiry sweep, captures from carts (as held, changed, expired),
// captures without a cart and stock counted down below what is reserved. After every step the
// ledger must say exactly what the orders and the active carts hold (no unit held twice, none
// lost), nothing is oversold, no active cart is past its deadline once the sweep ran, and a cart
// converted as held gives the order exactly its reservations.

import PropertyBased
import Testing
@testable import WaybillCore

@Suite("Carts: reserve, extend, release, expire and convert never oversell")
struct CartPropertyTests {
    struct World {
        var engine = Engine()
        let storage = MemoryStorage()
        var now = Timestamp(millisecondsSinceEpoch: 1_772_463_600_000)
        var rng: Xoshiro
        let locations = [LocationID("A"), LocationID("B"), LocationID("C")]
        let skus = [SKU("S1"), SKU("S2")]
        var carts: [String] = []
        var orders = 0
        var stats: [String: Int] = [:]

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        var context: CommandContext { CommandContext(now: now, clientID: "carts-property") }

        init(seed: UInt64) throws {
            rng = Xoshiro(seed: (seed, seed &* 0x9E37_79B9_7F4A_7C15, ~seed, seed ^ 0xBF58_476D_1CE4_E5B9))
            let coordinates = [Coordinates(latitude: 40.7, longitude: -74.0), Coordinates(latitude: 34.0, longitude: -118.2),
                               Coordinates(latitude: 41.9, longitude: -87.6)]
            for (index, id) in locations.enumerated() {
                var location = Location(locationID: id)
                location.coordinates = coordinates[index]
                location.pickup = index == 2
                location.dailyOrderCapacity = int(1...2) == 1 ? Int32(int(2...6)) : 0
                try engine.upsert(location: location, context: context, storage: storage)
            }
            for sku in skus { try engine.upsert(item: Item(sku: sku), context: context, storage: storage) }
            for sku in skus { for location in locations { try receive(sku, location, Int32(int(0...6))) } }
            var policy = RoutingPolicy.standard
            policy.allowBackorder = int(1...2) == 1
            policy.allowPartialAllocation = int(1...3) > 1
            _ = try engine.setPolicy(policy, context: context, storage: storage)
        }

        mutating func receive(_ sku: SKU, _ location: LocationID, _ quantity: Int32) throws {
            guard quantity != 0 else { return }
            _ = try engine.applyInventoryChange(InventoryChange(changeID: "c-\(int(0...Int(Int32.max)))", kind: quantity > 0 ? .receipt : .adjustment,
                                                                sku: sku, locationID: location, quantity: quantity),
                                                context: context, storage: storage)
        }

        mutating func lines() -> [DraftLine] {
            skus.filter { _ in int(1...3) > 1 }.enumerated().map { index, sku in
                DraftLine(lineID: "\(index + 1)", sku: sku, quantity: Int32(int(1...4)), unitPrice: Money(minorUnits: 500, currency: "USD"))
            }
        }

        mutating func fulfillment() -> RequestedFulfillment {
            int(1...4) == 1 ? RequestedFulfillment(method: .pickup, pickupLocationID: LocationID("C")) : RequestedFulfillment()
        }

        var shipTo: Address {
            var address = Address()
            address.postalCode = "10001"
            address.country = "US"
            address.coordinates = Coordinates(latitude: 40.0, longitude: -80.0)
            return address
        }

        mutating func step() throws -> [String] {
            var problems: [String] = []
            switch int(0...9) {
            case 0, 1, 2:  // reserve a new cart or replace an open one
                let id = carts.isEmpty || int(1...3) > 1 ? "cart-\(carts.count)" : carts[int(0...carts.count - 1)]
                if !carts.contains(id) { carts.append(id) }
                var draftLines = lines()
                if draftLines.isEmpty { draftLines = [DraftLine(lineID: "1", sku: skus[0], quantity: 1, unitPrice: Money(minorUnits: 500, currency: "USD"))] }
                let draft = CartDraft(key: CartKey(channel: .web, cartID: id), lines: draftLines, shipTo: shipTo,
                                      fulfillment: fulfillment(), ttlMilliseconds: Int64(int(1...30)) * 60_000)
                do {
                    let result = try engine.reserveCart(draft, context: context, storage: storage)
                    stats["reserved", default: 0] += 1
                    if result.cart.status != .active { problems.append("reserve answered \(result.cart.status)") }
                } catch let error as DomainError {
                    stats["reserve refused: \(error.currentState ?? error.code.rawValue)", default: 0] += 1
                }
            case 3:  // extend
                guard let id = carts.randomElement(using: &rng) else { break }
                _ = try? engine.extendCart(CartKey(channel: .web, cartID: id), ttlMilliseconds: Int64(int(1...20)) * 60_000,
                                           context: context, storage: storage)
            case 4:  // release
                guard let id = carts.randomElement(using: &rng) else { break }
                _ = try? engine.releaseCart(CartKey(channel: .web, cartID: id), context: context, storage: storage)
            case 5, 6:  // capture from a cart: as it holds, or changed
                guard let id = carts.randomElement(using: &rng) else { break }
                let key = CartKey(channel: .web, cartID: id)
                let held = engine.state.carts[key]
                var draft = OrderDraft()
                draft.channel = .web
                draft.externalOrderID = "O-\(orders)"
                draft.customer.customerID = "C"
                draft.shipTo = shipTo
                draft.cartID = id
                let asHeld = held != nil && int(1...3) > 1
                if let held, asHeld {
                    draft.lines = held.lines
                    draft.fulfillment = held.fulfillment
                } else {
                    draft.lines = lines()
                    if draft.lines.isEmpty { break }
                    draft.fulfillment = fulfillment()
                }
                orders += 1
                do {
                    let order = try engine.capture(draft, context: context, storage: storage).order
                    stats["captured from cart", default: 0] += 1
                    if let held, asHeld, held.expiresAt > now, held.unallocated.isEmpty {
                        stats["converted as held", default: 0] += 1
                        let got = order.fulfillments.map { "\($0.locationID) \($0.lines.map { "\($0.lineID)x\($0.quantity)" })" }
                        let had = held.reservations.map { "\($0.locationID) \($0.lines.map { "\($0.lineID)x\($0.quantity)" })" }
                        if got != had && order.fulfillments.allSatisfy({ $0.processingDay == held.reservations.first?.processingDay }) {
                            problems.append("cart \(id) held \(had), the order got \(got)")
                        }
                    }
                    if engine.state.carts[key] != nil { problems.append("cart \(id) still active after its capture") }
                } catch let error as DomainError {
                    stats["capture refused", default: 0] += 1
                    if held != nil && engine.state.carts[key] == nil && error.code == .failedPrecondition {
                        problems.append("a refused capture lost cart \(id)")
                    }
                }
            case 7:  // a plain capture competing for stock
                var draft = OrderDraft()
                draft.channel = .web
                draft.externalOrderID = "O-\(orders)"
                draft.customer.customerID = "C"
                draft.shipTo = shipTo
                draft.lines = lines()
                if draft.lines.isEmpty { break }
                orders += 1
                _ = try? engine.capture(draft, context: context, storage: storage)
            case 8:  // a count below what is reserved
                let sku = skus[int(0...1)], location = locations[int(0...2)]
                let onHand = engine.state.inventory.balance(sku, at: location).onHand
                let before = engine.state.inventory.balance(sku, at: location).reserved
                try receive(sku, location, -Int32(min(Int64(int(1...3)), onHand)))
                if before > engine.state.inventory.balance(sku, at: location).onHand { stats["count below reserved", default: 0] += 1 }
                try receive(skus[int(0...1)], locations[int(0...2)], Int32(int(0...4)))
            default:  // time passes; the sweep runs
                now = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + Int64(int(1...15)) * 60_000)
                stats["expired", default: 0] += try engine.expireCarts(context: context, storage: storage)
                for cart in engine.state.carts.active.values where cart.expiresAt <= now {
                    problems.append("cart \(cart.key) active past its deadline after the sweep")
                }
            }
            problems += invariants()
            return problems
        }

        /// Reserved == what orders and active carts hold, per position; nothing oversold.
        func invariants() -> [String] {
            var held: [InventoryKey: Int64] = [:]
            for order in storage.orders.values {
                for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
                    for line in fulfillment.lines { held[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity) }
                }
            }
            for cart in engine.state.carts.active.values {
                for shipment in cart.reservations {
                    for line in shipment.lines { held[InventoryKey(sku: line.sku, locationID: shipment.locationID), default: 0] += Int64(line.quantity) }
                }
            }
            for cart in storage.carts.values where cart.status != .active && !cart.reservations.isEmpty {
                return ["cart \(cart.key) is \(cart.status.name) but lists reservations"]
            }
            var problems: [String] = []
            for sku in skus {
                for location in locations {
                    let balance = engine.state.inventory.balance(sku, at: location)
                    let key = InventoryKey(sku: sku, locationID: location)
                    if balance.reserved != held[key] ?? 0 {
                        problems.append("\(sku)@\(location): reserved \(balance.reserved), orders and carts hold \(held[key] ?? 0)")
                    }
                    if balance.reserved > max(0, balance.onHand) {
                        problems.append("\(sku)@\(location): oversold, reserved \(balance.reserved) of \(balance.onHand) on hand")
                    }
                }
            }
            return problems
        }
    }

    static func run(seed: UInt64, steps: Int) throws -> (problems: [String], stats: [String: Int]) {
        var world = try World(seed: seed)
        var problems: [String] = []
        for number in 0..<steps where problems.isEmpty {
            problems += try world.step().map { "seed \(seed) step \(number): \($0)" }
        }
        return (problems, world.stats)
    }

    @Test("random interleavings keep the ledger equal to what orders and carts hold, and never oversell")
    func randomInterleavings() async throws {
        let seeds = Generator<UInt64, Shrink.None<UInt64>>(run: { rng in UInt64.random(in: .min ... .max, using: &rng) })
        await propertyCheck(count: 80, input: seeds) { seed in
            let result = try Self.run(seed: seed, steps: 150)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(3).joined(separator: "\n"))")
        }
    }

    @Test("fixed seeds reach every path: converted as held, expired, refused, shortened by counts")
    func fixedSeeds() throws {
        var stats: [String: Int] = [:]
        for seed in UInt64(1)...40 {
            let result = try Self.run(seed: seed, steps: 150)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(3).joined(separator: "\n"))")
            stats.merge(result.stats, uniquingKeysWith: +)
        }
        for path in ["reserved", "converted as held", "expired", "captured from cart", "capture refused", "count below reserved"] {
            #expect(stats[path, default: 0] > 0, "the seeds reach \(path): \(stats)")
        }
    }
}
