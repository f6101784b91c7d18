// Expected supply against every interleaving: random receipts expected, changed, received (short,
// exact or over) and cancelled, pre-order and plain captures, cancellations, rejections and counts.
// After every step: the ledger equals what orders hold and nothing is oversold; pre-ordered units
// waiting never exceed the item's cap; and every promise from expected supply is one the supply
// can keep — recomputed here from the stored orders and receipts alone (capture order against the
// receipts sorted by date), a waiting order is never promised a date earlier than the one its
// place in line gives, and right after a receipt changes every promise is exactly that date.

import PropertyBased
import Testing
@testable import WaybillCore

@Suite("Expected supply: promises kept in capture order, no pre-order beyond supply or cap")
struct ExpectedSupplyPropertyTests {
    struct World {
        var engine = Engine()
        let storage = MemoryStorage()
        var now = Timestamp(millisecondsSinceEpoch: 1_772_463_600_000)
        var rng: Xoshiro
        let locations = [LocationID("A"), LocationID("B")]
        let skus = [SKU("S1"), SKU("S2")]
        let cap: Int64
        var receipts: [String] = []
        var orders: [OrderID] = []
        var stats: [String: Int] = [:]

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        var context: CommandContext { CommandContext(now: now, clientID: "supply-property") }

        init(seed: UInt64) throws {
            rng = Xoshiro(seed: (seed, seed &* 0x9E37_79B9_7F4A_7C15, ~seed, seed ^ 0xBF58_476D_1CE4_E5B9))
            cap = [0, 3, 8][Int(seed % 3)]
            let coordinates = [Coordinates(latitude: 40.7, longitude: -74.0), Coordinates(latitude: 34.0, longitude: -118.2)]
            for (index, id) in locations.enumerated() {
                var location = Location(locationID: id)
                location.coordinates = coordinates[index]
                try engine.upsert(location: location, context: context, storage: storage)
            }
            // S1 allows pre-orders (with the seed's cap), S2 does not.
            var preorder = Item(sku: skus[0])
            preorder.preorder = true
            preorder.preorderCap = cap
            try engine.upsert(item: preorder, context: context, storage: storage)
            try engine.upsert(item: Item(sku: skus[1]), context: context, storage: storage)
            var policy = RoutingPolicy.standard
            policy.allowBackorder = int(1...2) == 1
            policy.allowPartialAllocation = int(1...3) > 1
            _ = try engine.setPolicy(policy, context: context, storage: storage)
        }

        var shipTo: Address {
            var address = Address()
            address.postalCode = "10001"
            address.country = "US"
            address.coordinates = Coordinates(latitude: 40.0, longitude: -80.0)
            return address
        }

        mutating func receipt(_ id: String, status: ExpectedReceipt.Status) -> ExpectedReceipt {
            let lines = skus.filter { _ in int(1...3) > 1 }.map { ExpectedReceiptLine(sku: $0, quantity: Int64(int(1...6))) }
            return ExpectedReceipt(receiptID: id, locationID: locations[int(0...1)],
                                   expectedAt: now.adding(milliseconds: Int64(int(1...30)) * 86_400_000),
                                   lines: lines.isEmpty ? [ExpectedReceiptLine(sku: skus[0], quantity: 3)] : lines, status: status)
        }

        mutating func step() throws -> [String] {
            var problems: [String] = []
            // SKUs whose expected supply this step changed: their promises must then be exact.
            var supplyChanged: Set<SKU> = []
            now = now.adding(milliseconds: Int64(int(1...120)) * 60_000)
            switch int(0...9) {
            case 0, 1:  // a new receipt, or a change to an open one
                let id = receipts.isEmpty || int(1...2) == 1 ? "R-\(receipts.count)" : receipts[int(0...receipts.count - 1)]
                if !receipts.contains(id) { receipts.append(id) }
                let before = storage.receipts[id]?.lines.map(\.sku) ?? []
                do {
                    let applied = try engine.applyExpectedReceipt(receipt(id, status: .open), context: context, storage: storage)
                    stats["expected", default: 0] += 1
                    supplyChanged = Set(before + applied.lines.map(\.sku))
                } catch let error as DomainError {
                    if storage.receipts[id]?.status == .open { problems.append("changing open receipt \(id) refused: \(error)") }
                }
            case 2:  // an arrival: short, exact or over
                guard let id = receipts.randomElement(using: &rng), let open = engine.state.supply.receipts[id] else { break }
                var arrived = open
                arrived.status = .received
                arrived.lines = open.lines.map { ExpectedReceiptLine(sku: $0.sku, quantity: max(1, $0.quantity + Int64(int(-2...1)))) }
                _ = try engine.applyExpectedReceipt(arrived, context: context, storage: storage)
                stats["received", default: 0] += 1
                supplyChanged = Set(open.lines.map(\.sku))
            case 3:  // a cancellation
                guard let id = receipts.randomElement(using: &rng) else { break }
                let open = engine.state.supply.receipts[id]
                _ = try engine.applyExpectedReceipt(ExpectedReceipt(receiptID: id, locationID: locations[0], expectedAt: .zero, lines: [],
                                                                    status: .cancelled), context: context, storage: storage)
                if let open {
                    stats["cancelled", default: 0] += 1
                    supplyChanged = Set(open.lines.map(\.sku))
                }
            case 4, 5, 6:  // a capture, often of the pre-order item
                var draft = OrderDraft()
                draft.channel = .web
                draft.externalOrderID = "O-\(orders.count)-\(int(0...1_000_000))"
                draft.customer.customerID = "C"
                draft.shipTo = shipTo
                let sku = int(1...4) > 1 ? skus[0] : skus[1]
                draft.lines = [DraftLine(lineID: "1", sku: sku, quantity: Int32(int(1...3)), unitPrice: Money(minorUnits: 500, currency: "USD"))]
                do {
                    let order = try engine.capture(draft, context: context, storage: storage).order
                    orders.append(order.orderID)
                    if order.lines[0].preordered > 0 { stats["pre-ordered", default: 0] += 1 }
                } catch is DomainError {
                    stats["capture refused", default: 0] += 1
                }
            case 7:  // a customer cancels a waiting order
                guard let orderID = orders.randomElement(using: &rng) else { break }
                let key = "cancel-\(orderID)-\(int(0...1_000_000))"
                _ = try? engine.apply(.cancelOrder(reason: "changed mind"), to: orderID,
                                      context: CommandContext(now: now, clientID: "c", requestID: key, fingerprint: Fingerprint(fnv1a(key))),
                                      storage: storage)
            case 8:  // a location rejects what it holds: units go back to wait, ahead of younger orders
                guard let orderID = orders.randomElement(using: &rng), let order = storage.orders[orderID],
                      let fulfillment = order.fulfillments.first(where: { $0.status == .created || $0.status == .released }) else { break }
                let key = "reject-\(orderID)-\(int(0...1_000_000))"
                if (try? engine.apply(.rejectFulfillment(fulfillment.fulfillmentID, lines: [], reason: "damaged", stockMissing: false,
                                                         excludesLocation: true),
                                      to: orderID, context: CommandContext(now: now, clientID: "c", requestID: key, fingerprint: Fingerprint(fnv1a(key))),
                                      storage: storage)) != nil {
                    stats["rejected", default: 0] += 1
                }
            default:  // stock from elsewhere
                _ = try engine.applyInventoryChange(InventoryChange(changeID: "c-\(int(0...Int(Int32.max)))", kind: .receipt,
                                                                    sku: skus[int(0...1)], locationID: locations[int(0...1)],
                                                                    quantity: Int32(int(1...2))),
                                                    context: context, storage: storage)
            }
            problems += invariants(exact: supplyChanged)
            return problems
        }

        /// The date each waiting order's units of `sku` are covered by, from the stored receipts and
        /// orders alone: capture order against open receipts sorted by (date, id).
        func oracle(_ sku: SKU) -> [OrderID: Timestamp?] {
            let slots = storage.receipts.values.filter { $0.status == .open }
                .flatMap { receipt in receipt.lines.filter { $0.sku == sku }.map { (receipt.expectedAt, receipt.receiptID, $0.quantity) } }
                .sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            var result: [OrderID: Timestamp?] = [:]
            var ahead: Int64 = 0
            for order in storage.orders.values.sorted(by: { $0.captureSequence < $1.captureSequence }) {
                let units = order.lines.filter { $0.sku == sku }.reduce(Int64(0)) { $0 + Int64($1.quantities.backordered) }
                guard units > 0 else { continue }
                var covered: Int64 = 0
                var date: Timestamp?
                for slot in slots {
                    covered += slot.2
                    if covered >= ahead + units { date = slot.0; break }
                }
                result[order.orderID] = date
                ahead += units
            }
            return result
        }

        func invariants(exact: Set<SKU>) -> [String] {
            var problems: [String] = []
            var held: [InventoryKey: Int64] = [:]
            var preordered: Int64 = 0
            for order in storage.orders.values {
                for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
                    for line in fulfillment.lines { held[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity) }
                }
                for line in order.lines where line.sku == skus[0] { preordered += Int64(min(line.preordered, line.quantities.backordered)) }
                for line in order.lines where line.sku == skus[1] && line.preordered > 0 {
                    problems.append("\(order.orderID) pre-ordered \(line.sku), which allows no pre-orders")
                }
            }
            for sku in skus {
                for location in locations {
                    let balance = engine.state.inventory.balance(sku, at: location)
                    let key = InventoryKey(sku: sku, locationID: location)
                    if balance.reserved != held[key] ?? 0 { problems.append("\(key): reserved \(balance.reserved), orders hold \(held[key] ?? 0)") }
                    if balance.reserved > balance.onHand { problems.append("\(key): oversold, \(balance.reserved) reserved of \(balance.onHand)") }
                }
                for (orderID, date) in oracle(sku) {
                    let line = storage.orders[orderID]!.lines.first { $0.sku == sku && $0.quantities.backordered > 0 }!
                    let promised = line.expectedSupplyAt
                    if exact.contains(sku) && promised != (date ?? .zero) {
                        problems.append("\(orderID) promised \(sku) from \(promised), its place in line gives \(String(describing: date))")
                    }
                    if promised != .zero && (date == nil || date! > promised) {
                        problems.append("\(orderID) promised \(sku) from \(promised), earlier than supply can keep (\(String(describing: date)))")
                    }
                }
            }
            if cap > 0 && preordered > cap { problems.append("\(preordered) pre-ordered units waiting, cap \(cap)") }
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

    @Test("random interleavings keep promises, the ledger, the cap and the supply")
    func randomInterleavings() async throws {
        let seeds = Generator<UInt64, Shrink.None<UInt64>>(run: { rng in UInt64.random(in: .min ... .max, using: &rng) })
        await propertyCheck(count: 80, input: seeds) { seed in
            let result = try Self.run(seed: seed, steps: 150)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(3).joined(separator: "\n"))")
        }
    }

    @Test("fixed seeds reach every path: pre-ordered, received, cancelled, rejected, refused")
    func fixedSeeds() throws {
        var stats: [String: Int] = [:]
        for seed in UInt64(1)...40 {
            let result = try Self.run(seed: seed, steps: 150)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(3).joined(separator: "\n"))")
            stats.merge(result.stats, uniquingKeysWith: +)
        }
        for path in ["expected", "received", "cancelled", "pre-ordered", "rejected", "capture refused"] {
            #expect(stats[path, default: 0] > 0, "the seeds reach \(path): \(stats)")
        }
    }
}

