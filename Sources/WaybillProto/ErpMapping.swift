// Reconciliation types ↔ waybill.v1 messages (erp.proto).

import WaybillCore

extension ErpExtract {
    /// Validates and converts an extract: ids and SKUs must be present.
    public init(proto: Waybill_V1_ErpExtract) throws {
        var orders: [ErpOrderRecord] = []
        for (index, record) in proto.orders.enumerated() {
            if record.orderID.isEmpty { throw DomainError.invalid("extract.orders[\(index)].order_id", "is required") }
            var lines: [SKU: Int32] = [:]
            for (lineIndex, line) in record.lines.enumerated() {
                if line.sku.isEmpty { throw DomainError.invalid("extract.orders[\(index)].lines[\(lineIndex)].sku", "is required") }
                lines[SKU(line.sku), default: 0] += line.quantity
            }
            orders.append(ErpOrderRecord(orderID: OrderID(record.orderID), documentNumber: record.erpDocumentNumber,
                                         status: record.status, lines: lines))
        }
        var stock: [ErpStockRecord] = []
        for (index, record) in proto.stock.enumerated() {
            if record.sku.isEmpty { throw DomainError.invalid("extract.stock[\(index)].sku", "is required") }
            if record.locationID.isEmpty { throw DomainError.invalid("extract.stock[\(index)].location_id", "is required") }
            stock.append(ErpStockRecord(key: InventoryKey(sku: SKU(record.sku), locationID: LocationID(record.locationID)), onHand: record.onHand))
        }
        self.init(asOf: Timestamp(millisecondsSinceEpoch: proto.asOfUnixMs), orders: orders, stock: stock,
                  includeOrdersAfterAsOf: proto.includeOrdersAfterAsOf)
    }

    public var proto: Waybill_V1_ErpExtract {
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = asOf.millisecondsSinceEpoch
        extract.includeOrdersAfterAsOf = includeOrdersAfterAsOf
        extract.orders = orders.map { record in
            var r = Waybill_V1_ErpOrderRecord()
            r.orderID = record.orderID.rawValue
            r.erpDocumentNumber = record.documentNumber
            r.status = record.status
            r.lines = record.lines.sorted { $0.key < $1.key }.map { sku, quantity in
                var line = Waybill_V1_ErpOrderLine()
                line.sku = sku.rawValue
                line.quantity = quantity
                return line
            }
            return r
        }
        extract.stock = stock.map { record in
            var s = Waybill_V1_ErpStockRecord()
            s.sku = record.key.sku.rawValue
            s.locationID = record.key.locationID.rawValue
            s.onHand = record.onHand
            return s
        }
        return extract
    }
}

extension DiscrepancyKind {
    public var proto: Waybill_V1_DiscrepancyKind { Waybill_V1_DiscrepancyKind(rawValue: rawValue) ?? .unspecified }
    public init?(proto: Waybill_V1_DiscrepancyKind) { self.init(rawValue: proto.rawValue) }
}

extension Discrepancy {
    public func proto(repaired: Bool) -> Waybill_V1_Discrepancy {
        var d = Waybill_V1_Discrepancy()
        d.kind = kind.proto
        d.orderID = orderID?.rawValue ?? ""
        d.sku = key?.sku.rawValue ?? ""
        d.locationID = key?.locationID.rawValue ?? ""
        d.waybillValue = waybillValue
        d.erpValue = erpValue
        d.detail = detail
        d.repairAction = repairAction
        d.repaired = repaired
        return d
    }
}

extension ReconciliationResult {
    /// The report: every discrepancy, a count for every kind (zeros included), and the repairs.
    public func report(repaired: [Bool]? = nil, repairedCount: Int = 0) -> Waybill_V1_ReconcileReport {
        var report = Waybill_V1_ReconcileReport()
        report.discrepancies = discrepancies.enumerated().map { index, d in d.proto(repaired: repaired?[index] ?? false) }
        report.counts = DiscrepancyKind.allCases.map { kind in
            var count = Waybill_V1_DiscrepancyCount()
            count.kind = kind.proto
            count.count = Int32(self.count(kind))
            return count
        }
        report.ordersCompared = Int32(ordersCompared)
        report.stockPositionsCompared = Int32(stockPositionsCompared)
        report.repaired = Int32(repairedCount)
        return report
    }
}
