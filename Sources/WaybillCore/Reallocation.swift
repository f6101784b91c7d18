// Re-allocation on request: backordered units routed again against the current network, policy
// and stock. Backorders are otherwise retried only when stock of their SKU arrives, so after a
// policy or network fix they would wait for unrelated receipts.

/// What one ReallocateOrders call did to one order.
public struct ReallocationOutcome: Sendable {
    public var orderID: OrderID
    /// The order as committed; nil when no such order exists.
    public var order: Order?
    /// Units allocated by this call (0 on a replay, or when nothing could be routed).
    public var unitsAllocated: Int32

    public init(orderID: OrderID, order: Order?, unitsAllocated: Int32) {
        self.orderID = orderID
        self.order = order
        self.unitsAllocated = unitsAllocated
    }
}

public struct ReallocationResult: Sendable {
    public var replayed: Bool
    public var outcomes: [ReallocationOutcome]
    /// With `allBackorders`: backordered orders left for a next call (past reallocateOrdersPerCallMax).
    public var backordersNotExamined: Int
}

extension Engine {
    /// Re-allocates the backordered units of `orderIDs` (in that order), or of every backordered
    /// order, oldest capture first, when `allBackorders`; at most `reallocateOrdersPerCallMax`.
    /// Idempotent by `context.requestID`; re-allocating is itself idempotent (an order with
    /// nothing backordered, or nothing routable, does not change).
    public mutating func reallocate(orderIDs: [OrderID], allBackorders: Bool, context: CommandContext,
                                    storage: some EngineStorage) throws -> ReallocationResult {
        if let error = Validation.checkIdentifier(context.requestID, field: "request_id", limits: limits) { throw error }
        if orderIDs.isEmpty == !allBackorders {
            throw DomainError.invalid("order_ids", allBackorders ? "give order_ids or all_backorders, not both"
                                                                  : "name at least one order, or set all_backorders")
        }
        if orderIDs.count > limits.reallocateOrdersPerCallMax {
            throw DomainError.limit("reallocateOrdersPerCallMax", limits.reallocateOrdersPerCallMax, field: "order_ids",
                                    "\(orderIDs.count) orders")
        }
        for (index, orderID) in orderIDs.enumerated() {
            if let error = Validation.checkIdentifier(orderID.rawValue, field: "order_ids[\(index)]", limits: limits) { throw error }
        }
        let key = "reallocate:" + context.requestID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "request_id \"\(context.requestID)\" was already used for a different request",
                                  field: "request_id")
            }
            let outcomes = try orderIDs.map { ReallocationOutcome(orderID: $0, order: try storage.loadOrder($0), unitsAllocated: 0) }
            return ReallocationResult(replayed: true, outcomes: outcomes, backordersNotExamined: 0)
        }
        let targets = allBackorders ? state.backorders.oldest(limit: limits.reallocateOrdersPerCallMax) : orderIDs
        let notExamined = allBackorders ? max(0, state.backorders.orderCount - targets.count) : 0
        var outcomes: [ReallocationOutcome] = []
        outcomes.reserveCapacity(targets.count)
        for orderID in targets {
            guard var order = try storage.loadOrder(orderID) else {
                outcomes.append(ReallocationOutcome(orderID: orderID, order: nil, unitsAllocated: 0))
                continue
            }
            let units = try allocateBackordered(&order, trigger: "reallocation", reason: "reallocation requested",
                                                context: context, storage: storage)
            outcomes.append(ReallocationOutcome(orderID: orderID, order: order, unitsAllocated: units))
        }
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint,
                                                subject: allBackorders ? "all backorders" : "\(orderIDs.count) orders",
                                                at: context.now))
        return ReallocationResult(replayed: false, outcomes: outcomes, backordersNotExamined: notExamined)
    }
}
