// What the bridge sends the ERP for one change-feed event. The order fields carry exactly what
// `Reconciler.erpStatus` and `Reconciler.erpLines` say, so an ERP that applied every delivered
// message (latest aggregate sequence wins) reconciles with Waybill to zero.

import Foundation
import WaybillCore
import WaybillProto

public struct ErpLine: Codable, Hashable, Sendable {
    public var sku: String
    public var quantity: Int32
    public init(sku: String, quantity: Int32) {
        self.sku = sku
        self.quantity = quantity
    }
}

/// A change of physical stock an order event caused (a shipment leaves, a restocked return comes back).
public struct ErpStockChange: Codable, Hashable, Sendable {
    public var sku: String
    public var locationId: String
    public var onHandDelta: Int64
    public init(sku: String, locationId: String, onHandDelta: Int64) {
        self.sku = sku
        self.locationId = locationId
        self.onHandDelta = onHandDelta
    }
}

/// The carrier a fulfillment left with.
public struct ErpCarrier: Codable, Hashable, Sendable {
    public var carrierId: String
    /// The carrier's service ("ground", "express", ...); empty when routing named none.
    public var service: String
    public init(carrierId: String, service: String) {
        self.carrierId = carrierId
        self.service = service
    }
}

/// An exchange as the ERP posts it: a credit note for the returned units (`creditAmountMinor`) and
/// an invoice for the replacement order (`newOrderAmountMinor`); the customer pays (> 0) or is owed
/// (< 0) `priceDifferenceMinor`.
public struct ErpExchange: Codable, Hashable, Sendable {
    public var returnId: String
    /// "pending", "created", "cancelled" or "failed".
    public var status: String
    /// Set once the replacement order exists.
    public var replacementOrderId: String?
    public var currency: String
    public var creditAmountMinor: Int64
    public var newOrderAmountMinor: Int64
    public var priceDifferenceMinor: Int64

    public init(returnId: String, exchange: Exchange) {
        self.returnId = returnId
        status = exchange.status.description.lowercased()
        replacementOrderId = exchange.replacementOrderID?.rawValue
        currency = exchange.newOrderAmount.currency
        creditAmountMinor = exchange.creditAmount.minorUnits
        newOrderAmountMinor = exchange.newOrderAmount.minorUnits
        priceDifferenceMinor = exchange.priceDifference.minorUnits
    }
}

public struct ErpMessage: Codable, Hashable, Sendable {
    /// The event id ("evt-<offset>"): also the Idempotency-Key of every delivery. The ERP dedupes on it.
    public var idempotencyKey: String
    public var eventId: String
    public var offset: UInt64
    /// "order.captured", "order.fulfillment_shipped", "inventory.received", "erp.void_requested", ...
    public var type: String
    /// "order", "inventory", "item" or "erp_record".
    public var aggregateType: String
    public var aggregateId: String
    /// 1, 2, 3, ... per aggregate: a message with a lower sequence than the ERP holds is stale.
    public var aggregateSequence: Int64
    public var occurredAtUnixMs: Int64
    public var orderId: String?
    // Orders
    public var channel: String?
    public var externalOrderId: String?
    /// The order status as the ERP should record it (Reconciler.erpStatus).
    public var erpStatus: String?
    /// Net ordered quantity per SKU (Reconciler.erpLines), sorted by SKU.
    public var erpLines: [ErpLine]?
    public var currency: String?
    /// Σ net quantity × unit price, in minor units.
    public var orderAmountMinor: Int64?
    /// Σ shipped quantity × unit price, in minor units (what can be invoiced).
    public var shippedAmountMinor: Int64?
    /// Σ returned quantity × unit price, in minor units (what may be credited).
    public var returnedAmountMinor: Int64?
    public var fulfillmentId: String?
    /// order.fulfillment_shipped and order.fulfillment_delivered: the carrier and tracking number
    /// of that fulfillment, as confirmed at shipment.
    public var carrier: ErpCarrier?
    public var trackingNumber: String?
    public var returnId: String?
    /// Stock this event moved: order.fulfillment_shipped (−units at the shipping location) and
    /// order.return_received (+units restocked). Inventory events carry the position instead.
    public var stockChanges: [ErpStockChange]?
    /// Every event of an exchange's replacement order: the original order and return it replaces
    /// units of (the ERP links the new order's invoice to the credit note).
    public var exchangeOfOrderId: String?
    public var exchangeOfReturnId: String?
    /// order.return_created, order.return_received and order.exchange_created of a return that is
    /// an exchange: its status, replacement and money.
    public var exchange: ErpExchange?
    /// The ERP document number: the order's (once acknowledged), or the record an erp.* event concerns.
    public var erpDocumentNumber: String?
    // Inventory and items
    public var sku: String?
    public var locationId: String?
    public var movementKind: String?
    public var onHandDelta: Int64?
    public var onHand: Int64?
    public var reserved: Int64?
    public var itemDescription: String?
    public var detail: String?

    /// Transforms one change-feed event. Throws when an order event's order does not decode.
    public init(event: Waybill_V1_ChangeEvent) throws {
        idempotencyKey = event.eventID
        eventId = event.eventID
        offset = event.offset
        type = event.type
        aggregateType = event.aggregateType
        aggregateId = event.aggregateID
        aggregateSequence = event.aggregateSequence
        occurredAtUnixMs = event.occurredAtUnixMs
        orderId = event.orderID.isEmpty ? nil : event.orderID
        fulfillmentId = event.fulfillmentID.isEmpty ? nil : event.fulfillmentID
        returnId = event.returnID.isEmpty ? nil : event.returnID
        detail = event.detail.isEmpty ? nil : event.detail
        switch event.aggregateType {
        case "order":
            let order: Order
            do {
                order = try Order(proto: event.order)
            } catch {
                throw BridgeError.untransformable("event \(event.eventID): order \(event.orderID) does not decode: \(error)")
            }
            channel = order.channel.name
            externalOrderId = order.externalOrderID
            erpStatus = Reconciler.erpStatus(order)
            erpLines = Reconciler.erpLines(order).sorted { $0.key < $1.key }.map { ErpLine(sku: $0.key.rawValue, quantity: $0.value) }
            currency = order.currency
            orderAmountMinor = order.lines.reduce(0) { $0 + Int64($1.activeQuantity) * $1.unitPrice.minorUnits }
            shippedAmountMinor = order.lines.reduce(0) { $0 + Int64($1.quantities.shipped) * $1.unitPrice.minorUnits }
            returnedAmountMinor = order.lines.reduce(0) { $0 + Int64($1.quantities.returned) * $1.unitPrice.minorUnits }
            if !order.erp.documentNumber.isEmpty { erpDocumentNumber = order.erp.documentNumber }
            stockChanges = Self.stockChanges(event.type, order: order, fulfillmentID: event.fulfillmentID, returnID: event.returnID)
            if let link = order.exchangeOf {
                exchangeOfOrderId = link.orderID.rawValue
                exchangeOfReturnId = link.returnID
            }
            if !event.returnID.isEmpty, let ret = order.returns.first(where: { $0.returnID == event.returnID }), let e = ret.exchange {
                exchange = ErpExchange(returnId: ret.returnID, exchange: e)
            }
            if event.type == "order.fulfillment_shipped" || event.type == "order.fulfillment_delivered",
               let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == event.fulfillmentID }) {
                if !fulfillment.carrierID.isEmpty { carrier = ErpCarrier(carrierId: fulfillment.carrierID, service: fulfillment.carrierService) }
                if !fulfillment.trackingNumber.isEmpty { trackingNumber = fulfillment.trackingNumber }
            }
        case "inventory":
            sku = event.sku
            locationId = event.locationID
            if event.hasMovement {
                movementKind = event.movement.kind
                onHandDelta = event.movement.onHandDelta
            }
            onHand = event.position.onHand
            reserved = event.position.reserved
        case "item":
            sku = event.sku
            itemDescription = event.item.description_p
        case "erp_record":
            erpDocumentNumber = event.detail
        case "receipt":
            locationId = event.locationID
        default:
            break
        }
    }

    static func stockChanges(_ type: String, order: Order, fulfillmentID: String, returnID: String) -> [ErpStockChange]? {
        switch type {
        case "order.fulfillment_shipped":
            guard let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == fulfillmentID }) else { return nil }
            return fulfillment.lines.map { ErpStockChange(sku: $0.sku.rawValue, locationId: fulfillment.locationID.rawValue, onHandDelta: -Int64($0.quantity)) }
        case "order.return_received":
            guard let ret = order.returns.first(where: { $0.returnID == returnID }), let location = ret.receivedAtLocationID else { return nil }
            let changes = ret.received.compactMap { line -> ErpStockChange? in
                guard line.disposition == .restock, line.quantity > 0, let index = order.lineIndex(line.lineID) else { return nil }
                return ErpStockChange(sku: order.lines[index].sku.rawValue, locationId: location.rawValue, onHandDelta: Int64(line.quantity))
            }
            return changes.isEmpty ? nil : changes
        default:
            return nil
        }
    }

    /// A message for tests and replays.
    public init(eventId: String, offset: UInt64, type: String, aggregateType: String, aggregateId: String, aggregateSequence: Int64) {
        idempotencyKey = eventId
        self.eventId = eventId
        self.offset = offset
        self.type = type
        self.aggregateType = aggregateType
        self.aggregateId = aggregateId
        self.aggregateSequence = aggregateSequence
        occurredAtUnixMs = 0
    }

    /// The aggregate whose messages must stay in order.
    public var orderingKey: String { aggregateType + ":" + aggregateId }

    /// Compact JSON with sorted keys (one line: JSON-lines files, webhook bodies).
    public func json() throws -> Data { try Self.encoder.encode(self) }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decode(_ data: Data) throws -> ErpMessage { try JSONDecoder().decode(ErpMessage.self, from: data) }

    // MARK: CSV

    public static let csvColumns = [
        "event_id", "offset", "type", "aggregate_type", "aggregate_id", "aggregate_sequence", "occurred_at_unix_ms",
        "order_id", "channel", "external_order_id", "erp_status", "erp_lines", "currency", "order_amount_minor",
        "shipped_amount_minor", "returned_amount_minor", "fulfillment_id", "return_id", "erp_document_number",
        "sku", "location_id", "movement_kind", "on_hand_delta", "on_hand", "reserved", "detail",
        // Appended (importers that read columns by position keep working):
        "stock_changes", "item_description", "carrier_id", "carrier_service", "tracking_number",
        "exchange_of_order_id", "exchange_of_return_id", "exchange_status", "exchange_replacement_order_id",
        "exchange_credit_amount_minor", "exchange_new_order_amount_minor", "exchange_price_difference_minor",
    ]

    /// One RFC 4180 row in `csvColumns` order; erp_lines is "SKU:QTY;SKU:QTY", stock_changes is
    /// "SKU@LOCATION:DELTA;..." (delta signed: -2 left, +1 came back).
    public var csvRow: String {
        func text(_ value: String?) -> String { value ?? "" }
        func number<T: BinaryInteger>(_ value: T?) -> String { value.map { String($0) } ?? "" }
        let fields: [String] = [
            eventId, String(offset), type, aggregateType, aggregateId, String(aggregateSequence), String(occurredAtUnixMs),
            text(orderId), text(channel), text(externalOrderId), text(erpStatus),
            erpLines.map { $0.map { "\($0.sku):\($0.quantity)" }.joined(separator: ";") } ?? "",
            text(currency), number(orderAmountMinor), number(shippedAmountMinor), number(returnedAmountMinor),
            text(fulfillmentId), text(returnId), text(erpDocumentNumber), text(sku), text(locationId), text(movementKind),
            number(onHandDelta), number(onHand), number(reserved), text(detail),
            stockChanges.map { $0.map { "\($0.sku)@\($0.locationId):\($0.onHandDelta > 0 ? "+" : "")\($0.onHandDelta)" }.joined(separator: ";") } ?? "",
            text(itemDescription), text(carrier?.carrierId), text(carrier?.service), text(trackingNumber),
            text(exchangeOfOrderId), text(exchangeOfReturnId), text(exchange?.status), text(exchange?.replacementOrderId),
            number(exchange?.creditAmountMinor), number(exchange?.newOrderAmountMinor), number(exchange?.priceDifferenceMinor),
        ]
        return fields.map(Self.csvEscape).joined(separator: ",")
    }

    static func csvEscape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

public enum BridgeError: Error, CustomStringConvertible, Sendable {
    case untransformable(String)
    case deadLetterStoreFull(Int)
    case io(String)

    public var description: String {
        switch self {
        case .untransformable(let message): message
        case .deadLetterStoreFull(let max): "the dead-letter store is full (deadLettersMax = \(max)): replay or remove dead letters; the bridge holds its position meanwhile"
        case .io(let message): message
        }
    }
}
