// A checkout cart on the wire and in storage (waybill.v1.Cart, proto/waybill/v1/checkout.proto).

import WaybillCore

extension RoutingDecision {
    public var proto: Waybill_V1_RoutingDecision {
        var w = ProtoWriter()
        w.routingDecisionFields(self)
        do {
            return try Waybill_V1_RoutingDecision(serializedBytes: w.bytes)
        } catch {
            preconditionFailure("the routing decision encoder wrote bytes swift-protobuf does not decode: \(error)")
        }
    }
}

extension PlannedShipment {
    /// As a quote or a cart shows it: cost is shipping plus processing.
    public var proto: Waybill_V1_OptionShipment {
        Waybill_V1_OptionShipment.with {
            $0.locationID = locationID.rawValue
            $0.lines = lines.map { line in
                Waybill_V1_FulfillmentLine.with { $0.lineID = line.lineID; $0.sku = line.sku.rawValue; $0.quantity = line.quantity }
            }
            $0.carrierID = carrierID
            $0.carrierService = carrierService
            $0.shippingCost = costEstimate.proto
            $0.transitDays = transitDays
            $0.processingDay = processingDay
            $0.promisedDeliveryUnixMs = promisedDeliveryAt.millisecondsSinceEpoch
        }
    }

    /// A cart's stored reservation. The capacity resource is the carrier and service (as the
    /// network index names it); the cost is kept whole (its split is not needed again).
    public init(proto s: Waybill_V1_OptionShipment) {
        self.init(locationID: LocationID(s.locationID),
                  lines: s.lines.map { FulfillmentLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity) },
                  carrierID: s.carrierID, carrierService: s.carrierService,
                  carrierResource: s.carrierID.isEmpty ? "" : s.carrierID + "/" + s.carrierService,
                  shippingCost: Money(proto: s.shippingCost), processingCost: Money(minorUnits: 0, currency: s.shippingCost.currency),
                  transitDays: s.transitDays, processingDay: s.processingDay, score: 0)
    }
}

extension Cart {
    public var proto: Waybill_V1_Cart {
        Waybill_V1_Cart.with { c in
            c.cartID = key.cartID
            c.channel = key.channel.proto
            c.lines = lines.map { line in
                Waybill_V1_OrderLine.with {
                    $0.lineID = line.lineID; $0.sku = line.sku.rawValue; $0.quantity = line.quantity; $0.unitPrice = line.unitPrice.proto
                }
            }
            if shipTo != Address() { c.shipTo = shipTo.proto }
            c.fulfillment = Waybill_V1_RequestedFulfillment.with {
                $0.method = fulfillment.method == .pickup ? .pickup : .ship
                $0.pickupLocationID = fulfillment.pickupLocationID?.rawValue ?? ""
                $0.serviceLevel = Waybill_V1_ServiceLevel(rawValue: fulfillment.serviceLevel.rawValue) ?? .standard
            }
            c.status = Waybill_V1_CartStatus(rawValue: status.rawValue) ?? .unspecified
            c.reservations = reservations.map(\.proto)
            c.unallocated = unallocated.map { entry in Waybill_V1_LineQuantity.with { $0.lineID = entry.lineID; $0.quantity = entry.quantity } }
            c.promisedDeliveryUnixMs = promisedDeliveryAt?.millisecondsSinceEpoch ?? 0
            c.createdAtUnixMs = createdAt.millisecondsSinceEpoch
            c.updatedAtUnixMs = updatedAt.millisecondsSinceEpoch
            c.expiresAtUnixMs = expiresAt.millisecondsSinceEpoch
            c.orderID = orderID?.rawValue ?? ""
            c.version = version
            if let decision { c.routingDecision = decision.proto }
        }
    }

    /// A stored cart.
    public init(proto c: Waybill_V1_Cart) throws(DomainError) {
        guard let channel = Channel(proto: c.channel) else { throw DomainError.invalid("cart.channel", "stored cart without channel") }
        var fulfillment = RequestedFulfillment()
        fulfillment.method = c.fulfillment.method == .pickup ? .pickup : .ship
        fulfillment.pickupLocationID = c.fulfillment.pickupLocationID.isEmpty ? nil : LocationID(c.fulfillment.pickupLocationID)
        fulfillment.serviceLevel = ServiceLevel(rawValue: c.fulfillment.serviceLevel.rawValue) ?? .standard
        self.init(key: CartKey(channel: channel, cartID: c.cartID),
                  lines: c.lines.map { DraftLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity, unitPrice: Money(proto: $0.unitPrice)) },
                  shipTo: c.hasShipTo ? Address(proto: c.shipTo) : Address(), fulfillment: fulfillment,
                  status: CartStatus(rawValue: c.status.rawValue) ?? .released,
                  reservations: c.reservations.map(PlannedShipment.init(proto:)),
                  unallocated: c.unallocated.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) },
                  decision: c.hasRoutingDecision ? RoutingDecision(proto: c.routingDecision) : nil,
                  createdAt: Timestamp(millisecondsSinceEpoch: c.createdAtUnixMs), updatedAt: Timestamp(millisecondsSinceEpoch: c.updatedAtUnixMs),
                  expiresAt: Timestamp(millisecondsSinceEpoch: c.expiresAtUnixMs), orderID: c.orderID.isEmpty ? nil : OrderID(c.orderID),
                  version: c.version)
    }
}
