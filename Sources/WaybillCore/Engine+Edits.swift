// Order edits (EditOrder): change the ship-to, the service level, a line's quantity, add a line,
// replace a line's SKU. One request's edits apply in order and all or nothing. Everything is
// decided first — validation, which units move, and the new routing, made against the inventory
// and capacity as if the reservations the edit gives back were already given back — and applied
// second, so a DomainError leaves memory and storage untouched.
//
// Units not yet released to a location (backordered, or in CREATED fulfillments) are the only
// ones an edit moves. A change of ship-to or service level routes all of them again; a CREATED
// fulfillment whose location and units the new plan repeats keeps its reservation (and takes the
// plan's carrier and promise). A quantity increase or a new line routes only the new units; a
// decrease gives back backordered units first, then units of CREATED fulfillments (newest first);
// a SKU replacement routes the line's units afresh under the new SKU.

public enum OrderEdit: Hashable, Sendable {
    case changeShipTo(Address)
    case changeServiceLevel(ServiceLevel)
    /// `quantity`: the units the line is now for, not counting units cancelled before.
    case changeLineQuantity(lineID: String, quantity: Int32)
    case addLine(DraftLine)
    /// `unitPrice` nil keeps the line's price.
    case replaceSKU(lineID: String, sku: SKU, unitPrice: Money?)

    /// The edit's field name in EditOrderRequest's `OrderEdit` oneof.
    public var fieldName: String {
        switch self {
        case .changeShipTo: "change_ship_to"
        case .changeServiceLevel: "change_service_level"
        case .changeLineQuantity: "change_line_quantity"
        case .addLine: "add_line"
        case .replaceSKU: "replace_sku"
        }
    }
}

extension ServiceLevel {
    /// The name used in edit details ("standard", "expedited", "next_day").
    public var name: String {
        switch self {
        case .standard: "standard"
        case .expedited: "expedited"
        case .nextDay: "next_day"
        }
    }
}

/// An edit request, decided: the order as it will be stored (before the new shipments are
/// allocated) and what changes in stock and capacity.
struct EditDecision {
    var order: Order
    var releases: [Movement]
    var capacityChanges: [CapacityUse]
    /// Shipments to allocate (those repeating a kept fulfillment are left out); nil: nothing routed.
    var plan: AllocationPlan?
    /// Indices of CREATED fulfillments the new plan repeated: they keep their reservations.
    var kept: [Int]
    var changes: [String]
}

/// The order while a request's edits are applied to it, one after another.
private struct EditWork {
    var order: Order
    let now: Timestamp
    var releases: [Movement] = []
    var capacityReleases: [CapacityUse] = []
    /// Units this request added to a line (marked backordered until routed), per line id.
    var pending: [String: Int32] = [:]
    var destinationChanged = false
    var changes: [String] = []

    init(order: Order, now: Timestamp) {
        self.order = order
        self.now = now
    }

    /// Takes `units` of `lineID` out of CREATED fulfillment `index`: returns the release of their
    /// reservation and, for a fulfillment left empty (cancelled), the capacity it gives back.
    mutating func take(_ units: Int32, of lineID: String, from index: Int) -> (release: Movement, capacity: [CapacityUse]) {
        let fulfillment = order.fulfillments[index]
        precondition(fulfillment.status == .created, "edits move units of CREATED fulfillments only")
        let position = fulfillment.lines.firstIndex { $0.lineID == lineID }!
        let line = fulfillment.lines[position]
        precondition(units > 0 && units <= line.quantity, "take within the fulfillment's units")
        let release = Movement(kind: .released, sku: line.sku, locationID: fulfillment.locationID, reservedDelta: -Int64(units),
                               at: now, orderID: order.orderID, reference: fulfillment.fulfillmentID)
        order.fulfillments[index].lines[position].quantity -= units
        if order.fulfillments[index].lines[position].quantity == 0 { order.fulfillments[index].lines.remove(at: position) }
        guard order.fulfillments[index].lines.isEmpty else { return (release, []) }
        order.fulfillments[index].status = .cancelled
        return (release, OrderStateMachine.capacityReleases(of: fulfillment, orderID: order.orderID))
    }

    /// `take`, its release and capacity counted in the request's own.
    mutating func giveBack(_ units: Int32, of lineID: String, from index: Int) {
        let (release, capacity) = take(units, of: lineID, from: index)
        releases.append(release)
        capacityReleases += capacity
    }

    /// Units of `lineID` in CREATED fulfillments, newest fulfillment first.
    func createdUnits(of lineID: String) -> [(index: Int, units: Int32)] {
        order.fulfillments.indices.reversed().compactMap { index in
            let fulfillment = order.fulfillments[index]
            guard fulfillment.status == .created, let line = fulfillment.lines.first(where: { $0.lineID == lineID }) else { return nil }
            return (index, line.quantity)
        }
    }

    /// Moves every unit of `lineID` in CREATED fulfillments to backordered, to be routed again.
    mutating func detach(_ lineID: String) {
        let lineIndex = order.lineIndex(lineID)!
        for (index, units) in createdUnits(of: lineID) {
            giveBack(units, of: lineID, from: index)
            order.lines[lineIndex].quantities.backordered += units
        }
    }
}

extension Engine {
    /// Applies an EditOrder request to `current` (idempotency and the history limit were checked
    /// by `apply`, which records the request key after this returns nothing but success).
    mutating func applyEdits(_ edits: [OrderEdit], reason: String, to current: Order, requestKey: String,
                             context: CommandContext, storage: some EngineStorage) throws -> OrderResult {
        let decision = try decideEdits(edits, reason: reason, to: current, now: context.now)
        // Decided: from here on nothing fails but storage.
        var order = decision.order
        var movements = decision.releases
        var capacity = decision.capacityChanges
        apply(movements: movements)
        for use in capacity { state.capacity.apply(use) }
        if let plan = decision.plan {
            allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
            for shipment in plan.shipments {
                for line in shipment.lines { order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity }
            }
            for index in decision.kept { order.fulfillments[index].routingDecisionIndex = Int32(order.routingDecisions.count - 1) }
        }
        if !order.isOnHold && state.policy.releaseOnAllocation { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        if order.capturedContent == nil {
            order.capturedContent = CapturedContent(shipTo: current.shipTo, lines: current.draft.lines, fulfillment: current.requestedFulfillment)
        }
        var changes = decision.changes
        let promiseBefore = Self.promiseSummary(current), promiseAfter = Self.promiseSummary(order)
        if promiseBefore != promiseAfter { changes.append("promised_delivery: \(promiseBefore) -> \(promiseAfter)") }
        let locationsBefore = Self.locationSummary(current), locationsAfter = Self.locationSummary(order)
        if locationsBefore != locationsAfter { changes.append("locations: \(locationsBefore) -> \(locationsAfter)") }
        let detail = changes.joined(separator: "; ")
        try persist(&order, OrderEventKind("order.edited", detail: detail), action: "edited", reason: reason, detail: detail,
                    context: context, movements: movements, capacity: capacity, storage: storage)
        try storage.recordRequest(RequestRecord(key: requestKey, fingerprint: context.fingerprint, subject: current.orderID.rawValue,
                                                at: context.now))
        state.backorders.update(order)
        // A SKU replacement may have taken the last unknown item off an order waiting for items:
        // it is routed now, as an item upsert would have routed it.
        if order.waitsForItems,
           !order.lines.contains(where: { $0.quantities.backordered > 0 && state.network.items[$0.sku]?.active != true }) {
            var systemContext = context
            systemContext.requestID = ""
            let replaced = edits.compactMap { edit -> SKU? in if case .replaceSKU(_, let sku, _) = edit { sku } else { nil } }
            try routeAfterItemHold(&order, arrived: replaced.last ?? order.lines[0].sku, context: systemContext, storage: storage)
        }
        // Stock this edit gave back may serve orders waiting for it.
        try releaseBackorders(skus: movements.filter { $0.reservedDelta < 0 }.map(\.sku), context: context, storage: storage)
        // Units this edit left waiting are promised from expected supply in capture order.
        try repromiseWaiting(order, context: context, storage: storage)
        if let reloaded = try storage.loadOrder(current.orderID), reloaded.version != order.version { order = reloaded }
        return OrderResult(order: order, replayed: false)
    }

    /// Decides an edit request without changing anything.
    func decideEdits(_ edits: [OrderEdit], reason: String, to current: Order, now: Timestamp) throws -> EditDecision {
        if edits.isEmpty { throw DomainError.invalid("edits", "at least one edit is required") }
        if edits.count > limits.orderEditsPerRequestMax {
            throw DomainError.limit("orderEditsPerRequestMax", limits.orderEditsPerRequestMax, field: "edits", "\(edits.count) edits")
        }
        if let error = Validation.checkText(reason, field: "reason", limits: limits) { throw error }
        let status = current.status
        if status == .cancelled { throw DomainError.illegal("edit order", state: status.description, "nothing left to edit") }
        if !current.lines.contains(where: { $0.openQuantity > 0 }) {
            throw DomainError.illegal("edit order", state: status.description,
                                      "every unit has shipped or been cancelled: take units back with CreateReturn, or capture a new order")
        }
        var work = EditWork(order: current, now: now)
        for (index, edit) in edits.enumerated() {
            try applyEdit(edit, field: "edits[\(index)].\(edit.fieldName)", to: &work)
        }
        // What the request leaves must still be a valid order (limits on lines, units, texts).
        if let error = Validation.check(work.order.draft, limits: limits) { throw error }

        // A new destination routes every unreleased unit again; the CREATED fulfillments it takes
        // apart are remembered, so one the new plan repeats can keep its reservation.
        var detached: [(index: Int, fulfillment: Fulfillment, releases: [Movement], capacity: [CapacityUse])] = []
        if work.destinationChanged {
            for index in work.order.fulfillments.indices where work.order.fulfillments[index].status == .created {
                let fulfillment = work.order.fulfillments[index]
                var releases: [Movement] = []
                var capacity: [CapacityUse] = []
                for line in fulfillment.lines {
                    let (release, freed) = work.take(line.quantity, of: line.lineID, from: index)
                    releases.append(release)
                    capacity += freed
                    work.order.lines[work.order.lineIndex(line.lineID)!].quantities.backordered += line.quantity
                }
                detached.append((index, fulfillment, releases, capacity))
            }
        }
        var routing: [RoutingLine] = []
        var waitingBefore: Int32 = 0  // backorders older than this request among the units routed
        for line in work.order.lines {
            let backordered = line.quantities.backordered
            let units = work.destinationChanged ? backordered : (work.pending[line.lineID] ?? 0)
            guard units > 0 else { continue }
            routing.append(RoutingLine(lineID: line.lineID, sku: line.sku, quantity: units))
            if work.destinationChanged {
                let detachedUnits = detached.reduce(Int32(0)) { sum, entry in
                    sum + entry.fulfillment.lines.filter { $0.lineID == line.lineID }.reduce(0) { $0 + $1.quantity }
                }
                waitingBefore += max(0, backordered - (work.pending[line.lineID] ?? 0) - detachedUnits)
            }
        }
        var decision = EditDecision(order: work.order, releases: work.releases, capacityChanges: work.capacityReleases,
                                    plan: nil, kept: [], changes: work.changes)
        // An order waiting for its items is routed when they arrive (or after this edit, when it
        // replaced the last unknown one), not here.
        guard !routing.isEmpty, !work.order.waitsForItems else {
            for entry in detached {
                decision.releases += entry.releases
                decision.capacityChanges += entry.capacity
            }
            return decision
        }
        // Route as if every reservation the edit gives back were already given back.
        let allReleases = work.releases + detached.flatMap(\.releases)
        let skus = Set(routing.map(\.sku))
        var inventory = state.inventory.subset(skus)
        for movement in allReleases where skus.contains(movement.sku) { inventory.apply(movement) }
        var capacity = state.capacity
        for use in work.capacityReleases + detached.flatMap(\.capacity) { capacity.apply(use) }
        var plan = route(work.order, lines: routing, now: now, trigger: "edit", inventory: inventory, capacity: capacity)
        let policy = state.policy
        if !plan.unallocated.isEmpty {
            // An edit never cancels what the customer asked for: without backorders it is refused.
            if !policy.allowBackorder && plan.unallocatedUnits > waitingBefore {
                throw DomainError(.failedPrecondition,
                                  "insufficient stock for the edited order: "
                                      + plan.unallocated.map { "line \($0.lineID) short by \($0.quantity)" }.joined(separator: ", ")
                                      + " (policy \(policy.name) v\(policy.version) allows no backorder)",
                                  currentState: "INSUFFICIENT_STOCK")
            }
            // Ship complete: the routed units wait together until all of them can be served.
            if !policy.allowPartialAllocation { plan.shipments = [] }
        }
        // A CREATED fulfillment the plan repeats (same location, same units) keeps its reservation.
        var keptEntries: Set<Int> = []
        plan.shipments.removeAll { shipment in
            let units = Self.unitKey(shipment.lines)
            guard let position = detached.indices.first(where: { position in
                !keptEntries.contains(position) && detached[position].fulfillment.locationID == shipment.locationID
                    && Self.unitKey(detached[position].fulfillment.lines) == units
            }) else { return false }
            keptEntries.insert(position)
            let entry = detached[position]
            var kept = entry.fulfillment
            kept.carrierID = shipment.carrierID
            kept.carrierService = shipment.carrierService
            kept.shippingCostEstimate = Money(minorUnits: shipment.shippingCost.minorUnits + shipment.processingCost.minorUnits,
                                              currency: shipment.shippingCost.currency)
            kept.transitDaysEstimate = shipment.transitDays
            kept.processingDay = shipment.processingDay
            kept.promisedDeliveryAt = Timestamp.startOfDay(shipment.processingDay + Int64(shipment.transitDays))
            decision.order.fulfillments[entry.index] = kept
            for line in kept.lines {
                decision.order.lines[decision.order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity
            }
            // The capacity it counts against moves only if its day or carrier service changed.
            let before = entry.capacity, after = OrderStateMachine.capacityReleases(of: kept, orderID: current.orderID)
            if Set(before.map(\.key)) != Set(after.map(\.key)) {
                decision.capacityChanges += before
                decision.capacityChanges += after.map { use in var taken = use; taken.delta = 1; return taken }
            }
            return true
        }
        decision.kept = keptEntries.sorted().map { detached[$0].index }
        for position in detached.indices where !keptEntries.contains(position) {
            decision.releases += detached[position].releases
            decision.capacityChanges += detached[position].capacity
        }
        decision.plan = plan
        return decision
    }

    /// One edit, validated against the order as the earlier edits of the request left it.
    private func applyEdit(_ edit: OrderEdit, field: String, to work: inout EditWork) throws {
        let order = work.order
        let state = order.status.description
        switch edit {
        case .changeShipTo(let address):
            try checkDestinationChange(order, what: "change the ship-to")
            var draft = order.draft
            draft.shipTo = address
            if let error = Validation.check(draft, limits: limits, field: field) { throw error }
            if address.coordinates == nil && router.gazetteer.place(for: address) == nil {
                let place = [address.city, address.region, address.country].filter { !$0.isEmpty }.joined(separator: ", ")
                throw DomainError(.invalidArgument,
                                  "\(field).ship_to.coordinates: missing, and \(place.isEmpty ? "no city or region" : "\"\(place)\" is not a known city"): "
                                      + "send coordinates (latitude, longitude) or a known city with its region (e.g. Seattle, WA, US)",
                                  field: "\(field).ship_to.coordinates")
            }
            if address == order.shipTo { throw DomainError.invalid(field, "changes nothing: it is the order's ship-to already") }
            work.changes.append("ship_to: \(Self.describe(order.shipTo)) -> \(Self.describe(address))")
            work.order.shipTo = address
            work.destinationChanged = true

        case .changeServiceLevel(let level):
            try checkDestinationChange(order, what: "change the service level")
            let before = order.requestedFulfillment.serviceLevel
            if level == before { throw DomainError.invalid("\(field).service_level", "changes nothing: the order is \(level.name) already") }
            work.changes.append("service_level: \(before.name) -> \(level.name)")
            work.order.requestedFulfillment.serviceLevel = level
            work.destinationChanged = true

        case .changeLineQuantity(let lineID, let quantity):
            let lineIndex = try existingLine(lineID, in: order, field: "\(field).line_id")
            let line = order.lines[lineIndex]
            if quantity <= 0 {
                throw DomainError.invalid("\(field).quantity", "must be positive, got \(quantity) (to drop the line, CancelLines)")
            }
            let active = line.activeQuantity
            if quantity == active { throw DomainError.invalid("\(field).quantity", "changes nothing: line \(lineID) is for \(active) already") }
            if quantity > active {
                if line.quantities.cancelled + quantity > limits.quantityPerLineMax {
                    throw DomainError.limit("quantityPerLineMax", Int(limits.quantityPerLineMax), field: "\(field).quantity",
                                            "\(line.quantities.cancelled + quantity) units (\(line.quantities.cancelled) cancelled)")
                }
                if !order.waitsForItems { try checkSellable(line.sku, field: "\(field).line_id") }
                let added = quantity - active
                work.order.lines[lineIndex].quantity += added
                work.order.lines[lineIndex].quantities.backordered += added
                work.pending[lineID, default: 0] += added
            } else {
                var remaining = active - quantity
                let unreleased = line.quantities.backordered + work.createdUnits(of: lineID).reduce(0) { $0 + $1.units }
                if remaining > unreleased {
                    let blocking = Self.advancedFulfillment(of: order, lineID: lineID)
                    throw DomainError.illegal("reduce line \(lineID) to \(quantity)", state: blocking?.status.description ?? state,
                                              "only \(unreleased) of its \(active) unit(s) are not yet released to a location"
                                                  + (blocking.map { "; " + Self.tooLateHint($0) } ?? ""))
                }
                let fromBackorder = min(remaining, line.quantities.backordered)
                work.order.lines[lineIndex].quantities.backordered -= fromBackorder
                if let pending = work.pending[lineID] { work.pending[lineID] = pending - min(pending, fromBackorder) }
                remaining -= fromBackorder
                for (index, units) in work.createdUnits(of: lineID) where remaining > 0 {
                    let take = min(units, remaining)
                    work.giveBack(take, of: lineID, from: index)
                    remaining -= take
                }
                work.order.lines[lineIndex].quantity -= active - quantity
            }
            work.changes.append("line \(lineID) quantity: \(active) -> \(quantity)")

        case .addLine(let draftLine):
            if let error = Validation.checkIdentifier(draftLine.lineID, field: "\(field).line.line_id", limits: limits) { throw error }
            if order.lineIndex(draftLine.lineID) != nil {
                throw DomainError(.alreadyExists, "\(field).line.line_id: order \(order.orderID) has a line \(draftLine.lineID) already",
                                  field: "\(field).line.line_id")
            }
            if order.lines.count >= limits.linesPerOrderMax {
                throw DomainError.limit("linesPerOrderMax", limits.linesPerOrderMax, field: "\(field).line", "\(order.lines.count + 1) lines")
            }
            if let error = Validation.checkSKU(draftLine.sku.rawValue, field: "\(field).line.sku", limits: limits) { throw error }
            try checkSellable(draftLine.sku, field: "\(field).line.sku")
            if draftLine.quantity <= 0 { throw DomainError.invalid("\(field).line.quantity", "must be positive, got \(draftLine.quantity)") }
            if draftLine.quantity > limits.quantityPerLineMax {
                throw DomainError.limit("quantityPerLineMax", Int(limits.quantityPerLineMax), field: "\(field).line.quantity", "\(draftLine.quantity) units")
            }
            try checkPrice(draftLine.unitPrice, of: order, field: "\(field).line.unit_price")
            var line = OrderLine(draftLine)
            line.quantities.backordered = draftLine.quantity
            work.order.lines.append(line)
            work.pending[draftLine.lineID] = draftLine.quantity
            work.changes.append("line \(draftLine.lineID) added: \(draftLine.sku)×\(draftLine.quantity) at \(draftLine.unitPrice)")

        case .replaceSKU(let lineID, let sku, let unitPrice):
            let lineIndex = try existingLine(lineID, in: order, field: "\(field).line_id")
            let line = order.lines[lineIndex]
            if let error = Validation.checkSKU(sku.rawValue, field: "\(field).sku", limits: limits) { throw error }
            if sku == line.sku { throw DomainError.invalid("\(field).sku", "changes nothing: line \(lineID) is \(sku) already") }
            try checkSellable(sku, field: "\(field).sku")
            if let unitPrice { try checkPrice(unitPrice, of: order, field: "\(field).unit_price") }
            if line.activeQuantity == 0 { throw DomainError.illegal("replace the SKU of line \(lineID)", state: "CANCELLED", "the line is cancelled") }
            if let blocking = Self.advancedFulfillment(of: order, lineID: lineID) {
                throw DomainError.illegal("replace the SKU of line \(lineID)", state: blocking.status.description,
                                          "fulfillment \(blocking.fulfillmentID) holds units of it; " + Self.tooLateHint(blocking))
            }
            work.detach(lineID)
            work.order.lines[lineIndex].sku = sku
            if let unitPrice { work.order.lines[lineIndex].unitPrice = unitPrice }
            work.pending[lineID] = work.order.lines[lineIndex].quantities.backordered
            var change = "line \(lineID) sku: \(line.sku) -> \(sku)"
            if let unitPrice, unitPrice != line.unitPrice { change += " (unit price \(line.unitPrice) -> \(unitPrice))" }
            work.changes.append(change)
        }
    }

    /// Ship-to and service level: orders that ship, while nothing has left CREATED.
    private func checkDestinationChange(_ order: Order, what: String) throws {
        if order.requestedFulfillment.method == .pickup {
            throw DomainError.illegal("\(what) of a store pickup order", state: order.status.description,
                                      "it is collected at \(order.requestedFulfillment.pickupLocationID?.rawValue ?? "its store"); "
                                          + "cancel it and capture a shipped order instead")
        }
        if let blocking = Self.advancedFulfillment(of: order, lineID: nil) {
            throw DomainError.illegal(what, state: blocking.status.description,
                                      "fulfillment \(blocking.fulfillmentID) at \(blocking.locationID) is \(blocking.status); " + Self.tooLateHint(blocking))
        }
    }

    private func existingLine(_ lineID: String, in order: Order, field: String) throws -> Int {
        if lineID.isEmpty { throw DomainError.invalid(field, "is required") }
        guard let index = order.lineIndex(lineID) else {
            throw DomainError(.notFound, "\(field): no line \(lineID) in order \(order.orderID)", field: field)
        }
        return index
    }

    /// An edit puts only items the item master knows and sells on an order.
    private func checkSellable(_ sku: SKU, field: String) throws {
        guard let item = state.network.items[sku] else { throw DomainError.unknownItem(sku, field: field) }
        if !item.active {
            throw DomainError(.invalidArgument, "\(field): item \(sku) is inactive in the item master (not for sale)",
                              field: field, currentState: "ITEM_INACTIVE")
        }
    }

    private func checkPrice(_ price: Money, of order: Order, field: String) throws {
        if let error = Validation.checkCurrency(price.currency, field: "\(field).currency") { throw error }
        if price.currency != order.currency {
            throw DomainError.invalid("\(field).currency", "\(price.currency) differs from the order's \(order.currency): one currency per order")
        }
        if price.minorUnits < 0 { throw DomainError.invalid("\(field).minor_units", "must not be negative") }
    }

    /// The furthest-along fulfillment past CREATED holding units (of `lineID`, or of any line).
    static func advancedFulfillment(of order: Order, lineID: String?) -> Fulfillment? {
        let stages: [FulfillmentStatus] = [.released, .picked, .packed, .shipped, .delivered]
        return order.fulfillments
            .filter { fulfillment in
                stages.contains(fulfillment.status) && (lineID == nil || fulfillment.lines.contains { $0.lineID == lineID })
            }
            .max { stages.firstIndex(of: $0.status)! < stages.firstIndex(of: $1.status)! }
    }

    static func tooLateHint(_ fulfillment: Fulfillment) -> String {
        switch fulfillment.status {
        case .released:
            "the location may be picking it: a hold (HoldOrder) recalls released fulfillments to CREATED, then edit and ReleaseHold"
        case .picked, .packed:
            "the location has picked it: too late to edit those units (CancelLines cancels them)"
        default:
            "it has shipped: take units back with CreateReturn"
        }
    }

    /// Lines of a shipment or fulfillment as a comparable value (order of lines does not matter).
    static func unitKey(_ lines: [FulfillmentLine]) -> [String] {
        lines.map { "\($0.lineID)|\($0.sku)|\($0.quantity)" }.sorted()
    }

    /// "Jane Doe, 1 Main St, Seattle, WA 98101, US".
    static func describe(_ address: Address) -> String {
        let cityLine = [address.city, [address.region, address.postalCode].filter { !$0.isEmpty }.joined(separator: " ")]
            .filter { !$0.isEmpty }.joined(separator: ", ")
        var parts = [address.name] + address.lines + [cityLine, address.country]
        if let coordinates = address.coordinates { parts.append("(\(coordinates.latitude),\(coordinates.longitude))") }
        return parts.filter { !$0.isEmpty }.joined(separator: ", ")
    }

    /// The latest promised delivery of the order's open fulfillments ("2026-12-09"), "none" when
    /// nothing is allocated, with the units still backordered.
    static func promiseSummary(_ order: Order) -> String {
        let open = order.fulfillments.filter { $0.status.holdsReservation && $0.promisedDeliveryAt != .zero }
        var summary = open.map(\.promisedDeliveryAt).max().map { Self.date($0.day) } ?? "none"
        if order.backorderedUnits > 0 { summary += " (\(order.backorderedUnits) backordered)" }
        return summary
    }

    /// The locations of the order's open fulfillments, sorted ("DC-EAST,DC-WEST"), or "none".
    static func locationSummary(_ order: Order) -> String {
        let locations = Set(order.fulfillments.filter(\.status.holdsReservation).map(\.locationID)).sorted()
        return locations.isEmpty ? "none" : locations.map(\.rawValue).joined(separator: ",")
    }

    /// Days since 1970-01-01 as "YYYY-MM-DD" (civil calendar; no Foundation in the core).
    static func date(_ day: Int64) -> String {
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(dayOfMonth))"
    }
}
