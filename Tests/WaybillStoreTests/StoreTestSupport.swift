// Fixtures for the store tests: temporary database files, a manual clock, a quiet logger,
// a small network, order drafts and a seeded random workload driven through the real writer.

import Dispatch
import Foundation
import Logging
import Synchronization
import Testing
import WaybillCore
import WaybillProto
import WaybillStore

// MARK: - Files, clock, logger

/// A fresh directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init(_ label: String = "store") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("waybill-\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Time under the test's control: every batch reads it once.
final class ManualClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_750_000_000_000) { value = Mutex(start) }
    var now: Timestamp { Timestamp(millisecondsSinceEpoch: value.withLock { $0 }) }
    func advance(milliseconds: Int64) { value.withLock { $0 += milliseconds } }
    var closure: @Sendable () -> Timestamp { { [self] in self.now } }
}

let quietLogger = Logger(label: "waybill-store-tests") { _ in SwiftLogNoOpLogHandler() }

/// Opens the database at `path` and starts a writer on it.
/// `searchIndexer: false` leaves the search index's work to `database.searchIndex.indexPending()`.
func openStore(_ path: String, clock: ManualClock, limits: WriterLimits = WriterLimits(), observer: CommitObserver? = nil,
               searchIndexer: Bool = true, searchLimits: SearchIndexLimits = SearchIndexLimits()) throws -> (WaybillDatabase, StoreWriter) {
    let database = try WaybillDatabase(path: path, searchIndexLimits: searchLimits, startsSearchIndexer: searchIndexer)
    let writer = try StoreWriter(database: database, limits: limits, clock: clock.closure, logger: quietLogger, observer: observer)
    return (database, writer)
}

/// Waits until the search index covers every committed event: the feed pruner keeps the events it
/// has not covered, so a test that prunes waits for it first.
func waitForSearchIndex(_ database: WaybillDatabase) throws {
    let head = try StoreReader(database: database).feedBounds().head
    #expect(database.searchIndex.waitUntilIndexed(through: Int64(head)), "the search index did not catch up")
}

/// Blocks the writer thread inside a batch until `open()` is called.
final class Gate: @unchecked Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    /// Submits a job that holds the writer (inside its transaction) until `open()`.
    func close(_ writer: StoreWriter, body: @escaping (WriteContext) throws -> Void = { _ in }) async {
        writer.submit(Job({ context in
            try body(context)
            self.entered.signal()
            self.released.wait()
        }) { _ in })
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.entered.wait()
                continuation.resume()
            }
        }
    }

    func open() { released.signal() }
}

extension StoreWriter {
    /// Runs `body` in the writer's next batch and awaits its outcome without blocking a thread of
    /// the cooperative pool (tests run in parallel on few cores).
    func run<T: Sendable>(_ body: @escaping (WriteContext) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(Job(body) { continuation.resume(with: $0) })
        }
    }
}

/// Counts the distinct batches (WriteContexts) jobs ran in; keeps them alive so identities are not reused.
final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var contexts: [ObjectIdentifier: AnyObject] = [:]
    func saw(_ context: WriteContext) {
        lock.lock()
        contexts[ObjectIdentifier(context)] = context
        lock.unlock()
    }
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return contexts.count
    }
}

/// Waits for many asynchronous replies.
final class Replies<T: Sendable>: @unchecked Sendable {
    private let group = DispatchGroup()
    private let results = Mutex<[Int: Result<T, Error>]>([:])

    func expect() { group.enter() }
    func record(_ index: Int, _ result: Result<T, Error>) {
        results.withLock { $0[index] = result }
        group.leave()
    }
    func wait() async -> [Int: Result<T, Error>] {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { continuation.resume() }
        }
        return results.withLock { $0 }
    }
}

// MARK: - Network and drafts

enum StoreNet {
    static let locations = [LocationID("WH-1"), LocationID("WH-2"), LocationID("ST-1")]
    static let skus = (1...6).map { SKU("SKU-\($0)") }

    /// One carrier, UPX/ground; `carrierCapacity` > 0 limits its parcels per location and day
    /// (so fulfillments use two limited capacities, stored as one paired row).
    static func setUp(_ writer: StoreWriter, capacity: Int32 = 0, carrierCapacity: Int32 = 0) async throws {
        try await writer.run { context in
            let command = CommandContext(now: context.now)
            // A carrier to ship with (confirmed shipments name a carrier of the network); with
            // `carrierCapacity` its service also counts parcels.
            var ground = CarrierService(service: "ground")
            ground.rates = [RateBand(maxDistanceKilometres: 20_000, maxWeightGrams: 100_000,
                                     cost: Money(minorUnits: 700, currency: "USD"), transitDays: 3)]
            ground.dailyCapacityPerLocation = carrierCapacity
            var carrier = Carrier(carrierID: "UPX")
            carrier.services = [ground]
            try context.engine.upsert(carrier: carrier, context: command, storage: context.engineStorage)
            for (index, id) in locations.enumerated() {
                var location = Location(locationID: id)
                location.name = id.rawValue
                location.type = index == 2 ? .store : .warehouse
                location.coordinates = Coordinates(latitude: 40 + Double(index), longitude: -75 - Double(index) * 3)
                location.ships = true
                location.pickup = index == 2
                location.priority = Int32(index)
                location.dailyOrderCapacity = capacity
                try context.engine.upsert(location: location, context: command, storage: context.engineStorage)
            }
            for sku in skus {
                var item = Item(sku: sku)
                item.weightGrams = 250
                try context.engine.upsert(item: item, context: command, storage: context.engineStorage)
            }
            context.networkChanged = true
        }
    }
}

func draft(_ external: String, channel: Channel = .web, lines: [(String, Int32)], holds: [HoldReason] = []) -> OrderDraft {
    var draft = OrderDraft()
    draft.channel = channel
    draft.externalOrderID = external
    draft.customer.customerID = "C-\(external)"
    draft.shipTo.country = "US"
    draft.shipTo.postalCode = "19103"
    draft.shipTo.coordinates = Coordinates(latitude: 39.95, longitude: -75.16)
    draft.lines = lines.enumerated().map { index, line in
        DraftLine(lineID: "L\(index + 1)", sku: SKU(line.0), quantity: line.1, unitPrice: Money(minorUnits: 1_250, currency: "USD"))
    }
    draft.holds = holds.map { Hold(reason: $0) }
    return draft
}

func capture(_ writer: StoreWriter, _ draft: OrderDraft) async throws -> CaptureResult {
    try await writer.run { context in
        try context.engine.capture(draft, context: CommandContext(now: context.now, clientID: "store-tests"), storage: context.engineStorage)
    }
}

func receive(_ writer: StoreWriter, _ changeID: String, _ sku: String, _ location: String, _ quantity: Int32) async throws -> InventoryChangeOutcome {
    try await writer.run { context in
        try context.engine.applyInventoryChange(
            InventoryChange(changeID: changeID, kind: .receipt, sku: SKU(sku), locationID: LocationID(location), quantity: quantity),
            context: CommandContext(now: context.now, fingerprint: testFingerprint("\(sku)@\(location)x\(quantity)")),
            storage: context.engineStorage)
    }
}

/// Balances as a dictionary (InventoryBook hands them out as an array of tuples).
func balances(_ writer: StoreWriter) async throws -> [InventoryKey: Balance] {
    let list = try await writer.run { $0.engine.inventory.allBalances }
    return Dictionary(uniqueKeysWithValues: list)
}

// MARK: - A seeded random workload

/// SplitMix64: small, fast and reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Outcome counts of a workload (to check it exercised what it claims to).
struct WorkloadStats: Sendable {
    var applied: [String: Int] = [:]
    var refused: [String: Int] = [:]
}

/// Receipts, adjustments, transfers, captures and every lifecycle command, chosen at random
/// and submitted in waves (so the writer group-commits them). Each lifecycle job picks an
/// order and a command that fits the order's state when it runs on the writer thread.
func runRandomWorkload(_ writer: StoreWriter, clock: ManualClock, seed: UInt64, operations: Int, wave: Int = 150,
                       prefix: String = "") async throws -> WorkloadStats {
    var random = SeededRandom(seed: seed)
    let stats = Mutex(WorkloadStats())
    var submitted = 0
    var waveIndex = 0
    while submitted < operations {
        let replies = Replies<String>()
        let count = min(wave, operations - submitted)
        for index in 0..<count {
            let n = submitted + index
            let roll = Int(random.next() % 100)
            let a = random.next(), b = random.next(), c = random.next()
            replies.expect()
            writer.submit(Job({ context -> String in
                try randomOperation(context, n: n, roll: roll, a: a, b: b, c: c, prefix: prefix)
            }) { result in replies.record(index, result) })
        }
        for (_, result) in await replies.wait() {
            switch result {
            case .success(let kind): stats.withLock { $0.applied[kind, default: 0] += 1 }
            case .failure(let error as DomainError): stats.withLock { $0.refused[error.code.rawValue, default: 0] += 1 }
            case .failure(let error): throw error
            }
        }
        submitted += count
        waveIndex += 1
        // Some waves move to a later time (processing days change, capacity resets).
        if waveIndex % 3 == 0 { clock.advance(milliseconds: 7 * 3_600_000) }
    }
    return stats.withLock { $0 }
}

private func randomOperation(_ context: WriteContext, n: Int, roll: Int, a: UInt64, b: UInt64, c: UInt64, prefix: String) throws -> String {
    let sku = StoreNet.skus[Int(a % UInt64(StoreNet.skus.count))]
    let location = StoreNet.locations[Int(b % UInt64(StoreNet.locations.count))]
    let command = CommandContext(now: context.now, clientID: "workload", fingerprint: Fingerprint(a ^ b ^ c))
    switch roll {
    case 0..<18:
        let change = InventoryChange(changeID: "\(prefix)rcv-\(n)", kind: .receipt, sku: sku, locationID: location, quantity: Int32(1 + c % 12))
        _ = try context.engine.applyInventoryChange(change, context: command, storage: context.engineStorage)
        return "receipt"
    case 18..<26:
        let quantity = Int32(c % 9) - 5
        let change = InventoryChange(changeID: "\(prefix)adj-\(n)", kind: .adjustment, sku: sku, locationID: location,
                                     quantity: quantity == 0 ? 2 : quantity)
        _ = try context.engine.applyInventoryChange(change, context: command, storage: context.engineStorage)
        return "adjustment"
    case 26..<30:
        let destination = StoreNet.locations[Int((b + 1 + c % 2) % UInt64(StoreNet.locations.count))]
        let change = InventoryChange(changeID: "\(prefix)xfer-\(n)", kind: .transfer, sku: sku, locationID: location,
                                     quantity: Int32(1 + c % 3), toLocationID: destination)
        _ = try context.engine.applyInventoryChange(change, context: command, storage: context.engineStorage)
        return "transfer"
    case 30..<55:
        let lineCount = 1 + Int(c % 3)
        var lines: [(String, Int32)] = []
        for line in 0..<lineCount {
            lines.append((StoreNet.skus[Int((a + UInt64(line) * 5) % UInt64(StoreNet.skus.count))].rawValue, Int32(1 + (c >> (8 * line)) % 4)))
        }
        var order = draft("\(prefix)ext-\(n)", channel: Channel.allCases[Int(b % 6)], lines: lines,
                          holds: c % 11 == 0 ? [.payment] : [])
        if c % 13 == 0 {
            order.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: StoreNet.locations[2])
        }
        _ = try context.engine.capture(order, context: command, storage: context.engineStorage)
        return "capture"
    default:
        let orders = context.engine.state.nextOrderSequence - 1
        guard orders > 0 else { return "nothing" }
        let orderID = OrderID(sequence: 1 + Int64(a % UInt64(orders)))
        guard let order = try context.engineStorage.loadOrder(orderID) else { return "missing" }
        guard let chosen = lifecycleCommand(for: order, roll: roll, c: c, location: location) else { return "no-command" }
        var lifecycle = command
        lifecycle.requestID = "\(prefix)req-\(n)"
        _ = try context.engine.apply(chosen.0, to: orderID, context: lifecycle, storage: context.engineStorage)
        return chosen.1
    }
}

/// A command that usually fits the order's state (sometimes not: refusals are part of the workload).
private func lifecycleCommand(for order: Order, roll: Int, c: UInt64, location: LocationID) -> (OrderCommand, String)? {
    // Now and then something that may well be illegal in the order's state.
    switch roll {
    case 55..<58: return (.hold(.fraud, note: "check"), "hold")
    case 58..<60: return (.cancelOrder(reason: "customer changed mind"), "cancel")
    default: break
    }
    if order.isOnHold { return (.releaseHold(nil, note: "ok"), "release-hold") }
    // Otherwise one of the steps the order's state allows.
    var options: [(OrderCommand, String)] = []
    for f in order.fulfillments {
        let id = f.fulfillmentID
        // Shipments name a carrier of the network: the one routing chose.
        let ship = (OrderCommand.confirmShipment(id, carrierID: f.carrierID, trackingNumber: "T\(c % 100_000)"), "ship")
        let reject = (OrderCommand.rejectFulfillment(id, lines: [], reason: "cannot find it", stockMissing: c % 2 == 0), "reject")
        switch f.status {
        case .created: options += [(.releaseFulfillment(id), "release"), (.releaseFulfillment(nil), "release"), reject]
        case .released: options += [(.confirmPick(id), "pick-pack"), ship, ship, reject]
        case .picked: options += [(.confirmPack(id), "pick-pack"), ship, ship]
        case .packed: options += [ship, ship]
        case .shipped: options += [(.confirmDelivery(id), "deliver")]
        default: break
        }
    }
    for line in order.lines {
        let q = line.quantities
        if q.shipped - q.returned - q.returnRequested > 0 {
            options.append((.createReturn(returnID: "RMA-\(order.returns.count + 1)", lines: [LineQuantity(lineID: line.lineID, quantity: 1)],
                                          reason: "too small"), "create-return"))
        }
        if line.openQuantity > 0 {
            options.append((.cancelLines([LineQuantity(lineID: line.lineID, quantity: 1)], reason: "one less"), "cancel-lines"))
        }
    }
    for ret in order.returns where ret.status == .requested {
        let lines = ret.lines.map { ReturnLine(lineID: $0.lineID, quantity: $0.quantity, disposition: c % 3 == 0 ? .dispose : .restock) }
        let receive = (OrderCommand.receiveReturn(returnID: ret.returnID, locationID: location, lines: lines), "receive-return")
        options += [receive, receive, receive]
    }
    guard !options.isEmpty else { return nil }
    return options[Int((c >> 17) % UInt64(options.count))]
}

// MARK: - Independent views of the ledger

/// Reserved units per SKU × location according to the orders themselves (fulfillments holding stock).
func reservationsFromOrders(_ orders: [Order]) -> [InventoryKey: Int64] {
    var reserved: [InventoryKey: Int64] = [:]
    for order in orders {
        for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
            for line in fulfillment.lines {
                reserved[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity)
            }
        }
    }
    return reserved
}

/// Checks balances against the ledger (on hand) and the orders (reserved).
func expectConsistent(_ balances: [InventoryKey: Balance], reader: StoreReader, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let ledger = try reader.ledgerOnHand()
    let reserved = reservationsFromOrders(try reader.allOrders())
    for (key, balance) in balances {
        #expect(balance.onHand == ledger[key] ?? 0, "on hand of \(key.sku)@\(key.locationID) vs ledger", sourceLocation: sourceLocation)
        #expect(balance.reserved == reserved[key] ?? 0, "reserved of \(key.sku)@\(key.locationID) vs orders", sourceLocation: sourceLocation)
        #expect(balance.reserved >= 0, sourceLocation: sourceLocation)
    }
    for (key, units) in reserved where units != 0 {
        #expect(balances[key] != nil, "orders reserve \(units) of \(key.sku)@\(key.locationID) but there is no balance", sourceLocation: sourceLocation)
    }
}

/// A stable fingerprint of `text` for tests (FNV-1a; the server's are SHA-256 of the request).
func testFingerprint(_ text: String) -> Fingerprint {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return Fingerprint(hash)
}
