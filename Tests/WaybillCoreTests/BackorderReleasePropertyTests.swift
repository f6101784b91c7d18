// The backorder release skips orders none of whose waiting SKUs has a unit anywhere, without
// loading or routing them. On random workloads of captures against little stock, receipts,
// adjustments down, cancellations of whole orders and of lines, it must leave exactly what the
// former release (every candidate routed) leaves: the same orders, allocated from the same
// locations in the same order, the same events and balances. Independently, the backorder
// index must list, per SKU, exactly the orders with backordered units of it, oldest capture first.
import Testing
import PropertyBased
import WaybillCore

@Suite("Backorder release")
struct BackorderReleasePropertyTests {
    enum Step: Sendable, CustomTestStringConvertible {
        case capture(UInt64), receive(UInt64), adjustDown(UInt64), cancelOrder(UInt64), cancelLine(UInt64)
        var testDescription: String { "\(self)" }

        static func from(_ roll: Int, _ seed: UInt64) -> Step {
            switch roll {
            case 0..<40: .capture(seed)
            case 40..<55: .receive(seed)
            case 55..<62: .adjustDown(seed)
            case 62..<88: .cancelOrder(seed)
            default: .cancelLine(seed)
            }
        }
    }

    struct Workload: Sendable, CustomTestStringConvertible {
        var partial: Bool
        var steps: [Step]
        var testDescription: String { "partial \(partial): " + steps.map(\.testDescription).joined(separator: " ") }

        static func generator(steps: ClosedRange<Int>) -> Generator<Workload, some SendableSequenceType> {
            zip(Gen.bool, zip(Gen.int(in: 0...99), Gen.uint64()).map { Step.from($0, $1) }.array(of: steps))
                .map { Workload(partial: $0, steps: $1) }
        }
    }

    /// Applies one step to a harness; the outcome as text (errors must match too).
    static func apply(_ step: Step, to h: Harness, captured: inout [OrderID], counter: Int) -> String {
        do {
            switch step {
            case .capture(let seed):
                var choose = Chooser(seed)
                var lines: [(SKU, Int32)] = []
                for sku in Net.allSKUs.shuffled(using: &choose.rng).prefix(choose.int(1...3)) { lines.append((sku, Int32(choose.int(1...3)))) }
                let order = try h.capture(Net.draft("bo-\(counter)", lines))
                captured.append(order.orderID)
                return "captured \(order.orderID) \(order.status)"
            case .receive(let seed):
                var choose = Chooser(seed)
                try h.receive(choose.pick(Net.allSKUs)!, at: choose.pick(Net.allLocations)!, Int32(choose.int(1...6)))
                return "received"
            case .adjustDown(let seed):
                var choose = Chooser(seed)
                try h.change(InventoryChange(changeID: h.nextRequestID(), kind: .adjustment, sku: choose.pick(Net.allSKUs)!,
                                             locationID: choose.pick(Net.allLocations)!, quantity: -Int32(choose.int(1...3))))
                return "adjusted"
            case .cancelOrder(let seed):
                var choose = Chooser(seed)
                guard let orderID = choose.pick(captured) else { return "nothing to cancel" }
                return "cancelled \(orderID) \(try h.apply(.cancelOrder(reason: "customer"), to: orderID).status)"
            case .cancelLine(let seed):
                var choose = Chooser(seed)
                guard let orderID = choose.pick(captured), let line = choose.pick(h.order(orderID).lines) else { return "nothing to cancel" }
                let quantity = Int32(choose.int(1...Int(max(1, line.quantity))))
                return "cancelled \(orderID)/\(line.lineID) \(try h.apply(.cancelLines([LineQuantity(lineID: line.lineID, quantity: quantity)], reason: "customer"), to: orderID).status)"
            }
        } catch {
            return "error: \(error)"
        }
    }

    /// The index against the orders themselves: per SKU, the orders with backordered units of it, by capture.
    static func indexProblems(_ h: Harness) -> [String] {
        var problems: [String] = []
        let waiting = h.storage.orders.values.filter { $0.backorderedUnits > 0 }.sorted { $0.captureSequence < $1.captureSequence }
        for sku in Net.allSKUs {
            let expected = waiting.filter { order in order.lines.contains { $0.sku == sku && $0.quantities.backordered > 0 } }.map(\.orderID)
            let listed = h.engine.state.backorders.oldest(for: sku, limit: .max)
            if listed != expected { problems.append("\(sku): index \(listed), orders \(expected)") }
        }
        for order in h.storage.orders.values {
            let skus = Set(order.lines.filter { $0.quantities.backordered > 0 }.map(\.sku))
            let indexed = Set(h.engine.state.backorders.waitingSKUs(of: order.orderID) ?? [])
            if skus != indexed { problems.append("\(order.orderID): waits for \(skus.sorted()), index says \(indexed.sorted())") }
        }
        if h.engine.state.backorders.orderCount != waiting.count {
            problems.append("orderCount \(h.engine.state.backorders.orderCount), waiting \(waiting.count)")
        }
        return problems
    }

    static func run(_ workload: Workload) throws -> [String] {
        var policy = RoutingPolicy.standard
        policy.allowPartialAllocation = workload.partial
        let stock = Net.allSKUs.flatMap { sku in Net.allLocations.prefix(2).map { (sku, $0, Int32(2)) } }
        let skipping = try Harness(policy: policy, stock: stock)
        let routingAll = try Harness(policy: policy, stock: stock)
        routingAll.engine.releaseRoutesEveryCandidate = true
        var capturedSkipping: [OrderID] = [], capturedAll: [OrderID] = []
        var problems: [String] = []
        for (index, step) in workload.steps.enumerated() {
            let outcome = apply(step, to: skipping, captured: &capturedSkipping, counter: index)
            let reference = apply(step, to: routingAll, captured: &capturedAll, counter: index)
            if outcome != reference { problems.append("step \(index) \(step): \(outcome) vs \(reference)") }
            if skipping.storage.orders != routingAll.storage.orders {
                let differing = skipping.storage.orders.keys.filter { skipping.storage.orders[$0] != routingAll.storage.orders[$0] }
                problems.append("step \(index) \(step): orders differ: \(differing.sorted())")
            }
            if skipping.storage.events.map({ "\($0.offset) \($0.event)" }) != routingAll.storage.events.map({ "\($0.offset) \($0.event)" }) {
                problems.append("step \(index) \(step): events differ")
            }
            for sku in Net.allSKUs {
                for location in Net.allLocations where skipping.balance(sku, location) != routingAll.balance(sku, location) {
                    problems.append("step \(index) \(step): balance \(sku)@\(location) differs")
                }
            }
            problems += indexProblems(skipping).map { "step \(index) \(step): \($0)" }
            if !problems.isEmpty { return problems }
        }
        return problems
    }

    @Test("random workloads: the release leaves what routing every candidate leaves; the index lists exactly the waiting orders", .shrinking(false))
    func sameAsRoutingEveryCandidate() async throws {
        await propertyCheck(count: 15, input: Workload.generator(steps: 60...160)) { workload in
            let problems = try Self.run(workload)
            #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
        }
    }

    @Test("a cancelled unit serves the oldest backorder waiting for it; the others stay as they were")
    func cancelServesOldest() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 1)])
        let holder = try h.capture(Net.draft("holder", [(Net.skuA, 1)]))
        let waiting = try (0..<20).map { try h.capture(Net.draft("waiting-\($0)", [(Net.skuA, 1)])) }
        #expect(waiting.allSatisfy { $0.backorderedUnits == 1 })
        #expect(h.engine.state.backorders.oldest(for: Net.skuA, limit: .max) == waiting.map(\.orderID))
        try h.apply(.cancelOrder(reason: "customer"), to: holder.orderID)
        #expect(h.order(waiting[0].orderID).backorderedUnits == 0)
        #expect(waiting.dropFirst().allSatisfy { h.order($0.orderID) == $0 }, "untouched: not even re-persisted")
        #expect(h.engine.state.backorders.oldest(for: Net.skuA, limit: .max) == waiting.dropFirst().map(\.orderID))
    }
}
