// The fulfillment network: locations, carriers, items and routing policies.

public enum LocationType: Int, CaseIterable, Hashable, Sendable {
    case warehouse = 1
    case store = 2
    case dropShipVendor = 3

    public var name: String {
        switch self {
        case .warehouse: "warehouse"
        case .store: "store"
        case .dropShipVendor: "drop_ship_vendor"
        }
    }
}

public struct Location: Hashable, Sendable {
    public var locationID: LocationID
    public var name: String = ""
    public var type: LocationType = .warehouse
    public var coordinates: Coordinates?
    public var region: String = ""
    public var country: String = ""
    /// Fulfillments per processing day; 0 = unlimited.
    public var dailyOrderCapacity: Int32 = 0
    public var processingCost: Money?
    /// Minute of the UTC day after which new fulfillments count against the next day; 0 = midnight.
    public var cutoffMinuteUTC: Int32 = 0
    public var ships = true
    public var pickup = false
    /// Lower is preferred.
    public var priority: Int32 = 0
    /// Channels allowed to sell from here; empty = all.
    public var channels: [Channel] = []
    public var active = true

    public init(locationID: LocationID) { self.locationID = locationID }

    public func sells(to channel: Channel) -> Bool { channels.isEmpty || channels.contains(channel) }

    /// The processing day a fulfillment created at `now` counts against.
    public func processingDay(at now: Timestamp) -> Int64 {
        cutoffMinuteUTC > 0 && now.minuteOfDay >= cutoffMinuteUTC ? now.day + 1 : now.day
    }
}

public struct RateBand: Hashable, Sendable {
    public var maxDistanceKilometres: Double
    public var maxWeightGrams: Int32
    public var cost: Money
    public var transitDays: Int32
    public init(maxDistanceKilometres: Double, maxWeightGrams: Int32, cost: Money, transitDays: Int32) {
        self.maxDistanceKilometres = maxDistanceKilometres
        self.maxWeightGrams = maxWeightGrams
        self.cost = cost
        self.transitDays = transitDays
    }
}

public struct CarrierService: Hashable, Sendable {
    public var service: String
    public var serviceLevel: ServiceLevel = .standard
    /// Sorted by (distance, weight, cost) on load so the first match is the tightest band.
    public var rates: [RateBand] = []
    /// Parcels per location per processing day; 0 = unlimited.
    public var dailyCapacityPerLocation: Int32 = 0
    public var pickupCutoffMinuteUTC: Int32 = 0
    /// Locations served; empty = all shipping locations.
    public var locationIDs: [LocationID] = []

    public init(service: String) { self.service = service }

    /// The rate for a parcel: the cheapest band covering the distance and weight.
    public func rate(distanceKilometres: Double, weightGrams: Int32) -> RateBand? {
        var best: RateBand?
        for band in rates where band.maxDistanceKilometres >= distanceKilometres && band.maxWeightGrams >= weightGrams {
            if best == nil || band.cost.minorUnits < best!.cost.minorUnits { best = band }
        }
        return best
    }
}

public struct Carrier: Hashable, Sendable {
    public var carrierID: String
    public var name: String = ""
    public var services: [CarrierService] = []
    public var active = true
    public init(carrierID: String) { self.carrierID = carrierID }
}

public struct Item: Hashable, Sendable {
    public var sku: SKU
    public var description: String = ""
    public var weightGrams: Int32 = 0
    public var active = true
    /// Orders may be captured against expected supply when on-hand stock cannot serve them.
    public var preorder = false
    /// Pre-ordered units waiting at once, at most (0: as many as expected supply covers).
    public var preorderCap: Int64 = 0
    public init(sku: SKU) { self.sku = sku }
}

// MARK: - Routing policy

public enum RoutingFilter: Hashable, Sendable {
    case locationType([LocationType])
    case region([String], sameRegionAsShipTo: Bool)
    case channelEligibility
    case capacityLeft(minimum: Int32)
    /// Keep locations that can fully supply at least one line (or, with wholeOrder, every line).
    case enoughStock(wholeOrder: Bool)
    case maxDistance(kilometres: Double)

    public var name: String {
        switch self {
        case .locationType: "location type"
        case .region: "region"
        case .channelEligibility: "channel eligibility"
        case .capacityLeft: "capacity left"
        case .enoughStock: "enough stock"
        case .maxDistance: "max distance"
        }
    }
}

public enum ScoringCriterion: Int, CaseIterable, Hashable, Sendable {
    case shippingCost = 1
    case processingCost = 2
    case distance = 3
    case transitDays = 4
    case latePromise = 5
    case capacityBalance = 6
    case inventoryDepth = 7
    case locationPriority = 8
}

public enum TieBreaker: Int, CaseIterable, Hashable, Sendable {
    case locationPriority = 1
    case distance = 2
    case locationID = 3
}

public struct RoutingPolicy: Hashable, Sendable {
    public var version: Int64 = 0
    public var name: String = "default"
    public var filters: [RoutingFilter] = []
    public var scoring: [(ScoringCriterion, Double)] = []
    public var tieBreakers: [TieBreaker] = []
    public var maxShipments: Int32 = 3
    public var allowPartialAllocation = true
    public var allowBackorder = true
    public var releaseOnAllocation = false
    /// When an exchange that does not say captures its replacement order.
    public var exchangeReservation: ExchangeReservation = .atReceipt
    public var setAt: Timestamp = .zero

    public init() {}

    /// Channel eligibility and capacity as filters; cost first, then speed.
    public static let standard: RoutingPolicy = {
        var policy = RoutingPolicy()
        policy.name = "standard"
        policy.filters = [.channelEligibility, .capacityLeft(minimum: 1)]
        policy.scoring = [(.shippingCost, 1.0), (.processingCost, 1.0), (.latePromise, 5.0), (.transitDays, 0.25)]
        policy.tieBreakers = [.locationPriority, .distance, .locationID]
        return policy
    }()

    public func weight(of criterion: ScoringCriterion) -> Double {
        scoring.first { $0.0 == criterion }?.1 ?? 0
    }

    public static func == (lhs: RoutingPolicy, rhs: RoutingPolicy) -> Bool {
        lhs.version == rhs.version && lhs.name == rhs.name && lhs.filters == rhs.filters
            && lhs.scoring.map(\.0) == rhs.scoring.map(\.0) && lhs.scoring.map(\.1) == rhs.scoring.map(\.1)
            && lhs.tieBreakers == rhs.tieBreakers && lhs.maxShipments == rhs.maxShipments
            && lhs.allowPartialAllocation == rhs.allowPartialAllocation && lhs.allowBackorder == rhs.allowBackorder
            && lhs.releaseOnAllocation == rhs.releaseOnAllocation && lhs.exchangeReservation == rhs.exchangeReservation
            && lhs.setAt == rhs.setAt
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(version)
        hasher.combine(name)
    }
}
