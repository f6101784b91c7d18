/// A failure the caller or the environment caused. Maps one-to-one onto gRPC status codes;
/// programmer errors are `precondition`s instead.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case invalidArgument = "INVALID_ARGUMENT"
        case notFound = "NOT_FOUND"
        case alreadyExists = "ALREADY_EXISTS"
        case failedPrecondition = "FAILED_PRECONDITION"
        case resourceExhausted = "RESOURCE_EXHAUSTED"
        case outOfRange = "OUT_OF_RANGE"
    }

    public var code: Code
    public var message: String
    /// The request field at fault ("order.lines[2].quantity").
    public var field: String?
    /// For failed preconditions on an aggregate: the state it is in.
    public var currentState: String?
    /// For capture conflicts: the order already holding the idempotency key.
    public var existingOrderID: OrderID?
    public var limitName: String?
    public var limitValue: Int64?

    public init(_ code: Code, _ message: String, field: String? = nil, currentState: String? = nil,
                existingOrderID: OrderID? = nil, limitName: String? = nil, limitValue: Int64? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.currentState = currentState
        self.existingOrderID = existingOrderID
        self.limitName = limitName
        self.limitValue = limitValue
    }

    public static func invalid(_ field: String, _ message: String) -> DomainError {
        DomainError(.invalidArgument, "\(field): \(message)", field: field)
    }
    public static func limit(_ name: String, _ value: Int, field: String, _ what: String) -> DomainError {
        DomainError(.invalidArgument, "\(field): \(what) exceeds \(name) (\(value))", field: field,
                    limitName: name, limitValue: Int64(value))
    }
    public static func illegal(_ action: String, state: String, _ detail: String = "") -> DomainError {
        let suffix = detail.isEmpty ? "" : ": \(detail)"
        return DomainError(.failedPrecondition, "cannot \(action) in state \(state)\(suffix)", currentState: state)
    }
    public static func notFound(_ what: String) -> DomainError { DomainError(.notFound, "\(what) not found") }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The error with its field (and the field at the start of its message) moved from under
    /// `prefix` to under `replacement`: "order.lines[1].sku" to "orders[3].lines[1].sku" (a batch),
    /// "queries[2].lines[1].sku" (a quote), or "lines[1].sku" (replacement "": a request whose
    /// lines are at its top level).
    public func movingField(from prefix: String, to replacement: String) -> DomainError {
        guard let field, field.hasPrefix(prefix + ".") else { return self }
        var moved = self
        let rest = field.dropFirst(prefix.count + 1)
        let newField = replacement.isEmpty ? String(rest) : replacement + "." + rest
        if message.hasPrefix(field) { moved.message = newField + message.dropFirst(field.count) }
        moved.field = newField
        return moved
    }
}

/// Domain limits: every one named, defaulted, enforced before work is done, and reported by
/// `GetServerInfo`. Transport limits (frame size, connections) live in WaybillWire.
public struct DomainLimits: Hashable, Sendable {
    /// Lines in one order.
    public var linesPerOrderMax = 500
    /// Units on one line.
    public var quantityPerLineMax: Int32 = 1_000_000
    /// Bytes of an identifier (SKU, external order id, line id, location id...).
    public var identifierBytesMax = 128
    /// Bytes of any free-text field (names, notes, reasons, address lines).
    public var textBytesMax = 1024
    /// Entries in an order's attributes map.
    public var attributesPerOrderMax = 64
    /// Holds, returns and history entries an order may accumulate.
    public var holdsPerOrderMax = 16
    public var returnsPerOrderMax = 64
    public var historyEntriesPerOrderMax = 512
    /// Location decisions kept per routing explanation (the rest are summarised by reason).
    public var routingExplanationLocationsMax = 8
    /// Routing decisions kept per order (capture, re-routes, backorder releases).
    public var routingDecisionsPerOrderMax = 32
    /// Backordered orders retried per stock arrival (oldest first).
    public var backorderReleaseBatchMax = 256
    /// Orders holding reservations examined, newest first, when a count leaves fewer units on
    /// hand than are reserved (their reservations there are re-routed until the shortfall is
    /// gone). Bounds the pause a short count can add to the writer.
    public var shortageOrdersScannedMax = 20_000
    /// Orders one ReallocateOrders call routes again (named ids, or backorders oldest first):
    /// bounds the writer time of one call.
    public var reallocateOrdersPerCallMax = 1_000
    /// Carts holding stock at once (ReserveCart of one more is RESOURCE_EXHAUSTED): each holds
    /// stock other shoppers cannot buy, and the writer keeps every open cart in memory.
    public var cartsOpenMax = 100_000
    /// The longest a cart may hold stock from one ReserveCart or ExtendCart.
    public var cartTtlSecondsMax = 86_400
    /// Carts one expiry job releases (the rest wait for the next job, moments later).
    public var cartsExpiredPerJobMax = 1_000
    /// Edits one EditOrder request may carry (applied together, all or nothing).
    public var orderEditsPerRequestMax = 32
    /// Expected receipts open at once (a new one beyond is RESOURCE_EXHAUSTED): the writer keeps
    /// every open receipt in memory.
    public var expectedReceiptsOpenMax = 100_000
    /// SKU lines on one expected receipt.
    public var expectedReceiptLinesMax = 1_000
    /// Backordered orders a receipt's arrival serves in capture order, in its own command (the
    /// rest are served by the next stock arrival or ReallocateOrders). A pre-order campaign's
    /// receipt serves its whole waiting list at once up to this many orders.
    public var receiptReleaseOrdersMax = 10_000

    public init() {}

    public static let `default` = DomainLimits()
}
