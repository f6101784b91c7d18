// The network model: locations, carriers, items and the routing policy. Locations, carriers and the
// policy need only `NetworkStorage`; an item may lift item holds, which writes orders and events.

extension Engine {
    public mutating func upsert(location: Location, context: CommandContext, storage: some NetworkStorage) throws {
        if let error = Validation.checkIdentifier(location.locationID.rawValue, field: "location_id", limits: limits) { throw error }
        if let coordinates = location.coordinates, let error = Validation.checkCoordinates(coordinates, field: "coordinates") { throw error }
        if location.dailyOrderCapacity < 0 { throw DomainError.invalid("daily_order_capacity", "must not be negative") }
        if location.cutoffMinuteUTC < 0 || location.cutoffMinuteUTC >= 1440 {
            throw DomainError.invalid("cutoff_minute_utc", "must be a minute of the day (0..<1440)")
        }
        let known = state.network.locations[location.locationID] != nil
        state.network.upsert(location)
        // A new location shifts the sites after it: re-point the inventory's routing hints.
        if !known { state.inventory.follow(state.network) }
        try storage.saveLocation(location)
    }

    public mutating func upsert(carrier: Carrier, context: CommandContext, storage: some NetworkStorage) throws {
        if let error = Validation.checkIdentifier(carrier.carrierID, field: "carrier_id", limits: limits) { throw error }
        for (serviceIndex, service) in carrier.services.enumerated() {
            if let error = Validation.checkIdentifier(service.service, field: "services[\(serviceIndex)].service", limits: limits) { throw error }
            if service.service.contains("/") { throw DomainError.invalid("services[\(serviceIndex)].service", "must not contain /") }
            for (rateIndex, band) in service.rates.enumerated() where band.cost.minorUnits < 0 || band.transitDays < 0 {
                throw DomainError.invalid("services[\(serviceIndex)].rates[\(rateIndex)]", "cost and transit days must not be negative")
            }
        }
        state.network.upsert(carrier)
        try storage.saveCarrier(carrier)
    }

    public mutating func upsert(item: Item, context: CommandContext, storage: some EngineStorage) throws {
        if let error = Validation.checkSKU(item.sku.rawValue, field: "sku", limits: limits) { throw error }
        if item.weightGrams < 0 { throw DomainError.invalid("weight_grams", "must not be negative") }
        if let error = Validation.checkText(item.description, field: "description", limits: limits) { throw error }
        state.network.upsert(item)
        let version = state.network.itemVersions[item.sku] ?? 1
        try storage.saveItem(item)
        try storage.appendEvents([DomainEvent(type: "item.upserted", aggregate: .item(item), aggregateSequence: version,
                                              occurredAt: context.now, clientID: context.clientID, detail: "")])
        // Orders captured while the item master lacked this SKU are routed now, in this command.
        try liftItemHolds(after: item.sku, context: context, storage: storage)
    }

    public mutating func setPolicy(_ policy: RoutingPolicy, context: CommandContext, storage: some NetworkStorage) throws -> RoutingPolicy {
        if policy.maxShipments < 0 || policy.maxShipments > 16 {
            throw DomainError.invalid("max_shipments", "must be between 1 and 16 (0 = default 3)")
        }
        if policy.scoring.contains(where: { !$0.1.isFinite || $0.1 < 0 }) {
            throw DomainError.invalid("scoring", "weights must be finite and not negative")
        }
        if let error = Validation.checkIdentifier(policy.name, field: "name", limits: limits, required: false) { throw error }
        // A region filter that matches no location backorders every order: refuse it when written.
        let regionsInNetwork = Set(state.network.locations.values.map(\.region))
        for (index, filter) in policy.filters.enumerated() {
            if case .region(let regions, _) = filter, !regions.isEmpty, !regions.contains(where: regionsInNetwork.contains) {
                throw DomainError.regionMatchesNoLocation(regions, field: "filters[\(index)].regions",
                                                          known: regionsInNetwork.filter { !$0.isEmpty }.sorted())
            }
        }
        var next = policy
        if next.maxShipments == 0 { next.maxShipments = 3 }
        // The policy in force sent again (a retried LoadNetwork or SetRoutingPolicy) is not a new
        // version: a retry changes nothing, and plans routed ahead against it stay valid.
        var unchanged = next
        unchanged.version = state.policy.version
        unchanged.setAt = state.policy.setAt
        if state.policy.version > 0 && unchanged == state.policy { return state.policy }
        next.version = state.policy.version + 1
        next.setAt = context.now
        state.policy = next
        try storage.savePolicy(next)
        return next
    }
}
