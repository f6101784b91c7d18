// The one encoding of an order (and of an order draft, the capture fields of the same message) to
// waybill.v1.Order: the bytes swift-protobuf would produce (field order, defaults omitted, presence
// kept — OrderEncoderTests check them against a message built with the generated types), written
// directly without building the intermediate messages. Encoding the order is on the single
// writer's path for every change, and this is several times faster than building and visiting the
// generated messages. `Order.proto` and `OrderDraft.proto` (OrderMapping.swift) decode these bytes.

import WaybillCore

/// Appends protobuf wire-format fields to a byte buffer. Proto3 rules: scalar fields equal to their
/// default are not written; messages are written when present.
public struct ProtoWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    @inline(__always) mutating func tag(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        tag(field, 2)
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func int64(_ field: Int, _ value: Int64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: value))
    }

    /// int32 and enums: negative values are sign-extended to ten bytes, as protobuf requires.
    mutating func int32(_ field: Int, _ value: Int32) { int64(field, Int64(value)) }

    mutating func uint64(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(value)
    }

    mutating func bool(_ field: Int, _ value: Bool) {
        guard value else { return }
        tag(field, 0)
        bytes.append(1)
    }

    mutating func double(_ field: Int, _ value: Double) {
        guard value != 0 else { return }
        tag(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A string written even when empty (map entries, repeated strings).
    mutating func stringAlways(_ field: Int, _ value: String) {
        tag(field, 2)
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A length-delimited nested message (written even when empty: it is present). The body is
    /// written in place after a one-byte length; a body of 128 bytes or more (rare) is moved up
    /// to make room for its longer length. No buffer per nested message.
    mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        tag(field, 2)
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        var value = UInt64(length)
        while value >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        prefix.append(UInt8(value))
        bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix)
    }
}

extension ProtoWriter {
    mutating func money(_ field: Int, _ money: Money) {
        message(field) { w in
            w.int64(1, money.minorUnits)
            w.string(2, money.currency)
        }
    }

    mutating func lineQuantities(_ field: Int, _ q: LineQuantities) {
        message(field) { w in
            w.int32(1, q.cancelled)
            w.int32(2, q.backordered)
            w.int32(3, q.allocated)
            w.int32(4, q.released)
            w.int32(5, q.picked)
            w.int32(6, q.packed)
            w.int32(7, q.shipped)
            w.int32(8, q.delivered)
            w.int32(9, q.returnRequested)
            w.int32(10, q.returned)
        }
    }

    mutating func customer(_ field: Int, _ customer: Customer) {
        message(field) { w in
            w.string(1, customer.customerID)
            w.string(2, customer.name)
            w.string(3, customer.email)
            w.string(4, customer.phone)
        }
    }

    mutating func address(_ field: Int, _ address: Address) {
        message(field) { w in
            w.string(1, address.name)
            // Repeated strings are written even when empty.
            for line in address.lines { w.stringAlways(2, line) }
            w.string(3, address.city)
            w.string(4, address.region)
            w.string(5, address.postalCode)
            w.string(6, address.country)
            if let coordinates = address.coordinates {
                w.message(7) { w in
                    w.double(1, coordinates.latitude)
                    w.double(2, coordinates.longitude)
                }
            }
            w.string(8, address.phone)
        }
    }

    /// An order line: the captured fields, then (orders only, not drafts) status and quantities.
    mutating func orderLine(_ field: Int, lineID: String, sku: SKU, quantity: Int32, unitPrice: Money,
                            status: LineStatus?, quantities: LineQuantities?, supply: OrderLine? = nil) {
        message(field) { w in
            w.string(1, lineID)
            w.string(2, sku.rawValue)
            w.int32(3, quantity)
            w.money(4, unitPrice)
            if let status { w.int32(5, Int32(status.rawValue)) }
            if let quantities { w.lineQuantities(6, quantities) }
            if let supply {
                w.int32(7, supply.preordered)
                w.int64(8, supply.expectedSupplyAt.millisecondsSinceEpoch)
                w.int64(9, supply.backorderPromisedAt.millisecondsSinceEpoch)
            }
        }
    }

    mutating func requestedFulfillment(_ field: Int, _ fulfillment: RequestedFulfillment) {
        message(field) { w in
            w.int32(1, Int32(fulfillment.method == .pickup ? 2 : 1))
            w.string(2, fulfillment.pickupLocationID?.rawValue ?? "")
            w.int32(3, Int32(fulfillment.serviceLevel.rawValue))
        }
    }

    /// A waybill.v1.RoutingDecision's fields (the body of the message).
    mutating func routingDecisionFields(_ d: RoutingDecision) {
        int64(1, d.policyVersion)
        int64(2, d.decidedAt.millisecondsSinceEpoch)
        string(3, d.trigger)
        for location in d.locations {
            message(4) { w in
                w.string(1, location.locationID.rawValue)
                w.bool(2, location.chosen)
                w.string(3, location.reason)
                w.double(4, location.score)
                w.int32(5, location.code.rawValue)
            }
        }
        int32(5, d.shipments)
        if let cost = d.totalCostEstimate { money(6, cost) }
        int32(7, d.backorderedUnits)
        int32(8, d.candidateSetsExamined)
        bool(9, d.searchTruncated)
        string(10, d.destinationApproximation)
    }

    mutating func hold(_ field: Int, _ hold: Hold) {
        message(field) { w in
            w.int32(1, Int32(hold.reason.rawValue))
            w.string(2, hold.note)
            w.int64(3, hold.placedAt.millisecondsSinceEpoch)
        }
    }

    /// Map entries in key order (deterministic; protobuf accepts any order).
    mutating func attributes(_ field: Int, _ attributes: [String: String]) {
        for key in attributes.keys.sorted() {
            message(field) { w in
                w.stringAlways(1, key)
                w.stringAlways(2, attributes[key]!)
            }
        }
    }

    /// The fields of a waybill.v1.Exchange (Return.exchange).
    mutating func exchange(_ e: Exchange) {
        int32(1, Int32(e.reserveAt.rawValue))
        int32(2, Int32(e.status.rawValue))
        for line in e.lines {
            orderLine(3, lineID: line.lineID, sku: line.sku, quantity: line.quantity, unitPrice: line.unitPrice, status: nil, quantities: nil)
        }
        string(4, e.externalOrderID)
        address(5, e.shipTo)
        requestedFulfillment(6, e.fulfillment)
        string(7, e.replacementOrderID?.rawValue ?? "")
        money(8, e.creditAmount)
        money(9, e.newOrderAmount)
        money(10, e.priceDifference)
        string(11, e.failureReason)
    }

    mutating func returnLine(_ field: Int, _ line: ReturnLine) {
        message(field) { w in
            w.string(1, line.lineID)
            w.int32(2, line.quantity)
            w.int32(3, Int32(line.disposition?.rawValue ?? 0))
        }
    }
}

extension Order {
    /// The serialized waybill.v1.Order: what `proto.serializedBytes()` produces, faster.
    /// `audit: false` leaves out `routing_decisions` and `history` (the lean form change events carry).
    public func encodedProto(audit: Bool = true) -> [UInt8] {
        var w = ProtoWriter(capacity: 1024)
        var marks = AuditMarks()
        encode(into: &w, audit: audit, marks: &marks)
        return w.bytes
    }

    /// Both forms from one encoding: `full` as `encodedProto()`, `lean` as `encodedProto(audit: false)`
    /// (byte for byte). The audit fields (14, 16) are contiguous runs of the full form, so the lean
    /// form is the full one without them.
    public func encodedProtoForms() -> (full: [UInt8], lean: [UInt8]) {
        var w = ProtoWriter(capacity: 1024)
        var marks = AuditMarks()
        encode(into: &w, audit: true, marks: &marks)
        let full = w.bytes
        var lean: [UInt8] = []
        lean.reserveCapacity(full.count - (marks.routingEnd - marks.routingStart) - (marks.historyEnd - marks.historyStart))
        lean.append(contentsOf: full[..<marks.routingStart])
        lean.append(contentsOf: full[marks.routingEnd..<marks.historyStart])
        lean.append(contentsOf: full[marks.historyEnd...])
        return (full, lean)
    }

    /// Where the audit fields start and end in an encoding.
    struct AuditMarks {
        var routingStart = 0, routingEnd = 0, historyStart = 0, historyEnd = 0
    }

    private func encode(into w: inout ProtoWriter, audit: Bool, marks: inout AuditMarks) {
        w.string(1, orderID.rawValue)
        w.int32(2, Int32(channel.rawValue))
        w.string(3, externalOrderID)
        w.customer(4, customer)
        w.address(5, shipTo)
        for line in lines {
            w.orderLine(6, lineID: line.lineID, sku: line.sku, quantity: line.quantity, unitPrice: line.unitPrice,
                        status: line.status, quantities: line.quantities, supply: line)
        }
        w.requestedFulfillment(7, requestedFulfillment)
        w.int64(8, createdAt.millisecondsSinceEpoch)
        w.int32(9, Int32(status.rawValue))
        w.int64(10, capturedAt.millisecondsSinceEpoch)
        w.int64(11, updatedAt.millisecondsSinceEpoch)
        for hold in holds { w.hold(12, hold) }
        for f in fulfillments {
            w.message(13) { w in
                w.string(1, f.fulfillmentID)
                w.string(2, f.locationID.rawValue)
                w.int32(3, Int32(f.method == .pickup ? 2 : 1))
                w.int32(4, Int32(f.status.rawValue))
                for line in f.lines {
                    w.message(5) { w in
                        w.string(1, line.lineID)
                        w.string(2, line.sku.rawValue)
                        w.int32(3, line.quantity)
                    }
                }
                w.string(6, f.carrierID)
                w.string(7, f.carrierService)
                w.string(8, f.trackingNumber)
                if let cost = f.shippingCostEstimate { w.money(9, cost) }
                w.int32(10, f.transitDaysEstimate)
                w.int64(11, f.processingDay)
                w.int64(12, f.createdAt.millisecondsSinceEpoch)
                w.int64(13, f.releasedAt.millisecondsSinceEpoch)
                w.int64(14, f.shippedAt.millisecondsSinceEpoch)
                w.int64(15, f.deliveredAt.millisecondsSinceEpoch)
                w.int64(16, f.promisedDeliveryAt.millisecondsSinceEpoch)
                w.string(17, f.rejectionReason)
                w.int32(18, f.routingDecisionIndex)
            }
        }
        marks.routingStart = w.bytes.count
        for d in routingDecisions where audit {
            w.message(14) { w in w.routingDecisionFields(d) }
        }
        marks.routingEnd = w.bytes.count
        for ret in returns {
            w.message(15) { w in
                w.string(1, ret.returnID)
                w.int32(2, Int32(ret.status.rawValue))
                for line in ret.lines { w.returnLine(3, line) }
                for line in ret.received { w.returnLine(4, line) }
                w.string(5, ret.reason)
                w.string(6, ret.receivedAtLocationID?.rawValue ?? "")
                if let refund = ret.refund { w.money(7, refund) }
                w.int64(8, ret.requestedAt.millisecondsSinceEpoch)
                w.int64(9, ret.receivedAt.millisecondsSinceEpoch)
                if let exchange = ret.exchange { w.message(10) { w in w.exchange(exchange) } }
            }
        }
        marks.historyStart = w.bytes.count
        for entry in history where audit {
            w.message(16) { w in
                w.int64(1, entry.at.millisecondsSinceEpoch)
                w.string(2, entry.action)
                w.string(3, entry.reason)
                w.string(4, entry.clientID)
                w.string(5, entry.requestID)
                w.string(6, entry.detail)
                w.int64(7, entry.version)
            }
        }
        marks.historyEnd = w.bytes.count
        if erp != ErpOrderState() {
            w.message(17) { w in
                w.string(1, erp.documentNumber)
                w.int32(2, Int32(erp.postingStatus?.rawValue ?? 0))
                w.int64(3, erp.acknowledgedAt.millisecondsSinceEpoch)
                for document in erp.documents {
                    w.message(4) { w in
                        w.string(1, document.kind)
                        w.string(2, document.documentNumber)
                        if let amount = document.amount { w.money(3, amount) }
                        w.int64(4, document.postedAt.millisecondsSinceEpoch)
                    }
                }
            }
        }
        w.int64(18, version)
        w.attributes(19, attributes)
        for location in excludedLocationIDs { w.stringAlways(20, location.rawValue) }
        if let cartID { w.string(21, cartID) }
        if let captured = capturedContent {
            w.message(22) { w in
                w.address(1, captured.shipTo)
                for line in captured.lines {
                    w.orderLine(2, lineID: line.lineID, sku: line.sku, quantity: line.quantity, unitPrice: line.unitPrice,
                                status: nil, quantities: nil)
                }
                w.requestedFulfillment(3, captured.fulfillment)
            }
        }
        if let link = exchangeOf {
            w.message(23) { w in
                w.string(1, link.orderID.rawValue)
                w.string(2, link.returnID)
            }
        }
    }
}

extension OrderDraft {
    /// The draft as the waybill.v1.Order a client sends to CaptureOrder: the capture fields only.
    public func encodedProto() -> [UInt8] {
        var w = ProtoWriter(capacity: 512)
        w.int32(2, Int32(channel?.rawValue ?? 0))
        w.string(3, externalOrderID)
        w.customer(4, customer)
        w.address(5, shipTo)
        for line in lines {
            w.orderLine(6, lineID: line.lineID, sku: line.sku, quantity: line.quantity, unitPrice: line.unitPrice,
                        status: nil, quantities: nil)
        }
        w.requestedFulfillment(7, fulfillment)
        w.int64(8, createdAt.millisecondsSinceEpoch)
        for hold in holds { w.hold(12, hold) }
        w.attributes(19, attributes)
        if let cartID { w.string(21, cartID) }
        return w.bytes
    }
}

extension DomainEvent {
    /// The serialized change event. Order events — the hot path — are encoded directly, carrying the
    /// order without its audit trail (routing explanations and history stay with GetOrder and
    /// GetOrderHistory): half the bytes on every commit. The rest go through the generated message.
    public func encoded(offset: UInt64) throws -> [UInt8] {
        guard case .order(let order) = aggregate else { return try encoded(offset: offset, orderBytes: nil) }
        return try encoded(offset: offset, orderBytes: order.encodedProto(audit: false))
    }

    /// The serialized change event with `orderBytes` as its order (field 11).
    public func encoded(offset: UInt64, orderBytes: [UInt8]?) throws -> [UInt8] {
        guard case .order(let order) = aggregate else {
            return try protoWithoutOrder(offset: offset).serializedBytes()
        }
        var w = ProtoWriter(capacity: 96 + (orderBytes?.count ?? 0))
        w.uint64(1, offset)
        w.string(2, "evt-\(offset)")
        w.string(3, type)
        w.string(4, aggregateType)
        w.string(5, aggregateID)
        w.int64(6, aggregateSequence)
        w.int64(7, occurredAt.millisecondsSinceEpoch)
        w.string(8, order.orderID.rawValue)
        let body = orderBytes ?? order.encodedProto()
        w.tag(DomainEvent.orderFieldNumber, 2)
        w.varint(UInt64(body.count))
        w.bytes.append(contentsOf: body)
        w.string(15, clientID)
        w.string(16, detail)
        w.string(17, fulfillmentID)
        w.string(18, returnID)
        return w.bytes
    }
}
