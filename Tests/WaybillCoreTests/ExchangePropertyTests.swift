// Exchanges against random sequences: orders captured and shipped, returns with and without an
// exchange (at creation, at receipt, policy default; some refused for want of stock), receipts
// short or whole, replacements cancelled and shipped in turn, stock arriving. After every step
// the ledger's reservations equal what the orders' open fulfillments hold, nothing is oversold,
// and every exchange link is symmetric (return → replacement and replacement → return).

import PropertyBased
import Testing
@testable import WaybillCore

@Suite("Exchanges: random returns and exchanges keep the ledger and the links consistent")
struct ExchangePropertyTests {
    struct World {
        let h: Harness
        var rng: Xoshiro
        var orders: [OrderID] = []
        var returnCount = 0
        var stats: [String: Int] = [:]

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

        init(seed: UInt64) throws {
            rng = Xoshiro(seed: (seed, seed &* 0x9E37_79B9_7F4A_7C15, ~seed, seed ^ 0xBF58_476D_1CE4_E5B9))
            var policy = RoutingPolicy.standard
            policy.allowBackorder = Int.random(in: 0...1, using: &rng) == 0
            policy.allowPartialAllocation = Int.random(in: 0...2, using: &rng) > 0
            policy.exchangeReservation = Int.random(in: 0...1, using: &rng) == 0 ? .atCreation : .atReceipt
            h = try Harness(policy: policy, stock: [(Net.skuA, Net.whEast, 6), (Net.skuB, Net.whEast, 3), (Net.skuC, Net.whWest, 4)])
        }

        mutating func step() throws {
            switch int(0...9) {
            case 0, 1:  // capture and ship what can be
                let sku = [Net.skuA, Net.skuB, Net.skuC][int(0...2)]
                let order: Order
                do {
                    order = try h.capture(Net.draft("EXT-\(h.storage.orders.count)", [(sku, Int32(int(1...3)))]))
                } catch let error as DomainError where error.currentState == "INSUFFICIENT_STOCK" {
                    return
                }
                orders.append(order.orderID)
                for fulfillment in order.fulfillments { try h.advance(order.orderID, fulfillment.fulfillmentID, to: .shipped) }
            case 2, 3, 4:  // a return, often an exchange
                guard let id = orders.randomElement(using: &rng) else { return }
                let order = h.order(id)
                guard let line = order.lines.first(where: { $0.quantities.shipped - $0.quantities.returned - $0.quantities.returnRequested > 0 })
                else { return }
                let returnable = line.quantities.shipped - line.quantities.returned - line.quantities.returnRequested
                returnCount += 1
                var exchange: ExchangeRequest?
                if int(0...3) > 0 {
                    let sku = [Net.skuA, Net.skuB, Net.skuC][int(0...2)]
                    let reserveAt: ExchangeReservation? = [nil, .atCreation, .atReceipt][int(0...2)]
                    exchange = ExchangeRequest(lines: [DraftLine(lineID: "1", sku: sku, quantity: Int32(int(1...3)), unitPrice: Net.money(Int64(int(1...30)) * 100))],
                                               reserveAt: reserveAt)
                }
                do {
                    try h.apply(.createReturn(returnID: "R\(returnCount)", lines: [LineQuantity(lineID: line.lineID, quantity: Int32(int(1...Int(returnable))))],
                                              reason: "", exchange: exchange), to: id)
                    stats[exchange == nil ? "plain return" : "exchange", default: 0] += 1
                } catch let error as DomainError where error.field?.hasPrefix("exchange.") == true {
                    stats["exchange refused", default: 0] += 1
                }
            case 5, 6:  // receive an open return, sometimes short
                let open = orders.flatMap { id in h.order(id).returns.filter { $0.status == .requested }.map { (id, $0) } }
                guard let (id, ret) = open.randomElement(using: &rng) else { return }
                let lines = ret.lines.map { ReturnLine(lineID: $0.lineID, quantity: Int32(int(0...Int($0.quantity))), disposition: int(0...3) > 0 ? .restock : .dispose) }
                let after = try h.apply(.receiveReturn(returnID: ret.returnID, locationID: [Net.whEast, Net.whWest][int(0...1)], lines: lines), to: id)
                if let status = after.returns.first(where: { $0.returnID == ret.returnID })?.exchange?.status {
                    stats["received \(status.description.lowercased())", default: 0] += 1
                }
            case 7:  // a replacement cancelled, or shipped
                let replacements = h.storage.orders.values.filter { $0.exchangeOf != nil && $0.reservedUnits > 0 }.map(\.orderID)
                guard let id = replacements.randomElement(using: &rng) else { return }
                if int(0...1) == 0 {
                    try h.apply(.cancelOrder(reason: "changed mind"), to: id)
                    stats["replacement cancelled", default: 0] += 1
                } else {
                    for fulfillment in h.order(id).fulfillments where fulfillment.status.holdsReservation {
                        try h.advance(id, fulfillment.fulfillmentID, to: .shipped)
                    }
                    orders.append(id)
                    stats["replacement shipped", default: 0] += 1
                }
            default:  // stock arrives
                try h.receive([Net.skuA, Net.skuB, Net.skuC][int(0...2)], at: [Net.whEast, Net.whWest][int(0...1)], Int32(int(1...3)))
            }
        }

        /// The invariants: reservations equal open fulfillments, nothing oversold, links symmetric.
        func problems() -> [String] {
            var problems = ledgerMismatches(h.engine, h.storage)
            var held: [InventoryKey: Int64] = [:]
            for order in h.storage.orders.values {
                for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
                    for line in fulfillment.lines { held[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity) }
                }
                for ret in order.returns {
                    guard let exchange = ret.exchange else { continue }
                    if (exchange.status == .created) != (exchange.replacementOrderID != nil) {
                        problems.append("\(order.orderID)/\(ret.returnID): \(exchange.status) with replacement \(String(describing: exchange.replacementOrderID))")
                    }
                    if let id = exchange.replacementOrderID, h.storage.orders[id]?.exchangeOf != ExchangeLink(orderID: order.orderID, returnID: ret.returnID) {
                        problems.append("\(order.orderID)/\(ret.returnID) → \(id), which does not link back")
                    }
                }
                if let link = order.exchangeOf,
                   h.storage.orders[link.orderID]?.returns.first(where: { $0.returnID == link.returnID })?.exchange?.replacementOrderID != order.orderID {
                    problems.append("\(order.orderID) replaces \(link.orderID)/\(link.returnID), which does not name it")
                }
            }
            for (key, balance) in h.engine.inventory.allBalances {
                if balance.reserved != held[key, default: 0] { problems.append("\(key): reserved \(balance.reserved), orders hold \(held[key, default: 0])") }
                if balance.reserved > balance.onHand { problems.append("\(key): oversold, \(balance.reserved) reserved of \(balance.onHand)") }
            }
            return problems
        }

        static func run(seed: UInt64, steps: Int) throws -> (problems: [String], stats: [String: Int]) {
            var world = try World(seed: seed)
            for step in 0..<steps {
                try world.step()
                let problems = world.problems()
                if !problems.isEmpty { return (["seed \(seed) step \(step): "] + problems, world.stats) }
            }
            return ([], world.stats)
        }
    }

    @Test("random returns and exchanges: ledger == open fulfillments, no oversell, symmetric links")
    func randomSequences() async throws {
        let seeds = Generator<UInt64, Shrink.None<UInt64>>(run: { rng in UInt64.random(in: .min ... .max, using: &rng) })
        await propertyCheck(count: 40, input: seeds) { seed in
            let result = try World.run(seed: seed, steps: 60)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(4).joined(separator: "\n"))")
        }
    }

    @Test("fixed seeds reach every path: exchanges created at creation and receipt, refused, cancelled, failed")
    func fixedSeeds() throws {
        var stats: [String: Int] = [:]
        for seed in UInt64(1)...30 {
            let result = try World.run(seed: seed, steps: 60)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(4).joined(separator: "\n"))")
            stats.merge(result.stats, uniquingKeysWith: +)
        }
        for path in ["exchange", "plain return", "exchange refused", "received created", "received cancelled", "replacement cancelled"] {
            #expect(stats[path, default: 0] > 0, "the seeds reach \(path): \(stats)")
        }
    }
}
