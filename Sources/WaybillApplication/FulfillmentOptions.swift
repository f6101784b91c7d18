// Fulfillment options: what Waybill would promise for a cart before it is an order. Each option
// is routed exactly as a capture with that fulfillment would be (the same routing request, the
// same router and policy, the same checks) against committed state, and reserves nothing. So a
// capture made at once on unchanged state gets the promise its option gave.

import WaybillCore

/// One cart to quote.
public struct FulfillmentOptionsQuery: Sendable {
    public var channel: Channel?
    public var lines: [DraftLine]
    /// Where it would ship; nil: no ship options (and no nearby pickup stores).
    public var shipTo: Address?
    /// Ship options at these levels (empty: every level).
    public var serviceLevels: [ServiceLevel]
    /// Pickup options at these stores.
    public var pickupLocationIDs: [LocationID]
    /// Pickup options also at this many active pickup stores nearest to `shipTo`.
    public var nearbyPickupStores: Int
    /// No ship options: `shipTo` only locates the nearby stores.
    public var pickupOnly: Bool

    public init(channel: Channel?, lines: [DraftLine], shipTo: Address? = nil, serviceLevels: [ServiceLevel] = [],
                pickupLocationIDs: [LocationID] = [], nearbyPickupStores: Int = 0, pickupOnly: Bool = false) {
        self.pickupOnly = pickupOnly
        self.channel = channel
        self.lines = lines
        self.shipTo = shipTo
        self.serviceLevels = serviceLevels
        self.pickupLocationIDs = pickupLocationIDs
        self.nearbyPickupStores = nearbyPickupStores
    }
}

public enum FulfillmentOptionOutcome: Int, Sendable, Hashable {
    /// Every unit would be allocated: the promise covers the cart.
    case complete = 1
    /// Some units allocated and promised; the rest backordered (or cancelled, when the policy
    /// allows no backorder).
    case partial = 2
    /// Accepted, but every unit would wait for stock.
    case backorder = 3
    /// A capture would be refused, or the option does not exist here.
    case unavailable = 4
    /// Accepted with some lines waiting for expected supply as pre-orders.
    case preorder = 5
}

public struct FulfillmentOption: Sendable {
    public var method: FulfillmentMethod
    /// Ship options: the level; pickup options: `.standard`.
    public var serviceLevel: ServiceLevel
    public var pickupLocationID: LocationID?
    public var outcome: FulfillmentOptionOutcome
    /// The fulfillments a capture would create (none when nothing would be reserved).
    public var shipments: [PlannedShipment]
    public var unallocated: [(lineID: String, quantity: Int32)]
    /// For people, when not complete.
    public var reason: String
    /// Pickup options from a located ship-to.
    public var distanceKilometres: Double?
    /// Units that would wait as pre-orders, per line id.
    public var preordered: [String: Int32] = [:]
    /// When expected supply covers every unit that would wait: the latest receipt date, and the
    /// delivery promised from it (what the order's lines would show).
    public var expectedSupplyAt: Timestamp?
    public var backorderPromisedAt: Timestamp?

    /// The latest promise of the shipments; nil when nothing would be allocated.
    public var promisedDeliveryAt: Timestamp? { shipments.map(\.promisedDeliveryAt).max() }

    public var shippingCost: Money? {
        guard let first = shipments.first else { return nil }
        return Money(minorUnits: shipments.reduce(0) { $0 + $1.costEstimate.minorUnits }, currency: first.costEstimate.currency)
    }
}

public struct FulfillmentOptionsAnswer: Sendable {
    public var options: [FulfillmentOption]
    public var policyVersion: Int64
}

public enum FulfillmentPromising {
    /// The options for `query` at `now` against `state`. Throws (naming fields under `field`) what
    /// makes the whole cart unquotable: no channel, bad lines or address, an inactive item, an
    /// unknown item the channel refuses, more pickup stores than `pickupStoresMax`. What concerns
    /// one option only (an unlocated destination, a store that does not serve pickup, not enough
    /// stock under a no-backorder policy) makes that option `.unavailable` with its reason.
    public static func options(for query: FulfillmentOptionsQuery, limits: DomainLimits, pickupStoresMax: Int,
                               field: String, now: Timestamp, against state: some CommittedStateView) throws -> FulfillmentOptionsAnswer {
        guard let channel = query.channel else {
            throw DomainError.invalid("\(field).channel", "is required: one of \(Channel.allCases.map(\.name).joined(separator: ", "))")
        }
        if let error = Validation.checkLines(query.lines, limits: limits, field: "\(field).lines", noun: "cart") { throw error }
        if query.nearbyPickupStores < 0 { throw DomainError.invalid("\(field).nearby_pickup_stores", "must not be negative") }
        let storesAsked = query.pickupLocationIDs.count + query.nearbyPickupStores
        if storesAsked > pickupStoresMax {
            throw DomainError.limit("pickupStoresPerQueryMax", pickupStoresMax, field: "\(field).pickup_location_ids",
                                    "\(query.pickupLocationIDs.count) stores named + \(query.nearbyPickupStores) nearby")
        }
        for (index, store) in query.pickupLocationIDs.enumerated() {
            if let error = Validation.checkIdentifier(store.rawValue, field: "\(field).pickup_location_ids[\(index)]", limits: limits) {
                throw error
            }
        }
        var base = OrderDraft()
        base.channel = channel
        base.externalOrderID = "fulfillment-options"
        base.lines = query.lines
        if let shipTo = query.shipTo {
            base.shipTo = shipTo
        }
        if query.shipTo != nil && !query.pickupOnly {
            if let error = Validation.check(base, limits: limits, field: field) { throw error }
        }
        let snapshot = state.routingSnapshot(of: query.lines.map(\.sku))
        let supply = state.supplyOutlook(of: query.lines.map(\.sku))
        let unknownLines: [Int]
        do {
            unknownLines = try Engine.checkItems(base, network: snapshot.network)
        } catch let error as DomainError {
            throw error.movingField(from: "order", to: field)
        }

        var options: [FulfillmentOption] = []
        if query.shipTo != nil && !query.pickupOnly {
            let levels = query.serviceLevels.isEmpty ? ServiceLevel.allCases : query.serviceLevels
            for level in levels {
                var draft = base
                draft.fulfillment = RequestedFulfillment(method: .ship, serviceLevel: level)
                options.append(option(draft, unknownLines: unknownLines, snapshot: snapshot, supply: supply, now: now))
            }
        }
        let origin = query.shipTo.flatMap { $0.coordinates ?? snapshot.router.gazetteer.place(for: $0)?.coordinates }
        var stores = query.pickupLocationIDs
        if query.nearbyPickupStores > 0, let origin {
            stores += nearestPickupStores(to: origin, count: query.nearbyPickupStores, channel: channel,
                                          excluding: Set(query.pickupLocationIDs), network: snapshot.network)
        }
        for store in stores {
            var draft = base
            draft.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: store)
            var pickup = option(draft, unknownLines: unknownLines, snapshot: snapshot, supply: supply, now: now)
            if let origin, let coordinates = snapshot.network.locations[store]?.coordinates {
                pickup.distanceKilometres = origin.distanceKilometres(to: coordinates)
            }
            options.append(pickup)
        }
        return FulfillmentOptionsAnswer(options: options, policyVersion: snapshot.policy.version)
    }

    /// One option: the capture's destination checks, its routing request, and what the policy
    /// would make of the plan (the same rules as `Engine.capture`).
    static func option(_ draft: OrderDraft, unknownLines: [Int], snapshot: RoutingSnapshot, supply: SupplyOutlook,
                       now: Timestamp) -> FulfillmentOption {
        var option = FulfillmentOption(method: draft.fulfillment.method,
                                       serviceLevel: draft.fulfillment.method == .ship ? draft.fulfillment.serviceLevel : .standard,
                                       pickupLocationID: draft.fulfillment.pickupLocationID, outcome: .unavailable,
                                       shipments: [], unallocated: [], reason: "")
        do {
            try Engine.checkDestination(draft, network: snapshot.network, gazetteer: snapshot.router.gazetteer)
        } catch let error as DomainError {
            option.reason = error.message
            return option
        } catch {
            option.reason = "\(error)"
            return option
        }
        if !unknownLines.isEmpty {
            option.reason = "the item master lacks " + unknownLines.map { draft.lines[$0].sku.rawValue }.joined(separator: ", ")
                + ": the order would be held until it has them"
            return option
        }
        let plan = snapshot.route(Engine.captureRoutingRequest(draft, now: now))
        option.unallocated = plan.unallocated
        if plan.unallocated.isEmpty {
            option.outcome = .complete
            option.shipments = plan.shipments
            return option
        }
        // The capture's rules (Engine.capture): pre-orders first, then the policy for the rest.
        let outlook = supply
        let preorders = outlook.preorderable(plan.unallocated, lines: draft.lines, network: snapshot.network)
        let everything = plan.unallocated.allSatisfy { preorders[$0.lineID] != nil }
        let policy = snapshot.policy
        let allocatedUnits = plan.shipments.reduce(Int32(0)) { $0 + $1.lines.reduce(0) { $0 + $1.quantity } } + preorders.values.reduce(0, +)
        let short = plan.unallocated.filter { preorders[$0.lineID] == nil }.map { "line \($0.lineID) short by \($0.quantity)" }
            .joined(separator: ", ")
        var waiting: [String: Int32] = [:]
        if !everything && !policy.allowBackorder && !(policy.allowPartialAllocation && allocatedUnits > 0) {
            option.reason = Engine.insufficientStockMessage(plan, policy: policy)
            return option
        } else if everything || policy.allowPartialAllocation {
            option.shipments = plan.shipments
            for (lineID, quantity) in plan.unallocated where preorders[lineID] != nil || policy.allowBackorder { waiting[lineID, default: 0] += quantity }
            if !preorders.isEmpty {
                option.outcome = .preorder
                option.reason = preorders.keys.sorted().map { "line \($0) pre-ordered" }.joined(separator: ", ")
                    + (short.isEmpty ? "" : "; " + short + (policy.allowBackorder ? ": backordered" : ": cancelled"))
            } else {
                option.outcome = allocatedUnits > 0 ? .partial : .backorder
                option.reason = short + (policy.allowBackorder ? ": backordered" : ": cancelled (policy \(policy.name) allows no backorder)")
            }
        } else {
            option.outcome = preorders.isEmpty ? .backorder : .preorder
            option.reason = short + ": nothing is reserved until every unit can be (policy \(policy.name) ships complete)"
            for line in draft.lines { waiting[line.lineID, default: 0] += line.quantity }
        }
        option.preordered = preorders
        // What the order's waiting lines would be promised from expected supply (all, or no promise).
        let promises = outlook.newcomerPromises(waiting, lines: draft.lines, network: snapshot.network)
        let waitingSKUs = Set(draft.lines.filter { (waiting[$0.lineID] ?? 0) > 0 }.map(\.sku))
        if !waitingSKUs.isEmpty, waitingSKUs.allSatisfy({ promises[$0] != nil && promises[$0]! != nil }) {
            let latest = waitingSKUs.compactMap { promises[$0] ?? nil }.max()!
            option.expectedSupplyAt = latest
            option.backorderPromisedAt = SupplyPromise.promisedDelivery(expectedAt: latest, fulfillment: draft.fulfillment)
        }
        return option
    }

    /// The `count` active pickup stores selling to `channel` nearest to `origin`, nearest first
    /// (ties by id), leaving out `excluded`.
    static func nearestPickupStores(to origin: Coordinates, count: Int, channel: Channel, excluding excluded: Set<LocationID>,
                                    network: NetworkState) -> [LocationID] {
        var candidates: [(distance: Double, id: LocationID)] = []
        for location in network.locations.values
        where location.pickup && location.active && location.sells(to: channel) && !excluded.contains(location.locationID) {
            guard let coordinates = location.coordinates else { continue }
            candidates.append((origin.distanceKilometres(to: coordinates), location.locationID))
        }
        candidates.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.id.rawValue < $1.id.rawValue }
        return candidates.prefix(count).map(\.id)
    }
}

