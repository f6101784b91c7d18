// The scenario file: everything a simulation run is made of, as JSON with snake_case keys.
// Every field has a default, so a scenario names only what it changes; unknown keys are
// errors (a typo must not silently fall back to a default). See simulator/README.md.

import Foundation
import WaybillCore

public struct ScenarioError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A closed range of numbers in the JSON as {"min": 1, "max": 5}.
public struct Span: Codable, Sendable, Equatable {
    public var min: Double
    public var max: Double
    public init(_ min: Double, _ max: Double) { self.min = min; self.max = max }
    func draw(_ random: inout SimRandom) -> Double { min + (max - min) * random.uniform() }
}

/// A time window relative to the scenario start.
public struct Window: Codable, Sendable, Equatable {
    public var startHour: Double
    public var durationHours: Double
    public var multiplier: Double = 1
    public init(startHour: Double, durationHours: Double, multiplier: Double = 1) {
        self.startHour = startHour
        self.durationHours = durationHours
        self.multiplier = multiplier
    }
    enum CodingKeys: String, CodingKey, CaseIterable { case startHour, durationHours, durationMinutes, multiplier }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "window")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startHour = try c.decode(Double.self, forKey: .startHour)
        if let minutes = try c.decodeIfPresent(Double.self, forKey: .durationMinutes) {
            durationHours = minutes / 60
        } else {
            durationHours = try c.decode(Double.self, forKey: .durationHours)
        }
        multiplier = try c.decodeIfPresent(Double.self, forKey: .multiplier) ?? 1
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(startHour, forKey: .startHour)
        try c.encode(durationHours, forKey: .durationHours)
        try c.encode(multiplier, forKey: .multiplier)
    }
    func contains(_ offsetMilliseconds: Int64) -> Bool {
        let start = Int64(startHour * 3_600_000), end = start + Int64(durationHours * 3_600_000)
        return offsetMilliseconds >= start && offsetMilliseconds < end
    }
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

func rejectUnknownKeys(_ decoder: any Decoder, _ known: [String], _ what: String) throws {
    let container = try decoder.container(keyedBy: DynamicKey.self)
    // The decoder converts snake_case to camelCase before we see the keys.
    for key in container.allKeys.map(\.stringValue).sorted() where !known.contains(key) {
        throw ScenarioError("unknown key \"\(snakeCase(key))\" in \(what) (known: \(known.map(snakeCase).sorted().joined(separator: ", ")))")
    }
}

func snakeCase(_ camel: String) -> String {
    var result = ""
    for character in camel {
        if character.isUppercase { result += "_" + character.lowercased() } else { result.append(character) }
    }
    return result
}

/// Decodes `key` into `value` when present: the defaults live in the property declarations.
extension KeyedDecodingContainer {
    func fill<T: Decodable>(_ value: inout T, _ key: Key) throws {
        if let decoded = try decodeIfPresent(T.self, forKey: key) { value = decoded }
    }
}

public struct GeographyConfig: Codable, Sendable {
    /// GeoNames-style CSV (geonameid,name,state,latitude,longitude,population,timezone), relative
    /// to the scenario file.
    public var citiesFile = "../data/us-cities.csv"
    /// Customers live in the N most populous places, weighted by population.
    public var customerCities = 1_000
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case citiesFile, customerCities }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "geography")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&citiesFile, .citiesFile)
        try c.fill(&customerCities, .customerCities)
    }
}

public struct CatalogueConfig: Codable, Sendable {
    public var skus = 2_000
    /// Popularity of the k-th SKU ∝ 1 / k^s.
    public var zipfExponent = 1.0
    public var weightGrams = Span(100, 8_000)
    public var priceMinor = Span(499, 19_999)
    public var currency = "USD"
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case skus, zipfExponent, weightGrams, priceMinor, currency }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "catalogue")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&skus, .skus)
        try c.fill(&zipfExponent, .zipfExponent)
        try c.fill(&weightGrams, .weightGrams)
        try c.fill(&priceMinor, .priceMinor)
        try c.fill(&currency, .currency)
    }
}

public struct RateBandConfig: Codable, Sendable {
    public var maxDistanceKm: Double
    public var maxWeightGrams: Int32
    public var costMinor: Int64
    public var transitDays: Int32
}

public struct CarrierServiceConfig: Codable, Sendable {
    public var service: String
    /// "standard", "expedited" or "next_day".
    public var serviceLevel: String
    public var dailyCapacityPerLocation: Int32 = 0
    public var rates: [RateBandConfig]
    enum CodingKeys: String, CodingKey, CaseIterable { case service, serviceLevel, dailyCapacityPerLocation, rates }
    public init(service: String, serviceLevel: String, rates: [RateBandConfig]) {
        self.service = service
        self.serviceLevel = serviceLevel
        self.rates = rates
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "carrier service")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        service = try c.decode(String.self, forKey: .service)
        serviceLevel = try c.decode(String.self, forKey: .serviceLevel)
        rates = try c.decode([RateBandConfig].self, forKey: .rates)
        try c.fill(&dailyCapacityPerLocation, .dailyCapacityPerLocation)
    }
}

public struct CarrierConfig: Codable, Sendable {
    public var carrierID: String
    public var services: [CarrierServiceConfig]
    enum CodingKeys: String, CodingKey { case carrierID = "carrierId", services }

    /// A national parcel carrier with zone-priced ground, two-day and overnight services.
    public static let defaults: [CarrierConfig] = {
        func bands(_ zones: [(Double, Int64, Int32)]) -> [RateBandConfig] {
            zones.flatMap { zone in
                [RateBandConfig(maxDistanceKm: zone.0, maxWeightGrams: 5_000, costMinor: zone.1, transitDays: zone.2),
                 RateBandConfig(maxDistanceKm: zone.0, maxWeightGrams: 30_000, costMinor: zone.1 * 2, transitDays: zone.2)]
            }
        }
        return [CarrierConfig(carrierID: "parcelco", services: [
            CarrierServiceConfig(service: "ground", serviceLevel: "standard",
                                 rates: bands([(300, 650, 1), (1_000, 850, 2), (2_500, 1_100, 4), (6_000, 1_400, 5)])),
            CarrierServiceConfig(service: "2day", serviceLevel: "expedited",
                                 rates: bands([(1_000, 1_500, 1), (6_000, 2_400, 2)])),
            CarrierServiceConfig(service: "overnight", serviceLevel: "next_day",
                                 rates: bands([(1_000, 3_000, 1), (6_000, 4_500, 1)])),
        ])]
    }()
}

public struct NetworkConfig: Codable, Sendable {
    public var warehouses = 4
    public var stores = 40
    /// Fulfillments per processing day; 0 = unlimited.
    public var warehouseDailyCapacity: Int32 = 0
    public var storeDailyCapacity: Int32 = 150
    public var shipFromStore = true
    public var warehouseProcessingCostMinor: Int64 = 150
    public var storeProcessingCostMinor: Int64 = 400
    /// Orders after this minute (UTC) count against the next processing day: 20:00 UTC, 3 pm Eastern.
    public var cutoffMinuteUtc: Int32 = 1_200
    public var carriers = CarrierConfig.defaults
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case warehouses, stores, warehouseDailyCapacity, storeDailyCapacity, shipFromStore
        case warehouseProcessingCostMinor, storeProcessingCostMinor, cutoffMinuteUtc, carriers
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "network")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&warehouses, .warehouses)
        try c.fill(&stores, .stores)
        try c.fill(&warehouseDailyCapacity, .warehouseDailyCapacity)
        try c.fill(&storeDailyCapacity, .storeDailyCapacity)
        try c.fill(&shipFromStore, .shipFromStore)
        try c.fill(&warehouseProcessingCostMinor, .warehouseProcessingCostMinor)
        try c.fill(&storeProcessingCostMinor, .storeProcessingCostMinor)
        try c.fill(&cutoffMinuteUtc, .cutoffMinuteUtc)
        try c.fill(&carriers, .carriers)
    }
}

public struct InventoryConfig: Codable, Sendable {
    /// Initial stock per SKU, in days of its expected demand (from the channels' rates, baskets and
    /// the SKU's popularity), spread over the warehouses.
    public var warehouseDaysOfCover = 2.0
    /// Each store's stock of the SKUs it carries, in days of its own pickup demand (its share of the
    /// pickup channels' units: the population of the places it is the nearest store to).
    public var storeDaysOfCover = 2.0
    /// Units per SKU at a warehouse and at a store: the demand-based figure is clamped to these.
    public var warehouseUnits = Span(5, 100_000)
    public var storeUnits = Span(1, 10_000)
    /// Share of the catalogue (most popular first) each store carries.
    public var storeAssortment = 0.25
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case warehouseDaysOfCover, storeDaysOfCover, warehouseUnits, storeUnits, storeAssortment
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "inventory")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&warehouseDaysOfCover, .warehouseDaysOfCover)
        try c.fill(&storeDaysOfCover, .storeDaysOfCover)
        try c.fill(&warehouseUnits, .warehouseUnits)
        try c.fill(&storeUnits, .storeUnits)
        try c.fill(&storeAssortment, .storeAssortment)
    }
}

public struct BasketConfig: Codable, Sendable {
    /// Lines per order: 1 + Poisson(mean_lines − 1), at most max_lines.
    public var meanLines = 1.8
    public var maxLines = 12
    /// Units per line: geometric with this mean.
    public var meanQuantity = 1.2
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case meanLines, maxLines, meanQuantity }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "basket")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&meanLines, .meanLines)
        try c.fill(&maxLines, .maxLines)
        try c.fill(&meanQuantity, .meanQuantity)
    }
}

public struct ChannelConfig: Codable, Sendable {
    /// web, mobile_app, marketplace, store_pos, call_centre, click_and_collect.
    public var channel: String
    /// Average arrivals per hour over a day (before peaks and bursts).
    public var ordersPerHour: Double
    /// 24 relative weights, hour of day (UTC); normalised to mean 1. Empty = the channel's default.
    public var diurnal: [Double] = []
    /// Flash sales: windows multiplying this channel's rate.
    public var bursts: [Window] = []
    public var basket = BasketConfig()
    /// Share of orders picked up in a store (click_and_collect and store_pos are always pickup).
    public var pickupShare = 0.0
    /// Weights of standard / expedited / next-day shipping.
    public var serviceLevels: [Double] = [0.8, 0.15, 0.05]
    /// Share of orders preceded by an availability check (product page).
    public var availabilityCheckRate = 0.3
    enum CodingKeys: String, CodingKey, CaseIterable {
        case channel, ordersPerHour, diurnal, bursts, basket, pickupShare, serviceLevels, availabilityCheckRate
    }
    public init(channel: String, ordersPerHour: Double) {
        self.channel = channel
        self.ordersPerHour = ordersPerHour
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "channel")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        channel = try c.decode(String.self, forKey: .channel)
        ordersPerHour = try c.decode(Double.self, forKey: .ordersPerHour)
        try c.fill(&diurnal, .diurnal)
        try c.fill(&bursts, .bursts)
        try c.fill(&basket, .basket)
        try c.fill(&pickupShare, .pickupShare)
        try c.fill(&serviceLevels, .serviceLevels)
        try c.fill(&availabilityCheckRate, .availabilityCheckRate)
    }
}

public struct LifecycleConfig: Codable, Sendable {
    public var paymentHoldRate = 0.05
    public var paymentHoldMinutes = 20.0
    /// Share of payment holds that end in a decline (the order is cancelled).
    public var paymentDeclineRate = 0.15
    public var customerCancelRate = 0.02
    public var cancelAfterMinutes = 90.0
    /// Share of shipped orders the customer edits (EditOrder: another address, or one unit more or
    /// less of a line), a mean of `editAfterMinutes` after capture.
    public var customerEditRate = 0.0
    public var editAfterMinutes = 5.0
    public var releaseDelayMinutes = 10.0
    public var pickMinutes = 90.0
    public var packMinutes = 20.0
    public var shipMinutes = 120.0
    /// Share of store fulfillments the store rejects at pick time.
    public var storeRejectionRate = 0.03
    /// Of rejections: the units were missing (written off).
    public var stockMissingShare = 0.3
    public var lateDeliveryRate = 0.07
    public var pickupCollectHours = 20.0
    /// Share of delivered fulfillments returned.
    public var returnRate = 0.05
    public var returnAfterDays = 4.0
    public var returnTransitDays = 3.0
    public var restockShare = 0.8
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case paymentHoldRate, paymentHoldMinutes, paymentDeclineRate, customerCancelRate, cancelAfterMinutes
        case customerEditRate, editAfterMinutes
        case releaseDelayMinutes, pickMinutes, packMinutes, shipMinutes, storeRejectionRate, stockMissingShare
        case lateDeliveryRate, pickupCollectHours, returnRate, returnAfterDays, returnTransitDays, restockShare
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "lifecycle")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&paymentHoldRate, .paymentHoldRate)
        try c.fill(&paymentHoldMinutes, .paymentHoldMinutes)
        try c.fill(&paymentDeclineRate, .paymentDeclineRate)
        try c.fill(&customerCancelRate, .customerCancelRate)
        try c.fill(&cancelAfterMinutes, .cancelAfterMinutes)
        try c.fill(&customerEditRate, .customerEditRate)
        try c.fill(&editAfterMinutes, .editAfterMinutes)
        try c.fill(&releaseDelayMinutes, .releaseDelayMinutes)
        try c.fill(&pickMinutes, .pickMinutes)
        try c.fill(&packMinutes, .packMinutes)
        try c.fill(&shipMinutes, .shipMinutes)
        try c.fill(&storeRejectionRate, .storeRejectionRate)
        try c.fill(&stockMissingShare, .stockMissingShare)
        try c.fill(&lateDeliveryRate, .lateDeliveryRate)
        try c.fill(&pickupCollectHours, .pickupCollectHours)
        try c.fill(&returnRate, .returnRate)
        try c.fill(&returnAfterDays, .returnAfterDays)
        try c.fill(&returnTransitDays, .returnTransitDays)
        try c.fill(&restockShare, .restockShare)
    }
}

/// Shoppers' checkouts (Model+Checkout.swift): options asked before ordering, carts that hold
/// stock, abandonment. Off unless a scenario sets `options_rate` or `cart_rate`.
public struct CheckoutConfig: Codable, Sendable {
    /// The channels whose shoppers check out on a site or an app.
    public var channels = ["web", "mobile_app", "click_and_collect"]
    /// Share of those channels' orders whose shopper first asks GetFulfillmentOptions.
    public var optionsRate = 0.0
    /// Share of the shoppers who asked for options that then reserve a cart (ReserveCart) for the
    /// option they chose; their order names the cart (Order.cart_id) and converts it.
    public var cartRate = 0.0
    /// The cart's hold (ReserveCart.ttl_seconds, and again for ExtendCart).
    public var cartTtlSeconds = 900
    /// Share of cart holders who never buy: the cart is released (`release_rate`) or expires.
    public var abandonmentRate = 0.0
    /// Share of abandoning shoppers whose site releases the cart (ReleaseCart) instead of letting it expire.
    public var releaseRate = 0.2
    /// Mean think time, options or reservation to the capture (or the release), exponential, at most 4 × the mean.
    public var thinkMinutes = 3.0
    /// Share of shoppers who think longer than 80% of the hold that extend their cart (ExtendCart) at 80%.
    public var extendRate = 0.5
    /// Pickup options at this many stores nearest to the ship-to (GetFulfillmentOptions.nearby_pickup_stores).
    public var nearbyPickupStores = 2
    /// The check carts_released_by_deadline tolerates this much delay past a cart's deadline, in
    /// milliseconds of Waybill's clock, in-process (where the sweep runs 250 ms after each deadline).
    public var expiryToleranceMs: Int64 = 1_000
    /// Live: the tolerance in wall milliseconds (× the time scale against an embedded server on the
    /// compressed clock): the server's sweep every 250 ms, the writer's queue, and what a loaded
    /// 2-core machine stalls at high time scales (up to ~2 s seen at 900× with a build beside it).
    public var liveExpiryToleranceMs: Int64 = 5_000
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case channels, optionsRate, cartRate, cartTtlSeconds, abandonmentRate, releaseRate, thinkMinutes, extendRate, nearbyPickupStores
        case expiryToleranceMs, liveExpiryToleranceMs
    }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "checkout")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&channels, .channels)
        try c.fill(&optionsRate, .optionsRate)
        try c.fill(&cartRate, .cartRate)
        try c.fill(&cartTtlSeconds, .cartTtlSeconds)
        try c.fill(&abandonmentRate, .abandonmentRate)
        try c.fill(&releaseRate, .releaseRate)
        try c.fill(&thinkMinutes, .thinkMinutes)
        try c.fill(&extendRate, .extendRate)
        try c.fill(&nearbyPickupStores, .nearbyPickupStores)
        try c.fill(&expiryToleranceMs, .expiryToleranceMs)
        try c.fill(&liveExpiryToleranceMs, .liveExpiryToleranceMs)
    }
    /// Whether any shopper checks out.
    public var enabled: Bool { optionsRate > 0 }

    func validate() throws {
        for (name, value) in [("options_rate", optionsRate), ("cart_rate", cartRate), ("abandonment_rate", abandonmentRate),
                              ("release_rate", releaseRate), ("extend_rate", extendRate)] where !(0...1).contains(value) {
            throw ScenarioError("checkout.\(name) must be in [0, 1], not \(value)")
        }
        if !(1...86_400).contains(cartTtlSeconds) { throw ScenarioError("checkout.cart_ttl_seconds must be in [1, 86400], not \(cartTtlSeconds)") }
        if thinkMinutes < 0 { throw ScenarioError("checkout.think_minutes must not be negative") }
        if nearbyPickupStores < 0 { throw ScenarioError("checkout.nearby_pickup_stores must not be negative") }
        if expiryToleranceMs < 0 || liveExpiryToleranceMs < 0 { throw ScenarioError("checkout.expiry_tolerance_ms and live_expiry_tolerance_ms must not be negative") }
        for channel in channels where SimChannel.parse(channel) == nil { throw ScenarioError("checkout.channels: unknown channel \"\(channel)\"") }
    }
}

public struct ReplenishmentConfig: Codable, Sendable {
    public var reviewIntervalHours = 4.0
    /// Reorder when the ERP's on hand (less open reservations it knows of) falls to this share of the initial stock.
    public var reorderPointShare = 0.3
    public var leadTimeHours = 8.0
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case reviewIntervalHours, reorderPointShare, leadTimeHours }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "replenishment")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&reviewIntervalHours, .reviewIntervalHours)
        try c.fill(&reorderPointShare, .reorderPointShare)
        try c.fill(&leadTimeHours, .leadTimeHours)
    }
}

public struct ErpConfig: Codable, Sendable {
    /// How often the ERP reads the change feed.
    public var pollIntervalMs: Int64 = 1_000
    public var ackDelayMs = 1_500.0
    public var invoiceDelayMs = 3_000.0
    /// Complete stock snapshots per location; 0 = none.
    public var snapshotIntervalHours = 12.0
    /// ERP messages in flight at once (live driver).
    public var windowMessages = 64
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case pollIntervalMs, ackDelayMs, invoiceDelayMs, snapshotIntervalHours, windowMessages }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "erp")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&pollIntervalMs, .pollIntervalMs)
        try c.fill(&ackDelayMs, .ackDelayMs)
        try c.fill(&invoiceDelayMs, .invoiceDelayMs)
        try c.fill(&snapshotIntervalHours, .snapshotIntervalHours)
        try c.fill(&windowMessages, .windowMessages)
    }
}

public struct FaultConfig: Codable, Sendable {
    /// "erp" (the ERP stops reading the feed and sending), "network" (calls time out more often) or
    /// "server" (live only: the server, then a child process, is killed or paused; LiveFaults.swift).
    public var target: String
    /// "down" or "slow" (erp, network); "kill9" or "pause" (server).
    public var mode: String = "down"
    public var startHour: Double
    /// erp and network faults: the window, in simulated minutes.
    public var durationMinutes: Double = 0
    /// For "slow": extra delay per ERP message.
    public var extraDelayMs = 5_000.0
    /// For "network": probability a call times out.
    public var timeoutRate = 0.2
    /// Server faults: wall-clock seconds the server stays dead (kill9, then restarted on the same
    /// database) or stopped (pause: SIGSTOP, then SIGCONT). Wall time, as a real outage is.
    public var downSeconds = 2.0
    enum CodingKeys: String, CodingKey, CaseIterable { case target, mode, startHour, durationMinutes, extraDelayMs, timeoutRate, downSeconds }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "fault")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        target = try c.decode(String.self, forKey: .target)
        startHour = try c.decode(Double.self, forKey: .startHour)
        try c.fill(&mode, .mode)
        try c.fill(&extraDelayMs, .extraDelayMs)
        try c.fill(&timeoutRate, .timeoutRate)
        switch target {
        case "erp", "network":
            durationMinutes = try c.decode(Double.self, forKey: .durationMinutes)
            guard mode == "down" || mode == "slow" else { throw ScenarioError("\(target) fault mode must be \"down\" or \"slow\", not \"\(mode)\"") }
        case "server":
            guard c.contains(.mode) else { throw ScenarioError("a server fault needs a mode: \"kill9\" or \"pause\"") }
            guard mode == "kill9" || mode == "pause" else { throw ScenarioError("server fault mode must be \"kill9\" or \"pause\", not \"\(mode)\"") }
            guard !c.contains(.durationMinutes) else {
                throw ScenarioError("a server fault lasts down_seconds (wall-clock seconds), not duration_minutes")
            }
            try c.fill(&downSeconds, .downSeconds)
            guard downSeconds > 0, downSeconds <= Self.serverDownSecondsMax else {
                throw ScenarioError("server fault down_seconds must be in (0, \(Int(Self.serverDownSecondsMax))], not \(downSeconds)")
            }
        default:
            throw ScenarioError("fault target must be \"erp\", \"network\" or \"server\", not \"\(target)\"")
        }
    }
    /// The longest server outage a scenario may ask for: the live driver resends unanswered calls
    /// for `LiveFaultLimits.unansweredResendWindowMilliseconds`, which must outlast it.
    public static let serverDownSecondsMax = 30.0
    var startMilliseconds: Int64 { Int64(startHour * 3_600_000) }
    var endMilliseconds: Int64 { startMilliseconds + Int64(durationMinutes * 60_000) }
    /// Kills or pauses the server process (live driver only).
    public var isServerFault: Bool { target == "server" }
}

public struct ClientConfig: Codable, Sendable {
    public var timeoutMs: Int64 = 2_000
    public var maxRetries = 3
    public var retryBackoffMs: Int64 = 250
    /// In-process: probability that a call's answer is lost (the client times out and retries).
    public var timeoutRate = 0.002
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case timeoutMs, maxRetries, retryBackoffMs, timeoutRate }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "clients")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&timeoutMs, .timeoutMs)
        try c.fill(&maxRetries, .maxRetries)
        try c.fill(&retryBackoffMs, .retryBackoffMs)
        try c.fill(&timeoutRate, .timeoutRate)
    }
}

public struct LiveConfig: Codable, Sendable {
    public var connections = 8
    /// Virtual seconds per wall second (overridden by --time-scale).
    public var timeScale = 60.0
    /// Settings of the embedded server (feed retention, pruning; see LiveServerConfig).
    public var server = LiveServerConfig()
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case connections, timeScale, server }
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "live")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&connections, .connections)
        try c.fill(&timeScale, .timeScale)
        try c.fill(&server, .server)
    }
}

public struct Scenario: Codable, Sendable {
    public var name = "unnamed"
    public var description = ""
    public var seed: UInt64 = 1
    /// ISO 8601 UTC start of the simulated period.
    public var start = "2025-11-28T00:00:00Z"
    /// Arrivals stop after this many hours.
    public var durationHours = 24.0
    /// The order lifecycle keeps running this long after arrivals stop.
    public var drainHours = 4.0
    public var geography = GeographyConfig()
    public var catalogue = CatalogueConfig()
    public var network = NetworkConfig()
    public var inventory = InventoryConfig()
    public var channels: [ChannelConfig] = []
    /// Peak windows multiplying every channel's rate.
    public var peaks: [Window] = []
    public var lifecycle = LifecycleConfig()
    public var checkout = CheckoutConfig()
    public var replenishment = ReplenishmentConfig()
    public var erp = ErpConfig()
    public var faults: [FaultConfig] = []
    public var clients = ClientConfig()
    public var live = LiveConfig()
    /// Routing policy (protobuf JSON of waybill.v1.RoutingPolicy), relative to the scenario file; "" = server default.
    public var policyFile = ""
    /// A pre-order campaign for a scarce item and its expected receipt (ProductDropConfig.swift); nil = none.
    public var productDrop: ProductDropConfig?
    /// Where the scenario came from (set on load; resolves relative paths).
    public var directory = "."

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, seed, start, durationHours, drainHours, geography, catalogue, network, inventory
        case channels, peaks, lifecycle, checkout, replenishment, erp, faults, clients, live, policyFile, productDrop
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "scenario")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&name, .name)
        try c.fill(&description, .description)
        try c.fill(&seed, .seed)
        try c.fill(&start, .start)
        try c.fill(&durationHours, .durationHours)
        try c.fill(&drainHours, .drainHours)
        try c.fill(&geography, .geography)
        try c.fill(&catalogue, .catalogue)
        try c.fill(&network, .network)
        try c.fill(&inventory, .inventory)
        try c.fill(&channels, .channels)
        try c.fill(&peaks, .peaks)
        try c.fill(&lifecycle, .lifecycle)
        try c.fill(&checkout, .checkout)
        try c.fill(&replenishment, .replenishment)
        try c.fill(&erp, .erp)
        try c.fill(&faults, .faults)
        try c.fill(&clients, .clients)
        try c.fill(&live, .live)
        try c.fill(&policyFile, .policyFile)
        productDrop = try c.decodeIfPresent(ProductDropConfig.self, forKey: .productDrop)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(seed, forKey: .seed)
        try c.encode(start, forKey: .start)
        try c.encode(durationHours, forKey: .durationHours)
    }

    /// Loads a scenario file; `name` defaults to the file name.
    public static func load(path: String) throws -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else { throw ScenarioError("cannot read scenario \(path)") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var scenario: Scenario
        do {
            scenario = try decoder.decode(Scenario.self, from: data)
        } catch let error as ScenarioError {
            throw ScenarioError("\(path): \(error.description)")
        } catch {
            throw ScenarioError("\(path) is not a valid scenario: \(error)")
        }
        let url = URL(fileURLWithPath: path)
        if scenario.name == "unnamed" { scenario.name = url.deletingPathExtension().lastPathComponent }
        scenario.directory = url.deletingLastPathComponent().path
        try scenario.validate()
        return scenario
    }

    public func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : URL(fileURLWithPath: directory).appendingPathComponent(relative).standardized.path
    }

    public var startMilliseconds: Int64 {
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: start) else { return 0 }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
    public var durationMilliseconds: Int64 { Int64(durationHours * 3_600_000) }
    public var drainMilliseconds: Int64 { Int64(drainHours * 3_600_000) }

    /// The longest simulated span any time in a scenario may name (a duration, a window's start, a
    /// delay): a leap year. Past it a run would not end in useful time, and the hours turned into
    /// milliseconds could leave Int64 (a trap: the scenario fuzz target found `duration_hours`
    /// 18446744073709551615).
    public static let timeSpanHoursMax = 8_784.0

    public func validate() throws {
        if ISO8601DateFormatter().date(from: start) == nil { throw ScenarioError("start \"\(start)\" is not ISO 8601 (2025-11-28T00:00:00Z)") }
        if !(durationHours > 0) { throw ScenarioError("duration_hours must be positive") }
        try validateTimeSpans()
        if channels.isEmpty { throw ScenarioError("a scenario needs at least one channel") }
        for channel in channels {
            guard SimChannel.parse(channel.channel) != nil else {
                throw ScenarioError("unknown channel \"\(channel.channel)\" (web, mobile_app, marketplace, store_pos, call_centre, click_and_collect)")
            }
            if channel.ordersPerHour < 0 { throw ScenarioError("\(channel.channel): orders_per_hour must not be negative") }
            if !channel.diurnal.isEmpty && channel.diurnal.count != 24 { throw ScenarioError("\(channel.channel): diurnal needs 24 values") }
            if channel.serviceLevels.count != 3 { throw ScenarioError("\(channel.channel): service_levels needs 3 weights") }
        }
        if catalogue.skus < 1 { throw ScenarioError("catalogue.skus must be at least 1") }
        if network.warehouses < 1 { throw ScenarioError("network.warehouses must be at least 1") }
        if network.stores < 0 { throw ScenarioError("network.stores must not be negative") }
        if clients.maxRetries < 0 { throw ScenarioError("clients.max_retries must not be negative") }
        try checkout.validate()
        try productDrop?.validate(self)
    }
}

/// Channel names as scenarios spell them.
enum SimChannel {
    static func parse(_ name: String) -> Channel? {
        Channel.allCases.first { $0.name == name }
    }
}
