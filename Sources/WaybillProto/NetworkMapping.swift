// Mapping of the network model, routing policies, inventory and change events.

import SwiftProtobuf
import WaybillCore

extension Location {
    public init(proto l: Waybill_V1_Location) throws(DomainError) {
        self.init(locationID: LocationID(l.locationID))
        name = l.name
        switch l.type {
        case .unspecified, .warehouse: type = .warehouse
        case .store: type = .store
        case .dropShipVendor: type = .dropShipVendor
        case .UNRECOGNIZED(let value): throw DomainError.invalid("type", "unknown location type \(value)")
        }
        coordinates = l.hasCoordinates ? Coordinates(proto: l.coordinates) : nil
        region = l.region
        country = l.country
        dailyOrderCapacity = l.dailyOrderCapacity
        processingCost = l.hasProcessingCost ? Money(proto: l.processingCost) : nil
        cutoffMinuteUTC = l.cutoffMinuteUtc
        ships = l.ships
        pickup = l.pickup
        priority = l.priority
        var channels: [Channel] = []
        for (index, channel) in l.channels.enumerated() {
            guard let value = Channel(proto: channel) else { throw DomainError.invalid("channels[\(index)]", "unknown channel") }
            channels.append(value)
        }
        self.channels = channels
        active = l.active
    }

    public var proto: Waybill_V1_Location {
        var l = Waybill_V1_Location()
        l.locationID = locationID.rawValue
        l.name = name
        l.type = Waybill_V1_LocationType(rawValue: type.rawValue) ?? .warehouse
        if let coordinates { l.coordinates = coordinates.proto }
        l.region = region
        l.country = country
        l.dailyOrderCapacity = dailyOrderCapacity
        if let processingCost { l.processingCost = processingCost.proto }
        l.cutoffMinuteUtc = cutoffMinuteUTC
        l.ships = ships
        l.pickup = pickup
        l.priority = priority
        l.channels = channels.map(\.proto)
        l.active = active
        return l
    }
}

extension Carrier {
    public init(proto c: Waybill_V1_Carrier) throws(DomainError) {
        self.init(carrierID: c.carrierID)
        name = c.name
        active = c.active
        var services: [CarrierService] = []
        for (index, s) in c.services.enumerated() {
            var service = CarrierService(service: s.service)
            switch s.serviceLevel {
            case .unspecified, .standard: service.serviceLevel = .standard
            case .expedited: service.serviceLevel = .expedited
            case .nextDay: service.serviceLevel = .nextDay
            case .UNRECOGNIZED: throw DomainError.invalid("services[\(index)].service_level", "unknown service level")
            }
            service.rates = s.rates.map {
                RateBand(maxDistanceKilometres: $0.maxDistanceKm, maxWeightGrams: $0.maxWeightGrams, cost: Money(proto: $0.cost),
                         transitDays: $0.transitDays)
            }
            service.dailyCapacityPerLocation = s.dailyCapacityPerLocation
            service.pickupCutoffMinuteUTC = s.pickupCutoffMinuteUtc
            service.locationIDs = s.locationIds.map(LocationID.init)
            services.append(service)
        }
        self.services = services
    }

    public var proto: Waybill_V1_Carrier {
        var c = Waybill_V1_Carrier()
        c.carrierID = carrierID
        c.name = name
        c.active = active
        c.services = services.map { service in
            var s = Waybill_V1_CarrierService()
            s.service = service.service
            s.serviceLevel = Waybill_V1_ServiceLevel(rawValue: service.serviceLevel.rawValue) ?? .standard
            s.rates = service.rates.map { band in
                var r = Waybill_V1_RateBand()
                r.maxDistanceKm = band.maxDistanceKilometres
                r.maxWeightGrams = band.maxWeightGrams
                r.cost = band.cost.proto
                r.transitDays = band.transitDays
                return r
            }
            s.dailyCapacityPerLocation = service.dailyCapacityPerLocation
            s.pickupCutoffMinuteUtc = service.pickupCutoffMinuteUTC
            s.locationIds = service.locationIDs.map(\.rawValue)
            return s
        }
        return c
    }
}

extension Item {
    public init(proto i: Waybill_V1_Item) {
        self.init(sku: SKU(i.sku))
        description = i.description_p
        weightGrams = i.weightGrams
        active = i.active
        preorder = i.preorder
        preorderCap = i.preorderCap
    }
    public var proto: Waybill_V1_Item {
        var i = Waybill_V1_Item()
        i.sku = sku.rawValue
        i.description_p = description
        i.weightGrams = weightGrams
        i.active = active
        i.preorder = preorder
        i.preorderCap = preorderCap
        return i
    }
}

extension RoutingPolicy {
    public init(proto p: Waybill_V1_RoutingPolicy) throws(DomainError) {
        self.init()
        version = p.version
        name = p.name.isEmpty ? "unnamed" : p.name
        var filters: [RoutingFilter] = []
        for (index, f) in p.filters.enumerated() {
            let field = "filters[\(index)]"
            switch f.kind {
            case .locationType:
                var types: [LocationType] = []
                for t in f.locationTypes {
                    guard t != .unspecified, let type = LocationType(rawValue: t.rawValue) else {
                        throw DomainError.invalid("\(field).location_types", "unknown location type")
                    }
                    types.append(type)
                }
                if types.isEmpty { throw DomainError.invalid("\(field).location_types", "at least one type is required") }
                filters.append(.locationType(types))
            case .region:
                if f.regions.isEmpty && !f.sameRegionAsShipTo {
                    throw DomainError.invalid("\(field).regions", "give regions or set same_region_as_ship_to")
                }
                filters.append(.region(f.regions, sameRegionAsShipTo: f.sameRegionAsShipTo))
            case .channelEligibility: filters.append(.channelEligibility)
            case .capacityLeft: filters.append(.capacityLeft(minimum: max(1, f.minCapacityLeft)))
            case .enoughStock: filters.append(.enoughStock(wholeOrder: f.wholeOrder))
            case .maxDistance:
                if !(f.maxDistanceKm > 0) { throw DomainError.invalid("\(field).max_distance_km", "must be positive") }
                filters.append(.maxDistance(kilometres: f.maxDistanceKm))
            case .unspecified, .UNRECOGNIZED: throw DomainError.invalid("\(field).kind", "unknown filter kind")
            }
        }
        self.filters = filters
        var scoring: [(ScoringCriterion, Double)] = []
        for (index, s) in p.scoring.enumerated() {
            guard s.kind != .unspecified, let criterion = ScoringCriterion(rawValue: s.kind.rawValue) else {
                throw DomainError.invalid("scoring[\(index)].kind", "unknown scoring criterion")
            }
            if scoring.contains(where: { $0.0 == criterion }) { throw DomainError.invalid("scoring[\(index)].kind", "listed twice") }
            scoring.append((criterion, s.weight))
        }
        self.scoring = scoring
        var tieBreakers: [TieBreaker] = []
        for (index, t) in p.tieBreakers.enumerated() {
            guard t != .unspecified, let tieBreaker = TieBreaker(rawValue: t.rawValue) else {
                throw DomainError.invalid("tie_breakers[\(index)]", "unknown tie breaker")
            }
            tieBreakers.append(tieBreaker)
        }
        self.tieBreakers = tieBreakers
        maxShipments = p.maxShipments
        allowPartialAllocation = p.allowPartialAllocation
        allowBackorder = p.allowBackorder
        releaseOnAllocation = p.releaseOnAllocation
        exchangeReservation = try ExchangeReservation(proto: p.exchangeReservation, field: "exchange_reservation") ?? .atReceipt
        setAt = Timestamp(millisecondsSinceEpoch: p.setAtUnixMs)
    }

    public var proto: Waybill_V1_RoutingPolicy {
        var p = Waybill_V1_RoutingPolicy()
        p.version = version
        p.name = name
        p.filters = filters.map { filter in
            var f = Waybill_V1_RoutingFilter()
            switch filter {
            case .locationType(let types):
                f.kind = .locationType
                f.locationTypes = types.map { Waybill_V1_LocationType(rawValue: $0.rawValue) ?? .unspecified }
            case .region(let regions, let same):
                f.kind = .region
                f.regions = regions
                f.sameRegionAsShipTo = same
            case .channelEligibility: f.kind = .channelEligibility
            case .capacityLeft(let minimum):
                f.kind = .capacityLeft
                f.minCapacityLeft = minimum
            case .enoughStock(let whole):
                f.kind = .enoughStock
                f.wholeOrder = whole
            case .maxDistance(let kilometres):
                f.kind = .maxDistance
                f.maxDistanceKm = kilometres
            }
            return f
        }
        p.scoring = scoring.map { criterion, weight in
            var s = Waybill_V1_ScoringCriterion()
            s.kind = Waybill_V1_ScoringCriterionKind(rawValue: criterion.rawValue) ?? .unspecified
            s.weight = weight
            return s
        }
        p.tieBreakers = tieBreakers.map { Waybill_V1_TieBreaker(rawValue: $0.rawValue) ?? .unspecified }
        p.maxShipments = maxShipments
        p.allowPartialAllocation = allowPartialAllocation
        p.allowBackorder = allowBackorder
        p.releaseOnAllocation = releaseOnAllocation
        p.exchangeReservation = exchangeReservation.proto
        p.setAtUnixMs = setAt.millisecondsSinceEpoch
        return p
    }
}

extension InventoryChange {
    public init(proto c: Waybill_V1_InventoryChange, defaultKind: InventoryChange.Kind) throws(DomainError) {
        let kind: InventoryChange.Kind
        switch c.kind {
        case .unspecified: kind = defaultKind
        case .receipt: kind = .receipt
        case .adjustment: kind = .adjustment
        case .transfer: kind = .transfer
        case .UNRECOGNIZED(let value): throw DomainError.invalid("kind", "unknown change kind \(value)")
        }
        self.init(changeID: c.changeID, kind: kind, sku: SKU(c.sku), locationID: LocationID(c.locationID), quantity: c.quantity,
                  toLocationID: c.toLocationID.isEmpty ? nil : LocationID(c.toLocationID), reason: c.reason)
    }
}

extension Balance {
    public func position(_ key: InventoryKey) -> Waybill_V1_InventoryPosition {
        var p = Waybill_V1_InventoryPosition()
        p.sku = key.sku.rawValue
        p.locationID = key.locationID.rawValue
        p.onHand = onHand
        p.reserved = reserved
        p.safetyStock = safetyStock
        p.available = available
        p.incoming = incoming.map { supply in
            var s = Waybill_V1_Supply()
            s.quantity = supply.quantity
            s.expectedAtUnixMs = supply.expectedAt.millisecondsSinceEpoch
            return s
        }
        return p
    }
}

extension Movement {
    public func proto(id: UInt64) -> Waybill_V1_Movement {
        var m = Waybill_V1_Movement()
        m.movementID = id
        m.atUnixMs = at.millisecondsSinceEpoch
        m.kind = kind.rawValue
        m.sku = sku.rawValue
        m.locationID = locationID.rawValue
        m.onHandDelta = onHandDelta
        m.reservedDelta = reservedDelta
        m.orderID = orderID?.rawValue ?? ""
        m.reference = reference
        return m
    }
}

extension DomainEvent {
    /// The change event without its offset and order snapshot: the store fills in the offset,
    /// and splices the order bytes it already serialized for the order row (see `orderFieldNumber`).
    public func protoWithoutOrder(offset: UInt64) -> Waybill_V1_ChangeEvent {
        var e = Waybill_V1_ChangeEvent()
        e.offset = offset
        e.eventID = "evt-\(offset)"
        e.type = type
        e.aggregateType = aggregateType
        e.aggregateID = aggregateID
        e.aggregateSequence = aggregateSequence
        e.occurredAtUnixMs = occurredAt.millisecondsSinceEpoch
        e.clientID = clientID
        e.detail = detail
        e.fulfillmentID = fulfillmentID
        e.returnID = returnID
        switch aggregate {
        case .order(let order):
            e.orderID = order.orderID.rawValue
        case .inventory(let sku, let location, let movement, let balance):
            e.sku = sku.rawValue
            e.locationID = location.rawValue
            if let movement { e.movement = movement.proto(id: 0) }
            e.position = balance.position(InventoryKey(sku: sku, locationID: location))
        case .item(let item):
            e.sku = item.sku.rawValue
            e.item = item.proto
        case .erpRecord(let orderID, _):
            e.orderID = orderID.rawValue
        case .cart(let cart):
            e.cart = cart.proto
            e.orderID = cart.orderID?.rawValue ?? ""
        case .receipt(let receipt):
            e.receipt = receipt.proto
            e.locationID = receipt.locationID.rawValue
        }
        return e
    }

    /// ChangeEvent.order's field number, for splicing pre-serialized order bytes.
    public static let orderFieldNumber = 11
}

/// Appends a length-delimited field (`tag`, varint length, bytes) to a serialized message:
/// protobuf parsers merge fields in any order, so this embeds an already-serialized message.
public func appendLengthDelimitedField(_ fieldNumber: Int, _ bytes: [UInt8], to output: inout [UInt8]) {
    appendVarint(UInt64(fieldNumber << 3 | 2), to: &output)
    appendVarint(UInt64(bytes.count), to: &output)
    output.append(contentsOf: bytes)
}

func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
    var value = value
    while value >= 0x80 {
        output.append(UInt8(value & 0x7F) | 0x80)
        value >>= 7
    }
    output.append(UInt8(value))
}
