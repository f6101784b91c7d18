/// A change-feed event before storage gives it an offset.
public struct DomainEvent: Sendable {
    public enum Aggregate: Sendable {
        case order(Order)
        case inventory(SKU, LocationID, Movement?, Balance)
        case item(Item)
        /// An ERP record Waybill asks the ERP to act on (reconciliation repairs): the order id the
        /// record refers to and its ERP document number. The event's detail carries the document number.
        case erpRecord(orderID: OrderID, documentNumber: String)
        /// A checkout cart (Engine+Carts.swift).
        case cart(Cart)
        /// An expected receipt (Engine+Supply.swift).
        case receipt(ExpectedReceipt)
    }
    public var type: String
    public var aggregate: Aggregate
    public var aggregateSequence: Int64
    public var occurredAt: Timestamp
    public var clientID: String
    public var detail: String
    public var fulfillmentID: String = ""
    public var returnID: String = ""

    public init(type: String, aggregate: Aggregate, aggregateSequence: Int64, occurredAt: Timestamp, clientID: String, detail: String) {
        self.type = type
        self.aggregate = aggregate
        self.aggregateSequence = aggregateSequence
        self.occurredAt = occurredAt
        self.clientID = clientID
        self.detail = detail
    }

    public var aggregateType: String {
        switch aggregate {
        case .order: "order"
        case .inventory: "inventory"
        case .item: "item"
        case .erpRecord: "erp_record"
        case .cart: "cart"
        case .receipt: "receipt"
        }
    }
    public var aggregateID: String {
        switch aggregate {
        case .order(let order): order.orderID.rawValue
        case .inventory(let sku, let location, _, _): "\(sku.rawValue)@\(location.rawValue)"
        case .item(let item): item.sku.rawValue
        case .erpRecord(let orderID, let documentNumber): "\(orderID.rawValue)/\(documentNumber)"
        case .cart(let cart): cart.key.description
        case .receipt(let receipt): receipt.receiptID
        }
    }
}
