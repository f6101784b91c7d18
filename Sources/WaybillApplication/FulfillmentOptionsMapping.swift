// GetFulfillmentOptions on the wire: queries in, options out (proto/waybill/v1/checkout.proto).

import WaybillProto
import WaybillCore

extension FulfillmentOptionsQuery {
    /// The query's content; fields are named under `field` ("queries[2]").
    public init(proto: Waybill_V1_FulfillmentOptionsQuery, field: String) throws(DomainError) {
        let channel = Channel(proto: proto.channel)
        if channel == nil, case .UNRECOGNIZED(let value) = proto.channel {
            throw DomainError.invalid("\(field).channel", "unknown channel \(value)")
        }
        var levels: [ServiceLevel] = []
        for (index, level) in proto.serviceLevels.enumerated() {
            guard let value = ServiceLevel(rawValue: level.rawValue) else {
                throw DomainError.invalid("\(field).service_levels[\(index)]", "unknown service level \(level.rawValue)")
            }
            if !levels.contains(value) { levels.append(value) }
        }
        self.init(channel: channel,
                  lines: proto.lines.map { DraftLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity, unitPrice: Money(proto: $0.unitPrice)) },
                  shipTo: proto.hasShipTo ? Address(proto: proto.shipTo) : nil, serviceLevels: levels,
                  pickupLocationIDs: proto.pickupLocationIds.map { LocationID($0) }, nearbyPickupStores: Int(proto.nearbyPickupStores),
                  pickupOnly: proto.pickupOnly)
    }
}

extension FulfillmentOption {
    public var proto: Waybill_V1_FulfillmentOption {
        Waybill_V1_FulfillmentOption.with { option in
            option.method = method == .ship ? .ship : .pickup
            if method == .ship { option.serviceLevel = Waybill_V1_ServiceLevel(rawValue: serviceLevel.rawValue) ?? .standard }
            option.pickupLocationID = pickupLocationID?.rawValue ?? ""
            option.outcome = Waybill_V1_FulfillmentOptionOutcome(rawValue: outcome.rawValue) ?? .unavailable
            option.promisedDeliveryUnixMs = promisedDeliveryAt?.millisecondsSinceEpoch ?? 0
            if let cost = shippingCost { option.shippingCost = cost.proto }
            option.shipmentCount = Int32(shipments.count)
            option.shipments = shipments.map(\.proto)
            option.unallocated = unallocated.map { entry in
                Waybill_V1_LineQuantity.with { $0.lineID = entry.lineID; $0.quantity = entry.quantity }
            }
            option.reason = reason
            if let distanceKilometres { option.distanceKilometres = distanceKilometres }
            option.expectedSupplyAtUnixMs = expectedSupplyAt?.millisecondsSinceEpoch ?? 0
            option.backorderPromisedDeliveryUnixMs = backorderPromisedAt?.millisecondsSinceEpoch ?? 0
            option.preordered = preordered.sorted { $0.key < $1.key }.map { entry in
                Waybill_V1_LineQuantity.with { $0.lineID = entry.key; $0.quantity = entry.value }
            }
        }
    }
}
