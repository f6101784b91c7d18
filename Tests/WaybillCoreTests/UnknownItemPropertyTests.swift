// Random workloads over a refusing channel (web) and a holding one (marketplace): captures naming
// known, new and inactive SKUs, items arriving active or inactive, stock, cancellations. After
// every step: a refusal named the first inactive line, else the first unknown one, and stored nothing;
// an order on the ITEM_UNKNOWN hold reserves nothing, still lacks an active item for one of its
// waiting lines, and is listed under exactly its waiting SKUs (and in no stock backorder list);
// nothing is reserved beyond what is on hand.
import Testing
import PropertyBased
import WaybillCore

@Suite("Unknown items: random workloads")
struct UnknownItemPropertyTests {
    static let newSKUs = [SKU("NEW-1"), SKU("NEW-2"), SKU("NEW-3")]

    static func run(_ seeds: [UInt64]) throws -> [String] {
        let stock = Net.allSKUs.map { ($0, Net.whEast, Int32(3)) }
        let h = try Harness(stock: stock)
        try h.engine.set(channelSettings: ChannelSettings(channel: .marketplace, unknownItems: .hold), context: h.context(), storage: h.storage)
        var problems: [String] = []
        var captured: [OrderID] = []
        for (index, seed) in seeds.enumerated() {
            var choose = Chooser(seed)
            let step: String
            switch choose.int(0...99) {
            case 0..<45:
                let channel: Channel = choose.chance(50) ? .web : .marketplace
                var lines: [(SKU, Int32)] = []
                for sku in (Net.allSKUs + newSKUs).shuffled(using: &choose.rng).prefix(choose.int(1...3)) { lines.append((sku, Int32(choose.int(1...2)))) }
                step = "capture \(channel.name) \(lines.map(\.0))"
                let unsellable = lines.firstIndex { h.engine.network.items[$0.0]?.active != true }
                let inactive = lines.firstIndex { h.engine.network.items[$0.0]?.active == false }
                let ordersBefore = h.storage.orders.count
                do {
                    let order = try h.capture(Net.draft("o-\(index)", lines, channel: channel))
                    captured.append(order.orderID)
                    if inactive != nil || (channel == .web && unsellable != nil) { problems.append("\(step): captured, expected a refusal") }
                    if (unsellable != nil) != order.waitsForItems { problems.append("\(step): waits \(order.waitsForItems)") }
                } catch let error as DomainError {
                    // An inactive line is refused on every channel (the first one); else the first unknown one.
                    let expected = inactive ?? unsellable
                    if error.code != .invalidArgument || expected == nil || error.field != "order.lines[\(expected!)].sku" {
                        problems.append("\(step): \(error)")
                    }
                    if h.storage.orders.count != ordersBefore { problems.append("\(step): a refusal stored an order") }
                }
            case 45..<65:
                var item = Item(sku: choose.pick(newSKUs)!)
                item.weightGrams = 400
                item.active = choose.chance(70)
                step = "item \(item.sku) active \(item.active)"
                h.tick()
                try h.engine.upsert(item: item, context: h.context(), storage: h.storage)
            case 65..<85:
                let sku = choose.pick(Net.allSKUs + newSKUs)!
                step = "receive \(sku)"
                do { try h.receive(sku, at: choose.pick(Net.allLocations)!, Int32(choose.int(1...3))) } catch is DomainError {}
            default:
                guard let orderID = choose.pick(captured) else { continue }
                step = "cancel \(orderID)"
                do { try h.apply(.cancelOrder(reason: "customer"), to: orderID) } catch is DomainError {}
            }
            problems += invariantProblems(h).map { "step \(index) \(step): \($0)" }
            if !problems.isEmpty { return problems }
        }
        return problems
    }

    static func invariantProblems(_ h: Harness) -> [String] {
        var problems: [String] = []
        let orders = h.storage.orders.values.sorted { $0.captureSequence < $1.captureSequence }
        for order in orders where order.waitsForItems && order.backorderedUnits > 0 {
            if order.reservedUnits != 0 || !order.fulfillments.isEmpty { problems.append("\(order.orderID) waits but holds reservations") }
            if !order.lines.contains(where: { $0.quantities.backordered > 0 && h.engine.network.items[$0.sku]?.active != true }) {
                problems.append("\(order.orderID) waits though every item is active")
            }
            if h.engine.state.backorders.waitingSKUs(of: order.orderID) != nil { problems.append("\(order.orderID) waits for items and for stock") }
        }
        for sku in Net.allSKUs + newSKUs {
            let expected = orders.filter { order in
                order.waitsForItems && order.lines.contains { $0.sku == sku && $0.quantities.backordered > 0 }
            }.map(\.orderID)
            let listed = h.engine.state.backorders.waitingForItem(sku)
            if listed != expected { problems.append("\(sku): waiting for the item \(listed), orders \(expected)") }
        }
        for sku in Net.allSKUs + newSKUs {
            for location in Net.allLocations {
                let balance = h.balance(sku, location)
                if balance.reserved > balance.onHand || balance.reserved < 0 { problems.append("\(sku)@\(location): \(balance)") }
            }
        }
        return problems
    }

    @Test("random workloads: refusals name the line the item master cannot sell; held orders reserve nothing and wait exactly for their items", .shrinking(false))
    func randomWorkloads() async throws {
        await propertyCheck(count: 20, input: Gen.uint64().array(of: 40...120)) { seeds in
            let problems = try Self.run(seeds)
            #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
        }
    }
}
