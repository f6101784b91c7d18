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
    }
}

extension Fulfillment {
    public var proto: Waybill_V1_Fulfillment {
        var f = Waybill_V1_Fulfillment()
        f.fulfillmentID = fulfillmentID
        f.locationID = locationID.rawValue
        f.method = method == .pickup ? .pickup : .ship
        f.status = Waybill_V1_FulfillmentStatus(rawValue: status.rawValue) ?? .unspecified
        f.lines = lines.map { line in
            var fl = Waybill_V1_FulfillmentLine()
            fl.lineID = line.lineID
            fl.sku = line.sku.rawValue
            fl.quantity = line.quantity
            return fl
        }
        f.carrierID = carrierID
        f.carrierService = carrierService
        f.trackingNumber = trackingNumber
        if let shippingCostEstimate { f.shippingCostEstimate = shippingCostEstimate.proto }
        f.transitDaysEstimate = transitDaysEstimate
        f.processingDay = processingDay
        f.createdAtUnixMs = createdAt.millisecondsSinceEpoch
        f.releasedAtUnixMs = releasedAt.millisecondsSinceEpoch
        f.shippedAtUnixMs = shippedAt.millisecondsSinceEpoch
        f.deliveredAtUnixMs = deliveredAt.millisecondsSinceEpoch
        f.promisedDeliveryUnixMs = promisedDeliveryAt.millisecondsSinceEpoch
        f.rejectionReason = rejectionReason
        f.routingDecision = routingDecisionIndex
        return f
    }

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
    public var proto: Waybill_V1_RoutingDecision {
        var d = Waybill_V1_RoutingDecision()
        d.policyVersion = policyVersion
        d.decidedAtUnixMs = decidedAt.millisecondsSinceEpoch
        d.trigger = trigger
        d.locations = locations.map { decision in
            var l = Waybill_V1_LocationDecision()
            l.locationID = decision.locationID.rawValue
            l.chosen = decision.chosen
            l.reason = decision.reason
            l.score = decision.score
            return l
        }
        d.shipments = shipments
        if let totalCostEstimate { d.totalCostEstimate = totalCostEstimate.proto }
        d.backorderedUnits = backorderedUnits
        d.candidateSetsExamined = candidateSetsExamined
        d.searchTruncated = searchTruncated
        d.destinationApproximation = destinationApproximation
        return d
    }

    public init(proto d: Waybill_V1_RoutingDecision) {
        self.init(policyVersion: d.policyVersion, decidedAt: Timestamp(millisecondsSinceEpoch: d.decidedAtUnixMs), trigger: d.trigger,
                  locations: d.locations.map {
                      LocationDecision(locationID: LocationID($0.locationID), chosen: $0.chosen, reason: $0.reason, score: $0.score)
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
    public var proto: Waybill_V1_HistoryEntry {
        var h = Waybill_V1_HistoryEntry()
        h.atUnixMs = at.millisecondsSinceEpoch
        h.action = action
        h.reason = reason
        h.clientID = clientID
        h.requestID = requestID
        h.detail = detail
        h.version = version
        return h
    }
    public init(proto h: Waybill_V1_HistoryEntry) {
        self.init(at: Timestamp(millisecondsSinceEpoch: h.atUnixMs), action: h.action, reason: h.reason, clientID: h.clientID,
                  requestID: h.requestID, detail: h.detail, version: h.version)
    }
}

extension LineQuantities {
    var proto: Waybill_V1_LineQuantities {
        var q = Waybill_V1_LineQuantities()
        q.cancelled = cancelled
        q.backordered = backordered
        q.allocated = allocated
        q.released = released
        q.picked = picked
        q.packed = packed
        q.shipped = shipped
        q.delivered = delivered
        q.returnRequested = returnRequested
        q.returned = returned
        return q
    }
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
    /// The full wire form: also Waybill's storage format for an order (one blob per order row).
    public var proto: Waybill_V1_Order {
        var o = Waybill_V1_Order()
        o.orderID = orderID.rawValue
        o.channel = channel.proto
        o.externalOrderID = externalOrderID
        o.customer = customer.proto
        o.shipTo = shipTo.proto
        o.lines = lines.map { line in
            var l = Waybill_V1_OrderLine()
            l.lineID = line.lineID
            l.sku = line.sku.rawValue
            l.quantity = line.quantity
            l.unitPrice = line.unitPrice.proto
            l.status = Waybill_V1_LineStatus(rawValue: line.status.rawValue) ?? .unspecified
            l.quantities = line.quantities.proto
            return l
        }
        var fulfillment = Waybill_V1_RequestedFulfillment()
        fulfillment.method = requestedFulfillment.method == .pickup ? .pickup : .ship
        fulfillment.pickupLocationID = requestedFulfillment.pickupLocationID?.rawValue ?? ""
        fulfillment.serviceLevel = Waybill_V1_ServiceLevel(rawValue: requestedFulfillment.serviceLevel.rawValue) ?? .standard
        o.fulfillment = fulfillment
        o.createdAtUnixMs = createdAt.millisecondsSinceEpoch
        o.status = Waybill_V1_OrderStatus(rawValue: status.rawValue) ?? .unspecified
        o.capturedAtUnixMs = capturedAt.millisecondsSinceEpoch
        o.updatedAtUnixMs = updatedAt.millisecondsSinceEpoch
        o.holds = holds.map { hold in
            var h = Waybill_V1_Hold()
            h.reason = hold.reason.proto
            h.note = hold.note
            h.placedAtUnixMs = hold.placedAt.millisecondsSinceEpoch
            return h
        }
        o.fulfillments = fulfillments.map(\.proto)
        o.routingDecisions = routingDecisions.map(\.proto)
        o.returns = returns.map { ret in
            var r = Waybill_V1_Return()
            r.returnID = ret.returnID
            r.status = ret.status == .received ? .received : .requested
            r.lines = ret.lines.map(\.proto)
            r.received = ret.received.map(\.proto)
            r.reason = ret.reason
            r.receivedAtLocationID = ret.receivedAtLocationID?.rawValue ?? ""
            if let refund = ret.refund { r.refund = refund.proto }
            r.requestedAtUnixMs = ret.requestedAt.millisecondsSinceEpoch
            r.receivedAtUnixMs = ret.receivedAt.millisecondsSinceEpoch
            return r
        }
        o.history = history.map(\.proto)
        if erp != ErpOrderState() {
            var e = Waybill_V1_ErpOrderState()
            e.erpDocumentNumber = erp.documentNumber
            e.postingStatus = erp.postingStatus.map { Waybill_V1_ErpPostingStatus(rawValue: $0.rawValue) ?? .unspecified } ?? .unspecified
            e.acknowledgedAtUnixMs = erp.acknowledgedAt.millisecondsSinceEpoch
            e.documents = erp.documents.map { document in
                var d = Waybill_V1_ErpDocument()
                d.kind = document.kind
                d.documentNumber = document.documentNumber
                if let amount = document.amount { d.amount = amount.proto }
                d.postedAtUnixMs = document.postedAt.millisecondsSinceEpoch
                return d
            }
            o.erp = e
        }
        o.version = version
        o.attributes = attributes
        o.excludedLocationIds = excludedLocationIDs.map(\.rawValue)
        return o
    }

    /// Rebuilds an order from its stored form. The capture sequence is the order id's number.
    public init(proto o: Waybill_V1_Order) throws(DomainError) {
        var draft = try OrderDraft(proto: o)
        draft.holds = []
        guard draft.channel != nil else { throw DomainError.invalid("order.channel", "stored order without channel") }
        let id = OrderID(o.orderID)
        self.init(id: id, draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: o.capturedAtUnixMs),
                  captureSequence: id.sequence ?? 0)
        for index in lines.indices where index < o.lines.count {
            lines[index].quantities = LineQuantities(proto: o.lines[index].quantities)
        }
        updatedAt = Timestamp(millisecondsSinceEpoch: o.updatedAtUnixMs)
        holds = o.holds.compactMap { hold in
            HoldReason(rawValue: hold.reason.rawValue).map {
                Hold(reason: $0, note: hold.note, placedAt: Timestamp(millisecondsSinceEpoch: hold.placedAtUnixMs))
            }
        }
        fulfillments = o.fulfillments.map(Fulfillment.init(proto:))
        routingDecisions = o.routingDecisions.map(RoutingDecision.init(proto:))
        returns = o.returns.map { r in
            var ret = Return(returnID: r.returnID, lines: r.lines.map(ReturnLine.init(proto:)), reason: r.reason,
                             requestedAt: Timestamp(millisecondsSinceEpoch: r.requestedAtUnixMs))
            ret.status = r.status == .received ? .received : .requested
            ret.received = r.received.map(ReturnLine.init(proto:))
            ret.receivedAtLocationID = r.receivedAtLocationID.isEmpty ? nil : LocationID(r.receivedAtLocationID)
            ret.refund = r.hasRefund ? Money(proto: r.refund) : nil
            ret.receivedAt = Timestamp(millisecondsSinceEpoch: r.receivedAtUnixMs)
            return ret
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
    }
}
