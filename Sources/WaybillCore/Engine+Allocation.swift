// Routing an order against the live state, turning a plan into fulfillments with reservations and
// capacity, and serving backordered orders when stock arrives.

extension Engine {
    /// `inventory` / `capacity`: what to route against instead of the live state (an edit routes
    /// as if the reservations it gives back were already given back).
    func route(_ order: Order, lines: [RoutingLine], now: Timestamp, trigger: String,
               inventory: InventoryBook? = nil, capacity: CapacityBook? = nil) -> AllocationPlan {
        let request = RoutingRequest(
            lines: lines, channel: order.channel, shipTo: order.shipTo.coordinates, shipToRegion: order.shipTo.region,
            shipToCity: order.shipTo.city, shipToCountry: order.shipTo.country, method: order.requestedFulfillment.method, pickupLocationID: order.requestedFulfillment.pickupLocationID,
            serviceLevel: order.requestedFulfillment.serviceLevel, excludedLocationIDs: order.excludedLocationIDs,
            now: now, currency: order.currency, trigger: trigger)
        return router.route(request, policy: state.policy, network: state.network, inventory: inventory ?? state.inventory,
                            capacity: capacity ?? state.capacity)
    }

    /// Adds the plan's shipments to the order as fulfillments, with their reservations and capacity.
    mutating func allocate(_ plan: AllocationPlan, to order: inout Order, now: Timestamp,
                                   movements: inout [Movement], capacity: inout [CapacityUse]) {
        if order.routingDecisions.count >= limits.routingDecisionsPerOrderMax { order.routingDecisions.removeFirst() }
        order.routingDecisions.append(plan.decision)
        let decisionIndex = Int32(order.routingDecisions.count - 1)
        for shipment in plan.shipments {
            var fulfillment = Fulfillment(fulfillmentID: OrderStateMachine.nextFulfillmentID(order), locationID: shipment.locationID,
                                          method: order.requestedFulfillment.method, lines: shipment.lines,
                                          processingDay: shipment.processingDay, createdAt: now)
            fulfillment.carrierID = shipment.carrierID
            fulfillment.carrierService = shipment.carrierService
            fulfillment.shippingCostEstimate = shipment.costEstimate
            fulfillment.transitDaysEstimate = shipment.transitDays
            fulfillment.promisedDeliveryAt = shipment.promisedDeliveryAt
            fulfillment.routingDecisionIndex = decisionIndex
            for line in shipment.lines {
                let movement = Movement(kind: .reserved, sku: line.sku, locationID: shipment.locationID,
                                        reservedDelta: Int64(line.quantity), at: now, orderID: order.orderID,
                                        reference: fulfillment.fulfillmentID)
                // The router only hands out available units; `reserve` traps on a routing bug.
                state.inventory.reserve(movement)
                movements.append(movement)
            }
            var uses = [CapacityUse(key: CapacityKey(locationID: shipment.locationID, day: shipment.processingDay), delta: 1,
                                    orderID: order.orderID, reference: fulfillment.fulfillmentID)]
            if !shipment.carrierResource.isEmpty {
                uses.append(CapacityUse(key: CapacityKey(locationID: shipment.locationID, resource: shipment.carrierResource,
                                                         day: shipment.processingDay),
                                        delta: 1, orderID: order.orderID, reference: fulfillment.fulfillmentID))
            }
            for use in uses { state.capacity.apply(use) }
            capacity += uses
            order.fulfillments.append(fulfillment)
        }
    }

    func releaseCreated(_ order: inout Order, now: Timestamp) {
        for index in order.fulfillments.indices where order.fulfillments[index].status == .created {
            order.fulfillments[index].status = .released
            order.fulfillments[index].releasedAt = now
        }
    }

    /// Serves backordered orders needing these SKUs, oldest first, up to `candidatesMax`
    /// (default backorderReleaseBatchMax).
    mutating func releaseBackorders(skus: [SKU], context: CommandContext, storage: some EngineStorage,
                                    candidatesMax: Int? = nil) throws {
        if skus.isEmpty { return }
        let candidatesMax = candidatesMax ?? limits.backorderReleaseBatchMax
        var seen: Set<OrderID> = []
        var candidates: [OrderID] = []
        for sku in Set(skus).sorted() {
            for orderID in state.backorders.oldest(for: sku, limit: candidatesMax) where seen.insert(orderID).inserted {
                candidates.append(orderID)
            }
        }
        candidates.sort { ($0.sequence ?? 0, $0.rawValue) < ($1.sequence ?? 0, $1.rawValue) }
        var systemContext = context
        systemContext.requestID = ""
        // Whether a SKU has available units anywhere, known until the next allocation changes stock.
        var inStock: [SKU: Bool] = [:]
        for orderID in candidates.prefix(candidatesMax) {
            // Routing serves only available units: an order none of whose waiting SKUs has any is
            // left as it is without loading or routing it. (One cancelled unit would otherwise
            // route the whole release batch; this skips exactly the orders that would get nothing.)
            if !releaseRoutesEveryCandidate, let skus = state.backorders.waitingSKUs(of: orderID), !skus.contains(where: { sku in
                if let known = inStock[sku] { return known }
                let any = state.inventory.entries(for: sku).contains { $0.balance.available > 0 }
                inStock[sku] = any
                return any
            }) { continue }
            guard var order = try storage.loadOrder(orderID) else { continue }
            if try allocateBackordered(&order, trigger: "backorder release", reason: "stock arrived", context: systemContext, storage: storage) > 0 {
                inStock.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Routes an order's backordered units against the live state and allocates what can be
    /// served (all of it unless the policy allows partial allocation); persists the order with an
    /// "order.backorder_allocated" event when anything was allocated. Returns the units allocated.
    mutating func allocateBackordered(_ order: inout Order, trigger: String, reason: String, context: CommandContext,
                                              storage: some EngineStorage) throws -> Int32 {
        // An order waiting for its items is routed when they arrive (liftItemHolds), not before.
        if order.waitsForItems { return 0 }
        let waiting = order.lines.filter { $0.quantities.backordered > 0 }
            .map { RoutingLine(lineID: $0.lineID, sku: $0.sku, quantity: $0.quantities.backordered) }
        guard !waiting.isEmpty else { state.backorders.update(order); return 0 }
        let plan = route(order, lines: waiting, now: context.now, trigger: trigger)
        if plan.shipments.isEmpty { return 0 }
        if !plan.unallocated.isEmpty && !state.policy.allowPartialAllocation { return 0 }
        var movements: [Movement] = []
        var capacity: [CapacityUse] = []
        allocate(plan, to: &order, now: context.now, movements: &movements, capacity: &capacity)
        var units: Int32 = 0
        for shipment in plan.shipments {
            for line in shipment.lines {
                order.lines[order.lineIndex(line.lineID)!].quantities.backordered -= line.quantity
                units += line.quantity
            }
        }
        if !order.isOnHold && state.policy.releaseOnAllocation { releaseCreated(&order, now: context.now) }
        order.recomputeLineQuantities()
        let detail = plan.shipments.map { "\($0.locationID): " + $0.lines.map { "\($0.lineID)×\($0.quantity)" }.joined(separator: ",") }
            .joined(separator: "; ")
        try persist(&order, OrderEventKind("order.backorder_allocated", detail: detail), action: "backorder_allocated", reason: reason,
                    detail: detail, context: context, movements: movements, capacity: capacity, storage: storage)
        state.backorders.update(order)
        return units
    }
}
