// The scenario's `product_drop` section: a pre-order campaign for one scarce item with a capped
// limited release, the ERP's expected receipt for it (announced, then arriving mid-run, possibly
// short), and the campaign's shoppers. Absent = no campaign. See simulator/README.md.

import WaybillCore

public struct ProductDropConfig: Codable, Sendable, Equatable {
    /// The drop's SKU: a new item of the item master (pre-orders allowed), outside the catalogue's
    /// popularity (ordinary baskets never draw it) and with no opening stock.
    public var sku = "DROP-1"
    public var priceMinor: Int64 = 24_999
    public var weightGrams: Int32 = 1_200
    /// Item.preorder_cap: pre-ordered units waiting at once, at most (0 = as many as the receipt covers).
    public var preorderCap: Int64 = 100
    /// The ERP's expected receipt: units, at which warehouse (index into DC-01, DC-02, ...), when.
    public var receiptUnits: Int64 = 150
    public var warehouse = 0
    /// Hours from the start: the ERP announces the receipt (OPEN), expects it, and it really arrives (RECEIVED).
    public var announceHour = 0.0
    public var expectedArrivalHour = 6.0
    public var arrivalHour = 5.0
    /// Share of `receipt_units` that arrives (0.9 = a short delivery).
    public var arrivalShare = 1.0
    /// The campaign: shoppers of the drop per hour on `channels`, from `campaign_start_hour` for
    /// `campaign_hours` (within the arrival period), each ordering 1 to `max_units` units.
    public var ordersPerHour = 60.0
    public var campaignStartHour = 0.0
    /// 0 = until arrivals end.
    public var campaignHours = 0.0
    public var channels = ["web", "mobile_app"]
    public var maxUnits = 2

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sku, priceMinor, weightGrams, preorderCap, receiptUnits, warehouse, announceHour, expectedArrivalHour, arrivalHour
        case arrivalShare, ordersPerHour, campaignStartHour, campaignHours, channels, maxUnits
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.stringValue), "product_drop")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.fill(&sku, .sku)
        try c.fill(&priceMinor, .priceMinor)
        try c.fill(&weightGrams, .weightGrams)
        try c.fill(&preorderCap, .preorderCap)
        try c.fill(&receiptUnits, .receiptUnits)
        try c.fill(&warehouse, .warehouse)
        try c.fill(&announceHour, .announceHour)
        try c.fill(&expectedArrivalHour, .expectedArrivalHour)
        try c.fill(&arrivalHour, .arrivalHour)
        try c.fill(&arrivalShare, .arrivalShare)
        try c.fill(&ordersPerHour, .ordersPerHour)
        try c.fill(&campaignStartHour, .campaignStartHour)
        try c.fill(&campaignHours, .campaignHours)
        try c.fill(&channels, .channels)
        try c.fill(&maxUnits, .maxUnits)
    }

    /// Units the ERP books and reports RECEIVED at `arrival_hour`.
    public var arrivingUnits: Int64 { Swift.max(1, Int64((Double(receiptUnits) * arrivalShare).rounded())) }

    var announceMilliseconds: Int64 { Int64(announceHour * 3_600_000) }
    var expectedArrivalMilliseconds: Int64 { Int64(expectedArrivalHour * 3_600_000) }
    var arrivalMilliseconds: Int64 { Int64(arrivalHour * 3_600_000) }
    var campaignStartMilliseconds: Int64 { Int64(campaignStartHour * 3_600_000) }

    func validate(_ scenario: Scenario) throws {
        func fail(_ message: String) -> ScenarioError { ScenarioError("product_drop: \(message)") }
        if sku.isEmpty { throw fail("sku must not be empty") }
        if sku.hasPrefix("SKU-") { throw fail("sku \"\(sku)\" would collide with the catalogue's SKU-… items") }
        if priceMinor < 0 || weightGrams < 0 { throw fail("price_minor and weight_grams must not be negative") }
        if preorderCap < 0 { throw fail("preorder_cap must not be negative") }
        if receiptUnits < 1 || receiptUnits > 1_000_000 { throw fail("receipt_units must be between 1 and 1000000") }
        if warehouse < 0 || warehouse >= scenario.network.warehouses {
            throw fail("warehouse \(warehouse) is not one of the \(scenario.network.warehouses) warehouses (0-based)")
        }
        // Hours become milliseconds (Int64): finite and within a century.
        for (name, hours) in [("announce_hour", announceHour), ("expected_arrival_hour", expectedArrivalHour), ("arrival_hour", arrivalHour),
                              ("campaign_start_hour", campaignStartHour), ("campaign_hours", campaignHours), ("orders_per_hour", ordersPerHour)]
            where !(hours.isFinite && abs(hours) <= 1_000_000) {
            throw fail("\(name) must be a finite number of at most 1000000")
        }
        if announceHour < 0 { throw fail("announce_hour must not be negative") }
        if !(expectedArrivalHour > announceHour) { throw fail("expected_arrival_hour must be after announce_hour") }
        if !(arrivalHour > announceHour) { throw fail("arrival_hour must be after announce_hour") }
        if arrivalHour >= scenario.durationHours + scenario.drainHours { throw fail("arrival_hour must fall within the run (duration + drain)") }
        if !(arrivalShare > 0) || arrivalShare > 10 { throw fail("arrival_share must be in (0, 10]") }
        if ordersPerHour < 0 { throw fail("orders_per_hour must not be negative") }
        if campaignStartHour < 0 || campaignHours < 0 { throw fail("campaign_start_hour and campaign_hours must not be negative") }
        if maxUnits < 1 || maxUnits > 10 { throw fail("max_units must be between 1 and 10") }
        if channels.isEmpty { throw fail("channels must name at least one channel") }
        let scenarioChannels = Set(scenario.channels.map(\.channel))
        for channel in channels {
            guard let parsed = SimChannel.parse(channel), parsed != .storePOS, parsed != .clickAndCollect else {
                throw fail("channel \"\(channel)\" is not a shipping channel (web, mobile_app, marketplace, call_centre)")
            }
            // Each channel's front end calls with its own credential (live): it must be one of the scenario's.
            if !scenarioChannels.contains(channel) { throw fail("channel \"\(channel)\" is not among the scenario's channels") }
        }
    }
}
