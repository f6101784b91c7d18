// Mapping between the wire messages of orders.proto and WaybillCore's order model.
// Inbound mapping rejects what the core types cannot represent (unknown enum values) with an
// INVALID_ARGUMENT naming the field; everything else is validated by WaybillCore.Validation.

import SwiftProtobuf
import WaybillCore

extension Channel {
    public init?(proto: Waybill_V1_Channel) {
        guard proto != .unspecified, let channel = Channel(rawValue: proto.rawValue) else { return nil }
        self = channel
    }
    public var proto: Waybill_V1_Channel { Waybill_V1_Channel(rawValue: rawValue) ?? .unspecified }
}

extension Money {
    public init(proto: Waybill_V1_Money) { self.init(minorUnits: proto.minorUnits, currency: proto.currency) }
    public var proto: Waybill_V1_Money {
        var money = Waybill_V1_Money()
        money.minorUnits = minorUnits
        money.currency = currency
        return money
    }
}

extension Coordinates {
    public init(proto: Waybill_V1_Coordinates) { self.init(latitude: proto.latitude, longitude: proto.longitude) }
    public var proto: Waybill_V1_Coordinates {
        var coordinates = Waybill_V1_Coordinates()
        coordinates.latitude = latitude
        coordinates.longitude = longitude
        return coordinates
    }
}

extension Address {
    public init(proto: Waybill_V1_Address) {
        self.init()
        name = proto.name
        lines = proto.lines
        city = proto.city
        region = proto.region
        postalCode = proto.postalCode
        country = proto.country
        coordinates = proto.hasCoordinates ? Coordinates(proto: proto.coordinates) : nil
        phone = proto.phone
    }
    public var proto: Waybill_V1_Address {
        var address = Waybill_V1_Address()
        address.name = name
        address.lines = lines
        address.city = city
        address.region = region
        address.postalCode = postalCode
        address.country = country
        if let coordinates { address.coordinates = coordinates.proto }
        address.phone = phone
        return address
    }
}

extension Customer {
    public init(proto: Waybill_V1_Customer) {
        self.init()
        customerID = proto.customerID
        name = proto.name
        email = proto.email
        phone = proto.phone
    }
    public var proto: Waybill_V1_Customer {
        var customer = Waybill_V1_Customer()
        customer.customerID = customerID
        customer.name = name
        customer.email = email
        customer.phone = phone
        return customer
    }
}

extension HoldReason {
    public init(proto: Waybill_V1_HoldReason, field: String) throws(DomainError) {
        guard proto != .unspecified, let reason = HoldReason(rawValue: proto.rawValue) else {
            throw DomainError.invalid(field, "is required: PAYMENT, FRAUD, ADDRESS, CUSTOMER_REQUEST or OTHER")
        }
        self = reason
    }
    public var proto: Waybill_V1_HoldReason { Waybill_V1_HoldReason(rawValue: rawValue) ?? .unspecified }
}

extension OrderDraft {
    /// The capture content of a wire order. Output-only fields are ignored.
    public init(proto: Waybill_V1_Order, field: String = "order") throws(DomainError) {
        self.init()
        channel = Channel(proto: proto.channel)
        if channel == nil, case .UNRECOGNIZED(let value) = proto.channel {
            throw DomainError.invalid("\(field).channel", "unknown channel \(value)")
        }
        externalOrderID = proto.externalOrderID
        if proto.hasCustomer { customer = Customer(proto: proto.customer) }
        if proto.hasShipTo { shipTo = Address(proto: proto.shipTo) }
        lines = proto.lines.map { line in
            DraftLine(lineID: line.lineID, sku: SKU(line.sku), quantity: line.quantity, unitPrice: Money(proto: line.unitPrice))
        }
        switch proto.fulfillment.method {
        case .unspecified, .ship: fulfillment.method = .ship
        case .pickup: fulfillment.method = .pickup
        case .UNRECOGNIZED(let value): throw DomainError.invalid("\(field).fulfillment.method", "unknown method \(value)")
        }
        fulfillment.pickupLocationID = proto.fulfillment.pickupLocationID.isEmpty ? nil : LocationID(proto.fulfillment.pickupLocationID)
        switch proto.fulfillment.serviceLevel {
        case .unspecified, .standard: fulfillment.serviceLevel = .standard
        case .expedited: fulfillment.serviceLevel = .expedited
        case .nextDay: fulfillment.serviceLevel = .nextDay
        case .UNRECOGNIZED(let value): throw DomainError.invalid("\(field).fulfillment.service_level", "unknown service level \(value)")
        }
        createdAt = Timestamp(millisecondsSinceEpoch: proto.createdAtUnixMs)
        var holds: [Hold] = []
        for (index, hold) in proto.holds.enumerated() {
            holds.append(Hold(reason: try HoldReason(proto: hold.reason, field: "\(field).holds[\(index)].reason"), note: hold.note))
        }
        self.holds = holds
        attributes = proto.attributes
        cartID = proto.cartID.isEmpty ? nil : proto.cartID
    }
}

extension OrderDraft {
    /// The draft as a CaptureOrder's order: the one encoding, `encodedProto()` (OrderEncoder.swift), decoded.
    public var proto: Waybill_V1_Order {
        do {
            return try Waybill_V1_Order(serializedBytes: encodedProto())
        } catch {
            preconditionFailure("the order encoder wrote bytes swift-protobuf does not decode: \(error)")
        }
    }
}

extension Fulfillment {
    public init(proto f: Waybill_V1_Fulfillment) {
        self.init(fulfillmentID: f.fulfillmentID, locationID: LocationID(f.locationID), method: f.method == .pickup ? .pickup : .ship,
                  lines: f.lines.map { FulfillmentLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity) },
                  processingDay: f.processingDay, createdAt: Timestamp(millisecondsSinceEpoch: f.createdAtUnixMs))
        status = FulfillmentStatus(rawValue: f.status.rawValue) ?? .created
        carrierID = f.carrierID
        carrierService = f.carrierService
        trackingNumber = f.trackingNumber
        shippingCostEstimate = f.hasShippingCostEstimate ? Money(proto: f.shippingCostEstimate) : nil
        transitDaysEstimate = f.transitDaysEstimate
        releasedAt = Timestamp(millisecondsSinceEpoch: f.releasedAtUnixMs)
        shippedAt = Timestamp(millisecondsSinceEpoch: f.shippedAtUnixMs)
        deliveredAt = Timestamp(millisecondsSinceEpoch: f.deliveredAtUnixMs)
        promisedDeliveryAt = Timestamp(millisecondsSinceEpoch: f.promisedDeliveryUnixMs)
        rejectionReason = f.rejectionReason
        routingDecisionIndex = f.routingDecision
    }
}

extension RoutingDecision {
    public init(proto d: Waybill_V1_RoutingDecision) {
        self.init(policyVersion: d.policyVersion, decidedAt: Timestamp(millisecondsSinceEpoch: d.decidedAtUnixMs), trigger: d.trigger,
                  locations: d.locations.map {
                      LocationDecision(locationID: LocationID($0.locationID), chosen: $0.chosen,
                                       code: LocationDecision.Code(rawValue: Int32($0.code.rawValue)) ?? .unspecified, reason: $0.reason, score: $0.score)
                  },
                  shipments: d.shipments, totalCostEstimate: d.hasTotalCostEstimate ? Money(proto: d.totalCostEstimate) : nil,
                  backorderedUnits: d.backorderedUnits, candidateSetsExamined: d.candidateSetsExamined, searchTruncated: d.searchTruncated,
                  destinationApproximation: d.destinationApproximation)
    }
}

extension ReturnLine {
    public var proto: Waybill_V1_ReturnLine {
        var r = Waybill_V1_ReturnLine()
        r.lineID = lineID
        r.quantity = quantity
        r.disposition = disposition.map { Waybill_V1_Disposition(rawValue: $0.rawValue) ?? .unspecified } ?? .unspecified
        return r
    }
    public init(proto r: Waybill_V1_ReturnLine) {
        self.init(lineID: r.lineID, quantity: r.quantity,
                  disposition: r.disposition == .unspecified ? nil : Disposition(rawValue: r.disposition.rawValue))
    }
}

extension HistoryEntry {
    public init(proto h: Waybill_V1_HistoryEntry) {
        self.init(at: Timestamp(millisecondsSinceEpoch: h.atUnixMs), action: h.action, reason: h.reason, clientID: h.clientID,
                  requestID: h.requestID, detail: h.detail, version: h.version)
    }
}

extension LineQuantities {
    init(proto q: Waybill_V1_LineQuantities) {
        self.init()
        cancelled = q.cancelled
        backordered = q.backordered
        allocated = q.allocated
        released = q.released
        picked = q.picked
        packed = q.packed
        shipped = q.shipped
        delivered = q.delivered
        returnRequested = q.returnRequested
        returned = q.returned
    }
}

extension Order {
    /// The full wire form (also Waybill's storage format for an order): the one encoding,
    /// `encodedProto()` (OrderEncoder.swift), decoded.
    public var proto: Waybill_V1_Order {
        do {
            return try Waybill_V1_Order(serializedBytes: encodedProto())
        } catch {
            preconditionFailure("the order encoder wrote bytes swift-protobuf does not decode: \(error)")
        }
    }

    /// Rebuilds an order from its stored form. The capture sequence is the order id's number.
    public init(proto o: Waybill_V1_Order) throws(DomainError) {
        var draft = try OrderDraft(proto: o)
        draft.holds = []
        draft.exchangeOf = o.hasExchangeOf ? ExchangeLink(proto: o.exchangeOf) : nil
        guard draft.channel != nil else { throw DomainError.invalid("order.channel", "stored order without channel") }
        let id = OrderID(o.orderID)
        self.init(id: id, draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: o.capturedAtUnixMs),
                  captureSequence: id.sequence ?? 0)
        for index in lines.indices where index < o.lines.count {
            lines[index].quantities = LineQuantities(proto: o.lines[index].quantities)
            lines[index].preordered = o.lines[index].preordered
            lines[index].expectedSupplyAt = Timestamp(millisecondsSinceEpoch: o.lines[index].expectedSupplyAtUnixMs)
            lines[index].backorderPromisedAt = Timestamp(millisecondsSinceEpoch: o.lines[index].backorderPromisedAtUnixMs)
        }
        updatedAt = Timestamp(millisecondsSinceEpoch: o.updatedAtUnixMs)
        holds = o.holds.compactMap { hold in
            HoldReason(rawValue: hold.reason.rawValue).map {
                Hold(reason: $0, note: hold.note, placedAt: Timestamp(millisecondsSinceEpoch: hold.placedAtUnixMs))
            }
        }
        fulfillments = o.fulfillments.map(Fulfillment.init(proto:))
        routingDecisions = o.routingDecisions.map(RoutingDecision.init(proto:))
        returns = []
        for r in o.returns {
            var ret = Return(returnID: r.returnID, lines: r.lines.map(ReturnLine.init(proto:)), reason: r.reason,
                             requestedAt: Timestamp(millisecondsSinceEpoch: r.requestedAtUnixMs))
            ret.status = r.status == .received ? .received : .requested
            ret.received = r.received.map(ReturnLine.init(proto:))
            ret.receivedAtLocationID = r.receivedAtLocationID.isEmpty ? nil : LocationID(r.receivedAtLocationID)
            ret.refund = r.hasRefund ? Money(proto: r.refund) : nil
            ret.receivedAt = Timestamp(millisecondsSinceEpoch: r.receivedAtUnixMs)
            ret.exchange = r.hasExchange ? try Exchange(proto: r.exchange) : nil
            returns.append(ret)
        }
        history = o.history.map(HistoryEntry.init(proto:))
        if o.hasErp {
            erp.documentNumber = o.erp.erpDocumentNumber
            erp.postingStatus = ErpPostingStatus(rawValue: o.erp.postingStatus.rawValue)
            erp.acknowledgedAt = Timestamp(millisecondsSinceEpoch: o.erp.acknowledgedAtUnixMs)
            erp.documents = o.erp.documents.map {
                ErpDocument(kind: $0.kind, documentNumber: $0.documentNumber, amount: $0.hasAmount ? Money(proto: $0.amount) : nil,
                            postedAt: Timestamp(millisecondsSinceEpoch: $0.postedAtUnixMs))
            }
        }
        version = o.version
        excludedLocationIDs = o.excludedLocationIds.map(LocationID.init)
        if o.hasCapturedContent {
            // Decoded as a draft of its own, so the line and fulfillment mapping is the capture's.
            var captured = Waybill_V1_Order()
            captured.channel = o.channel
            captured.shipTo = o.capturedContent.shipTo
            captured.lines = o.capturedContent.lines
            captured.fulfillment = o.capturedContent.fulfillment
            let content = try OrderDraft(proto: captured, field: "order.captured_content")
            capturedContent = CapturedContent(shipTo: content.shipTo, lines: content.lines, fulfillment: content.fulfillment)
        }
    }
}
