// Reconciliation with the ERP: what the ERP should hold for each order (the status name and net
// quantities the bridge reports), a deterministic comparison of Waybill with an ERP extract within
// a scope, and the repairs. Pure: the caller hands in Waybill's orders and on-hand figures. The
// comparison runs over an extract received in chunks (`ReconciliationTally`), with state bounded
// by one byte per Waybill order plus what is out of the ordinary (records only the ERP has).

/// One order as the ERP holds it.
public struct ErpOrderRecord: Hashable, Sendable {
    public var orderID: OrderID
    public var documentNumber: String
    /// The ERP's view of the status, as the bridge reported it (`Reconciler.erpStatus`).
    public var status: String
    /// Net ordered quantity per SKU (`Reconciler.erpLines`).
    public var lines: [SKU: Int32]
    /// For an exchange's replacement: the original order the ERP linked it to (nil: none).
    public var exchangeOfOrderID: OrderID?

    public init(orderID: OrderID, documentNumber: String, status: String, lines: [SKU: Int32], exchangeOfOrderID: OrderID? = nil) {
        self.orderID = orderID
        self.documentNumber = documentNumber
        self.status = status
        self.lines = lines
        self.exchangeOfOrderID = exchangeOfOrderID
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
    case missingInErp = 1, missingInWaybill, statusMismatch, quantityMismatch, duplicate, exchangeLinkMismatch

    public var description: String {
        switch self {
        case .missingInErp: "missing_in_erp"
        case .missingInWaybill: "missing_in_waybill"
        case .statusMismatch: "status_mismatch"
        case .quantityMismatch: "quantity_mismatch"
        case .duplicate: "duplicate"
        case .exchangeLinkMismatch: "exchange_link_mismatch"
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

public enum ReconcileTimeField: Int, Hashable, Sendable {
    case capturedAt = 0, updatedAt = 1
}

/// What a reconciliation compares. Orders and stock are each compared, skipped, or (nil) inferred
/// from the extract: compared when it holds at least one record of that kind, so a stock-only
/// extract never reports Waybill's orders missing in the ERP.
public struct ReconcileScope: Hashable, Sendable {
    public var orders: Bool?
    public var stock: Bool?
    /// Orders with a fulfillment or pickup at one of these; stock positions at one of these. Empty = all.
    public var locationIDs: Set<LocationID>
    /// Orders whose `timeField` is in [from, to); nil = unbounded.
    public var from: Timestamp?
    public var to: Timestamp?
    public var timeField: ReconcileTimeField
    /// Empty = every channel.
    public var channels: Set<Channel>

    public init(orders: Bool? = nil, stock: Bool? = nil, locationIDs: Set<LocationID> = [], from: Timestamp? = nil, to: Timestamp? = nil,
                timeField: ReconcileTimeField = .capturedAt, channels: Set<Channel> = []) {
        self.orders = orders
        self.stock = stock
        self.locationIDs = locationIDs
        self.from = from
        self.to = to
        self.timeField = timeField
        self.channels = channels
    }

    /// Inferred parts decided by what the extract held.
    public func resolved(extractHasOrders: Bool, extractHasStock: Bool) -> ReconcileScope {
        var scope = self
        scope.orders = orders ?? extractHasOrders
        scope.stock = stock ?? extractHasStock
        return scope
    }

    /// The order is inside every filter of the scope (channel, time range, location).
    public func includes(_ order: Order) -> Bool {
        if !channels.isEmpty && !channels.contains(order.channel) { return false }
        let time = timeField == .capturedAt ? order.capturedAt : order.updatedAt
        if let from, time < from { return false }
        if let to, time >= to { return false }
        if !locationIDs.isEmpty {
            if let pickup = order.requestedFulfillment.pickupLocationID, locationIDs.contains(pickup) { return true }
            return order.fulfillments.contains { locationIDs.contains($0.locationID) }
        }
        return true
    }
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

    public static func compare(orders: [Order], onHand: [InventoryKey: Int64], extract: ErpExtract,
                               scope: ReconcileScope = ReconcileScope()) -> [Discrepancy] {
        reconcile(orders: orders, onHand: onHand, extract: extract, scope: scope).discrepancies
    }

    /// Compares Waybill's orders and on hand (as of the extract's time: the caller takes out
    /// movements recorded after it) with the ERP's extract, within `scope`, listing every
    /// discrepancy. The same comparison as a chunked session (`ReconciliationTally`), in one go.
    public static func reconcile(orders: [Order], onHand: [InventoryKey: Int64], extract: ErpExtract,
                                 scope: ReconcileScope = ReconcileScope()) -> ReconciliationResult {
        var tally = ReconciliationTally(scope: scope, asOf: extract.asOf, includeOrdersAfterAsOf: extract.includeOrdersAfterAsOf,
                                        discrepanciesListedMax: .max)
        let bySequence = orders.enumerated().map { (Int64($0.offset + 1), $0.element) }
        let byID = Dictionary(bySequence.map { ($0.1.orderID, (sequence: $0.0, order: $0.1)) }, uniquingKeysWith: { first, _ in first })
        tally.add(orders: extract.orders, waybill: byID)
        tally.add(stock: extract.stock)
        var finish = tally.finishing()
        for (sequence, order) in bySequence { _ = finish.visit(sequence: sequence, order: order) }
        finish.compareStock(onHand: onHand)
        return finish.result()
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

    static func shownDocument(_ document: String) -> String { document.isEmpty ? "(no document)" : document }
}

/// A comparison and what it covered. `discrepancies` lists the first ones in report order, at most
/// the listing limit; `counts` are exact.
public struct ReconciliationResult: Sendable {
    public var discrepancies: [Discrepancy]
    public var counts: [DiscrepancyKind: Int]
    public var ordersCompared: Int
    public var stockPositionsCompared: Int
    /// The scope as applied (orders and stock resolved).
    public var scope: ReconcileScope

    public var total: Int { counts.values.reduce(0, +) }
    public var truncated: Bool { discrepancies.count < total }
    public func count(_ kind: DiscrepancyKind) -> Int { counts[kind] ?? 0 }
}

/// An ERP record to act on in a repair: voided (only the ERP has the order) or reported as a duplicate.
public struct ErpRecordRepair: Hashable, Sendable {
    public var kind: DiscrepancyKind
    public var orderID: OrderID
    public var documentNumber: String

    public init(kind: DiscrepancyKind, orderID: OrderID, documentNumber: String) {
        self.kind = kind
        self.orderID = orderID
        self.documentNumber = documentNumber
    }
}

/// Reconciliation over an extract received in chunks. State: one byte per Waybill order (by its
/// capture sequence: seen, which findings were counted), the records only the ERP has, the stock
/// counts of the extract, exact counts and the first discrepancies in report order. The caller
/// looks up the Waybill orders each chunk names, and at the end visits Waybill's orders in scope
/// (`finishing()`): those never seen are missing in the ERP.
public struct ReconciliationTally: Sendable {
    public let scope: ReconcileScope
    public let asOf: Timestamp
    public let includeOrdersAfterAsOf: Bool
    public let discrepanciesListedMax: Int
    public private(set) var ordersReceived = 0
    public private(set) var stockReceived = 0
    public private(set) var ordersCompared = 0
    /// ERP-only records to void and duplicate records to report, in arrival order.
    public private(set) var erpRecordRepairs: [ErpRecordRepair] = []
    /// Stock counts of the extract inside the scope (first count of each position).
    public private(set) var stockCounts: [InventoryKey: Int64] = [:]

    private var flags: [UInt8] = []
    private var counts = Array(repeating: 0, count: DiscrepancyKind.allCases.count + 1)
    private var listed: [Discrepancy] = []
    private var erpOnlyDocuments: [OrderID: String] = [:]
    /// Orders whose kept record does not carry the document number Waybill knows: its number.
    private var keptDocuments: [Int64: String] = [:]
    private var stockLocations: Set<LocationID> = []

    static let seen: UInt8 = 1, keptMatchesWaybill: UInt8 = 2, statusMismatch: UInt8 = 4, quantityMismatch: UInt8 = 8
    static let exchangeLinkMismatch: UInt8 = 16
    /// The flags of a compared record that differs from Waybill, with the discrepancy kind of each.
    static let mismatches: [(bit: UInt8, kind: DiscrepancyKind)] = [
        (statusMismatch, .statusMismatch), (quantityMismatch, .quantityMismatch), (exchangeLinkMismatch, .exchangeLinkMismatch),
    ]

    public init(scope: ReconcileScope, asOf: Timestamp, includeOrdersAfterAsOf: Bool, discrepanciesListedMax: Int) {
        self.scope = scope
        self.asOf = asOf
        self.includeOrdersAfterAsOf = includeOrdersAfterAsOf
        self.discrepanciesListedMax = max(0, discrepanciesListedMax)
    }

    public var comparesOrders: Bool { scope.orders ?? (ordersReceived > 0) }
    public var comparesStock: Bool { scope.stock ?? (stockReceived > 0) }
    /// Bytes of per-order state (reported in logs; the session limits bound the rest).
    public var orderStateBytes: Int { flags.count + keptDocuments.count * 32 + erpOnlyDocuments.count * 48 }

    /// Orders compared whose ERP record differs (status, lines or exchange link): what a repair
    /// re-emits, with how many discrepancies each accounts for.
    public func mismatchedSequences() -> [(sequence: Int64, discrepancies: Int)] {
        var result: [(Int64, Int)] = []
        for (index, flag) in flags.enumerated() {
            let discrepancies = Self.mismatches.filter { flag & $0.bit != 0 }.count
            if discrepancies > 0 { result.append((Int64(index), discrepancies)) }
        }
        return result
    }

    /// Compares ERP order records with the Waybill orders of the same ids (looked up by the
    /// caller: capture sequence and order). Records of orders outside the scope are ignored.
    public mutating func add(orders records: [ErpOrderRecord], waybill: [OrderID: (sequence: Int64, order: Order)]) {
        ordersReceived += records.count
        guard scope.orders != false else { return }
        for record in records {
            guard let (sequence, order) = waybill[record.orderID] else {
                addErpOnly(record)
                continue
            }
            guard scope.includes(order) else { continue }
            let index = Int(sequence)
            if index >= flags.count { flags.append(contentsOf: repeatElement(0, count: index + 1 - flags.count)) }
            let known = order.erp.documentNumber
            let matches = !known.isEmpty && record.documentNumber == known
            let flag = flags[index]
            if flag & Self.seen == 0 {
                ordersCompared += 1
                flags[index] = Self.seen | (matches ? Self.keptMatchesWaybill : 0) | compare(record, order)
                if !known.isEmpty && !matches { keptDocuments[sequence] = record.documentNumber }
                continue
            }
            if matches && flag & Self.keptMatchesWaybill == 0 {
                // The record carrying Waybill's document number is the one kept; the earlier one is the extra.
                let earlier = keptDocuments.removeValue(forKey: sequence) ?? ""
                retract(order.orderID, flag)
                flags[index] = Self.seen | Self.keptMatchesWaybill | compare(record, order)
                addDuplicate(order.orderID, extra: earlier, kept: record.documentNumber, waybill: order)
            } else {
                let kept = flag & Self.keptMatchesWaybill != 0 ? known : (keptDocuments[sequence] ?? "")
                addDuplicate(order.orderID, extra: record.documentNumber, kept: kept, waybill: order)
            }
        }
    }

    /// Stock records inside the scope's locations; a position listed twice is reported, the first count kept.
    public mutating func add(stock records: [ErpStockRecord]) {
        stockReceived += records.count
        guard scope.stock != false else { return }
        for record in records {
            if !scope.locationIDs.isEmpty && !scope.locationIDs.contains(record.key.locationID) { continue }
            stockLocations.insert(record.key.locationID)
            if let first = stockCounts[record.key] {
                note(Discrepancy(
                    kind: .duplicate, orderID: nil, key: record.key, waybillValue: "(see the quantity comparison)",
                    erpValue: "\(first) and \(record.onHand)",
                    detail: "the ERP extract lists \(record.key.sku)@\(record.key.locationID) more than once; the first count is compared",
                    repairAction: Reconciler.RepairAction.none))
                continue
            }
            stockCounts[record.key] = record.onHand
        }
    }

    /// The end of the comparison, on a copy (the tally itself can finish again, e.g. to repair after a dry run).
    public func finishing() -> ReconciliationFinish { ReconciliationFinish(tally: self) }

    // MARK: - internals

    private mutating func compare(_ record: ErpOrderRecord, _ order: Order) -> UInt8 {
        // A change after the extract's time cannot be in the ERP yet.
        if !includeOrdersAfterAsOf && order.updatedAt > asOf { return 0 }
        var found: UInt8 = 0
        let status = Reconciler.erpStatus(order)
        if status != record.status {
            found |= Self.statusMismatch
            note(Discrepancy(
                kind: .statusMismatch, orderID: order.orderID, key: nil, waybillValue: status, erpValue: record.status,
                detail: "order \(order.orderID) is \(status) in Waybill but \(record.status) in the ERP",
                repairAction: Reconciler.RepairAction.reemit, documentNumber: record.documentNumber))
        }
        let lines = Reconciler.erpLines(order)
        let erpLines = record.lines.filter { $0.value != 0 }
        if lines != erpLines {
            found |= Self.quantityMismatch
            let skus = Set(lines.keys).union(erpLines.keys).sorted().filter { lines[$0] != erpLines[$0] }
            note(Discrepancy(
                kind: .quantityMismatch, orderID: order.orderID, key: nil, waybillValue: Reconciler.describe(lines),
                erpValue: Reconciler.describe(erpLines),
                detail: "order \(order.orderID): " + skus.map { "\($0.rawValue) Waybill \(lines[$0] ?? 0), ERP \(erpLines[$0] ?? 0)" }.joined(separator: "; "),
                repairAction: Reconciler.RepairAction.reemit, documentNumber: record.documentNumber))
        }
        let link = order.exchangeOf?.orderID
        if link != record.exchangeOfOrderID {
            found |= Self.exchangeLinkMismatch
            let waybillValue = link.map { "exchange of \($0)" } ?? "no exchange"
            let erpValue = record.exchangeOfOrderID.map { "exchange of \($0)" } ?? "no exchange"
            note(Discrepancy(
                kind: .exchangeLinkMismatch, orderID: order.orderID, key: nil, waybillValue: waybillValue, erpValue: erpValue,
                detail: "order \(order.orderID) is \(waybillValue) in Waybill but \(erpValue) in the ERP",
                repairAction: Reconciler.RepairAction.reemit, documentNumber: record.documentNumber))
        }
        return found
    }

    private mutating func retract(_ orderID: OrderID, _ flag: UInt8) {
        for (bit, kind) in Self.mismatches where flag & bit != 0 {
            counts[kind.rawValue] -= 1
            listed.removeAll { $0.kind == kind && $0.key == nil && $0.orderID == orderID }
        }
    }

    private mutating func addErpOnly(_ record: ErpOrderRecord) {
        if let first = erpOnlyDocuments[record.orderID] {
            erpRecordRepairs.append(ErpRecordRepair(kind: .duplicate, orderID: record.orderID, documentNumber: record.documentNumber))
            note(Discrepancy(
                kind: .duplicate, orderID: record.orderID, key: nil, waybillValue: "no order",
                erpValue: "more than one record",
                detail: "ERP document \(Reconciler.shownDocument(record.documentNumber)) duplicates \(Reconciler.shownDocument(first)) for order \(record.orderID)",
                repairAction: Reconciler.RepairAction.voidDuplicate, documentNumber: record.documentNumber))
            return
        }
        erpOnlyDocuments[record.orderID] = record.documentNumber
        erpRecordRepairs.append(ErpRecordRepair(kind: .missingInWaybill, orderID: record.orderID, documentNumber: record.documentNumber))
        note(Discrepancy(
            kind: .missingInWaybill, orderID: record.orderID, key: nil, waybillValue: "no order",
            erpValue: "document \(record.documentNumber), \(record.status), \(Reconciler.describe(record.lines))",
            detail: "the ERP holds order \(record.orderID) (document \(record.documentNumber)) that Waybill never captured",
            repairAction: Reconciler.RepairAction.voidRecord, documentNumber: record.documentNumber))
    }

    private mutating func addDuplicate(_ orderID: OrderID, extra: String, kept: String, waybill order: Order) {
        erpRecordRepairs.append(ErpRecordRepair(kind: .duplicate, orderID: orderID, documentNumber: extra))
        note(Discrepancy(
            kind: .duplicate, orderID: orderID, key: nil, waybillValue: "1 order (\(Reconciler.erpStatus(order)))",
            erpValue: "more than one record",
            detail: "ERP document \(Reconciler.shownDocument(extra)) duplicates \(Reconciler.shownDocument(kept)) for order \(orderID)",
            repairAction: Reconciler.RepairAction.voidDuplicate, documentNumber: extra))
    }

    /// Counts a discrepancy and keeps it when it may be among the first listed (sorted and cut
    /// back whenever twice the limit accumulates).
    fileprivate mutating func note(_ discrepancy: Discrepancy) {
        counts[discrepancy.kind.rawValue] += 1
        guard discrepanciesListedMax > 0 else { return }
        listed.append(discrepancy)
        if discrepanciesListedMax < Int.max / 2 && listed.count >= 2 * discrepanciesListedMax {
            listed.sort(by: Reconciler.precedes)
            listed.removeLast(listed.count - discrepanciesListedMax)
        }
    }

    fileprivate func hasSeen(_ sequence: Int64) -> Bool {
        Int(sequence) < flags.count && flags[Int(sequence)] & Self.seen != 0
    }

    fileprivate var stockCoveredLocations: Set<LocationID> { scope.locationIDs.isEmpty ? stockLocations : scope.locationIDs }
    fileprivate var exactCounts: [DiscrepancyKind: Int] {
        Dictionary(uniqueKeysWithValues: DiscrepancyKind.allCases.map { ($0, counts[$0.rawValue]) })
    }
    fileprivate var listedSoFar: [Discrepancy] { listed }
}

/// The end of a reconciliation: Waybill's orders in scope that the ERP never sent are missing in
/// it; then stock is compared with Waybill's on hand as of the extract's time.
public struct ReconciliationFinish: Sendable {
    private var tally: ReconciliationTally
    private var stockPositionsCompared = 0
    public private(set) var missingInErp = 0

    fileprivate init(tally: ReconciliationTally) { self.tally = tally }

    public var scope: ReconcileScope {
        tally.scope.resolved(extractHasOrders: tally.ordersReceived > 0, extractHasStock: tally.stockReceived > 0)
    }
    /// Filters the caller can apply when reading Waybill's orders to visit (a superset is fine).
    public var asOf: Timestamp { tally.asOf }
    public var includeOrdersAfterAsOf: Bool { tally.includeOrdersAfterAsOf }

    /// One Waybill order; true when it is missing in the ERP (a repair re-emits it).
    public mutating func visit(sequence: Int64, order: Order) -> Bool {
        guard tally.comparesOrders, !tally.hasSeen(sequence) else { return false }
        if !tally.includeOrdersAfterAsOf && order.capturedAt > tally.asOf { return false }
        guard tally.scope.includes(order) else { return false }
        missingInErp += 1
        tally.note(Discrepancy(
            kind: .missingInErp, orderID: order.orderID, key: nil,
            waybillValue: "\(Reconciler.erpStatus(order)), \(Reconciler.describe(Reconciler.erpLines(order)))", erpValue: "no record",
            detail: "order \(order.orderID) (\(order.channel.name) \(order.externalOrderID)) is not in the ERP",
            repairAction: Reconciler.RepairAction.reemit))
        return true
    }

    /// Whether an order the caller has not decoded needs visiting (it was not seen in the extract).
    public func needsVisit(sequence: Int64) -> Bool { tally.comparesOrders && !tally.hasSeen(sequence) }

    /// Compares the stock counts with Waybill's on hand: the covered locations completely (a
    /// position absent from the extract counts as zero). Returns the positions that differ and the
    /// ERP count (what a repair sets).
    @discardableResult
    public mutating func compareStock(onHand: [InventoryKey: Int64]) -> [(key: InventoryKey, erpCount: Int64)] {
        guard tally.comparesStock else { return [] }
        let counted = tally.stockCounts
        let locations = tally.stockCoveredLocations
        var keys = Set(counted.keys)
        for (key, value) in onHand where value != 0 && locations.contains(key.locationID) { keys.insert(key) }
        stockPositionsCompared = keys.count
        var differing: [(InventoryKey, Int64)] = []
        for key in keys.sorted() {
            let waybill = onHand[key] ?? 0
            let erp = counted[key] ?? 0
            guard waybill != erp else { continue }
            differing.append((key, erp))
            tally.note(Discrepancy(
                kind: .quantityMismatch, orderID: nil, key: key, waybillValue: "\(waybill)",
                erpValue: counted[key] == nil ? "0 (not in the extract)" : "\(erp)",
                detail: "\(key.sku)@\(key.locationID): on hand \(waybill) in Waybill, \(erp) in the ERP (difference \(Int128(erp) - Int128(waybill)))",
                repairAction: Reconciler.RepairAction.adjustStock))
        }
        return differing
    }

    public func result() -> ReconciliationResult {
        var listed = tally.listedSoFar.sorted(by: Reconciler.precedes)
        if listed.count > tally.discrepanciesListedMax { listed.removeLast(listed.count - tally.discrepanciesListedMax) }
        return ReconciliationResult(discrepancies: listed, counts: tally.exactCounts,
                                    ordersCompared: tally.ordersCompared + missingInErp, stockPositionsCompared: stockPositionsCompared,
                                    scope: scope)
    }
}

/// What a reconciliation found and repaired, kept with its request id so a replay reports the same.
public struct ReconciliationSummary: Hashable, Sendable {
    public var counts: [DiscrepancyKind: Int]
    public var ordersCompared: Int
    public var stockPositionsCompared: Int
    public var repaired: Int

    public init(counts: [DiscrepancyKind: Int], ordersCompared: Int, stockPositionsCompared: Int, repaired: Int) {
        self.counts = counts
        self.ordersCompared = ordersCompared
        self.stockPositionsCompared = stockPositionsCompared
        self.repaired = repaired
    }

    /// "repaired R; compared O S; counts c1 c2 c3 c4 c5" (kinds in raw-value order).
    var encoded: String {
        "repaired \(repaired); compared \(ordersCompared) \(stockPositionsCompared); counts "
            + DiscrepancyKind.allCases.map { "\(counts[$0] ?? 0)" }.joined(separator: " ")
    }

    init?(encoded: String) {
        let parts = encoded.split(separator: ";").map { $0.split(separator: " ").map(String.init) }
        guard parts.count == 3, parts[0].count == 2, let repaired = Int(parts[0][1]),
              parts[1].count == 3, let orders = Int(parts[1][1]), let stock = Int(parts[1][2]),
              parts[2].count == 1 + DiscrepancyKind.allCases.count else { return nil }
        var counts: [DiscrepancyKind: Int] = [:]
        for (index, kind) in DiscrepancyKind.allCases.enumerated() { counts[kind] = Int(parts[2][index + 1]) ?? 0 }
        self.init(counts: counts, ordersCompared: orders, stockPositionsCompared: stock, repaired: repaired)
    }
}

/// One bounded piece of a repair (one writer job).
public struct ReconciliationRepairSlice: Sendable {
    /// Orders to re-emit, with how many discrepancies each accounts for.
    public var reemit: [(orderID: OrderID, discrepancies: Int)] = []
    public var erpRecords: [ErpRecordRepair] = []
    /// ERP counts to apply at one location.
    public var stockLocation: LocationID?
    public var stockLevels: [(sku: SKU, count: Int64)] = []

    public init() {}
    public var size: Int { reemit.count + erpRecords.count + stockLevels.count }
}

/// What one slice repaired.
public struct RepairSliceOutcome: Sendable {
    /// Discrepancies repaired.
    public var repaired = 0
    /// Subjects not repaired: order ids (re-emit), "order|document" (ERP records), "sku@location" (stock).
    public var notRepaired: Set<String> = []
}

extension Engine {
    static func reconciliationKey(_ requestID: String) -> String { "reconcile:" + requestID }

    /// The summary of an earlier reconciliation with this request id (nil: none). A different
    /// reconciliation under the same id is refused.
    public func reconciliationReplay(requestID: String, fingerprint: Fingerprint, storage: some EngineStorage) throws -> ReconciliationSummary? {
        if let error = Validation.checkIdentifier(requestID, field: "request_id", limits: limits) { throw error }
        guard let record = try storage.requestRecord(Self.reconciliationKey(requestID)) else { return nil }
        guard record.fingerprint == fingerprint else {
            throw DomainError(.alreadyExists, "request_id \"\(requestID)\" was already used for a different reconciliation", field: "request_id")
        }
        return ReconciliationSummary(encoded: record.subject)
            ?? ReconciliationSummary(counts: [:], ordersCompared: 0, stockPositionsCompared: 0,
                                     repaired: Int(record.subject.split(separator: " ").last ?? "") ?? 0)
    }

    /// Records a finished repair: a replay of `requestID` reports `summary` and repairs nothing.
    public func recordReconciliation(requestID: String, fingerprint: Fingerprint, summary: ReconciliationSummary,
                                     context: CommandContext, storage: some EngineStorage) throws {
        try storage.recordRequest(RequestRecord(key: Self.reconciliationKey(requestID), fingerprint: fingerprint,
                                                subject: summary.encoded, at: context.now))
    }

    /// Repairs one slice: re-emits orders (order.resynced), reports ERP-only and duplicate records
    /// (erp.void_requested / erp.duplicate_detected), sets stock to the ERP counts by a
    /// variance-corrected partial snapshot at `asOf`. Conditions are re-checked here, so a repair
    /// computed from a slightly stale read stays correct. `sliceNumber` names the snapshot's
    /// message id, so a retried slice is not applied twice.
    public mutating func repair(_ slice: ReconciliationRepairSlice, requestID: String, sliceNumber: Int, asOf: Timestamp,
                                context: CommandContext, storage: some EngineStorage) throws -> RepairSliceOutcome {
        if let error = Validation.checkIdentifier(requestID, field: "request_id", limits: limits) { throw error }
        var outcome = RepairSliceOutcome()
        let reason = "reconcile \(requestID)"
        for (orderID, discrepancies) in slice.reemit {
            guard try storage.loadOrder(orderID) != nil else {
                outcome.notRepaired.insert(orderID.rawValue)
                continue
            }
            _ = try reemit(orderID: orderID, reason: reason, context: context, storage: storage)
            outcome.repaired += discrepancies
        }
        for record in slice.erpRecords {
            if record.kind == .missingInWaybill {
                guard try storage.loadOrder(record.orderID) == nil else {
                    outcome.notRepaired.insert(record.orderID.rawValue + "|" + record.documentNumber)
                    continue
                }
            }
            try emitErpRecordEvent(record.kind == .missingInWaybill ? Reconciler.voidRequestedEvent : Reconciler.duplicateDetectedEvent,
                                   orderID: record.orderID, documentNumber: record.documentNumber, context: context, storage: storage)
            outcome.repaired += 1
        }
        if let location = slice.stockLocation, !slice.stockLevels.isEmpty {
            var applicable: [(SKU, Int64)] = []
            for level in slice.stockLevels {
                // A negative count, an unknown location or a count older than one already applied is not repaired.
                let stale = try Engine.countIsStale(level.sku, location, asOf: asOf, storage: storage)
                if level.count < 0 || state.network.locations[location] == nil || stale {
                    outcome.notRepaired.insert("\(level.sku.rawValue)@\(location.rawValue)")
                } else {
                    applicable.append((level.sku, level.count))
                }
            }
            if !applicable.isEmpty {
                var snapshotContext = context
                snapshotContext.fingerprint = context.fingerprint.deriving(fnv1a(location.rawValue) ^ UInt64(sliceNumber))
                _ = try applyStockSnapshot(locationID: location, asOf: asOf, levels: applicable, complete: false,
                                           messageID: "reconcile-" + String(fnv1a(requestID + "|" + location.rawValue + "|\(sliceNumber)"), radix: 16),
                                           context: snapshotContext, storage: storage)
                outcome.repaired += applicable.count
            }
        }
        return outcome
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
