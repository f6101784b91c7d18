// A fulfillment option is a promise a capture keeps: on random networks (carriers with three
// service levels, cut-offs, daily capacities, pickup stores, stock spread at random) and random
// carts, each option FulfillmentPromising gives is compared with what Engine.capture does with
// that fulfillment at once, on the same state: the same fulfillments (location, lines, carrier,
// cost, processing day, promise), the same units short, the same pre-orders and the same promise
// from expected supply (receipts on their way, some items selling ahead of them), refused exactly
// when the option is UNAVAILABLE. The oracle is the engine's own capture, which routes the order itself (no plan
// routed ahead), so the option's routing request and outcome rules are checked against it.

import PropertyBased
import Testing
import WaybillApplication
import WaybillCore

@Suite("Fulfillment options are the promises capture keeps")
struct FulfillmentOptionsPropertyTests {
    static let start = Timestamp(millisecondsSinceEpoch: 1_772_463_600_000)
    static let usd = "USD"

    struct World {
        var engine: Engine
        let storage = MemoryStorage()
        var now = FulfillmentOptionsPropertyTests.start
        var locations: [LocationID] = []
        var skus: [SKU] = []
        var rng: Xoshiro
        var captured = 0
        var outcomes: [FulfillmentOptionOutcome: Int] = [:]

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        mutating func coordinates() -> Coordinates {
            Coordinates(latitude: Double.random(in: 30...47, using: &rng), longitude: Double.random(in: -122 ... -72, using: &rng))
        }
        var context: CommandContext { CommandContext(now: now, clientID: "options-property") }

        init(seed: UInt64) throws {
            rng = Xoshiro(seed: (seed, seed &* 0x9E37_79B9_7F4A_7C15, ~seed, seed ^ 0xBF58_476D_1CE4_E5B9))
            engine = Engine()
            let levels: [(ServiceLevel, Int64)] = [(.standard, 1), (.expedited, 3), (.nextDay, 6)]
            var carrier = Carrier(carrierID: "CARRIER")
            carrier.services = levels.map { level, factor in
                var service = CarrierService(service: "svc-\(level.rawValue)")
                service.serviceLevel = level
                service.rates = [RateBand(maxDistanceKilometres: 300, maxWeightGrams: 50_000, cost: Money(minorUnits: 400 * factor, currency: usd),
                                          transitDays: Int32(max(1, 3 - level.rawValue))),
                                 RateBand(maxDistanceKilometres: 6_000, maxWeightGrams: 50_000, cost: Money(minorUnits: 900 * factor, currency: usd),
                                          transitDays: Int32(max(1, 6 - 2 * level.rawValue)))]
                return service
            }
            try engine.upsert(carrier: carrier, context: context, storage: storage)
            for index in 0..<int(2...6) {
                var location = Location(locationID: LocationID("L\(index)"))
                location.type = int(1...3) == 1 ? .store : .warehouse
                location.coordinates = coordinates()
                location.pickup = location.type == .store || int(1...4) == 1
                location.ships = int(1...5) > 1
                location.active = int(1...8) > 1
                location.dailyOrderCapacity = int(1...3) == 1 ? Int32(int(1...3)) : 0
                location.cutoffMinuteUTC = int(1...2) == 1 ? Int32(int(600...1_200)) : 0
                location.processingCost = Money(minorUnits: Int64(int(0...300)), currency: usd)
                location.priority = Int32(int(0...3))
                location.channels = int(1...4) == 1 ? [.web, .clickAndCollect] : []
                try engine.upsert(location: location, context: context, storage: storage)
                locations.append(location.locationID)
            }
            for index in 0..<int(1...4) {
                var item = Item(sku: SKU("SKU-\(index)"))
                item.weightGrams = Int32(int(100...5_000))
                // Some items sell ahead of expected supply, some with a cap.
                item.preorder = int(1...3) == 1
                item.preorderCap = item.preorder && int(1...2) == 1 ? Int64(int(2...10)) : 0
                try engine.upsert(item: item, context: context, storage: storage)
                skus.append(item.sku)
            }
            for sku in skus {
                for location in locations where int(1...3) > 1 { try receive(sku, at: location, Int32(int(1...12))) }
            }
            var policy = RoutingPolicy.standard
            switch int(1...3) {
            case 1: break
            case 2: policy.allowBackorder = false
            default: policy.allowPartialAllocation = false
            }
            _ = try engine.setPolicy(policy, context: context, storage: storage)
        }

        mutating func receive(_ sku: SKU, at location: LocationID, _ quantity: Int32) throws {
            _ = try engine.applyInventoryChange(InventoryChange(changeID: "rc-\(sku)-\(location)-\(now.millisecondsSinceEpoch)-\(int(0...1_000_000))",
                                                                kind: .receipt, sku: sku, locationID: location, quantity: quantity),
                                                context: context, storage: storage)
        }

        /// Available units of every SKU at every location.
        func availableUnits() -> [Int64] {
            skus.flatMap { sku in locations.map { engine.state.inventory.available(sku, at: $0) } }
        }

        /// One step: quote a random cart, capture it with one of its options, compare.
        mutating func step() throws -> [String] {
            now = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + Int64(int(0...10)) * 3_600_000 + Int64(int(0...59)) * 60_000)
            if int(1...4) == 1 { try receive(skus[int(0...skus.count - 1)], at: locations[int(0...locations.count - 1)], Int32(int(1...8))) }
            if int(1...3) == 1 {  // supply on its way (or, sometimes, arriving)
                let receipt = ExpectedReceipt(receiptID: "PO-\(int(0...5))", locationID: locations[int(0...locations.count - 1)],
                                              expectedAt: now.adding(milliseconds: Int64(int(1...20)) * 86_400_000),
                                              lines: [ExpectedReceiptLine(sku: skus[int(0...skus.count - 1)], quantity: Int64(int(1...10)))],
                                              status: int(1...6) == 1 ? .received : .open)
                _ = try? engine.applyExpectedReceipt(receipt, context: context, storage: storage)
            }
            let lines = skus.shuffled(using: &rng).prefix(int(1...min(3, skus.count))).enumerated().map { index, sku in
                DraftLine(lineID: "\(index + 1)", sku: sku, quantity: Int32(int(1...6)), unitPrice: Money(minorUnits: 1_000, currency: usd))
            }
            let point = coordinates()
            var shipTo = Address()
            shipTo.postalCode = "00000"
            shipTo.country = "US"
            shipTo.coordinates = point
            let channel: Channel = int(1...2) == 1 ? .web : .clickAndCollect
            let named = locations.filter { _ in int(1...3) == 1 }
            let query = FulfillmentOptionsQuery(channel: channel, lines: lines, shipTo: shipTo, pickupLocationIDs: named,
                                                nearbyPickupStores: int(0...2))
            let before = availableUnits()
            let answer = try FulfillmentPromising.options(for: query, limits: engine.limits, pickupStoresMax: 20, field: "query",
                                                          now: now, against: engine)
            var problems: [String] = []
            if availableUnits() != before { problems.append("options changed the inventory") }
            let shipCount = answer.options.filter { $0.method == .ship }.count
            if shipCount != ServiceLevel.allCases.count { problems.append("\(shipCount) ship options, expected one per level") }
            if answer.options.count < shipCount + named.count { problems.append("a named store has no option") }
            guard !answer.options.isEmpty else { return problems }
            let option = answer.options[int(0...answer.options.count - 1)]
            outcomes[option.outcome, default: 0] += 1

            var draft = OrderDraft()
            draft.channel = channel
            draft.externalOrderID = "O-\(captured)"
            draft.customer.customerID = "C"
            draft.shipTo = shipTo
            draft.lines = lines
            draft.fulfillment = RequestedFulfillment(method: option.method, pickupLocationID: option.pickupLocationID,
                                                     serviceLevel: option.serviceLevel)
            captured += 1
            let label = "\(option.method) \(option.serviceLevel) \(option.pickupLocationID?.rawValue ?? "") \(option.outcome)"
            let order: Order
            do {
                order = try engine.capture(draft, context: context, storage: storage).order
            } catch let error as DomainError {
                if option.outcome != .unavailable { problems.append("\(label): the capture was refused (\(error.message))") }
                return problems
            }
            if option.outcome == .unavailable {
                problems.append("\(label): UNAVAILABLE (\(option.reason)) but the capture was accepted as \(order.status)")
                return problems
            }
            let made = order.fulfillments.map { f in
                "\(f.locationID) \(f.lines.map { "\($0.lineID)x\($0.quantity)" }.sorted()) \(f.carrierID)/\(f.carrierService) "
                    + "\(f.shippingCostEstimate?.minorUnits ?? -1) day \(f.processingDay) promise \(f.promisedDeliveryAt.millisecondsSinceEpoch)"
            }
            let quoted = option.shipments.map { s in
                "\(s.locationID) \(s.lines.map { "\($0.lineID)x\($0.quantity)" }.sorted()) \(s.carrierID)/\(s.carrierService) "
                    + "\(s.costEstimate.minorUnits) day \(s.processingDay) promise \(s.promisedDeliveryAt.millisecondsSinceEpoch)"
            }
            if made != quoted { problems.append("\(label): capture made \(made), the option quoted \(quoted)") }
            let short = Dictionary(option.unallocated.map { ($0.lineID, $0.quantity) }, uniquingKeysWith: +)
            for line in order.lines {
                let unserved = line.quantities.backordered + line.quantities.cancelled
                let expected = (option.outcome == .backorder || option.outcome == .preorder) && option.shipments.isEmpty
                    ? line.quantity : short[line.lineID] ?? 0
                if unserved != expected { problems.append("\(label): line \(line.lineID) has \(unserved) unserved, the option said \(expected)") }
            }
            if option.promisedDeliveryAt != order.fulfillments.map(\.promisedDeliveryAt).max() {
                problems.append("\(label): promise \(String(describing: option.promisedDeliveryAt)) vs the order's")
            }
            let preordered = Dictionary(order.lines.filter { $0.preordered > 0 }.map { ($0.lineID, $0.preordered) }, uniquingKeysWith: +)
            if preordered != option.preordered || (option.outcome == .preorder) != !preordered.isEmpty {
                problems.append("\(label): pre-ordered \(preordered), the option said \(option.preordered)")
            }
            // The promise from expected supply: the option's when every waiting line has one.
            let waiting = order.lines.filter { $0.quantities.backordered > 0 }
            let supplyPromise: Timestamp? = !waiting.isEmpty && waiting.allSatisfy({ $0.backorderPromisedAt != .zero })
                ? waiting.map(\.backorderPromisedAt).max() : nil
            if supplyPromise != option.backorderPromisedAt {
                problems.append("\(label): waiting lines promised \(String(describing: supplyPromise)), the option \(String(describing: option.backorderPromisedAt))")
            }
            return problems
        }
    }

    static func run(seed: UInt64, steps: Int) throws -> (problems: [String], outcomes: [FulfillmentOptionOutcome: Int]) {
        var world = try World(seed: seed)
        var problems: [String] = []
        for number in 0..<steps {
            problems += try world.step().map { "seed \(seed) step \(number): \($0)" }
        }
        return (problems, world.outcomes)
    }

    @Test("random networks and carts: every option is what the capture made at once")
    func randomWorlds() async throws {
        let seeds = Generator<UInt64, Shrink.None<UInt64>>(run: { rng in UInt64.random(in: .min ... .max, using: &rng) })
        await propertyCheck(count: 60, input: seeds) { seed in
            let result = try Self.run(seed: seed, steps: 40)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(5).joined(separator: "\n"))")
        }
    }

    @Test("fixed seeds reach every outcome, and every option agrees with its capture")
    func fixedSeeds() throws {
        var outcomes: [FulfillmentOptionOutcome: Int] = [:]
        for seed in UInt64(1)...30 {
            let result = try Self.run(seed: seed, steps: 60)
            #expect(result.problems.isEmpty, "\(result.problems.prefix(5).joined(separator: "\n"))")
            outcomes.merge(result.outcomes, uniquingKeysWith: +)
        }
        for outcome in [FulfillmentOptionOutcome.complete, .partial, .backorder, .unavailable, .preorder] {
            #expect(outcomes[outcome, default: 0] > 0, "the seeds reach \(outcome): \(outcomes)")
        }
    }
}
