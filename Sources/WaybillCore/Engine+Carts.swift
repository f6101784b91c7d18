// Carts that hold stock while a shopper checks out: reserve (and replace), extend, release,
// expire at the deadline, and convert into an order's reservations at capture.
//
// A cart holds what a capture with its lines, destination and fulfillment would reserve now: the
// router's shipments, their stock reserved and their share of the day's capacity counted, under
// the same policy (a ship-complete policy holds nothing until every unit can be held). Its ledger
// rows carry the reference "cart:<channel>/<id>". Every command that meets a cart past its
// deadline expires it first, so a cart never holds stock past its deadline once anything looks at
// it; the server's sweep (`expireCarts`) releases the rest within cartExpiryToleranceMilliseconds.

public struct CartResult: Sendable {
    public var cart: Cart
    public var replayed: Bool
}

extension Engine {
    /// Holds stock for `draft` until now + its TTL. An active cart asked again with the same
    /// content is answered as it is (`replayed`); with other content it gives up what it holds and
    /// holds for the new content, in one command (what it gave up is available to it first). A
    /// cart already converted into an order is FAILED_PRECONDITION.
    public mutating func reserveCart(_ draft: CartDraft, context: CommandContext, storage: some EngineStorage) throws -> CartResult {
        try checkCartKey(draft.key)
        try checkTTL(draft.ttlMilliseconds, field: "ttl_seconds")
        var order = OrderDraft()
        order.channel = draft.key.channel
        order.externalOrderID = draft.key.cartID
        order.lines = draft.lines
        order.shipTo = draft.shipTo
        order.fulfillment = draft.fulfillment
        if let error = Validation.check(order, limits: limits, field: "cart") { throw error.movingField(from: "cart", to: "") }
        if state.network.locations.isEmpty { throw DomainError.noNetworkLoaded() }
        let unknown: [Int]
        do {
            unknown = try Self.checkRoutable(order, network: state.network, gazetteer: router.gazetteer)
        } catch let error as DomainError {
            throw error.movingField(from: "order", to: "")
        }
        if let first = unknown.first {
            throw DomainError.unknownItem(onLine: first, order.lines[first].sku, channel: draft.key.channel, othersUnknown: unknown.count - 1)
                .movingField(from: "order", to: "")
        }
        try expireIfDue(draft.key, context: context, storage: storage)
        let existing = state.carts[draft.key]
        if let existing, existing.lines == draft.lines, existing.fulfillment == draft.fulfillment, existing.shipTo == draft.shipTo {
            return CartResult(cart: existing, replayed: true)
        }
        // `save` bumps the version: a new cart's first event is sequence 1.
        var version: Int64 = 0
        var createdAt = context.now
        if let existing {
            version = existing.version
            createdAt = existing.createdAt
        } else {
            if let stored = try storage.loadCart(draft.key) {
                if stored.status == .converted {
                    throw DomainError(.failedPrecondition,
                                      "cart \(draft.key) was converted into order \(stored.orderID?.rawValue ?? ""): use a new cart_id",
                                      field: "cart_id", currentState: CartStatus.converted.name)
                }
                version = stored.version
            }
            if state.carts.count >= limits.cartsOpenMax {
                throw DomainError(.resourceExhausted, "cart_id: \(state.carts.count) carts hold stock, the most cartsOpenMax allows",
                                  field: "cart_id", limitName: "cartsOpenMax", limitValue: Int64(limits.cartsOpenMax))
            }
        }
        // Decided: from here on nothing fails but storage.
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        if let existing { releaseHolds(of: existing, kind: "replaced", now: context.now, movements: &movements, capacity: &capacity) }
        var request = Self.captureRoutingRequest(order, now: context.now)
        request.trigger = "cart reservation"
        let plan = router.route(request, policy: state.policy, network: state.network,
                                inventory: state.inventory, capacity: state.capacity)
        let holds = plan.unallocated.isEmpty || state.policy.allowPartialAllocation
        var cart = Cart(key: draft.key, lines: draft.lines, shipTo: draft.shipTo, fulfillment: draft.fulfillment, status: .active,
                        reservations: holds ? plan.shipments : [],
                        unallocated: holds ? plan.unallocated.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) }
                            : draft.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) },
                        decision: plan.decision, createdAt: createdAt, updatedAt: context.now,
                        expiresAt: Timestamp(millisecondsSinceEpoch: context.now.millisecondsSinceEpoch + draft.ttlMilliseconds),
                        orderID: nil, version: version)
        for shipment in cart.reservations {
            for line in shipment.lines {
                let movement = Movement(kind: .reserved, sku: line.sku, locationID: shipment.locationID, reservedDelta: Int64(line.quantity),
                                        at: context.now, reference: cart.key.ledgerReference)
                state.inventory.reserve(movement)
                movements.append(movement)
            }
            for use in capacityUses(shipment, cart: cart.key, delta: 1) {
                state.capacity.apply(use)
                capacity.append(use)
            }
        }
        try commit(movements: movements, capacity: capacity, storage: storage)
        let detail = "holds \(cart.heldUnits) units" + (cart.unallocated.isEmpty ? "" : ", short: "
            + cart.unallocated.map { "line \($0.lineID) by \($0.quantity)" }.joined(separator: ", "))
        try save(&cart, event: existing == nil ? "cart.reserved" : "cart.replaced", detail: detail, context: context, storage: storage)
        return CartResult(cart: cart, replayed: false)
    }

    /// Moves an active cart's deadline to now + TTL. A cart past its deadline is expired first
    /// and then FAILED_PRECONDITION (EXPIRED): reserve it again.
    public mutating func extendCart(_ key: CartKey, ttlMilliseconds: Int64, context: CommandContext,
                                    storage: some EngineStorage) throws -> CartResult {
        try checkCartKey(key)
        try checkTTL(ttlMilliseconds, field: "ttl_seconds")
        try expireIfDue(key, context: context, storage: storage)
        guard var cart = state.carts[key] else { throw try inactiveCartError(key, action: "extend", storage: storage) }
        cart.expiresAt = Timestamp(millisecondsSinceEpoch: context.now.millisecondsSinceEpoch + ttlMilliseconds)
        try save(&cart, event: "cart.extended", detail: "until \(cart.expiresAt.millisecondsSinceEpoch)", context: context, storage: storage)
        return CartResult(cart: cart, replayed: false)
    }

    /// Gives up what an active cart holds. A cart already released or expired is answered as it
    /// is (`replayed`); a converted one is FAILED_PRECONDITION (its stock is the order's now).
    public mutating func releaseCart(_ key: CartKey, context: CommandContext, storage: some EngineStorage) throws -> CartResult {
        try checkCartKey(key)
        try expireIfDue(key, context: context, storage: storage)
        guard var cart = state.carts[key] else {
            guard let stored = try storage.loadCart(key) else { throw DomainError(.notFound, "cart \(key) not found", field: "cart_id") }
            if stored.status == .converted {
                throw DomainError(.failedPrecondition, "cart \(key) was converted into order \(stored.orderID?.rawValue ?? ""): cancel the order instead",
                                  field: "cart_id", currentState: CartStatus.converted.name)
            }
            return CartResult(cart: stored, replayed: true)
        }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        releaseHolds(of: cart, kind: "released", now: context.now, movements: &movements, capacity: &capacity)
        try commit(movements: movements, capacity: capacity, storage: storage)
        cart.status = .released
        cart.reservations = []
        try save(&cart, event: "cart.released", detail: "", context: context, storage: storage)
        return CartResult(cart: cart, replayed: false)
    }

    /// Releases the carts whose deadline is at or before now, earliest first, at most
    /// cartsExpiredPerJobMax; returns how many. The server's sweep calls it; so does every
    /// command that meets a cart past its deadline.
    @discardableResult
    public mutating func expireCarts(context: CommandContext, storage: some EngineStorage) throws -> Int {
        let due = state.carts.due(at: context.now, limit: limits.cartsExpiredPerJobMax)
        for key in due { try expire(key, context: context, storage: storage) }
        return due.count
    }

    /// The earliest deadline of an active cart (nil: none): when the next sweep has work.
    public var nextCartDeadline: Timestamp? { state.carts.nextDeadline }

    // MARK: - Capture from a cart

    /// What a capture naming an active cart does with it: the cart's holds are freed in memory
    /// (so its units are this order's first), and the order takes the cart's own reservations
    /// when it asks for exactly what the cart held for and they are still current (`plan`), or
    /// is routed afresh (`plan` nil). Nothing is stored until `convert`; `restore` undoes it.
    struct CartConversion {
        var cart: Cart
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        var plan: AllocationPlan?
    }

    /// The conversion of `draft`'s cart, and the routing trigger the order's decision names. A cart
    /// past its deadline is expired first (a change of its own); an inactive or unknown cart
    /// converts nothing and the order is routed afresh.
    mutating func freeCart(for draft: OrderDraft, context: CommandContext,
                           storage: some EngineStorage) throws -> (conversion: CartConversion?, trigger: String) {
        guard let cartID = draft.cartID, let channel = draft.channel else { return (nil, "capture") }
        let key = CartKey(channel: channel, cartID: cartID)
        try expireIfDue(key, context: context, storage: storage)
        guard let cart = state.carts[key] else {
            let status = try storage.loadCart(key)?.status.name.lowercased() ?? "unknown"
            return (nil, "capture (cart \(cartID) \(status): routed afresh)")
        }
        var conversion = CartConversion(cart: cart)
        releaseHolds(of: cart, kind: "converted", now: context.now, movements: &conversion.movements, capacity: &conversion.capacity)
        if cart.matches(draft), cart.unallocated.isEmpty, var decision = cart.decision {
            decision.trigger = "capture from cart \(cartID)"
            decision.decidedAt = context.now
            let candidate = AllocationPlan(shipments: cart.reservations, unallocated: [], decision: decision)
            let lines = draft.lines.map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantity) }
            if isCurrent(candidate, for: lines, now: context.now) { conversion.plan = candidate }
        }
        return (conversion, conversion.plan != nil ? "capture from cart \(cartID)" : "capture (cart \(cartID) changed: routed afresh)")
    }

    /// Puts back what `freeCart` freed: the capture was refused and the cart keeps its holds.
    mutating func restore(_ conversion: CartConversion) {
        for movement in conversion.movements {
            var back = movement
            back.reservedDelta = -movement.reservedDelta
            state.inventory.apply(back)
        }
        for use in conversion.capacity {
            var back = use
            back.delta = -use.delta
            state.capacity.apply(back)
        }
    }

    /// Stores the conversion: the cart's release rows, the cart CONVERTED into `orderID`, its event.
    mutating func convert(_ conversion: CartConversion, into orderID: OrderID, context: CommandContext,
                          storage: some EngineStorage) throws {
        try commit(movements: conversion.movements, capacity: conversion.capacity, storage: storage)
        var cart = conversion.cart
        cart.status = .converted
        cart.orderID = orderID
        cart.reservations = []
        try save(&cart, event: "cart.converted", detail: orderID.rawValue, context: context, storage: storage)
    }

    // MARK: - Shortages

    /// A count left fewer units on hand than reserved at `key`: carts give up their holds there
    /// first (newest first), before any order. Returns the units freed.
    mutating func shrinkCartHolds(at key: InventoryKey, shortfall: Int64, context: CommandContext,
                                  storage: some EngineStorage) throws -> Int64 {
        var freed: Int64 = 0
        let holders = state.carts.holding(key).sorted { ($0.updatedAt, $0.key) > ($1.updatedAt, $1.key) }
        for var cart in holders where freed < shortfall {
            var movements: [Movement] = []
            for index in cart.reservations.indices where cart.reservations[index].locationID == key.locationID {
                for lineIndex in cart.reservations[index].lines.indices.reversed() where freed < shortfall {
                    let line = cart.reservations[index].lines[lineIndex]
                    guard line.sku == key.sku else { continue }
                    let take = Int32(min(Int64(line.quantity), shortfall - freed))
                    let movement = Movement(kind: .released, sku: key.sku, locationID: key.locationID, reservedDelta: -Int64(take),
                                            at: context.now, reference: cart.key.ledgerReference)
                    state.inventory.apply(movement)
                    movements.append(movement)
                    freed += Int64(take)
                    cart.reservations[index].lines[lineIndex].quantity -= take
                    if let at = cart.unallocated.firstIndex(where: { $0.lineID == line.lineID }) {
                        cart.unallocated[at].quantity += take
                    } else {
                        cart.unallocated.append(LineQuantity(lineID: line.lineID, quantity: take))
                    }
                }
                cart.reservations[index].lines.removeAll { $0.quantity == 0 }
            }
            // A shipment left with no lines no longer needs its share of the day's capacity.
            var capacity: [CapacityUse] = []
            for shipment in cart.reservations where shipment.lines.isEmpty {
                for use in capacityUses(shipment, cart: cart.key, delta: -1) {
                    state.capacity.apply(use)
                    capacity.append(use)
                }
            }
            cart.reservations.removeAll { $0.lines.isEmpty }
            try commit(movements: movements, capacity: capacity, storage: storage)
            try save(&cart, event: "cart.shortened", detail: "stock shortage at \(key.locationID): \(key.sku) counted below its reservations",
                     context: context, storage: storage)
        }
        return freed
    }

    // MARK: - Helpers

    private mutating func expire(_ key: CartKey, context: CommandContext, storage: some EngineStorage) throws {
        guard var cart = state.carts[key] else { return }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        releaseHolds(of: cart, kind: "expired", now: context.now, movements: &movements, capacity: &capacity)
        try commit(movements: movements, capacity: capacity, storage: storage)
        cart.status = .expired
        cart.reservations = []
        try save(&cart, event: "cart.expired", detail: "deadline \(cart.expiresAt.millisecondsSinceEpoch)", context: context, storage: storage)
    }

    private mutating func expireIfDue(_ key: CartKey, context: CommandContext, storage: some EngineStorage) throws {
        if let cart = state.carts[key], cart.expiresAt <= context.now { try expire(key, context: context, storage: storage) }
    }

    /// Returns the cart's stock and capacity to the pool (in memory; the caller commits the rows).
    private mutating func releaseHolds(of cart: Cart, kind: String, now: Timestamp, movements: inout [Movement],
                                       capacity: inout [CapacityUse]) {
        for shipment in cart.reservations {
            for line in shipment.lines {
                let movement = Movement(kind: .released, sku: line.sku, locationID: shipment.locationID, reservedDelta: -Int64(line.quantity),
                                        at: now, reference: cart.key.ledgerReference + " " + kind)
                state.inventory.apply(movement)
                movements.append(movement)
            }
            for use in capacityUses(shipment, cart: cart.key, delta: -1) {
                state.capacity.apply(use)
                capacity.append(use)
            }
        }
    }

    private func capacityUses(_ shipment: PlannedShipment, cart: CartKey, delta: Int32) -> [CapacityUse] {
        var uses = [CapacityUse(key: CapacityKey(locationID: shipment.locationID, day: shipment.processingDay), delta: delta,
                                orderID: OrderID(""), reference: cart.ledgerReference)]
        if !shipment.carrierResource.isEmpty {
            uses.append(CapacityUse(key: CapacityKey(locationID: shipment.locationID, resource: shipment.carrierResource, day: shipment.processingDay),
                                    delta: delta, orderID: OrderID(""), reference: cart.ledgerReference))
        }
        return uses
    }

    /// Bumps the version, stores the cart, keeps the book and appends its event.
    private mutating func save(_ cart: inout Cart, event: String, detail: String, context: CommandContext,
                               storage: some EngineStorage) throws {
        cart.version += 1
        cart.updatedAt = context.now
        try storage.saveCart(cart)
        state.carts.put(cart)
        try storage.appendEvents([DomainEvent(type: event, aggregate: .cart(cart), aggregateSequence: cart.version,
                                              occurredAt: context.now, clientID: context.clientID, detail: detail)])
    }

    private func checkCartKey(_ key: CartKey) throws {
        if let error = Validation.checkIdentifier(key.cartID, field: "cart_id", limits: limits) { throw error }
    }

    private func checkTTL(_ milliseconds: Int64, field: String) throws {
        let max = Int64(limits.cartTtlSecondsMax)
        if milliseconds < 1_000 { throw DomainError.invalid(field, "must be at least 1 second") }
        if milliseconds > max * 1_000 {
            throw DomainError.limit("cartTtlSecondsMax", limits.cartTtlSecondsMax, field: field, "\(milliseconds / 1_000) seconds")
        }
    }

    private func inactiveCartError(_ key: CartKey, action: String, storage: some EngineStorage) throws -> DomainError {
        guard let stored = try storage.loadCart(key) else { return DomainError(.notFound, "cart \(key) not found", field: "cart_id") }
        return DomainError(.failedPrecondition, "cannot \(action) cart \(key): it is \(stored.status.name)"
                               + (stored.status == .expired ? " (reserve it again)" : ""),
                           field: "cart_id", currentState: stored.status.name)
    }
}
