// Exchanges (CreateReturnRequest.exchange, Return.exchange, Order.exchange_of) between protobuf
// and the core. The stored form is written by OrderEncoder.swift.

import WaybillCore

extension ExchangeReservation {
    /// nil for UNSPECIFIED (the policy decides).
    public init?(proto: Waybill_V1_ExchangeReservation, field: String) throws(DomainError) {
        switch proto {
        case .unspecified: return nil
        case .atCreation: self = .atCreation
        case .atReceipt: self = .atReceipt
        case .UNRECOGNIZED(let value): throw DomainError.invalid(field, "unknown value \(value) (AT_CREATION or AT_RECEIPT)")
        }
    }

    public var proto: Waybill_V1_ExchangeReservation {
        switch self {
        case .atCreation: .atCreation
        case .atReceipt: .atReceipt
        }
    }
}

/// Lines, ship-to and fulfillment decoded as a capture's (one mapping for requests and storage).
private func captureContent(lines: [Waybill_V1_OrderLine], shipTo: Waybill_V1_Address?, fulfillment: Waybill_V1_RequestedFulfillment?,
                            field: String) throws(DomainError) -> OrderDraft {
    var order = Waybill_V1_Order()
    order.channel = .web
    order.lines = lines
    if let shipTo { order.shipTo = shipTo }
    if let fulfillment { order.fulfillment = fulfillment }
    return try OrderDraft(proto: order, field: field)
}

extension ExchangeRequest {
    public init(proto e: Waybill_V1_ExchangeRequest, field: String = "exchange") throws(DomainError) {
        let content = try captureContent(lines: e.lines, shipTo: e.hasShipTo ? e.shipTo : nil,
                                         fulfillment: e.hasFulfillment ? e.fulfillment : nil, field: field)
        self.init(lines: content.lines, externalOrderID: e.externalOrderID,
                  shipTo: e.hasShipTo ? content.shipTo : nil, fulfillment: e.hasFulfillment ? content.fulfillment : nil,
                  reserveAt: try ExchangeReservation(proto: e.reserveAt, field: "\(field).reserve_at"))
    }
}

extension ExchangeRequest {
    /// The wire form (the simulator's calls, clients).
    public var proto: Waybill_V1_ExchangeRequest {
        var e = Waybill_V1_ExchangeRequest()
        var content = OrderDraft()
        content.lines = lines
        if let shipTo { content.shipTo = shipTo }
        if let fulfillment { content.fulfillment = fulfillment }
        let order = content.proto
        e.lines = order.lines
        e.externalOrderID = externalOrderID
        if shipTo != nil { e.shipTo = order.shipTo }
        if fulfillment != nil { e.fulfillment = order.fulfillment }
        e.reserveAt = reserveAt?.proto ?? .unspecified
        return e
    }
}

extension Exchange {
    /// From the stored form.
    public init(proto e: Waybill_V1_Exchange) throws(DomainError) {
        let content = try captureContent(lines: e.lines, shipTo: e.shipTo, fulfillment: e.fulfillment, field: "return.exchange")
        let reserveAt = try ExchangeReservation(proto: e.reserveAt, field: "return.exchange.reserve_at") ?? .atReceipt
        self.init(reserveAt: reserveAt, status: ExchangeStatus(rawValue: e.status.rawValue) ?? .pending, lines: content.lines,
                  externalOrderID: e.externalOrderID, shipTo: content.shipTo, fulfillment: content.fulfillment,
                  replacementOrderID: e.replacementOrderID.isEmpty ? nil : OrderID(e.replacementOrderID),
                  creditAmount: Money(proto: e.creditAmount), newOrderAmount: Money(proto: e.newOrderAmount))
        failureReason = e.failureReason
    }
}

extension ExchangeLink {
    public init?(proto l: Waybill_V1_ExchangeLink) {
        guard !l.orderID.isEmpty else { return nil }
        self.init(orderID: OrderID(l.orderID), returnID: l.returnID)
    }
}
