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
                // A SKU on several lines is summed: a sum past Int32 is refused (it trapped before).
                let (total, overflow) = lines[SKU(line.sku), default: 0].addingReportingOverflow(line.quantity)
                if overflow {
                    throw DomainError.invalid("extract.orders[\(index)].lines[\(lineIndex)].quantity",
                                              "the quantities of \(line.sku) in this record add up beyond \(Int32.min)...\(Int32.max)")
                }
                lines[SKU(line.sku)] = total
            }
            orders.append(ErpOrderRecord(orderID: OrderID(record.orderID), documentNumber: record.erpDocumentNumber,
                                         status: record.status, lines: lines,
                                         exchangeOfOrderID: record.exchangeOfOrderID.isEmpty ? nil : OrderID(record.exchangeOfOrderID)))
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
            r.exchangeOfOrderID = record.exchangeOfOrderID?.rawValue ?? ""
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

extension ReconcileScope {
    /// Validates and converts a scope: location ids present, channels known, from before to.
    public init(proto: Waybill_V1_ReconcileScope) throws {
        func part(_ value: Waybill_V1_ReconcilePart, _ field: String) throws -> Bool? {
            switch value {
            case .inferred: return nil
            case .compare: return true
            case .skip: return false
            case .UNRECOGNIZED(let raw): throw DomainError.invalid("scope.\(field)", "unknown value \(raw)")
            }
        }
        var locations: Set<LocationID> = []
        for (index, id) in proto.locationIds.enumerated() {
            if id.isEmpty { throw DomainError.invalid("scope.location_ids[\(index)]", "is empty") }
            locations.insert(LocationID(id))
        }
        var channels: Set<Channel> = []
        for (index, value) in proto.channels.enumerated() {
            guard let channel = Channel(proto: value) else { throw DomainError.invalid("scope.channels[\(index)]", "unknown channel") }
            channels.insert(channel)
        }
        if proto.fromUnixMs < 0 || proto.toUnixMs < 0 { throw DomainError.invalid("scope.from_unix_ms", "must not be negative") }
        if proto.fromUnixMs != 0 && proto.toUnixMs != 0 && proto.fromUnixMs >= proto.toUnixMs {
            throw DomainError.invalid("scope.to_unix_ms", "must be after from_unix_ms (\(proto.fromUnixMs))")
        }
        let field: ReconcileTimeField
        switch proto.timeField {
        case .capturedAt: field = .capturedAt
        case .updatedAt: field = .updatedAt
        case .UNRECOGNIZED(let raw): throw DomainError.invalid("scope.time_field", "unknown value \(raw)")
        }
        self.init(orders: try part(proto.orders, "orders"), stock: try part(proto.stock, "stock"), locationIDs: locations,
                  from: proto.fromUnixMs == 0 ? nil : Timestamp(millisecondsSinceEpoch: proto.fromUnixMs),
                  to: proto.toUnixMs == 0 ? nil : Timestamp(millisecondsSinceEpoch: proto.toUnixMs),
                  timeField: field, channels: channels)
    }

    public var proto: Waybill_V1_ReconcileScope {
        var scope = Waybill_V1_ReconcileScope()
        scope.orders = orders.map { $0 ? .compare : .skip } ?? .inferred
        scope.stock = stock.map { $0 ? .compare : .skip } ?? .inferred
        scope.locationIds = locationIDs.map(\.rawValue).sorted()
        scope.fromUnixMs = from?.millisecondsSinceEpoch ?? 0
        scope.toUnixMs = to?.millisecondsSinceEpoch ?? 0
        scope.timeField = timeField == .capturedAt ? .capturedAt : .updatedAt
        scope.channels = channels.sorted().map(\.proto)
        return scope
    }
}

extension Discrepancy {
    /// What a repair acts on, as `RepairSliceOutcome.notRepaired` names it.
    public var repairSubject: String {
        if let key { return "\(key.sku.rawValue)@\(key.locationID.rawValue)" }
        let order = orderID?.rawValue ?? ""
        return kind == .missingInWaybill || kind == .duplicate ? order + "|" + documentNumber : order
    }
}

extension ReconciliationResult {
    public var summary: ReconciliationSummary {
        ReconciliationSummary(counts: counts, ordersCompared: ordersCompared, stockPositionsCompared: stockPositionsCompared, repaired: 0)
    }

    /// The report: the listed discrepancies, a count for every kind (zeros included, always
    /// exact), and for a repair what this request repaired (`notRepaired`: subjects left alone).
    public func report(repair: (repaired: Int, notRepaired: Set<String>)? = nil) -> Waybill_V1_ReconcileReport {
        var report = summary.report(scope: scope)
        report.discrepancies = discrepancies.map { d in
            let repaired = repair.map { d.repairAction != Reconciler.RepairAction.none && !$0.notRepaired.contains(d.repairSubject) } ?? false
            return d.proto(repaired: repaired)
        }
        report.discrepanciesTruncated = truncated
        report.repaired = Int32(clamping: repair?.repaired ?? 0)
        return report
    }
}

extension ReconciliationSummary {
    /// Counts only (a replay lists no discrepancy).
    public func report(scope: ReconcileScope?) -> Waybill_V1_ReconcileReport {
        var report = Waybill_V1_ReconcileReport()
        report.counts = DiscrepancyKind.allCases.map { kind in
            var count = Waybill_V1_DiscrepancyCount()
            count.kind = kind.proto
            count.count = Int32(clamping: counts[kind] ?? 0)
            return count
        }
        report.discrepanciesTotal = Int64(counts.values.reduce(0, +))
        report.discrepanciesTruncated = report.discrepanciesTotal > 0
        report.ordersCompared = Int32(clamping: ordersCompared)
        report.stockPositionsCompared = Int32(clamping: stockPositionsCompared)
        report.repaired = Int32(clamping: repaired)
        if let scope { report.scope = scope.proto }
        return report
    }
}
