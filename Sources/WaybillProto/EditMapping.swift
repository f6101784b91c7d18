// EditOrder's wire messages to and from core `OrderEdit`s (the server maps requests in, the
// simulator's live driver and the CLI map edits out).

import WaybillCore

extension OrderEdit {
    /// One wire edit; `field` names it in errors ("edits[2]").
    public init(proto edit: Waybill_V1_OrderEdit, field: String) throws(DomainError) {
        switch edit.edit {
        case nil:
            throw DomainError.invalid(field, "names no edit: set one of change_ship_to, change_service_level, "
                                          + "change_line_quantity, add_line, replace_sku")
        case .changeShipTo(let change)?:
            if !change.hasShipTo { throw DomainError.invalid("\(field).change_ship_to.ship_to", "is required") }
            self = .changeShipTo(Address(proto: change.shipTo))
        case .changeServiceLevel(let change)?:
            switch change.serviceLevel {
            case .standard: self = .changeServiceLevel(.standard)
            case .expedited: self = .changeServiceLevel(.expedited)
            case .nextDay: self = .changeServiceLevel(.nextDay)
            case .unspecified, .UNRECOGNIZED:
                throw DomainError.invalid("\(field).change_service_level.service_level", "is required: STANDARD, EXPEDITED or NEXT_DAY")
            }
        case .changeLineQuantity(let change)?:
            self = .changeLineQuantity(lineID: change.lineID, quantity: change.quantity)
        case .addLine(let add)?:
            if !add.hasLine { throw DomainError.invalid("\(field).add_line.line", "is required") }
            if !add.line.hasUnitPrice { throw DomainError.invalid("\(field).add_line.line.unit_price", "is required") }
            self = .addLine(DraftLine(lineID: add.line.lineID, sku: SKU(add.line.sku), quantity: add.line.quantity,
                                      unitPrice: Money(proto: add.line.unitPrice)))
        case .replaceSku(let replace)?:
            self = .replaceSKU(lineID: replace.lineID, sku: SKU(replace.sku),
                               unitPrice: replace.hasUnitPrice ? Money(proto: replace.unitPrice) : nil)
        }
    }

    public var proto: Waybill_V1_OrderEdit {
        var message = Waybill_V1_OrderEdit()
        switch self {
        case .changeShipTo(let address):
            message.changeShipTo = Waybill_V1_ChangeShipTo.with { $0.shipTo = address.proto }
        case .changeServiceLevel(let level):
            message.changeServiceLevel = Waybill_V1_ChangeServiceLevel.with {
                $0.serviceLevel = Waybill_V1_ServiceLevel(rawValue: level.rawValue) ?? .standard
            }
        case .changeLineQuantity(let lineID, let quantity):
            message.changeLineQuantity = Waybill_V1_ChangeLineQuantity.with {
                $0.lineID = lineID
                $0.quantity = quantity
            }
        case .addLine(let line):
            message.addLine = Waybill_V1_AddLine.with {
                $0.line = Waybill_V1_OrderLine.with {
                    $0.lineID = line.lineID
                    $0.sku = line.sku.rawValue
                    $0.quantity = line.quantity
                    $0.unitPrice = line.unitPrice.proto
                }
            }
        case .replaceSKU(let lineID, let sku, let unitPrice):
            message.replaceSku = Waybill_V1_ReplaceSku.with {
                $0.lineID = lineID
                $0.sku = sku.rawValue
                if let unitPrice { $0.unitPrice = unitPrice.proto }
            }
        }
        return message
    }
}

extension Waybill_V1_EditOrderRequest {
    /// The request for `edits` of `orderID` under idempotency key `requestID`.
    public init(requestID: String, orderID: String, edits: [OrderEdit], reason: String) {
        self.init()
        self.requestID = requestID
        self.orderID = orderID
        self.edits = edits.map(\.proto)
        self.reason = reason
    }

    /// The core edits of this request (each checked for shape; the engine checks the rest).
    public func coreEdits() throws(DomainError) -> [OrderEdit] {
        var result: [OrderEdit] = []
        for (index, edit) in edits.enumerated() { result.append(try OrderEdit(proto: edit, field: "edits[\(index)]")) }
        return result
    }
}
