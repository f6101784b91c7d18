// Inventory invariants under long random workloads through the Engine: captures, receipts,
// adjustments, transfers, cancellations, the fulfillment steps, rejections (with and without
// missing stock), returns, holds, ERP snapshots (whole, in slices, and sent again after stopping
// part-way) and request retries.
//
// An independent model keeps on hand per SKU × location from what each command is known to do
// (initial + received + restocked returns − shipped ± adjustments ± transfers − written off +
// snapshot corrections). After every step the engine must agree with it, keep on hand ≥ 0, hold
// exactly the units of CREATED/RELEASED/PICKED/PACKED fulfillments as reserved, never reserve
// more than was available, account for every line unit, and keep the capacity ledger equal to
// the fulfillments it counts. At the end the balances rebuilt from the ledger equal the live ones.
//
// The simulated locations behave like real ones: they confirm a shipment only for units they
// physically hold (Waybill's on hand); otherwise they reject with stock missing.
import Testing
import PropertyBased
import WaybillCore

enum WorkloadKind: String, Sendable, CaseIterable {
    case capture, receipt, adjustment, transfer, cancel, advance, reject, createReturn, receiveReturn, hold, snapshot, retry, edit

    /// Weights out of 100.
    static let standardWeights: [(WorkloadKind, Int)] = [
        (.capture, 20), (.receipt, 9), (.adjustment, 6), (.transfer, 5), (.cancel, 6), (.advance, 19),
        (.reject, 7), (.createReturn, 5), (.receiveReturn, 5), (.hold, 5), (.snapshot, 4), (.retry, 4), (.edit, 5),
    ]

    static func from(_ roll: Int, weights table: [(WorkloadKind, Int)] = standardWeights) -> WorkloadKind {
        var rest = roll
        for (kind, weight) in table {
            if rest < weight { return kind }
            rest -= weight
        }
        return .advance
    }
}

struct WorkloadStep: Sendable, CustomTestStringConvertible {
    var kind: WorkloadKind
    /// Seeds every choice the step makes against the state it finds.
    var seed: UInt64
    var testDescription: String { "\(kind.rawValue)#\(seed)" }
}

struct Workload: Sendable, CustomTestStringConvertible {
    var releaseOnAllocation: Bool
    var initialStock: [Int32]  // per SKU × location, SKU-major
    var steps: [WorkloadStep]
    var testDescription: String {
        "release on allocation \(releaseOnAllocation), initial \(initialStock), \(steps.count) steps: " + steps.map(\.testDescription).joined(separator: " ")
    }

    static func generator(steps: ClosedRange<Int>,
                          weights: [(WorkloadKind, Int)] = WorkloadKind.standardWeights) -> Generator<Workload, some SendableSequenceType> {
        zip(Gen.bool,
            Gen.int32(in: 0...8).array(of: Net.allSKUs.count * Net.allLocations.count),
            zip(Gen.int(in: 0...99), Gen.uint64()).map { WorkloadStep(kind: .from($0, weights: weights), seed: $1) }.array(of: steps))
            .map { Workload(releaseOnAllocation: $0, initialStock: $1, steps: $2) }
    }
}

/// Tiny deterministic chooser for one step.
struct Chooser {
    var rng: Xoshiro
    init(_ seed: UInt64) { rng = seededRNG(seed) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(1...100) <= percent }
    mutating func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[int(0...(items.count - 1))] }
}

final class WorkloadRunner {
    let h: Harness
    var problems: [String] = []
    private var step = "setup"

    // The model: on hand per key, and the physical changes (time, delta) that snapshots correct for.
    private var onHand: [InventoryKey: Int64] = [:]
    private var byKind: [InventoryKey: [MovementKind: Int64]] = [:]
    private var physicalLog: [InventoryKey: [(Int64, Int64)]] = [:]
    /// The as-of time of the newest count applied per key: older counts are stale and skipped.
    private var countedAsOf: [InventoryKey: Int64] = [:]

    // Ledger replay.
    private var replayed: [InventoryKey: (onHand: Int64, reserved: Int64)] = [:]
    private var ledgerCursor = 0

    private var counter = 0
    private var lastLifecycle: (OrderCommand, OrderID, CommandContext)?
    private var lastChange: (InventoryChange, CommandContext)?
    private var lastSnapshot: (LocationID, Timestamp, [(SKU, Int64)], Bool, String, CommandContext)?

    static var locations: [Location] {
        var locations = Net.locations
        locations[0].dailyOrderCapacity = 3   // ST-CENTER
        locations[2].dailyOrderCapacity = 6   // WH-EAST
        locations[1].channels = [.web, .storePOS, .clickAndCollect]
        return locations
    }

    init(_ workload: Workload) throws {
        var policy = RoutingPolicy.standard
        policy.releaseOnAllocation = workload.releaseOnAllocation
        h = try Harness(policy: policy, locations: Self.locations)
        var index = 0
        for sku in Net.allSKUs {
            for location in Net.allLocations {
                let quantity = workload.initialStock[index]
                index += 1
                if quantity > 0 {
                    try h.receive(sku, at: location, quantity)
                    physical(InventoryKey(sku: sku, locationID: location), Int64(quantity), .received)
                }
            }
        }
        checkInvariants()
    }

    func run(_ steps: [WorkloadStep]) {
        for (index, workloadStep) in steps.enumerated() {
            step = "step \(index) \(workloadStep.testDescription)"
            var chooser = Chooser(workloadStep.seed)
            do {
                try perform(workloadStep.kind, &chooser)
            } catch {
                problems.append("\(step): unexpected \(error)")
            }
            checkInvariants()
            if problems.count > 20 { return }
        }
        finalChecks()
    }

    private func fail(_ message: String) { problems.append("\(step): \(message)") }

    private func physical(_ key: InventoryKey, _ delta: Int64, _ kind: MovementKind) {
        guard delta != 0 else { return }
        onHand[key, default: 0] += delta
        byKind[key, default: [:]][kind, default: 0] += delta
        if kind != .snapshot { physicalLog[key, default: []].append((h.now.millisecondsSinceEpoch, delta)) }
    }

    private var orders: [Order] { h.storage.orders.values.sorted { $0.orderID < $1.orderID } }

    private func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(counter)"
    }

    // MARK: steps

    private func lifecycle(_ command: OrderCommand, _ orderID: OrderID) throws -> Order {
        h.tick()
        let context = h.context(requestID: nextID("req"), fingerprint: fingerprint("\(orderID) \(command)"))
        let result = try h.engine.apply(command, to: orderID, context: context, storage: h.storage)
        if result.replayed { fail("fresh request id replayed") }
        lastLifecycle = (command, orderID, context)
        return result.order
    }

    private func inventoryChange(_ change: InventoryChange) throws {
        h.tick()
        let context = h.context(fingerprint: fingerprint("\(change)"))
        _ = try h.engine.applyInventoryChange(change, context: context, storage: h.storage)
        lastChange = (change, context)
    }

    private func perform(_ kind: WorkloadKind, _ c: inout Chooser) throws {
        switch kind {
        case .capture:
            var lines: [(SKU, Int32)] = []
            for _ in 0..<c.int(1...3) { lines.append((c.pick(Net.allSKUs)!, Int32(c.int(1...4)))) }
            let pickup = c.chance(15) ? c.pick([Net.stCenter, Net.stSuburb]) : nil
            var draft = Net.draft(nextID("EXT"), lines, channel: c.pick(Channel.allCases)!, method: pickup == nil ? .ship : .pickup,
                                  pickup: pickup, holds: c.chance(10) ? [Hold(reason: .payment, note: "check")] : [])
            draft.createdAt = h.now
            h.tick()
            let result = try h.engine.capture(draft, context: h.context(), storage: h.storage)
            if result.replayed { fail("a new external id was replayed") }

        case .receipt:
            let key = InventoryKey(sku: c.pick(Net.allSKUs)!, locationID: c.pick(Net.allLocations)!)
            let quantity = Int32(c.int(1...8))
            try inventoryChange(InventoryChange(changeID: nextID("chg"), kind: .receipt, sku: key.sku, locationID: key.locationID, quantity: quantity))
            physical(key, Int64(quantity), .received)

        case .adjustment:
            let key = InventoryKey(sku: c.pick(Net.allSKUs)!, locationID: c.pick(Net.allLocations)!)
            var quantity = Int32(c.int(-6...5))
            if quantity >= 0 { quantity += 1 }
            let change = InventoryChange(changeID: nextID("chg"), kind: .adjustment, sku: key.sku, locationID: key.locationID, quantity: quantity)
            if onHand[key, default: 0] + Int64(quantity) < 0 {
                h.tick()
                let before = liveFigures(h.engine)
                expectRejection(.failedPrecondition) {
                    _ = try self.h.engine.applyInventoryChange(change, context: self.h.context(fingerprint: 1), storage: self.h.storage)
                }
                if liveFigures(h.engine) != before { fail("a refused adjustment changed stock") }
            } else {
                try inventoryChange(change)
                physical(key, Int64(quantity), .adjusted)
            }

        case .transfer:
            let sku = c.pick(Net.allSKUs)!
            let from = c.pick(Net.allLocations)!
            let to = c.pick(Net.allLocations.filter { $0 != from })!
            let quantity = Int32(c.int(1...6))
            let change = InventoryChange(changeID: nextID("chg"), kind: .transfer, sku: sku, locationID: from, quantity: quantity, toLocationID: to)
            let key = InventoryKey(sku: sku, locationID: from)
            let unreserved = onHand[key, default: 0] - (reservedByFulfillments(h.storage)[key] ?? 0)
            if Int64(quantity) > unreserved {
                h.tick()
                expectRejection(.failedPrecondition) {
                    _ = try self.h.engine.applyInventoryChange(change, context: self.h.context(fingerprint: 1), storage: self.h.storage)
                }
            } else {
                try inventoryChange(change)
                physical(key, -Int64(quantity), .transferOut)
                physical(InventoryKey(sku: sku, locationID: to), Int64(quantity), .transferIn)
            }

        case .cancel:
            guard let order = c.pick(orders.filter { $0.openUnits > 0 }) else { return }
            if c.chance(40) {
                let after = try lifecycle(.cancelOrder(reason: "random"), order.orderID)
                if after.openUnits != 0 { fail("\(order.orderID) still has open units after cancelOrder") }
            } else {
                let line = c.pick(order.lines.filter { $0.openQuantity > 0 })!
                let quantity = Int32(c.int(1...Int(line.openQuantity)))
                let after = try lifecycle(.cancelLines([LineQuantity(lineID: line.lineID, quantity: quantity)], reason: "random"), order.orderID)
                let cancelled = after.lines[after.lineIndex(line.lineID)!].quantities.cancelled
                if cancelled != line.quantities.cancelled + quantity { fail("cancelLines cancelled \(cancelled - line.quantities.cancelled), asked \(quantity)") }
            }

        case .advance:
            var candidates: [(Order, Fulfillment)] = []
            for order in orders {
                for f in order.fulfillments where [.created, .released, .picked, .packed, .shipped].contains(f.status) {
                    if f.status == .created && order.isOnHold { continue }
                    candidates.append((order, f))
                }
            }
            guard let (order, f) = c.pick(candidates) else { return }
            let id = f.fulfillmentID
            switch f.status {
            case .created: _ = try lifecycle(.releaseFulfillment(id), order.orderID)
            case .shipped: _ = try lifecycle(.confirmDelivery(id), order.orderID)
            default:
                if f.status == .released && c.chance(30) { _ = try lifecycle(.confirmPick(id), order.orderID); return }
                if f.status != .packed && c.chance(30) { _ = try lifecycle(.confirmPack(id), order.orderID); return }
                var units: [SKU: Int64] = [:]
                for line in f.lines { units[line.sku, default: 0] += Int64(line.quantity) }
                let there = units.allSatisfy { onHand[InventoryKey(sku: $0.key, locationID: f.locationID), default: 0] >= $0.value }
                if there {
                    _ = try lifecycle(.confirmShipment(id, carrierID: f.method == .ship ? Net.carrierID : "", trackingNumber: f.method == .ship ? "T-\(id)" : ""),
                                      order.orderID)
                    for (sku, quantity) in units { physical(InventoryKey(sku: sku, locationID: f.locationID), -quantity, .shipped) }
                } else if f.status != .packed {
                    try reject(order, f, lines: [], stockMissing: true)
                }
            }

        case .reject:
            let candidates = orders.flatMap { order in order.fulfillments.filter { FulfillmentAction.next($0.status, .reject) != nil }.map { (order, $0) } }
            guard let (order, f) = c.pick(candidates) else { return }
            var lines: [LineQuantity] = []
            if c.chance(50) {
                for line in f.lines where c.chance(60) { lines.append(LineQuantity(lineID: line.lineID, quantity: Int32(c.int(1...Int(line.quantity))))) }
            }
            try reject(order, f, lines: lines, stockMissing: c.chance(50))

        case .createReturn:
            var candidates: [(Order, OrderLine)] = []
            for order in orders {
                for line in order.lines where line.quantities.shipped - line.quantities.returned - line.quantities.returnRequested > 0 {
                    candidates.append((order, line))
                }
            }
            guard let (order, line) = c.pick(candidates) else { return }
            let returnable = line.quantities.shipped - line.quantities.returned - line.quantities.returnRequested
            _ = try lifecycle(.createReturn(returnID: nextID("RMA"), lines: [LineQuantity(lineID: line.lineID, quantity: Int32(c.int(1...Int(returnable))))],
                                            reason: "random"), order.orderID)

        case .receiveReturn:
            let candidates = orders.flatMap { order in order.returns.filter { $0.status == .requested }.map { (order, $0) } }
            guard let (order, ret) = c.pick(candidates) else { return }
            let location = c.pick(Net.allLocations)!
            let received = ret.lines.map { ReturnLine(lineID: $0.lineID, quantity: Int32(c.int(0...Int($0.quantity))), disposition: c.chance(60) ? .restock : .dispose) }
            let after = try lifecycle(.receiveReturn(returnID: ret.returnID, locationID: location, lines: received), order.orderID)
            var refund: Int64 = 0
            for line in received {
                let orderLine = order.lines[order.lineIndex(line.lineID)!]
                refund += Int64(line.quantity) * orderLine.unitPrice.minorUnits
                if line.disposition == .restock { physical(InventoryKey(sku: orderLine.sku, locationID: location), Int64(line.quantity), .returned) }
            }
            if after.returns.first(where: { $0.returnID == ret.returnID })?.refund?.minorUnits != refund { fail("refund is not Σ received × unit price (\(refund))") }

        case .hold:
            if let held = c.pick(orders.filter(\.isOnHold)), c.chance(50) {
                _ = try lifecycle(.releaseHold(nil, note: "ok"), held.orderID)
                return
            }
            guard let order = c.pick(orders.filter { $0.openUnits > 0 }) else { return }
            guard let reason = c.pick(HoldReason.allCases.filter { reason in reason.isClientHold && !order.holds.contains { $0.reason == reason } }) else { return }
            _ = try lifecycle(.hold(reason, note: "random"), order.orderID)

        case .snapshot:
            let location = c.pick(Net.allLocations)!
            h.tick()
            let asOf = h.now.adding(milliseconds: -Int64(c.int(0...10)) * 20 * Timestamp.millisecondsPerMinute)
            var levels: [(SKU, Int64)] = []
            for sku in Net.allSKUs where c.chance(50) { levels.append((sku, Int64(c.int(0...12)))) }
            let complete = c.chance(30)
            let messageID = nextID("snap")
            var counted = Dictionary(uniqueKeysWithValues: levels)
            if complete {
                for (key, _) in h.engine.inventory.allBalances where key.locationID == location && counted[key.sku] == nil { counted[key.sku] = 0 }
            }
            var expectedDeltas: [InventoryKey: Int64] = [:]
            var fresh = 0
            for (sku, count) in counted {
                let key = InventoryKey(sku: sku, locationID: location)
                if let newer = countedAsOf[key], newer > asOf.millisecondsSinceEpoch { continue }
                fresh += 1
                countedAsOf[key] = asOf.millisecondsSinceEpoch
                let since = (physicalLog[key] ?? []).filter { $0.0 > asOf.millisecondsSinceEpoch }.reduce(0) { $0 + $1.1 }
                expectedDeltas[key] = max(0, count + since) - onHand[key, default: 0]
            }
            let context = h.context(fingerprint: fingerprint("\(location) \(asOf) \(levels) \(complete)"))
            let result: (replayed: Bool, applied: Int)
            switch c.int(0...2) {
            case 0:  // one command
                let whole = try h.engine.applyStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete, messageID: messageID,
                                                            context: context, storage: h.storage)
                result = (whole.replayed, whole.applied)
            case 1:  // in slices of a random size, as the server applies a large count
                let plan = try #require(try h.engine.planStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete,
                                                                       messageID: messageID, context: context, storage: h.storage))
                let size = c.int(1...max(1, plan.levels.count))
                var applied = 0
                for start in stride(from: 0, to: plan.levels.count, by: size) {
                    applied += try h.engine.applyStockSnapshotSlice(plan, start..<min(plan.levels.count, start + size), context: context, storage: h.storage).applied
                }
                try h.engine.finishStockSnapshot(plan, context: context, storage: h.storage)
                result = (false, applied)
            default:  // a sliced attempt that stopped part-way (not recorded), then the same message again
                if let plan = try h.engine.planStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete,
                                                             messageID: messageID, context: context, storage: h.storage), !plan.levels.isEmpty {
                    _ = try h.engine.applyStockSnapshotSlice(plan, 0..<c.int(1...plan.levels.count), context: context, storage: h.storage)
                }
                let whole = try h.engine.applyStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete, messageID: messageID,
                                                            context: context, storage: h.storage)
                result = (whole.replayed, whole.applied)
            }
            if result.replayed || result.applied != fresh { fail("snapshot: replayed \(result.replayed), applied \(result.applied), expected \(fresh) of \(counted.count)") }
            for (key, delta) in expectedDeltas { physical(key, delta, .snapshot) }
            lastSnapshot = (location, asOf, levels, complete, messageID, context)

        case .edit:
            try edit(&c)

        case .retry:
            let figures = liveFigures(h.engine), movements = h.storage.movements.count, events = h.storage.events.count
            let before = h.storage.orders
            switch c.int(0...2) {
            case 0:
                guard let (command, orderID, context) = lastLifecycle else { return }
                let result = try h.engine.apply(command, to: orderID, context: context, storage: h.storage)
                if !result.replayed { fail("lifecycle retry not replayed") }
            case 1:
                guard let (change, context) = lastChange else { return }
                if !(try h.engine.applyInventoryChange(change, context: context, storage: h.storage).replayed) { fail("inventory retry not replayed") }
            default:
                guard let (location, asOf, levels, complete, messageID, context) = lastSnapshot else { return }
                let result = try h.engine.applyStockSnapshot(locationID: location, asOf: asOf, levels: levels, complete: complete, messageID: messageID,
                                                             context: context, storage: h.storage)
                if !result.replayed { fail("snapshot retry not replayed") }
            }
            if liveFigures(h.engine) != figures || h.storage.movements.count != movements || h.storage.events.count != events || h.storage.orders != before {
                fail("a replayed request changed something")
            }
        }
    }

    /// One EditOrder request of 1–3 random edits on an order with open units. Edits the engine
    /// refuses (too late, insufficient stock without backorders, nothing changed...) must change
    /// nothing; accepted ones must leave each edited line for the units asked.
    private func edit(_ c: inout Chooser) throws {
        guard let order = c.pick(orders.filter { $0.openUnits > 0 }) else { return }
        var edits: [OrderEdit] = []
        var quantities: [String: Int32] = [:]
        var lineCount = order.lines.count
        for _ in 0..<c.int(1...3) {
            let line = c.pick(order.lines)!
            switch c.int(0...4) {
            case 0:
                var address = Net.shipTo
                address.coordinates = Coordinates(latitude: 39 + Double(c.int(0...30)) / 10, longitude: -75 - Double(c.int(0...400)) / 10)
                address.postalCode = "\(c.int(10_000...99_999))"
                edits.append(.changeShipTo(address))
            case 1:
                edits.append(.changeServiceLevel(c.pick(ServiceLevel.allCases)!))
            case 2:
                let quantity = Int32(c.int(1...6))
                edits.append(.changeLineQuantity(lineID: line.lineID, quantity: quantity))
                quantities[line.lineID] = quantity
            case 3:
                lineCount += 1
                edits.append(.addLine(DraftLine(lineID: "E\(lineCount)-\(counter)", sku: c.pick(Net.allSKUs)!, quantity: Int32(c.int(1...4)),
                                                unitPrice: Net.money(700))))
            default:
                edits.append(.replaceSKU(lineID: line.lineID, sku: c.pick(Net.allSKUs)!, unitPrice: c.chance(50) ? Net.money(900) : nil))
                quantities[line.lineID] = nil
            }
        }
        let figures = liveFigures(h.engine), movements = h.storage.movements.count, before = h.storage.orders
        let capacity = h.engine.state.capacity.used
        do {
            let after = try lifecycle(.edit(edits, reason: "random"), order.orderID)
            for (lineID, quantity) in quantities {
                guard let index = after.lineIndex(lineID) else { fail("edited line \(lineID) vanished"); continue }
                if after.lines[index].activeQuantity != quantity {
                    fail("\(order.orderID) line \(lineID) is for \(after.lines[index].activeQuantity) after an edit to \(quantity)")
                }
            }
            if after.history.last(where: { $0.action == "edited" }) == nil { fail("an accepted edit left no history entry") }
        } catch let error as DomainError {
            if ![.failedPrecondition, .invalidArgument, .notFound, .alreadyExists].contains(error.code) { fail("edit refused with \(error)") }
            if error.code == .failedPrecondition && error.currentState == nil { fail("FAILED_PRECONDITION without the current state: \(error)") }
            if liveFigures(h.engine) != figures || h.storage.movements.count != movements || h.storage.orders != before
                || h.engine.state.capacity.used != capacity {
                fail("a refused edit (\(error)) changed something")
            }
        }
    }

    private func reject(_ order: Order, _ f: Fulfillment, lines: [LineQuantity], stockMissing: Bool) throws {
        var rejected: [SKU: Int64] = [:]
        for line in f.lines {
            let quantity = lines.isEmpty ? line.quantity : (lines.first { $0.lineID == line.lineID }?.quantity ?? 0)
            rejected[line.sku, default: 0] += Int64(quantity)
        }
        let reservedBefore = reservedByFulfillments(h.storage)
        let after = try lifecycle(.rejectFulfillment(f.fulfillmentID, lines: lines, reason: "random", stockMissing: stockMissing), order.orderID)
        if !after.excludedLocationIDs.contains(f.locationID) { fail("rejecting location not excluded") }
        if after.fulfillments.contains(where: { $0.locationID == f.locationID && $0.createdAt == h.now }) { fail("re-routed back to the rejecting location") }
        guard stockMissing else { return }
        // Written off: the rejected units, but never more than the unreserved on hand left after the release.
        for (sku, units) in rejected where units > 0 {
            let key = InventoryKey(sku: sku, locationID: f.locationID)
            let stillReserved = (reservedBefore[key] ?? 0) - units
            let writtenOff = min(units, max(0, onHand[key, default: 0] - stillReserved))
            physical(key, -writtenOff, .writtenOff)
        }
    }

    private func expectRejection(_ code: DomainError.Code, _ body: () throws -> Void) {
        do {
            try body()
            fail("expected \(code.rawValue), it succeeded")
        } catch let error as DomainError {
            if error.code != code { fail("expected \(code.rawValue), got \(error)") }
        } catch {
            fail("unexpected \(error)")
        }
    }

    // MARK: invariants

    func checkInvariants() {
        let live = liveFigures(h.engine)
        let reserved = reservedByFulfillments(h.storage)
        var notYetPicked: [InventoryKey: Int64] = [:]
        for order in orders {
            for f in order.fulfillments where f.status == .created || f.status == .released {
                for line in f.lines { notYetPicked[InventoryKey(sku: line.sku, locationID: f.locationID), default: 0] += Int64(line.quantity) }
            }
        }
        for key in Set(live.keys).union(onHand.keys).union(reserved.keys) {
            let figures = live[key] ?? StockFigures(Balance())
            if figures.onHand != onHand[key, default: 0] {
                fail("\(key.sku)@\(key.locationID): on hand \(figures.onHand), the model says \(onHand[key, default: 0])")
            }
            if figures.onHand < 0 { fail("\(key.sku)@\(key.locationID): on hand \(figures.onHand) < 0") }
            if figures.reserved != reserved[key, default: 0] {
                fail("\(key.sku)@\(key.locationID): reserved \(figures.reserved), fulfillments hold \(reserved[key, default: 0])")
            }
            if h.engine.inventory.available(key.sku, at: key.locationID) < 0 { fail("negative ATP") }
            // No oversell left standing: reservations beyond on hand are only ever units already
            // picked or packed (a count below the reservations re-routes the rest at once).
            if figures.reserved > figures.onHand && (notYetPicked[key] ?? 0) > 0 {
                fail("\(key.sku)@\(key.locationID): reserved \(figures.reserved) > on hand \(figures.onHand) with \(notYetPicked[key]!) units not yet picked")
            }
        }
        // Replay the new ledger rows: no reservation beyond what was available when it was made.
        let movements = h.storage.movements
        while ledgerCursor < movements.count {
            let movement = movements[ledgerCursor]
            ledgerCursor += 1
            let key = InventoryKey(sku: movement.sku, locationID: movement.locationID)
            var balance = replayed[key] ?? (0, 0)
            if movement.reservedDelta > 0 && movement.reservedDelta > max(0, balance.onHand - balance.reserved) {
                fail("reserved \(movement.reservedDelta) \(key.sku)@\(key.locationID) with only \(max(0, balance.onHand - balance.reserved)) available (\(movement.reference))")
            }
            balance.onHand += movement.onHandDelta
            balance.reserved += movement.reservedDelta
            if balance.reserved < 0 { fail("ledger reserved < 0 at \(key.sku)@\(key.locationID)") }
            replayed[key] = balance
        }
        for (key, balance) in replayed {
            let figures = live[key] ?? StockFigures(Balance())
            if balance.onHand != figures.onHand || balance.reserved != figures.reserved {
                fail("\(key.sku)@\(key.locationID): ledger replay \(balance), live \(figures)")
            }
        }
        // Orders: units accounted for, versions and history in step.
        var capacityCount: [CapacityKey: Int32] = [:]
        var backorderEntries = 0
        for order in orders {
            for problem in lineBookkeepingProblems(order) { fail(problem) }
            if order.history.last?.version != order.version { fail("\(order.orderID) version \(order.version) ≠ last history entry") }
            if order.holds.isEmpty == false && order.openUnits > 0 && order.status != .onHold { fail("\(order.orderID) held with open units reads \(order.status)") }
            for f in order.fulfillments where f.status != .cancelled && f.status != .rejected {
                capacityCount[CapacityKey(locationID: f.locationID, day: f.processingDay), default: 0] += 1
            }
            backorderEntries += Set(order.lines.filter { $0.quantities.backordered > 0 }.map(\.sku)).count
        }
        // Capacity: the ledger counts exactly the live fulfillments, within each location's daily limit.
        let limits = Dictionary(uniqueKeysWithValues: Self.locations.map { ($0.locationID, $0.dailyOrderCapacity) })
        for (key, used) in h.engine.state.capacity.used where key.resource.isEmpty && used != capacityCount[key, default: 0] {
            fail("capacity \(key.locationID) day \(key.day): ledger \(used), fulfillments \(capacityCount[key, default: 0])")
        }
        for (key, count) in capacityCount {
            if h.engine.state.capacity.used(key) != count { fail("capacity \(key.locationID) day \(key.day) not in the ledger") }
            if let limit = limits[key.locationID], limit > 0, count > limit { fail("\(count) fulfillments at \(key.locationID) on day \(key.day), capacity \(limit)") }
        }
        if h.engine.state.backorders.count != backorderEntries { fail("backorder index holds \(h.engine.state.backorders.count), orders wait on \(backorderEntries)") }
    }

    func finalChecks() {
        step = "end"
        for problem in ledgerMismatches(h.engine, h.storage) { fail("rebuilt ≠ live: \(problem)") }
        // Conservation by kind: each movement kind's on-hand total equals what the model attributes to it.
        var ledgerByKind: [InventoryKey: [MovementKind: Int64]] = [:]
        for movement in h.storage.movements where movement.onHandDelta != 0 {
            ledgerByKind[InventoryKey(sku: movement.sku, locationID: movement.locationID), default: [:]][movement.kind, default: 0] += movement.onHandDelta
        }
        let model = byKind.mapValues { $0.filter { $0.value != 0 } }.filter { !$0.value.isEmpty }
        let ledger = ledgerByKind.mapValues { $0.filter { $0.value != 0 } }.filter { !$0.value.isEmpty }
        if model != ledger {
            for key in Set(model.keys).union(ledger.keys) where model[key] != ledger[key] {
                fail("\(key.sku)@\(key.locationID) by kind: model \(model[key] ?? [:]), ledger \(ledger[key] ?? [:])")
            }
        }
    }
}

struct InventoryWorkloadPropertyTests {
    static func run(_ workload: Workload) throws -> [String] {
        let runner = try WorkloadRunner(workload)
        runner.run(workload.steps)
        return runner.problems
    }

    // Shrinking is off: every shrink candidate replays a whole workload, and the steps' meaning
    // depends on the state they find. A failure reports the workload and its seed.
    @Test("random workloads keep every inventory and order invariant after every step", .shrinking(false))
    func randomWorkloads() async throws {
        await propertyCheck(count: 10, input: Workload.generator(steps: 100...200)) { workload in
            let problems = try Self.run(workload)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test("long workloads on fixed seeds: the ledger rebuilds the live balances", arguments: [UInt64(11), 2_026])
    func longFixedSeedWorkloads(seed: UInt64) throws {
        var rng = seededRNG(seed)
        let workload = Workload.generator(steps: 500...500).run(using: &rng)
        let problems = try Self.run(workload)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
