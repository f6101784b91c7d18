// Exchanges: a return whose units are replaced by a new order (the replacement), captured on the
// original's channel at the return's creation or at its receipt. The types here; what the engine
// does with them: Engine+Exchanges.swift.

/// When an exchange's replacement order is captured.
public enum ExchangeReservation: Int, CaseIterable, Hashable, Sendable {
    /// In the CreateReturn itself: stock is reserved before the customer sends anything back.
    case atCreation = 1
    /// In the ReceiveReturn: nothing is reserved until the units are back.
    case atReceipt = 2

    public var name: String {
        switch self {
        case .atCreation: "at_creation"
        case .atReceipt: "at_receipt"
        }
    }
}

public enum ExchangeStatus: Int, Hashable, Sendable {
    /// At receipt, not yet received: no replacement yet.
    case pending = 1
    /// The replacement order exists.
    case created = 2
    /// At receipt, and no unit came back: no replacement.
    case cancelled = 3
    /// At receipt, and the replacement could not be captured (the receipt is recorded anyway).
    case failed = 4

    public var description: String {
        switch self {
        case .pending: "PENDING"
        case .created: "CREATED"
        case .cancelled: "CANCELLED"
        case .failed: "FAILED"
        }
    }
}

/// What CreateReturn asks for: the replacement's content, defaults not yet applied.
public struct ExchangeRequest: Hashable, Sendable {
    public var lines: [DraftLine]
    /// Empty: `<original external id>/exchange/<return id>`.
    public var externalOrderID: String
    /// nil: the original order's.
    public var shipTo: Address?
    public var fulfillment: RequestedFulfillment?
    /// nil: the routing policy's `exchangeReservation`.
    public var reserveAt: ExchangeReservation?

    public init(lines: [DraftLine], externalOrderID: String = "", shipTo: Address? = nil, fulfillment: RequestedFulfillment? = nil,
                reserveAt: ExchangeReservation? = nil) {
        self.lines = lines
        self.externalOrderID = externalOrderID
        self.shipTo = shipTo
        self.fulfillment = fulfillment
        self.reserveAt = reserveAt
    }
}

/// An exchange as its return records it: the replacement's resolved content, the link, the money.
public struct Exchange: Hashable, Sendable {
    public var reserveAt: ExchangeReservation
    public var status: ExchangeStatus
    public var lines: [DraftLine]
    public var externalOrderID: String
    public var shipTo: Address
    public var fulfillment: RequestedFulfillment
    public var replacementOrderID: OrderID?
    /// The returned units' value: requested units until received, received units after.
    public var creditAmount: Money
    /// Σ quantity × unit price of the replacement's lines.
    public var newOrderAmount: Money
    public var failureReason: String = ""

    public init(reserveAt: ExchangeReservation, status: ExchangeStatus, lines: [DraftLine], externalOrderID: String, shipTo: Address,
                fulfillment: RequestedFulfillment, replacementOrderID: OrderID? = nil, creditAmount: Money, newOrderAmount: Money) {
        self.reserveAt = reserveAt
        self.status = status
        self.lines = lines
        self.externalOrderID = externalOrderID
        self.shipTo = shipTo
        self.fulfillment = fulfillment
        self.replacementOrderID = replacementOrderID
        self.creditAmount = creditAmount
        self.newOrderAmount = newOrderAmount
    }

    /// newOrderAmount − creditAmount: positive, the customer pays the difference; negative, is owed it.
    public var priceDifference: Money {
        Money(minorUnits: newOrderAmount.minorUnits - creditAmount.minorUnits, currency: newOrderAmount.currency)
    }
}

/// On a replacement order: the order and return it replaces units of.
public struct ExchangeLink: Hashable, Sendable {
    public var orderID: OrderID
    public var returnID: String
    public init(orderID: OrderID, returnID: String) {
        self.orderID = orderID
        self.returnID = returnID
    }
}

extension Order {
    /// The value of `lines` (return lines of this order) at the order lines' unit prices.
    public func value(of lines: [ReturnLine]) -> Money {
        var total: Int64 = 0
        for line in lines {
            guard let index = lineIndex(line.lineID) else { continue }
            total += Int64(line.quantity) * self.lines[index].unitPrice.minorUnits
        }
        return Money(minorUnits: total, currency: currency)
    }
}
