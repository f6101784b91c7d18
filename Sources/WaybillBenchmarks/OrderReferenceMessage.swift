// The reference encoding of an order: waybill.v1.Order built field by field with swift-protobuf's
// generated types, independently of the product's one encoding (OrderEncoder.swift). The oracle of
// OrderEncoderTests and the baseline `waybill bench engine` compares the direct encoder with. Not in
// the product: the product encodes an order in one place.

import SwiftProtobuf
import WaybillCore
import WaybillProto

extension LineQuantities {
    public var referenceMessage: Waybill_V1_LineQuantities {
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
}

extension Fulfillment {
    public var referenceMessage: Waybill_V1_Fulfillment {
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

}

extension RoutingDecision {
    public var referenceMessage: Waybill_V1_RoutingDecision {
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
            l.code = Waybill_V1_LocationDecisionCode(rawValue: Int(decision.code.rawValue)) ?? .unspecified
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

}

extension HistoryEntry {
    public var referenceMessage: Waybill_V1_HistoryEntry {
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
}

extension Order {
    /// The stored form built field by field with swift-protobuf's generated types.
    public var referenceMessage: Waybill_V1_Order {
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
            l.quantities = line.quantities.referenceMessage
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
        o.fulfillments = fulfillments.map(\.referenceMessage)
        o.routingDecisions = routingDecisions.map(\.referenceMessage)
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
            if let exchange = ret.exchange {
                var e = Waybill_V1_Exchange()
                e.reserveAt = exchange.reserveAt == .atCreation ? .atCreation : .atReceipt
                e.status = Waybill_V1_ExchangeStatus(rawValue: exchange.status.rawValue) ?? .unspecified
                let content = OrderDraft.referenceContent(shipTo: exchange.shipTo, lines: exchange.lines, fulfillment: exchange.fulfillment)
                e.lines = content.lines
                e.externalOrderID = exchange.externalOrderID
                e.shipTo = content.shipTo
                e.fulfillment = content.fulfillment
                e.replacementOrderID = exchange.replacementOrderID?.rawValue ?? ""
                e.creditAmount = exchange.creditAmount.proto
                e.newOrderAmount = exchange.newOrderAmount.proto
                e.priceDifference = exchange.priceDifference.proto
                e.failureReason = exchange.failureReason
                r.exchange = e
            }
            return r
        }
        o.history = history.map(\.referenceMessage)
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
        if let cartID { o.cartID = cartID }
        if let captured = capturedContent {
            var content = Waybill_V1_CapturedContent()
            let asCaptured = OrderDraft.referenceContent(shipTo: captured.shipTo, lines: captured.lines, fulfillment: captured.fulfillment)
            content.shipTo = asCaptured.shipTo
            content.lines = asCaptured.lines
            content.fulfillment = asCaptured.fulfillment
            o.capturedContent = content
        }
        if let link = exchangeOf {
            o.exchangeOf.orderID = link.orderID.rawValue
            o.exchangeOf.returnID = link.returnID
        }
        return o
    }
}

extension OrderDraft {
    /// Ship-to, lines and fulfillment (captured content, an exchange's replacement) as a draft's message.
    static func referenceContent(shipTo: Address, lines: [DraftLine], fulfillment: RequestedFulfillment) -> Waybill_V1_Order {
        var draft = OrderDraft()
        draft.shipTo = shipTo
        draft.lines = lines
        draft.fulfillment = fulfillment
        return draft.referenceMessage
    }

    /// A CaptureOrder's order built field by field with swift-protobuf's generated types.
    public var referenceMessage: Waybill_V1_Order {
        var o = Waybill_V1_Order()
        o.channel = channel?.proto ?? .unspecified
        o.externalOrderID = externalOrderID
        o.customer = customer.proto
        o.shipTo = shipTo.proto
        o.lines = lines.map { line in
            var l = Waybill_V1_OrderLine()
            l.lineID = line.lineID
            l.sku = line.sku.rawValue
            l.quantity = line.quantity
            l.unitPrice = line.unitPrice.proto
            return l
        }
        o.fulfillment.method = fulfillment.method == .pickup ? .pickup : .ship
        o.fulfillment.pickupLocationID = fulfillment.pickupLocationID?.rawValue ?? ""
        o.fulfillment.serviceLevel = Waybill_V1_ServiceLevel(rawValue: fulfillment.serviceLevel.rawValue) ?? .standard
        o.createdAtUnixMs = createdAt.millisecondsSinceEpoch
        o.holds = holds.map { hold in
            var h = Waybill_V1_Hold()
            h.reason = hold.reason.proto
            h.note = hold.note
            h.placedAtUnixMs = hold.placedAt.millisecondsSinceEpoch
            return h
        }
        o.attributes = attributes
        if let cartID { o.cartID = cartID }
        return o
    }
}
