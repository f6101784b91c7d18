// Expected receipts on the wire and in storage (waybill.v1.ExpectedReceipt, proto/waybill/v1/inventory.proto).

import WaybillCore

extension ExpectedReceipt {
    /// A receipt as the ERP sends it (ErpService.ApplyExpectedReceipts) or as stored. Unknown
    /// status and kind values are refused; UNSPECIFIED means OPEN and PURCHASE_ORDER.
    public init(proto r: Waybill_V1_ExpectedReceipt) throws(DomainError) {
        let kind: ExpectedReceiptKind
        switch r.kind {
        case .unspecified, .purchaseOrder: kind = .purchaseOrder
        case .transfer: kind = .transfer
        case .UNRECOGNIZED(let value): throw DomainError.invalid("kind", "unknown receipt kind \(value)")
        }
        let status: Status
        switch r.status {
        case .unspecified, .open: status = .open
        case .received: status = .received
        case .cancelled: status = .cancelled
        case .UNRECOGNIZED(let value): throw DomainError.invalid("status", "unknown receipt status \(value)")
        }
        self.init(receiptID: r.receiptID, kind: kind, locationID: LocationID(r.locationID),
                  expectedAt: Timestamp(millisecondsSinceEpoch: r.expectedAtUnixMs),
                  lines: r.lines.map { ExpectedReceiptLine(sku: SKU($0.sku), quantity: $0.quantity) }, status: status)
        updatedAt = Timestamp(millisecondsSinceEpoch: r.updatedAtUnixMs)
        version = r.version
    }

    public var proto: Waybill_V1_ExpectedReceipt {
        Waybill_V1_ExpectedReceipt.with { r in
            r.receiptID = receiptID
            r.kind = kind == .transfer ? .transfer : .purchaseOrder
            r.locationID = locationID.rawValue
            r.expectedAtUnixMs = expectedAt.millisecondsSinceEpoch
            r.lines = lines.map { line in Waybill_V1_ExpectedReceiptLine.with { $0.sku = line.sku.rawValue; $0.quantity = line.quantity } }
            r.status = switch status {
            case .open: .open
            case .received: .received
            case .cancelled: .cancelled
            }
            r.updatedAtUnixMs = updatedAt.millisecondsSinceEpoch
            r.version = version
        }
    }
}

extension SupplySlot {
    public var proto: Waybill_V1_ExpectedSupply {
        Waybill_V1_ExpectedSupply.with {
            $0.receiptID = receiptID
            $0.quantity = quantity
            $0.expectedAtUnixMs = expectedAt.millisecondsSinceEpoch
        }
    }
}
