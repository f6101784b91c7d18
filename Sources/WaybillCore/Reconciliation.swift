// Reconciliation with the ERP: what the ERP should hold for each order (the status name and net
// quantities the bridge reports), a deterministic comparison of Waybill with an ERP extract, and
// the repairs. Pure: the caller hands in Waybill's orders and on-hand figures.

/// One order as the ERP holds it.
public struct ErpOrderRecord: Hashable, Sendable {
    public var orderID: OrderID
    public var documentNumber: String
    /// The ERP's view of the status, as the bridge reported it (`Reconciler.erpStatus`).
    public var status: String
    /// Net ordered quantity per SKU (`Reconciler.erpLines`).
    public var lines: [SKU: Int32]

    public init(orderID: OrderID, documentNumber: String, status: String, lines: [SKU: Int32]) {
        self.orderID = orderID
        self.documentNumber = documentNumber
        self.status = status
        self.lines = lines
    }
}

/// Stock on hand of one SKU × location as the ERP counts it.
public struct ErpStockRecord: Hashable, Sendable {
    public var key: InventoryKey
    public var onHand: Int64

    public init(key: InventoryKey, onHand: Int64) {
        self.key = key
        self.onHand = onHand
    }
}

/// What the ERP believes as of a moment: the input of reconciliation.
public struct ErpExtract: Sendable {
    public var asOf: Timestamp
    public var orders: [ErpOrderRecord]
    public var stock: [ErpStockRecord]
    /// When false, Waybill orders captured after `asOf` are not reported missing in the ERP, and
    /// orders changed after `asOf` are not compared (the ERP cannot have heard of the change yet).
    public var includeOrdersAfterAsOf: Bool

    public init(asOf: Timestamp, orders: [ErpOrderRecord], stock: [ErpStockRecord], includeOrdersAfterAsOf: Bool) {
        self.asOf = asOf
        self.orders = orders
        self.stock = stock
        self.includeOrdersAfterAsOf = includeOrdersAfterAsOf
    }
}

public enum DiscrepancyKind: Int, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case missingInErp = 1, missingInWaybill, statusMismatch, quantityMismatch, duplicate

    public var description: String {
        switch self {
        case .missingInErp: "missing_in_erp"
        case .missingInWaybill: "missing_in_waybill"
        case .statusMismatch: "status_mismatch"
        case .quantityMismatch: "quantity_mismatch"
        case .duplicate: "duplicate"
        }
    }
}

public struct Discrepancy: Hashable, Sendable {
    public var kind: DiscrepancyKind
    /// The order concerned (order discrepancies), nil for stock.
    public var orderID: OrderID?
    /// The SKU × location concerned (stock discrepancies), nil for orders.
    public var key: InventoryKey?
    public var waybillValue: String
    public var erpValue: String
    public var detail: String
    public var repairAction: String
    /// The ERP document number of the record concerned, when there is one.
    public var documentNumber: String

    public init(kind: DiscrepancyKind, orderID: OrderID?, key: InventoryKey?, waybillValue: String, erpValue: String,
                detail: String, repairAction: String, documentNumber: String = "") {
        self.kind = kind
        self.orderID = orderID
        self.key = key
        self.waybillValue = waybillValue
        self.erpValue = erpValue
        self.detail = detail
        self.repairAction = repairAction
        self.documentNumber = documentNumber
    }
}

/// A comparison and what it covered.
public struct ReconciliationResult: Sendable {
    public var discrepancies: [Discrepancy]
    public var ordersCompared: Int
    public var stockPositionsCompared: Int

    public func count(_ kind: DiscrepancyKind) -> Int { discrepancies.lazy.filter { $0.kind == kind }.count }
}

public enum Reconciler {
    /// Repair actions, as reported.
    public enum RepairAction {
        public static let reemit = "reemit: re-emit the order's current state (order.resynced) so the ERP updates its record"
        public static let adjustStock = "adjust: set Waybill's on hand to the ERP count (variance-corrected snapshot)"
        public static let voidRecord = "void: emit erp.void_requested so the ERP voids its record"
        public static let voidDuplicate = "void: emit erp.duplicate_detected so the ERP voids the extra record"
        public static let none = "none: the ERP extract lists this position twice; correct the extract"
    }

    /// Event types of ERP record instructions.
    public static let voidRequestedEvent = "erp.void_requested"
    public static let duplicateDetectedEvent = "erp.duplicate_detected"

    /// The status name the bridge reports to the ERP for an order (what an ERP extract should say):
    /// the order status in lower case ("captured", "on_hold", "shipped", "cancelled", ...).
    public static func erpStatus(_ order: Order) -> String { order.status.description.lowercased() }

    /// Net ordered quantity per SKU (ordered − cancelled), what the ERP should hold. SKUs whose
    /// every unit was cancelled are left out (an absent SKU and a zero are the same to the ERP).
    public static func erpLines(_ order: Order) -> [SKU: Int32] {
        var lines: [SKU: Int32] = [:]
        for line in order.lines { lines[line.sku, default: 0] += line.activeQuantity }
        return lines.filter { $0.value != 0 }
    }

    /// "SKU×quantity" pairs in SKU order, for reports.
    public static func describe(_ lines: [SKU: Int32]) -> String {
        let shown = lines.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)×\($0.value)" }
        return shown.isEmpty ? "(none)" : shown.joined(separator: ", ")
    }

    public static func compare(orders: [Order], onHand: [InventoryKey: Int64], extract: ErpExtract) -> [Discrepancy] {
        reconcile(orders: orders, onHand: onHand, extract: extract).discrepancies
    }

    /// Compares Waybill's orders and on hand (as of the extract's time: the caller takes out
    /// movements recorded after it) with the ERP's extract. Deterministic: the result is sorted
    /// by kind, then orders (by id) before stock (by SKU × location), then document number.
    public static func reconcile(orders: [Order], onHand: [InventoryKey: Int64], extract: ErpExtract) -> ReconciliationResult {
        var found: [Discrepancy] = []
        let byID = Dictionary(orders.map { ($0.orderID, $0) }, uniquingKeysWith: { first, _ in first })
        let includeAll = extract.includeOrdersAfterAsOf

        // The ERP's records per order id, in extract order.
        var records: [OrderID: [ErpOrderRecord]] = [:]
        var recordOrder: [OrderID] = []
        for record in extract.orders {
            if records[record.orderID] == nil { recordOrder.append(record.orderID) }
            records[record.orderID, default: []].append(record)
        }
        var ordersCompared = 0
        for orderID in recordOrder {
            let list = records[orderID]!
            let order = byID[orderID]
            // The record to keep: the one carrying the document number Waybill knows, else the first.
            let keptIndex = order.flatMap { order in
                order.erp.documentNumber.isEmpty ? nil : list.firstIndex { $0.documentNumber == order.erp.documentNumber }
            } ?? 0
            for (index, extra) in list.enumerated() where index != keptIndex {
                found.append(Discrepancy(
                    kind: .duplicate, orderID: orderID, key: nil, waybillValue: order.map { "1 order (\(erpStatus($0)))" } ?? "no order",
                    erpValue: "\(list.count) records: " + list.map { $0.documentNumber.isEmpty ? "(no document)" : $0.documentNumber }.joined(separator: ", "),
                    detail: "ERP document \(extra.documentNumber.isEmpty ? "(no document)" : extra.documentNumber) duplicates \(list[keptIndex].documentNumber.isEmpty ? "(no document)" : list[keptIndex].documentNumber) for order \(orderID)",
                    repairAction: RepairAction.voidDuplicate, documentNumber: extra.documentNumber))
            }
            let record = list[keptIndex]
            guard let order else {
                found.append(Discrepancy(
                    kind: .missingInWaybill, orderID: orderID, key: nil, waybillValue: "no order",
                    erpValue: "document \(record.documentNumber), \(record.status), \(describe(record.lines))",
                    detail: "the ERP holds order \(orderID) (document \(record.documentNumber)) that Waybill never captured",
                    repairAction: RepairAction.voidRecord, documentNumber: record.documentNumber))
                continue
            }
            ordersCompared += 1
            // A change after the extract's time cannot be in the ERP yet.
            if !includeAll && order.updatedAt > extract.asOf { continue }
            let status = erpStatus(order)
            if status != record.status {
                found.append(Discrepancy(
                    kind: .statusMismatch, orderID: orderID, key: nil, waybillValue: status, erpValue: record.status,
                    detail: "order \(orderID) is \(status) in Waybill but \(record.status) in the ERP",
                    repairAction: RepairAction.reemit, documentNumber: record.documentNumber))
            }
            let lines = erpLines(order)
            let erpLines = record.lines.filter { $0.value != 0 }
            if lines != erpLines {
                let skus = Set(lines.keys).union(erpLines.keys).sorted().filter { lines[$0] != erpLines[$0] }
                found.append(Discrepancy(
                    kind: .quantityMismatch, orderID: orderID, key: nil, waybillValue: describe(lines), erpValue: describe(erpLines),
                    detail: "order \(orderID): " + skus.map { "\($0.rawValue) Waybill \(lines[$0] ?? 0), ERP \(erpLines[$0] ?? 0)" }.joined(separator: "; "),
                    repairAction: RepairAction.reemit, documentNumber: record.documentNumber))
            }
        }
        for order in orders where records[order.orderID] == nil {
            if !includeAll && order.capturedAt > extract.asOf { continue }
            ordersCompared += 1
            found.append(Discrepancy(
                kind: .missingInErp, orderID: order.orderID, key: nil,
                waybillValue: "\(erpStatus(order)), \(describe(erpLines(order)))", erpValue: "no record",
                detail: "order \(order.orderID) (\(order.channel.name) \(order.externalOrderID)) is not in the ERP",
                repairAction: RepairAction.reemit))
        }

        // Stock: the extract covers the locations it lists, completely (absent = zero).
        var counted: [InventoryKey: Int64] = [:]
        var locations: Set<LocationID> = []
        for record in extract.stock {
            locations.insert(record.key.locationID)
            if let first = counted[record.key] {
                found.append(Discrepancy(
                    kind: .duplicate, orderID: nil, key: record.key, waybillValue: "\(onHand[record.key] ?? 0)",
                    erpValue: "\(first) and \(record.onHand)",
                    detail: "the ERP extract lists \(record.key.sku)@\(record.key.locationID) more than once; the first count is compared",
                    repairAction: RepairAction.none))
                continue
            }
            counted[record.key] = record.onHand
        }
        var keys = Set(counted.keys)
        for (key, value) in onHand where value != 0 && locations.contains(key.locationID) { keys.insert(key) }
        for key in keys.sorted() {
            let waybill = onHand[key] ?? 0
            let erp = counted[key] ?? 0
            if waybill != erp {
                found.append(Discrepancy(
                    kind: .quantityMismatch, orderID: nil, key: key, waybillValue: "\(waybill)",
                    erpValue: counted[key] == nil ? "0 (not in the extract)" : "\(erp)",
                    detail: "\(key.sku)@\(key.locationID): on hand \(waybill) in Waybill, \(erp) in the ERP (difference \(erp - waybill))",
                    repairAction: RepairAction.adjustStock))
            }
        }
        found.sort(by: Self.precedes)
        return ReconciliationResult(discrepancies: found, ordersCompared: ordersCompared, stockPositionsCompared: keys.count)
    }

    static func precedes(_ a: Discrepancy, _ b: Discrepancy) -> Bool {
        if a.kind != b.kind { return a.kind.rawValue < b.kind.rawValue }
        if (a.key == nil) != (b.key == nil) { return a.key == nil }  // orders before stock
        let orderA = a.orderID?.rawValue ?? "", orderB = b.orderID?.rawValue ?? ""
        if orderA != orderB { return orderA < orderB }
        let skuA = a.key?.sku.rawValue ?? "", skuB = b.key?.sku.rawValue ?? ""
        if skuA != skuB { return skuA < skuB }
        let locationA = a.key?.locationID.rawValue ?? "", locationB = b.key?.locationID.rawValue ?? ""
        if locationA != locationB { return locationA < locationB }
        if a.documentNumber != b.documentNumber { return a.documentNumber < b.documentNumber }
        return a.detail < b.detail
    }
}

/// What a repair did.
public struct RepairOutcome: Sendable {
    /// Per discrepancy (same order as given): whether a repair was applied for it.
    public var repaired: [Bool]
    /// The request id was used before with the same extract: nothing was done again.
    public var replayed: Bool
    /// Discrepancies repaired (for a replay: by the original request).
    public var repairedCount: Int
}

extension Engine {
    /// Repairs `discrepancies` (from `Reconciler.reconcile` over `extract`), idempotent by
    /// `requestID` (the context's fingerprint identifies the extract): order kinds re-emit the
    /// order, stock mismatches set Waybill's on hand to the ERP count with variance correction,
    /// ERP-only and duplicate records are reported to the ERP as void instructions. Conditions are
    /// re-checked here, so a repair computed from a slightly stale read stays correct.
    public mutating func repair(_ discrepancies: [Discrepancy], extract: ErpExtract, requestID: String,
                                context: CommandContext, storage: some EngineStorage) throws -> RepairOutcome {
        if let error = Validation.checkIdentifier(requestID, field: "request_id", limits: limits) { throw error }
        let key = "reconcile:" + requestID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "request_id \"\(requestID)\" was already used for a different reconciliation", field: "request_id")
            }
            let count = Int(record.subject.split(separator: " ").last ?? "") ?? 0
            return RepairOutcome(repaired: Array(repeating: false, count: discrepancies.count), replayed: true, repairedCount: count)
        }
        var repaired = Array(repeating: false, count: discrepancies.count)
        let reason = "reconcile \(requestID)"

        // Orders: one re-emit per order, whatever its kinds.
        var reemitted: [OrderID: Bool] = [:]
        for (index, discrepancy) in discrepancies.enumerated() where discrepancy.key == nil {
            guard let orderID = discrepancy.orderID else { continue }
            switch discrepancy.kind {
            case .missingInErp, .statusMismatch, .quantityMismatch:
                if let done = reemitted[orderID] {
                    repaired[index] = done
                    continue
                }
                let exists = try storage.loadOrder(orderID) != nil
                if exists { _ = try reemit(orderID: orderID, reason: reason, context: context, storage: storage) }
                reemitted[orderID] = exists
                repaired[index] = exists
            case .missingInWaybill:
                guard try storage.loadOrder(orderID) == nil else { continue }
                try emitErpRecordEvent(Reconciler.voidRequestedEvent, orderID: orderID, documentNumber: discrepancy.documentNumber,
                                       context: context, storage: storage)
                repaired[index] = true
            case .duplicate:
                try emitErpRecordEvent(Reconciler.duplicateDetectedEvent, orderID: orderID, documentNumber: discrepancy.documentNumber,
                                       context: context, storage: storage)
                repaired[index] = true
            }
        }

        // Stock: one variance-corrected partial snapshot per location, at the ERP's counts.
        var counts: [InventoryKey: Int64] = [:]
        for record in extract.stock where counts[record.key] == nil { counts[record.key] = record.onHand }
        var byLocation: [LocationID: [(index: Int, sku: SKU, count: Int64)]] = [:]
        for (index, discrepancy) in discrepancies.enumerated() where discrepancy.kind == .quantityMismatch {
            guard let stockKey = discrepancy.key else { continue }
            let count = counts[stockKey] ?? 0
            guard count >= 0, state.network.locations[stockKey.locationID] != nil else { continue }
            byLocation[stockKey.locationID, default: []].append((index, stockKey.sku, count))
        }
        let asOf = extract.asOf.millisecondsSinceEpoch == 0 ? context.now : extract.asOf
        for location in byLocation.keys.sorted() {
            // A stale count is skipped by applyStockSnapshot: that discrepancy is not repaired.
            let entries = try byLocation[location]!.filter { try !Engine.countIsStale($0.sku, location, asOf: asOf, storage: storage) }
            if entries.isEmpty { continue }
            var snapshotContext = context
            snapshotContext.fingerprint = context.fingerprint ^ fnv1a(location.rawValue)
            _ = try applyStockSnapshot(locationID: location, asOf: asOf, levels: entries.map { ($0.sku, $0.count) }, complete: false,
                                       messageID: "reconcile-" + String(fnv1a(requestID + "|" + location.rawValue), radix: 16), context: snapshotContext, storage: storage)
            for entry in entries { repaired[entry.index] = true }
        }
        let count = repaired.lazy.filter { $0 }.count
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: "repaired \(count)", at: context.now))
        return RepairOutcome(repaired: repaired, replayed: false, repairedCount: count)
    }

    /// An instruction about an ERP record; its aggregate sequence counts such instructions per record.
    private func emitErpRecordEvent(_ type: String, orderID: OrderID, documentNumber: String, context: CommandContext,
                                    storage: some EngineStorage) throws {
        let aggregate = DomainEvent.Aggregate.erpRecord(orderID: orderID, documentNumber: documentNumber)
        let probe = DomainEvent(type: type, aggregate: aggregate, aggregateSequence: 0, occurredAt: context.now,
                                clientID: context.clientID, detail: documentNumber)
        var sequence: Int64 = 1
        while try storage.requestRecord("erp-record:\(probe.aggregateID)#\(sequence)") != nil { sequence += 1 }
        try storage.recordRequest(RequestRecord(key: "erp-record:\(probe.aggregateID)#\(sequence)", fingerprint: 0,
                                                subject: type, at: context.now))
        var event = probe
        event.aggregateSequence = sequence
        try storage.appendEvents([event])
    }
}

/// FNV-1a of a string (stable across runs, unlike Hasher).
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}
