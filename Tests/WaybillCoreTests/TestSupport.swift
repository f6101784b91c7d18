// Shared fixtures: a small network with coordinates, a carrier with rate bands and items with
// weights; a harness that drives the Engine over MemoryStorage with an explicit clock; and
// helpers to compare the inventory book with the ledger.
import Testing
import PropertyBased
import WaybillCore

// MARK: - The standard network

/// Customer in central Philadelphia; two stores near it, one warehouse ~120 km away (Newark)
/// and one ~3,800 km away (Reno). Scores under `RoutingPolicy.standard` (shipping cost +
/// processing cost + 0.25 per transit day) for a light parcel are, by construction:
/// ST-CENTER 4.25 < ST-SUBURB 4.75 < WH-EAST 9.50 < WH-WEST 17.00.
enum Net {
    static let currency = "USD"
    static let philadelphia = Coordinates(latitude: 39.9526, longitude: -75.1652)

    static let stCenter = LocationID("ST-CENTER")
    static let stSuburb = LocationID("ST-SUBURB")
    static let whEast = LocationID("WH-EAST")
    static let whWest = LocationID("WH-WEST")
    static let allLocations = [stCenter, stSuburb, whEast, whWest]

    static let skuA = SKU("SKU-A")  // 500 g
    static let skuB = SKU("SKU-B")  // 1,000 g
    static let skuC = SKU("SKU-C")  // 2,000 g
    static let skuD = SKU("SKU-D")  // 300 g
    static let allSKUs = [skuA, skuB, skuC, skuD]

    static let carrierID = "PARCELCO"
    static let service = "ground"

    static func money(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: currency) }

    static func location(_ id: LocationID, _ type: LocationType, _ lat: Double, _ lon: Double, region: String,
                         processingCost: Int64, pickup: Bool, capacity: Int32 = 0) -> Location {
        var location = Location(locationID: id)
        location.name = id.rawValue
        location.type = type
        location.coordinates = Coordinates(latitude: lat, longitude: lon)
        location.region = region
        location.country = "US"
        location.processingCost = money(processingCost)
        location.ships = true
        location.pickup = pickup
        location.dailyOrderCapacity = capacity
        return location
    }

    static var locations: [Location] {
        [
            location(stCenter, .store, 39.9500, -75.1600, region: "PA", processingCost: 0, pickup: true),
            location(stSuburb, .store, 40.0400, -75.3000, region: "PA", processingCost: 50, pickup: true),
            location(whEast, .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, pickup: false),
            location(whWest, .warehouse, 39.5296, -119.8138, region: "NV", processingCost: 100, pickup: false),
        ]
    }

    static var carrier: Carrier {
        var ground = CarrierService(service: service)
        ground.serviceLevel = .standard
        ground.rates = [
            RateBand(maxDistanceKilometres: 5_000, maxWeightGrams: 40_000, cost: money(3_000), transitDays: 5),
            RateBand(maxDistanceKilometres: 50, maxWeightGrams: 10_000, cost: money(400), transitDays: 1),
            RateBand(maxDistanceKilometres: 500, maxWeightGrams: 10_000, cost: money(800), transitDays: 2),
            RateBand(maxDistanceKilometres: 5_000, maxWeightGrams: 10_000, cost: money(1_500), transitDays: 4),
        ]
        var carrier = Carrier(carrierID: carrierID)
        carrier.name = "Parcel Co"
        carrier.services = [ground]
        return carrier
    }

    static var items: [Item] {
        [(skuA, 500), (skuB, 1_000), (skuC, 2_000), (skuD, 300)].map { (sku: SKU, grams: Int32) in
            var item = Item(sku: sku)
            item.weightGrams = grams
            item.description = "item \(sku)"
            return item
        }
    }

    static var shipTo: Address {
        var address = Address()
        address.name = "Pat Customer"
        address.lines = ["1 Market St"]
        address.city = "Philadelphia"
        address.region = "PA"
        address.postalCode = "19103"
        address.country = "US"
        address.coordinates = philadelphia
        return address
    }

    /// 08:00 UTC on day 20,000: well inside a processing day.
    static let start = Timestamp.startOfDay(20_000).adding(milliseconds: 8 * 3_600_000)

    static func draft(_ externalID: String, _ lines: [(SKU, Int32)], channel: Channel = .web,
                      method: FulfillmentMethod = .ship, pickup: LocationID? = nil, holds: [Hold] = [],
                      unitPrice: Int64 = 1_000) -> OrderDraft {
        var draft = OrderDraft()
        draft.channel = channel
        draft.externalOrderID = externalID
        draft.customer.customerID = "C-1"
        draft.customer.name = "Pat Customer"
        draft.shipTo = shipTo
        draft.lines = lines.enumerated().map { index, line in
            DraftLine(lineID: "L\(index + 1)", sku: line.0, quantity: line.1, unitPrice: money(unitPrice * Int64(index + 1)))
        }
        draft.fulfillment = RequestedFulfillment(method: method, pickupLocationID: pickup)
        draft.createdAt = start.adding(milliseconds: -60_000)
        draft.holds = holds
        return draft
    }
}

// MARK: - Harness

/// FNV-1a: a stable request fingerprint (Swift's hashValue is seeded per process).
func fingerprint(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}

/// Drives one Engine over one MemoryStorage with an explicit clock. Every command gets a fresh
/// request id unless one is given.
final class Harness {
    var engine: Engine
    let storage: MemoryStorage
    var now: Timestamp
    private var requestCounter = 0

    init(policy: RoutingPolicy? = nil, locations: [Location] = Net.locations, carriers: [Carrier] = [Net.carrier],
         items: [Item] = Net.items, stock: [(SKU, LocationID, Int32)] = [], start: Timestamp = Net.start,
         limits: DomainLimits = .default, gazetteer: Gazetteer = Gazetteer()) throws {
        engine = Engine(limits: limits, gazetteer: gazetteer)
        storage = MemoryStorage()
        now = start
        for location in locations { try engine.upsert(location: location, context: context(), storage: storage) }
        for carrier in carriers { try engine.upsert(carrier: carrier, context: context(), storage: storage) }
        for item in items { try engine.upsert(item: item, context: context(), storage: storage) }
        if let policy { _ = try engine.setPolicy(policy, context: context(), storage: storage) }
        for (sku, location, quantity) in stock { try receive(sku, at: location, quantity) }
    }

    func tick(_ milliseconds: Int64 = 60_000) { now = now.adding(milliseconds: milliseconds) }

    func context(requestID: String = "", fingerprint value: UInt64 = 0) -> CommandContext {
        CommandContext(now: now, clientID: "tests", requestID: requestID, fingerprint: Fingerprint(value))
    }

    func nextRequestID() -> String {
        requestCounter += 1
        return "req-\(requestCounter)"
    }

    @discardableResult
    func capture(_ draft: OrderDraft) throws -> Order {
        tick()
        return try engine.capture(draft, context: context(), storage: storage).order
    }

    @discardableResult
    func apply(_ command: OrderCommand, to orderID: OrderID) throws -> Order {
        tick()
        let requestID = nextRequestID()
        let context = context(requestID: requestID, fingerprint: fingerprint("\(orderID) \(command)"))
        return try engine.apply(command, to: orderID, context: context, storage: storage).order
    }

    func receive(_ sku: SKU, at location: LocationID, _ quantity: Int32) throws {
        try change(InventoryChange(changeID: nextRequestID(), kind: .receipt, sku: sku, locationID: location, quantity: quantity))
    }

    func change(_ change: InventoryChange) throws {
        tick()
        _ = try engine.applyInventoryChange(change, context: context(fingerprint: fingerprint("\(change)")), storage: storage)
    }

    func order(_ id: OrderID) -> Order { storage.orders[id]! }
    func balance(_ sku: SKU, _ location: LocationID) -> Balance { engine.inventory.balance(sku, at: location) }
    func capacityUsed(_ location: LocationID, day: Int64? = nil) -> Int32 {
        engine.state.capacity.used(CapacityKey(locationID: location, day: day ?? now.day))
    }

    /// Drives a fulfillment forward along the happy path to `target` (created → released → picked → packed → shipped → delivered).
    func advance(_ orderID: OrderID, _ fulfillmentID: String, to target: FulfillmentStatus) throws {
        let path: [FulfillmentStatus] = [.created, .released, .picked, .packed, .shipped, .delivered]
        guard let targetIndex = path.firstIndex(of: target) else { preconditionFailure("not on the happy path: \(target)") }
        while true {
            let current = order(orderID).fulfillments.first { $0.fulfillmentID == fulfillmentID }!.status
            guard let index = path.firstIndex(of: current), index < targetIndex else { return }
            switch current {
            case .created: try apply(.releaseFulfillment(fulfillmentID), to: orderID)
            case .released: try apply(.confirmPick(fulfillmentID), to: orderID)
            case .picked: try apply(.confirmPack(fulfillmentID), to: orderID)
            case .packed: try apply(.confirmShipment(fulfillmentID, carrierID: Net.carrierID, trackingNumber: "TRK-\(fulfillmentID)"), to: orderID)
            case .shipped: try apply(.confirmDelivery(fulfillmentID), to: orderID)
            default: return
            }
        }
    }
}

// MARK: - Inventory comparisons

/// The ledger-derived part of a balance (eventSequence is change-feed bookkeeping, not stock).
struct StockFigures: Hashable, CustomStringConvertible {
    var onHand: Int64
    var reserved: Int64
    var safetyStock: Int64
    var incoming: [Supply]
    init(_ balance: Balance) {
        onHand = balance.onHand
        reserved = balance.reserved
        safetyStock = balance.safetyStock
        incoming = balance.incoming
    }
    var description: String { "onHand \(onHand) reserved \(reserved) safety \(safetyStock) incoming \(incoming.count)" }
}

func liveFigures(_ engine: Engine) -> [InventoryKey: StockFigures] {
    var result: [InventoryKey: StockFigures] = [:]
    for (key, balance) in engine.inventory.allBalances { result[key] = StockFigures(balance) }
    return result
}

/// Keys whose rebuilt-from-ledger figures differ from the engine's live ones (absent = all zero).
func ledgerMismatches(_ engine: Engine, _ storage: MemoryStorage) -> [String] {
    let live = liveFigures(engine)
    let rebuilt = storage.rebuiltBalances().mapValues(StockFigures.init)
    let zero = StockFigures(Balance())
    var problems: [String] = []
    for key in Set(live.keys).union(rebuilt.keys).sorted() {
        let l = live[key] ?? zero, r = rebuilt[key] ?? zero
        if l != r { problems.append("\(key.sku)@\(key.locationID): live \(l), ledger \(r)") }
    }
    return problems
}

/// Units in reservation-holding fulfillments, per SKU × location, over every stored order.
func reservedByFulfillments(_ storage: MemoryStorage) -> [InventoryKey: Int64] {
    var result: [InventoryKey: Int64] = [:]
    for order in storage.orders.values {
        for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
            for line in fulfillment.lines {
                result[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity)
            }
        }
    }
    return result
}

/// Lines whose quantities do not add up: quantity = cancelled + backordered + allocated + shipped.
func lineBookkeepingProblems(_ order: Order) -> [String] {
    var problems: [String] = []
    for line in order.lines {
        let q = line.quantities
        if q.cancelled + q.backordered + q.allocated + q.shipped != line.quantity || min(q.cancelled, q.backordered, q.allocated, q.shipped) < 0 {
            problems.append("\(order.orderID) \(line.lineID): \(line.quantity) ≠ cancelled \(q.cancelled) + backordered \(q.backordered) + allocated \(q.allocated) + shipped \(q.shipped)")
        }
        // allocated and shipped must agree with the fulfillments themselves
        var allocated: Int32 = 0, shipped: Int32 = 0
        for fulfillment in order.fulfillments {
            for fl in fulfillment.lines where fl.lineID == line.lineID {
                if fulfillment.status.holdsReservation { allocated += fl.quantity }
                if fulfillment.status == .shipped || fulfillment.status == .delivered { shipped += fl.quantity }
            }
        }
        if allocated != q.allocated || shipped != q.shipped {
            problems.append("\(order.orderID) \(line.lineID): fulfillments hold \(allocated) allocated / \(shipped) shipped, line says \(q.allocated) / \(q.shipped)")
        }
    }
    return problems
}

extension Order {
    var openUnits: Int32 { lines.reduce(0) { $0 + $1.openQuantity } }
    func fulfillment(_ id: String) -> Fulfillment? { fulfillments.first { $0.fulfillmentID == id } }
    func fulfillments(at location: LocationID) -> [Fulfillment] { fulfillments.filter { $0.locationID == location } }
}

/// Runs `body`, which must throw a DomainError with `code`; returns it.
@discardableResult
func expectDomainError(_ code: DomainError.Code, field: String? = nil, _ comment: Comment? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> DomainError? {
    do {
        try body()
        Issue.record("expected \(code.rawValue)\(field.map { " on \($0)" } ?? ""), but it succeeded. \(comment.map { "\($0)" } ?? "")",
                     sourceLocation: sourceLocation)
        return nil
    } catch let error as DomainError {
        #expect(error.code == code, "\(error) \(comment.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
        if let field { #expect(error.field == field, "\(error)", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected a DomainError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: - Deterministic randomness for fixed-seed runs

/// SplitMix64 seeds for PropertyBased's Xoshiro, so fixed-seed runs are reproducible.
func seededRNG(_ seed: UInt64) -> Xoshiro {
    var state = seed
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    return Xoshiro(seed: (next(), next(), next(), next()))
}
