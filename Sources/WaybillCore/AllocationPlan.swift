// What the router answers: the shipments planned, the units left unallocated and the decision.

public struct PlannedShipment: Hashable, Sendable {
    public var locationID: LocationID
    public var lines: [FulfillmentLine]
    public var carrierID: String
    public var carrierService: String
    /// "carrier/service" capacity resource, "" when unrated.
    public var carrierResource: String
    public var shippingCost: Money
    public var processingCost: Money
    public var transitDays: Int32
    public var processingDay: Int64
    public var score: Double

    public init(locationID: LocationID, lines: [FulfillmentLine], carrierID: String, carrierService: String, carrierResource: String,
                shippingCost: Money, processingCost: Money, transitDays: Int32, processingDay: Int64, score: Double) {
        self.locationID = locationID
        self.lines = lines
        self.carrierID = carrierID
        self.carrierService = carrierService
        self.carrierResource = carrierResource
        self.shippingCost = shippingCost
        self.processingCost = processingCost
        self.transitDays = transitDays
        self.processingDay = processingDay
        self.score = score
    }

    /// What the fulfillment made from it estimates: shipping plus the location's processing.
    public var costEstimate: Money {
        Money(minorUnits: shippingCost.minorUnits + processingCost.minorUnits, currency: shippingCost.currency)
    }

    /// The day promised to the customer (its start, UTC): processing day plus transit days.
    public var promisedDeliveryAt: Timestamp { Timestamp.startOfDay(processingDay + Int64(transitDays)) }
}

public struct AllocationPlan: Sendable {
    public var shipments: [PlannedShipment]
    /// Units no location can supply now, per line id (in line order).
    public var unallocated: [(lineID: String, quantity: Int32)]
    public var decision: RoutingDecision

    public init(shipments: [PlannedShipment], unallocated: [(lineID: String, quantity: Int32)], decision: RoutingDecision) {
        self.shipments = shipments
        self.unallocated = unallocated
        self.decision = decision
    }

    public var unallocatedUnits: Int32 { unallocated.reduce(0) { $0 + $1.quantity } }
}
