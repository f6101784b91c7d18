// Errors for references that do not resolve (a location, carrier, item or region the network does
// not know, a ship-to nobody can locate), checked when the reference is written. Each names the
// field and the unknown value, and what to send instead.

extension DomainError {
    /// A capture before LoadNetwork: nothing could serve it, and it would be backordered in silence.
    public static func noNetworkLoaded() -> DomainError {
        DomainError(.failedPrecondition, "no network loaded: call LoadNetwork first (locations, carriers, items)",
                    currentState: "NO_NETWORK")
    }

    /// A ship order without coordinates whose city the gazetteer does not know.
    public static func unknownDestination(_ shipTo: Address) -> DomainError {
        let place = [shipTo.city, shipTo.region, shipTo.country].filter { !$0.isEmpty }.joined(separator: ", ")
        let named = place.isEmpty ? "no city or region" : "\"\(place)\" is not a known city"
        return DomainError(.invalidArgument,
                           "order.ship_to.coordinates: missing, and \(named): send order.ship_to.coordinates "
                               + "(latitude, longitude) or a known city with its region (e.g. Seattle, WA, US)",
                           field: "order.ship_to.coordinates")
    }

    /// `names` listed when there are few enough to read in a message.
    static func choices(_ names: [String], max: Int = 10) -> String {
        names.isEmpty ? "none defined" : names.count <= max ? names.sorted().joined(separator: ", ") : "\(names.count) defined"
    }

    public static func unknownCarrier(_ carrierID: String, field: String, known: [String]) -> DomainError {
        DomainError(.invalidArgument, "\(field): unknown carrier \"\(carrierID)\" (known: \(choices(known)))", field: field)
    }

    public static func unknownItem(_ sku: SKU, field: String) -> DomainError {
        DomainError(.notFound, "\(field): unknown item \(sku): add it to the item master first (LoadNetwork items or an ERP item feed)",
                    field: field)
    }

    /// An order line naming a SKU the item master does not know (its channel refuses unknown items).
    /// `othersUnknown`: further lines of the order with unknown SKUs, counted so the client fixes all at once.
    public static func unknownItem(onLine index: Int, _ sku: SKU, channel: Channel, othersUnknown: Int) -> DomainError {
        let field = "order.lines[\(index)].sku"
        let more = othersUnknown == 0 ? "" : " (and \(othersUnknown) more line\(othersUnknown == 1 ? "" : "s") with unknown items)"
        return DomainError(.invalidArgument,
                           "\(field): unknown item \(sku)\(more): the item master does not know it; load the item first "
                               + "(LoadNetwork items, UpsertItems or an ERP item master message) and capture again, "
                               + "or let the \(channel.name) channel hold such orders (channel_settings unknown_items: HOLD)",
                           field: field, currentState: "ITEM_UNKNOWN")
    }

    /// An order line naming a SKU the item master marks inactive (not for sale).
    public static func inactiveItem(onLine index: Int, _ sku: SKU) -> DomainError {
        let field = "order.lines[\(index)].sku"
        return DomainError(.invalidArgument,
                           "\(field): item \(sku) is inactive in the item master (not for sale): remove the line, "
                               + "or make the item active (UpsertItems or an ERP item master message) and capture again",
                           field: field, currentState: "ITEM_INACTIVE")
    }

    public static func unknownLocation(_ locationID: LocationID, field: String) -> DomainError {
        DomainError(.notFound, "\(field): unknown location \(locationID)", field: field)
    }

    public static func regionMatchesNoLocation(_ regions: [String], field: String, known: [String]) -> DomainError {
        DomainError(.invalidArgument,
                    "\(field): region filter \(regions) matches no location (regions in the network: \(choices(known, max: 60)))",
                    field: field)
    }
}
