// The order lifecycle as a sans-I/O state machine: (order, command, now) -> (order', effects)
// or a typed error that changes nothing. Routing (re-routes, backorder releases) needs the
// inventory and lives in Engine; everything local to one order is decided here.

public enum FulfillmentAction: String, CaseIterable, Hashable, Sendable {
    case release, pick, pack, ship, deliver, reject, cancel

    /// The state a fulfillment moves to, or nil when the action is illegal in `state`.
    /// This table is the whole fulfillment state machine.
    public static func next(_ state: FulfillmentStatus, _ action: FulfillmentAction) -> FulfillmentStatus? {
        switch (state, action) {
        case (.created, .release): .released
        case (.released, .pick): .picked
        // Many warehouse systems confirm only pack or ship: later steps may skip earlier ones.
        case (.released, .pack), (.picked, .pack): .packed
        case (.released, .ship), (.picked, .ship), (.packed, .ship): .shipped
        case (.shipped, .deliver): .delivered
        case (.created, .reject), (.released, .reject), (.picked, .reject): .rejected
        case (.created, .cancel), (.released, .cancel), (.picked, .cancel), (.packed, .cancel): .cancelled
        default: nil
        }
    }
}

extension FulfillmentAction {
    /// The call a client sends for this action.
    public var callName: String {
        switch self {
        case .release: "ReleaseFulfillment"
        case .pick: "ConfirmPick"
        case .pack: "ConfirmPack"
        case .ship: "ConfirmShipment"
        case .deliver: "ConfirmDelivery"
        case .reject: "RejectFulfillment"
        case .cancel: "CancelOrder or CancelLines"
        }
    }

    var phrase: String {
        switch self {
        case .release: "release the fulfillment"
        case .pick: "confirm the pick"
        case .pack: "confirm the pack"
        case .ship: "confirm the shipment"
        case .deliver: "confirm the delivery"
        case .reject: "reject the fulfillment"
        case .cancel: "cancel it"
        }
    }

    /// What to do when `action` is refused in `state`, derived from `next` so it cannot disagree
    /// with the table: the step that must come first, else what may follow, else that it is finished.
    public static func nextStep(whenRefused action: FulfillmentAction, in state: FulfillmentStatus) -> String {
        if let first = firstStep(from: state, toward: action) {
            return "\(first.phrase) first (\(first.callName))"
        }
        let following = allCases.filter { next(state, $0) != nil }
        var hint = following.isEmpty ? "the fulfillment is finished"
            : "what may follow \(state): " + following.map(\.callName).joined(separator: ", ")
        if state == .shipped || state == .delivered { hint += "; to take units back, CreateReturn" }
        if state == .rejected { hint += "; its units were re-routed or backordered (GetOrder shows where)" }
        return hint
    }

    /// The first action on the shortest path from `state` to a state where `action` is allowed
    /// (breadth-first over the table), or nil when no path leads there.
    static func firstStep(from state: FulfillmentStatus, toward action: FulfillmentAction) -> FulfillmentAction? {
        var frontier: [(reached: FulfillmentStatus, first: FulfillmentAction)] = allCases.compactMap { step in
            next(state, step).map { ($0, step) }
        }
        var seen: Set<FulfillmentStatus> = [state]
        while !frontier.isEmpty {
            var following: [(reached: FulfillmentStatus, first: FulfillmentAction)] = []
            for (reached, first) in frontier where seen.insert(reached).inserted {
                if next(reached, action) != nil { return first }
                following += allCases.compactMap { step in next(reached, step).map { ($0, first) } }
            }
            frontier = following
        }
        return nil
    }
}

public struct LineQuantity: Hashable, Sendable {
    public var lineID: String
    public var quantity: Int32
    public init(lineID: String, quantity: Int32) {
        self.lineID = lineID
        self.quantity = quantity
    }
}

public enum OrderCommand: Hashable, Sendable {
    case hold(HoldReason, note: String)
    /// nil releases every hold.
    case releaseHold(HoldReason?, note: String)
    case cancelOrder(reason: String)
    case cancelLines([LineQuantity], reason: String)
    /// nil releases every CREATED fulfillment.
    case releaseFulfillment(String?)
    /// `excludesLocation`: the order is never routed to that location again (a location that
    /// rejects cannot serve it). Waybill's own shortage handling keeps the location eligible: it
    /// only ran out, and stock arriving there may serve the backorder.
    case rejectFulfillment(String, lines: [LineQuantity], reason: String, stockMissing: Bool, excludesLocation: Bool = true)
    case confirmPick(String)
    case confirmPack(String)
    case confirmShipment(String, carrierID: String, trackingNumber: String)
    case confirmDelivery(String)
    /// `exchange`: the return is an exchange (Engine+Exchanges.swift captures the replacement).
    case createReturn(returnID: String, lines: [LineQuantity], reason: String, exchange: ExchangeRequest? = nil)
    case receiveReturn(returnID: String, locationID: LocationID, lines: [ReturnLine])
    /// Changes what the order is for (Engine+Edits.swift): the engine applies it, since edits route.
    case edit([OrderEdit], reason: String)

    public var name: String {
        switch self {
        case .hold: "hold order"
        case .releaseHold: "release hold"
        case .cancelOrder: "cancel order"
        case .cancelLines: "cancel lines"
        case .releaseFulfillment: "release fulfillment"
        case .rejectFulfillment: "reject fulfillment"
        case .confirmPick: "confirm pick"
        case .confirmPack: "confirm pack"
        case .confirmShipment: "confirm shipment"
        case .confirmDelivery: "confirm delivery"
        case .createReturn: "create return"
        case .receiveReturn: "receive return"
        case .edit: "edit order"
        }
    }
}

/// A change-feed event about an order, before the store gives it an offset.
public struct OrderEventKind: Hashable, Sendable {
    public var type: String
    public var fulfillmentID: String = ""
    public var returnID: String = ""
    public var detail: String = ""
    public init(_ type: String, fulfillmentID: String = "", returnID: String = "", detail: String = "") {
        self.type = type
        self.fulfillmentID = fulfillmentID
        self.returnID = returnID
        self.detail = detail
    }
}

public struct OrderTransition: Sendable {
    public var order: Order
    public var movements: [Movement] = []
    public var capacityReleases: [CapacityUse] = []
    /// Units a rejection handed back for re-routing (the engine routes them, excluding the location).
    public var reroute: [RoutingLine] = []
    /// The change-feed event of this transition (one per transition; its sequence is the order's version).
    public var event: OrderEventKind
    public var historyAction: String
    public var historyReason: String
    public var historyDetail: String = ""
}

public enum OrderStateMachine {
    public static func apply(_ command: OrderCommand, to order: Order, now: Timestamp,
                             limits: DomainLimits = .default) -> Result<OrderTransition, DomainError> {
        var order = order
        let state = order.status.description
        switch command {
        case .hold(let reason, let note):
            if !reason.isClientHold {
                return .failure(.invalid("reason", "\(reason.name) holds are placed by Waybill only (at capture, for items the item master lacks)"))
            }
            // A hold stops units from being released or shipped: it needs units still open.
            if !order.lines.contains(where: { $0.openQuantity > 0 }) {
                return .failure(.illegal("hold order", state: state, "nothing left to release or ship"))
            }
            if order.holds.contains(where: { $0.reason == reason }) {
                return .failure(.illegal("hold order", state: state, "already on \(reason.name) hold"))
            }
            if order.holds.count >= limits.holdsPerOrderMax {
                return .failure(.limit("holdsPerOrderMax", limits.holdsPerOrderMax, field: "reason", "holds"))
            }
            order.holds.append(Hold(reason: reason, note: note, placedAt: now))
            // Work released to a location but not yet picked is recalled (back to CREATED, its
            // reservation kept): the location must stop, and a pick confirmation for it is
            // refused until the hold is released and the fulfillment released again. Units
            // already picked or packed are in the location's hands and may still ship.
            var events = [OrderEventKind("order.hold_placed", detail: reason.name)]
            var recalled: [String] = []
            for index in order.fulfillments.indices where order.fulfillments[index].status == .released {
                order.fulfillments[index].status = .created
                order.fulfillments[index].releasedAt = .zero
                recalled.append(order.fulfillments[index].fulfillmentID)
                events.append(OrderEventKind("order.fulfillment_recalled", fulfillmentID: order.fulfillments[index].fulfillmentID,
                                             detail: order.fulfillments[index].locationID.rawValue))
            }
            return .success(finish(order, now, action: "hold_placed", reason: reason.name,
                                   detail: recalled.isEmpty ? note : [note, "recalled " + recalled.joined(separator: ",")].filter { !$0.isEmpty }.joined(separator: "; "),
                                   events: events))

        case .releaseHold(let reason, let note):
            if let reason, !reason.isClientHold {
                return .failure(.illegal("release hold", state: state,
                                         "\(reason.name) holds are lifted by Waybill when the item master gains the order's items "
                                             + "(LoadNetwork items, UpsertItems or an ERP item master message)"))
            }
            // "Release every hold" releases the client's holds; Waybill's ITEM_UNKNOWN stays.
            guard order.holds.contains(where: { $0.reason.isClientHold }) else {
                return .failure(.illegal("release hold", state: state, order.isOnHold
                                             ? "order has no hold a client can release (item_unknown is lifted when its items arrive)"
                                             : "order has no hold"))
            }
            if let reason, !order.holds.contains(where: { $0.reason == reason }) {
                return .failure(.illegal("release hold", state: state, "order has no \(reason.name) hold"))
            }
            order.holds.removeAll { $0.reason.isClientHold && (reason == nil || $0.reason == reason) }
            return .success(finish(order, now, action: "hold_released", reason: reason?.name ?? "all", detail: note,
                                   events: [OrderEventKind("order.hold_released", detail: reason?.name ?? "all")]))

        case .cancelOrder(let reason):
            let open = order.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.openQuantity) }.filter { $0.quantity > 0 }
            if open.isEmpty { return .failure(.illegal("cancel order", state: state, "nothing left to cancel")) }
            return cancel(open, in: order, now: now, reason: reason, action: "order_cancelled")

        case .cancelLines(let lines, let reason):
            if lines.isEmpty { return .failure(.invalid("lines", "at least one line is required")) }
            var seen: Set<String> = []
            for (index, request) in lines.enumerated() {
                guard let lineIndex = order.lineIndex(request.lineID) else {
                    return .failure(DomainError(.notFound, "lines[\(index)].line_id: no line \(request.lineID) in order \(order.orderID)",
                                                field: "lines[\(index)].line_id"))
                }
                if !seen.insert(request.lineID).inserted {
                    return .failure(.invalid("lines[\(index)].line_id", "line \(request.lineID) listed twice"))
                }
                if request.quantity <= 0 { return .failure(.invalid("lines[\(index)].quantity", "must be positive")) }
                let open = order.lines[lineIndex].openQuantity
                if request.quantity > open {
                    return .failure(.illegal("cancel \(request.quantity) of line \(request.lineID)", state: state,
                                             "only \(open) unit(s) not yet shipped or cancelled"))
                }
            }
            return cancel(lines, in: order, now: now, reason: reason, action: "lines_cancelled")

        case .releaseFulfillment(let fulfillmentID):
            if order.isOnHold {
                return .failure(.illegal("release fulfillment", state: state,
                                         "on hold (\(order.holds.map(\.reason.name).joined(separator: ", "))): release the hold first (ReleaseHold)"))
            }
            let targets: [Int]
            if let fulfillmentID {
                guard let index = order.fulfillmentIndex(fulfillmentID) else { return .failure(.notFound("fulfillment \(fulfillmentID)")) }
                targets = [index]
            } else {
                targets = order.fulfillments.indices.filter { order.fulfillments[$0].status == .created }
                if targets.isEmpty { return .failure(.illegal("release fulfillment", state: state, "no fulfillment awaiting release")) }
            }
            var events: [OrderEventKind] = []
            for index in targets {
                let current = order.fulfillments[index].status
                guard let next = FulfillmentAction.next(current, .release) else {
                    return .failure(.illegal("release fulfillment \(order.fulfillments[index].fulfillmentID)", state: current.description,
                                             FulfillmentAction.nextStep(whenRefused: .release, in: current)))
                }
                order.fulfillments[index].status = next
                order.fulfillments[index].releasedAt = now
                events.append(OrderEventKind("order.fulfillment_released", fulfillmentID: order.fulfillments[index].fulfillmentID,
                                             detail: order.fulfillments[index].locationID.rawValue))
            }
            return .success(finish(order, now, action: "fulfillment_released", reason: "",
                                   detail: targets.map { order.fulfillments[$0].fulfillmentID }.joined(separator: ","), events: events))

        case .confirmPick(let id):
            return step(order, id, .pick, now: now, event: "order.fulfillment_picked") { _ in }
        case .confirmPack(let id):
            return step(order, id, .pack, now: now, event: "order.fulfillment_packed") { _ in }
        case .confirmShipment(let id, let carrierID, let trackingNumber):
            guard let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == id }) else {
                return .failure(.notFound("fulfillment \(id) of order \(order.orderID)"))
            }
            if fulfillment.method == .ship {
                if carrierID.isEmpty { return .failure(.invalid("carrier_id", "is required for shipped parcels")) }
                if trackingNumber.isEmpty { return .failure(.invalid("tracking_number", "is required for shipped parcels")) }
            }
            if order.isOnHold && fulfillment.status == .created {
                return .failure(.illegal("confirm shipment", state: state,
                                         "on hold: release the hold first (ReleaseHold), then the fulfillment (ReleaseFulfillment)"))
            }
            var result = step(order, id, .ship, now: now, event: "order.fulfillment_shipped") { f in
                f.carrierID = carrierID
                f.trackingNumber = trackingNumber
                f.shippedAt = now
            }
            if case .success(var transition) = result {
                // Shipping consumes the reservation and the physical stock together.
                for line in fulfillment.lines {
                    transition.movements.append(Movement(kind: .shipped, sku: line.sku, locationID: fulfillment.locationID,
                                                         onHandDelta: -Int64(line.quantity), reservedDelta: -Int64(line.quantity),
                                                         at: now, orderID: order.orderID, reference: id))
                }
                result = .success(transition)
            }
            return result
        case .confirmDelivery(let id):
            return step(order, id, .deliver, now: now, event: "order.fulfillment_delivered") { f in f.deliveredAt = now }

        case .rejectFulfillment(let id, let lines, let reason, let stockMissing, let excludesLocation):
            return reject(order, id, lines: lines, reason: reason, stockMissing: stockMissing, excludesLocation: excludesLocation, now: now)

        case .createReturn(let returnID, let lines, let reason, _):
            if returnID.isEmpty { return .failure(.invalid("return_id", "is required")) }
            if order.returns.contains(where: { $0.returnID == returnID }) {
                return .failure(DomainError(.alreadyExists, "return \(returnID) already exists on order \(order.orderID)", field: "return_id"))
            }
            if order.returns.count >= limits.returnsPerOrderMax {
                return .failure(.limit("returnsPerOrderMax", limits.returnsPerOrderMax, field: "return_id", "returns"))
            }
            if lines.isEmpty { return .failure(.invalid("lines", "at least one line is required")) }
            var seen: Set<String> = []
            for (index, request) in lines.enumerated() {
                guard let lineIndex = order.lineIndex(request.lineID) else {
                    return .failure(DomainError(.notFound, "lines[\(index)].line_id: no line \(request.lineID)", field: "lines[\(index)].line_id"))
                }
                if !seen.insert(request.lineID).inserted { return .failure(.invalid("lines[\(index)].line_id", "listed twice")) }
                if request.quantity <= 0 { return .failure(.invalid("lines[\(index)].quantity", "must be positive")) }
                let q = order.lines[lineIndex].quantities
                let returnable = q.shipped - q.returned - q.returnRequested
                if request.quantity > returnable {
                    return .failure(.illegal("return \(request.quantity) of line \(request.lineID)", state: state,
                                             "only \(returnable) shipped unit(s) not already returned"))
                }
            }
            order.returns.append(Return(returnID: returnID, lines: lines.map { ReturnLine(lineID: $0.lineID, quantity: $0.quantity) },
                                        reason: reason, requestedAt: now))
            return .success(finish(order, now, action: "return_created", reason: reason, detail: returnID,
                                   events: [OrderEventKind("order.return_created", returnID: returnID)]))

        case .edit:
            // Edits route units, which needs the inventory: Engine.apply hands them to applyEdits.
            preconditionFailure("order edits are applied by Engine.applyEdits, not by the state machine")

        case .receiveReturn(let returnID, let locationID, let lines):
            guard let returnIndex = order.returns.firstIndex(where: { $0.returnID == returnID }) else {
                return .failure(.notFound("return \(returnID) of order \(order.orderID)"))
            }
            if order.returns[returnIndex].status == .received {
                return .failure(.illegal("receive return \(returnID)", state: "RECEIVED",
                                         "each return is received once; for more units, request another return (CreateReturn)"))
            }
            if lines.isEmpty { return .failure(.invalid("lines", "at least one line is required")) }
            var movements: [Movement] = []
            var refund: Int64 = 0
            var seen: Set<String> = []
            for (index, received) in lines.enumerated() {
                guard let requested = order.returns[returnIndex].lines.first(where: { $0.lineID == received.lineID }) else {
                    return .failure(.invalid("lines[\(index)].line_id", "line \(received.lineID) is not part of return \(returnID)"))
                }
                if !seen.insert(received.lineID).inserted { return .failure(.invalid("lines[\(index)].line_id", "listed twice")) }
                if received.quantity < 0 || received.quantity > requested.quantity {
                    return .failure(.invalid("lines[\(index)].quantity", "must be between 0 and the \(requested.quantity) requested"))
                }
                guard let disposition = received.disposition else {
                    return .failure(.invalid("lines[\(index)].disposition", "RESTOCK or DISPOSE is required"))
                }
                let line = order.lines[order.lineIndex(received.lineID)!]
                refund += Int64(received.quantity) * line.unitPrice.minorUnits
                if disposition == .restock && received.quantity > 0 {
                    movements.append(Movement(kind: .returned, sku: line.sku, locationID: locationID,
                                              onHandDelta: Int64(received.quantity), at: now, orderID: order.orderID, reference: returnID))
                }
            }
            order.returns[returnIndex].status = .received
            order.returns[returnIndex].received = lines
            order.returns[returnIndex].receivedAtLocationID = locationID
            order.returns[returnIndex].receivedAt = now
            let refundMoney = Money(minorUnits: refund, currency: order.currency)
            order.returns[returnIndex].refund = refundMoney
            var transition = finish(order, now, action: "return_received", reason: "", detail: "\(returnID) at \(locationID)",
                                    events: [OrderEventKind("order.return_received", returnID: returnID, detail: locationID.rawValue),
                                             OrderEventKind("order.refund_due", returnID: returnID, detail: "\(refund) \(refundMoney.currency)")])
            transition.movements = movements
            return .success(transition)
        }
    }

    /// One fulfillment moving one step (pick, pack, ship, deliver).
    private static func step(_ order: Order, _ id: String, _ action: FulfillmentAction, now: Timestamp, event: String,
                             _ update: (inout Fulfillment) -> Void) -> Result<OrderTransition, DomainError> {
        var order = order
        guard let index = order.fulfillmentIndex(id) else { return .failure(.notFound("fulfillment \(id) of order \(order.orderID)")) }
        let current = order.fulfillments[index].status
        guard let next = FulfillmentAction.next(current, action) else {
            return .failure(.illegal("\(action.rawValue) fulfillment \(id)", state: current.description,
                                     FulfillmentAction.nextStep(whenRefused: action, in: current)))
        }
        order.fulfillments[index].status = next
        update(&order.fulfillments[index])
        return .success(finish(order, now, action: "fulfillment_\(next.description.lowercased())", reason: "", detail: id,
                               events: [OrderEventKind(event, fulfillmentID: id, detail: order.fulfillments[index].locationID.rawValue)]))
    }

    /// Cancels units: backordered ones first, then from fulfillments least far along.
    private static func cancel(_ requests: [LineQuantity], in order: Order, now: Timestamp, reason: String,
                               action: String) -> Result<OrderTransition, DomainError> {
        var order = order
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        var events: [OrderEventKind] = []
        let stageOrder: [FulfillmentStatus] = [.created, .released, .picked, .packed]
        for request in requests {
            let lineIndex = order.lineIndex(request.lineID)!
            var remaining = request.quantity
            let fromBackorder = min(remaining, order.lines[lineIndex].quantities.backordered)
            order.lines[lineIndex].quantities.backordered -= fromBackorder
            order.lines[lineIndex].quantities.cancelled += fromBackorder
            remaining -= fromBackorder
            for stage in stageOrder where remaining > 0 {
                for fIndex in order.fulfillments.indices where remaining > 0 && order.fulfillments[fIndex].status == stage {
                    guard let flIndex = order.fulfillments[fIndex].lines.firstIndex(where: { $0.lineID == request.lineID }) else { continue }
                    let take = min(remaining, order.fulfillments[fIndex].lines[flIndex].quantity)
                    guard take > 0 else { continue }
                    let fulfillment = order.fulfillments[fIndex]
                    order.fulfillments[fIndex].lines[flIndex].quantity -= take
                    order.lines[lineIndex].quantities.cancelled += take
                    remaining -= take
                    movements.append(Movement(kind: .released, sku: order.lines[lineIndex].sku, locationID: fulfillment.locationID,
                                              reservedDelta: -Int64(take), at: now, orderID: order.orderID,
                                              reference: fulfillment.fulfillmentID))
                }
            }
            precondition(remaining == 0, "cancel was validated against the open quantity")
        }
        for fIndex in order.fulfillments.indices where order.fulfillments[fIndex].status.holdsReservation {
            order.fulfillments[fIndex].lines.removeAll { $0.quantity == 0 }
            if order.fulfillments[fIndex].lines.isEmpty {
                let fulfillment = order.fulfillments[fIndex]
                order.fulfillments[fIndex].status = .cancelled
                order.fulfillments[fIndex].lines = []
                capacity += capacityReleases(of: fulfillment, orderID: order.orderID)
                events.append(OrderEventKind("order.fulfillment_cancelled", fulfillmentID: fulfillment.fulfillmentID))
            }
        }
        let detail = requests.map { "\($0.lineID)×\($0.quantity)" }.joined(separator: ",")
        events.insert(OrderEventKind(action == "order_cancelled" ? "order.cancelled" : "order.lines_cancelled", detail: detail), at: 0)
        var transition = finish(order, now, action: action, reason: reason, detail: detail, events: events)
        transition.movements = movements
        transition.capacityReleases = capacity
        return .success(transition)
    }

    private static func reject(_ order: Order, _ id: String, lines: [LineQuantity], reason: String, stockMissing: Bool,
                               excludesLocation: Bool, now: Timestamp) -> Result<OrderTransition, DomainError> {
        var order = order
        guard let fIndex = order.fulfillmentIndex(id) else { return .failure(.notFound("fulfillment \(id) of order \(order.orderID)")) }
        let fulfillment = order.fulfillments[fIndex]
        guard FulfillmentAction.next(fulfillment.status, .reject) != nil else {
            return .failure(.illegal("reject fulfillment \(id)", state: fulfillment.status.description,
                                     FulfillmentAction.nextStep(whenRefused: .reject, in: fulfillment.status)))
        }
        // Which units the location cannot serve (default: all of them).
        var rejected: [FulfillmentLine] = []
        if lines.isEmpty {
            rejected = fulfillment.lines
        } else {
            for (index, request) in lines.enumerated() {
                guard let fl = fulfillment.lines.first(where: { $0.lineID == request.lineID }) else {
                    return .failure(.invalid("lines[\(index)].line_id", "line \(request.lineID) is not in fulfillment \(id)"))
                }
                if request.quantity <= 0 || request.quantity > fl.quantity {
                    return .failure(.invalid("lines[\(index)].quantity", "must be between 1 and \(fl.quantity)"))
                }
                if rejected.contains(where: { $0.lineID == request.lineID }) {
                    return .failure(.invalid("lines[\(index)].line_id", "listed twice"))
                }
                rejected.append(FulfillmentLine(lineID: fl.lineID, sku: fl.sku, quantity: request.quantity))
            }
        }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        for line in rejected {
            movements.append(Movement(kind: .released, sku: line.sku, locationID: fulfillment.locationID,
                                      reservedDelta: -Int64(line.quantity), at: now, orderID: order.orderID, reference: id))
            if stockMissing {
                movements.append(Movement(kind: .writtenOff, sku: line.sku, locationID: fulfillment.locationID,
                                          onHandDelta: -Int64(line.quantity), at: now, orderID: order.orderID, reference: id))
            }
        }
        // Units the location keeps stay in a fulfillment of their own, in the same state.
        var kept = fulfillment.lines
        for line in rejected {
            let index = kept.firstIndex { $0.lineID == line.lineID }!
            kept[index].quantity -= line.quantity
        }
        kept.removeAll { $0.quantity == 0 }
        order.fulfillments[fIndex].status = .rejected
        order.fulfillments[fIndex].rejectionReason = reason
        order.fulfillments[fIndex].lines = rejected
        if kept.isEmpty {
            capacity = capacityReleases(of: fulfillment, orderID: order.orderID)
        } else {
            var remainder = fulfillment
            remainder.fulfillmentID = nextFulfillmentID(order)
            remainder.lines = kept
            order.fulfillments.append(remainder)
        }
        if excludesLocation && !order.excludedLocationIDs.contains(fulfillment.locationID) {
            order.excludedLocationIDs.append(fulfillment.locationID)
        }
        // Rejected units wait as backorders until the engine re-routes them.
        for line in rejected {
            order.lines[order.lineIndex(line.lineID)!].quantities.backordered += line.quantity
        }
        let detail = "\(id) at \(fulfillment.locationID): " + rejected.map { "\($0.lineID)×\($0.quantity)" }.joined(separator: ",")
        var transition = finish(order, now, action: "fulfillment_rejected", reason: reason, detail: detail,
                                events: [OrderEventKind("order.fulfillment_rejected", fulfillmentID: id, detail: fulfillment.locationID.rawValue)])
        transition.movements = movements
        transition.capacityReleases = capacity
        transition.reroute = rejected.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) }
        return .success(transition)
    }

    static func capacityReleases(of fulfillment: Fulfillment, orderID: OrderID) -> [CapacityUse] {
        var uses = [CapacityUse(key: CapacityKey(locationID: fulfillment.locationID, day: fulfillment.processingDay),
                                delta: -1, orderID: orderID, reference: fulfillment.fulfillmentID)]
        if !fulfillment.carrierID.isEmpty && !fulfillment.carrierService.isEmpty {
            uses.append(CapacityUse(key: CapacityKey(locationID: fulfillment.locationID,
                                                     resource: fulfillment.carrierID + "/" + fulfillment.carrierService,
                                                     day: fulfillment.processingDay),
                                    delta: -1, orderID: orderID, reference: fulfillment.fulfillmentID))
        }
        return uses
    }

    public static func nextFulfillmentID(_ order: Order) -> String {
        "\(order.orderID.rawValue)-F\(order.fulfillments.count + 1)"
    }

    static func finish(_ order: Order, _ now: Timestamp, action: String, reason: String, detail: String,
                       events: [OrderEventKind]) -> OrderTransition {
        var order = order
        order.recomputeLineQuantities()
        var event = events[0]
        if events.count > 1 {
            event.detail = events.map { $0.detail.isEmpty ? $0.type : "\($0.type): \($0.detail)" }.joined(separator: "; ")
        }
        return OrderTransition(order: order, event: event, historyAction: action, historyReason: reason, historyDetail: detail)
    }
}
