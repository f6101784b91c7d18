// What the router is asked: an order's lines, its destination and how it is to be fulfilled.

public struct RoutingLine: Hashable, Sendable {
    public var lineID: String
    public var sku: SKU
    public var quantity: Int32
    public init(lineID: String, sku: SKU, quantity: Int32) {
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
    }
}

public struct RoutingRequest: Sendable {
    public var lines: [RoutingLine]
    public var channel: Channel
    public var shipTo: Coordinates?
    public var shipToRegion: String
    /// City and country of the ship-to: where distances are measured from when `shipTo` is nil
    /// (the city's centroid, from the router's gazetteer).
    public var shipToCity: String
    public var shipToCountry: String
    public var method: FulfillmentMethod
    public var pickupLocationID: LocationID?
    public var serviceLevel: ServiceLevel
    public var excludedLocationIDs: [LocationID]
    public var now: Timestamp
    public var currency: String
    public var trigger: String

    public init(lines: [RoutingLine], channel: Channel, shipTo: Coordinates?, shipToRegion: String = "",
                shipToCity: String = "", shipToCountry: String = "", method: FulfillmentMethod = .ship, pickupLocationID: LocationID? = nil, serviceLevel: ServiceLevel = .standard,
                excludedLocationIDs: [LocationID] = [], now: Timestamp, currency: String = "USD", trigger: String = "capture") {
        self.lines = lines
        self.channel = channel
        self.shipTo = shipTo
        self.shipToRegion = shipToRegion
        self.shipToCity = shipToCity
        self.shipToCountry = shipToCountry
        self.method = method
        self.pickupLocationID = pickupLocationID
        self.serviceLevel = serviceLevel
        self.excludedLocationIDs = excludedLocationIDs
        self.now = now
        self.currency = currency
        self.trigger = trigger
    }
}
