// Correctness checks, Jepsen/VOPR style: invariants over what the simulation did (its own
// records) and what Waybill says (read back at the end). Each names the order, SKU or event
// concerned. Pure functions of their inputs, so tests can plant violations.

import Foundation
import WaybillCore

public struct CheckResult: Sendable, Codable, Equatable {
    public var name: String
    public var passed: Bool
    public var detail: String
    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}

/// Waybill's side, read back at the end of a run.
public struct WaybillState: Sendable {
    public var orders: [Order]
    public var balances: [InventoryKey: Balance]
    /// The movement ledger as per-position totals (in-process; nil when the driver cannot read it cheaply).
    public var ledger: [InventoryKey: SimulationStorage.LedgerTotals]?
    public var feedHead: UInt64
    /// Every cart Waybill knows of, in its final state (in-process: its storage; live: the latest
    /// version the change feed showed).
    public var carts: [Cart] = []
    /// Waybill's clock when it was read back (unix ms).
    public var clock: Int64 = 0
    public init(orders: [Order], balances: [InventoryKey: Balance], ledger: [InventoryKey: SimulationStorage.LedgerTotals]?, feedHead: UInt64) {
        self.orders = orders
        self.balances = balances
        self.ledger = ledger
        self.feedHead = feedHead
    }
}

/// What the simulation itself recorded, as the checks need it.
public struct SimulationRecord: Sendable {
    public struct SubmittedOrder: Sendable {
        public var externalID: String
        public var channel: Channel
        /// (sku, quantity) per line, line ids "1", "2", ...
        public var lines: [(SKU, Int32)]
        public var state: String
        public var sequence: Int64
        /// Something is still scheduled for it (explains a non-terminal state at the end).
        public var pending: Bool
    }
    public var orders: [SubmittedOrder]
    /// The ERP's physical count per position.
    public var book: [InventoryKey: Int64]
    public var snapshotCorrections: Int
    public var unresolvedCalls: [String]
    public var violations: [(check: String, detail: String)]
    /// Per feed consumer: (name, last offset received, events received).
    public var feedConsumers: [(String, UInt64, Int)]
    public var reconciliation: [Discrepancy]?
    public var reconciliationError: String?
    /// How the comparison was made ("ErpService reconciliation session", "Reconciler.compare in-process"...).
    public var reconciliationMethod = "Reconciler.compare"
    /// Every discrepancy the server counted (its report lists only the first ones); nil = the list is complete.
    public var reconciliationDiscrepanciesTotal: Int? = nil
    /// Carts released by Waybill at their deadline (cart.expired on the feed).
    public var cartExpiries: [CartExpiryRecord] = []
    /// How late past its deadline (Waybill's clock, ms) a cart may be released: the run's named tolerance.
    public var cartExpiryToleranceMilliseconds: Int64 = 0
    /// Promised days the shoppers were shown and then got.
    public var promiseComparisons: [PromiseComparison] = []
    /// The product drop's captures and receipt (nil: the scenario has none; Checks+Supply.swift).
    public var productDrop: ProductDropRecord? = nil
}

/// A cart.expired event: the cart's deadline and when Waybill released it (its clock, unix ms).
public struct CartExpiryRecord: Sendable, Equatable {
    public var cart: String
    public var deadline: Int64
    public var expiredAt: Int64
    public init(cart: String, deadline: Int64, expiredAt: Int64) {
        self.cart = cart
        self.deadline = deadline
        self.expiredAt = expiredAt
    }
}

/// A promise a shopper was shown (`expected`, unix ms of the day; 0: none) and what the next step
/// got (`actual`). `provable`: Waybill's state is known to be unchanged in between, so they must
/// be equal (in-process: no write and no time between the two calls; both drivers: an order
/// converted from its cart as held takes the cart's reservations).
public struct PromiseComparison: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case optionToCart = "option→cart"
        case optionToOrder = "option→order"
        case cartToOrder = "cart→order"
    }
    public var kind: Kind
    public var subject: String
    public var expected: Int64
    public var actual: Int64
    public var provable: Bool
    public init(kind: Kind, subject: String, expected: Int64, actual: Int64, provable: Bool) {
        self.kind = kind
        self.subject = subject
        self.expected = expected
        self.actual = actual
        self.provable = provable
    }
}

public enum Checks {
    public static let names = ["no_oversell", "stock_conserved", "acknowledged_orders_exist", "no_duplicate_orders",
                               "timed_out_calls_resolved", "orders_terminal_or_explained", "change_feed_complete",
                               "erp_reconciled", "calls_answered_as_expected", "carts_released_by_deadline", "promises_kept_for_unchanged_state"]

    public static func run(_ record: SimulationRecord, _ waybill: WaybillState) -> [CheckResult] {
        [noOversell(record, waybill), stockConserved(record, waybill), acknowledgedOrdersExist(record, waybill),
         noDuplicateOrders(record, waybill), timedOutCallsResolved(record, waybill), ordersTerminalOrExplained(record, waybill),
         changeFeedComplete(record, waybill), erpReconciled(record), callsAnsweredAsExpected(record),
         cartsReleasedByDeadline(record, waybill), promisesKeptForUnchangedState(record)]
            + productDrop(record, waybill)
    }

    static func result(_ name: String, _ problems: [String], _ record: SimulationRecord, ok: String) -> CheckResult {
        let all = record.violations.filter { $0.check == name }.map(\.detail) + problems
        if all.isEmpty { return CheckResult(name: name, passed: true, detail: ok) }
        let shown = all.prefix(5).joined(separator: "; ")
        return CheckResult(name: name, passed: false, detail: all.count > 5 ? "\(all.count) violations: \(shown); ..." : shown)
    }

    static func name(_ key: InventoryKey) -> String { "\(key.sku.rawValue)@\(key.locationID.rawValue)" }

    public static func noOversell(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        for key in waybill.balances.keys.sorted() {
            let balance = waybill.balances[key]!
            if balance.onHand < 0 { problems.append("\(name(key)): on hand \(balance.onHand) is negative") }
            if balance.reserved < 0 { problems.append("\(name(key)): reserved \(balance.reserved) is negative") }
            if balance.reserved > balance.onHand {
                problems.append("\(name(key)): reserved \(balance.reserved) exceeds on hand \(balance.onHand)")
            }
        }
        return result("no_oversell", problems, record, ok: "\(waybill.balances.count) positions: reserved ≤ on hand, nothing negative")
    }

    public static func stockConserved(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        // Reserved units are exactly the units of open fulfillments.
        var open: [InventoryKey: Int64] = [:]
        for order in waybill.orders {
            for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
                for line in fulfillment.lines { open[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity) }
            }
        }
        // ... and of the carts that hold stock.
        for cart in waybill.carts where cart.status == .active {
            for shipment in cart.reservations {
                for line in shipment.lines { open[InventoryKey(sku: line.sku, locationID: shipment.locationID), default: 0] += Int64(line.quantity) }
            }
        }
        let keys = Set(waybill.balances.keys).union(record.book.keys).union(open.keys).sorted()
        for key in keys {
            let balance = waybill.balances[key] ?? Balance()
            let counted = record.book[key] ?? 0
            if balance.onHand != counted {
                problems.append("\(name(key)): Waybill on hand \(balance.onHand), physical count \(counted) (difference \(balance.onHand - counted))")
            }
            if balance.reserved != open[key] ?? 0 {
                problems.append("\(name(key)): reserved \(balance.reserved) but open fulfillments and active carts hold \(open[key] ?? 0)")
            }
            if let ledger = waybill.ledger {
                let totals = ledger[key] ?? SimulationStorage.LedgerTotals()
                if totals.onHand != balance.onHand || totals.reserved != balance.reserved {
                    problems.append("\(name(key)): ledger sums to on hand \(totals.onHand) / reserved \(totals.reserved), balance says \(balance.onHand) / \(balance.reserved)")
                }
            }
        }
        if record.snapshotCorrections > 0 {
            problems.append("ERP snapshots corrected \(record.snapshotCorrections) position(s): Waybill had drifted from the physical count")
        }
        return result("stock_conserved", problems, record,
                      ok: "\(keys.count) positions: on hand = physical count, reserved = open fulfillments + active carts\(waybill.ledger == nil ? "" : ", ledger = balances")")
    }

    public static func acknowledgedOrdersExist(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        var bySequence: [Int64: Order] = [:]
        for order in waybill.orders { bySequence[order.captureSequence] = order }
        var checked = 0
        for submitted in record.orders where submitted.state == "acknowledged" {
            checked += 1
            guard let order = bySequence[submitted.sequence] else {
                problems.append("\(submitted.externalID) was acknowledged as \(OrderID(sequence: submitted.sequence)) but Waybill has no such order")
                continue
            }
            if order.externalOrderID != submitted.externalID || order.channel != submitted.channel {
                problems.append("\(order.orderID) should be \(submitted.channel.name) \(submitted.externalID) but is \(order.channel.name) \(order.externalOrderID)")
                continue
            }
            // An edited order keeps the lines it was captured with (captured_content): those are compared.
            let lines = order.capturedContent?.lines.map { ($0.lineID, $0.sku, $0.quantity) } ?? order.lines.map { ($0.lineID, $0.sku, $0.quantity) }
            let expected = submitted.lines.enumerated().map { (String($0.offset + 1), $0.element.0, $0.element.1) }
            if lines.count != expected.count || zip(lines, expected).contains(where: { $0.0 != $1.0 || $0.1 != $1.1 || $0.2 != $1.2 }) {
                problems.append("\(order.orderID) (\(submitted.externalID)) has lines "
                                + lines.map { "\($0.0):\($0.1.rawValue)×\($0.2)" }.joined(separator: ",")
                                + ", submitted " + expected.map { "\($0.0):\($0.1.rawValue)×\($0.2)" }.joined(separator: ","))
            }
        }
        return result("acknowledged_orders_exist", problems, record, ok: "\(checked) acknowledged orders read back with exactly their lines")
    }

    public static func noDuplicateOrders(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        var seen: [String: OrderID] = [:]
        let known = Set(record.orders.map { "\($0.channel.rawValue)|\($0.externalID)" })
        for order in waybill.orders {
            let key = "\(order.channel.rawValue)|\(order.externalOrderID)"
            if let first = seen[key] {
                problems.append("\(order.channel.name) \(order.externalOrderID) captured twice: \(first) and \(order.orderID)")
            } else {
                seen[key] = order.orderID
            }
            if !known.contains(key) { problems.append("\(order.orderID) (\(order.channel.name) \(order.externalOrderID)) was never submitted") }
        }
        return result("no_duplicate_orders", problems, record, ok: "\(waybill.orders.count) orders, one per idempotency key")
    }

    public static func timedOutCallsResolved(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems = record.unresolvedCalls.map { "unresolved: \($0)" }
        var existing: Set<String> = []
        for order in waybill.orders { existing.insert("\(order.channel.rawValue)|\(order.externalOrderID)") }
        for submitted in record.orders where submitted.state == "lost" && existing.contains("\(submitted.channel.rawValue)|\(submitted.externalID)") {
            problems.append("\(submitted.externalID) was resolved as never captured but exists in Waybill")
        }
        for submitted in record.orders where submitted.state == "submitted" {
            problems.append("\(submitted.externalID) was submitted and never resolved")
        }
        return result("timed_out_calls_resolved", problems, record, ok: "every timed-out call resolved by retry or read-back")
    }

    public static func ordersTerminalOrExplained(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        var pending: Set<Int64> = []
        for submitted in record.orders where submitted.pending { pending.insert(submitted.sequence) }
        var explained: [String: Int] = [:]
        for order in waybill.orders {
            let status = order.status
            if status.isTerminal { continue }
            if pending.contains(order.captureSequence) {
                explained["\(status) with a step still scheduled", default: 0] += 1
            } else if order.backorderedUnits > 0 {
                explained["\(status) waiting for stock", default: 0] += 1
            } else {
                problems.append("\(order.orderID) (\(order.externalOrderID)) is \(status) with nothing scheduled to move it on")
            }
        }
        let summary = explained.keys.sorted().map { "\(explained[$0]!) \($0)" }.joined(separator: ", ")
        return result("orders_terminal_or_explained", problems, record, ok: summary.isEmpty ? "every order terminal" : "the rest terminal; explained: \(summary)")
    }

    public static func changeFeedComplete(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        for (consumer, last, count) in record.feedConsumers {
            if last != waybill.feedHead { problems.append("\(consumer) reached offset \(last) of \(waybill.feedHead)") }
            else if UInt64(count) != waybill.feedHead { problems.append("\(consumer) received \(count) events for offsets 1...\(waybill.feedHead)") }
        }
        return result("change_feed_complete", problems, record,
                      ok: "\(record.feedConsumers.map(\.0).joined(separator: ", ")) received offsets 1...\(waybill.feedHead) in order, per-aggregate sequences gap-free")
    }

    public static func erpReconciled(_ record: SimulationRecord) -> CheckResult {
        if let error = record.reconciliationError {
            return CheckResult(name: "erp_reconciled", passed: false, detail: "reconciliation failed: \(error)")
        }
        guard let discrepancies = record.reconciliation else {
            return CheckResult(name: "erp_reconciled", passed: false, detail: "reconciliation did not run")
        }
        var problems = discrepancies.map { d in
            "\(d.kind) \(d.orderID?.rawValue ?? d.key.map(name) ?? ""): \(d.detail)"
        }
        if let total = record.reconciliationDiscrepanciesTotal, total > discrepancies.count {
            problems.append("... \(total - discrepancies.count) more discrepancies counted by the server, not listed")
        }
        return result("erp_reconciled", problems, record, ok: "0 discrepancies between Waybill and the simulated ERP (\(record.reconciliationMethod))")
    }

    /// No cart holds stock past its deadline by more than the run's tolerance: every release at a
    /// deadline Waybill reported (cart.expired) came within it, no cart still active at the end is
    /// past it, and a cart no longer active holds nothing (reserved = orders + carts is
    /// stock_conserved's).
    public static func cartsReleasedByDeadline(_ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        var problems: [String] = []
        let tolerance = record.cartExpiryToleranceMilliseconds
        var latest: Int64 = 0
        for expiry in record.cartExpiries {
            let late = expiry.expiredAt - expiry.deadline
            latest = Swift.max(latest, late)
            if late > tolerance { problems.append("cart \(expiry.cart) held its stock \(late) ms past its deadline (tolerance \(tolerance) ms)") }
            if late < 0 { problems.append("cart \(expiry.cart) expired \(-late) ms before its deadline") }
        }
        var active = 0
        for cart in waybill.carts.sorted(by: { $0.key < $1.key }) {
            if cart.status == .active {
                active += 1
                let past = waybill.clock - cart.expiresAt.millisecondsSinceEpoch
                if past > tolerance {
                    problems.append("cart \(cart.key) still holds \(cart.heldUnits) units \(past) ms past its deadline at the end (tolerance \(tolerance) ms)")
                }
            } else if !cart.reservations.isEmpty {
                problems.append("cart \(cart.key) is \(cart.status.name) but holds \(cart.heldUnits) units")
            }
        }
        return result("carts_released_by_deadline", problems, record,
                      ok: "\(record.cartExpiries.count) carts released at their deadline, at most \(latest) ms late (tolerance \(tolerance) ms); "
                          + "\(waybill.carts.count) carts at the end, \(active) active within their deadline, the rest hold nothing")
    }

    /// Where Waybill's state is known to be unchanged between what a shopper was shown and the next
    /// step (`PromiseComparison.provable`), the promised day is the same.
    public static func promisesKeptForUnchangedState(_ record: SimulationRecord) -> CheckResult {
        var problems: [String] = []
        var counts: [PromiseComparison.Kind: Int] = [:]
        for comparison in record.promiseComparisons where comparison.provable {
            counts[comparison.kind, default: 0] += 1
            if comparison.expected != comparison.actual {
                problems.append("\(comparison.kind.rawValue) \(comparison.subject): promised day \(day(comparison.expected)) was shown, \(day(comparison.actual)) given")
            }
        }
        let all = record.promiseComparisons.count
        let agreed = record.promiseComparisons.filter { $0.expected == $0.actual }.count
        let kinds = [PromiseComparison.Kind.optionToCart, .cartToOrder, .optionToOrder].map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        return result("promises_kept_for_unchanged_state", problems, record,
                      ok: "\(counts.values.reduce(0, +)) promises on unchanged state kept (\(kinds)); \(agreed) of \(all) shown promises kept overall")
    }

    static func day(_ milliseconds: Int64) -> String {
        guard milliseconds != 0 else { return "none" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    public static func callsAnsweredAsExpected(_ record: SimulationRecord) -> CheckResult {
        result("calls_answered_as_expected", [], record, ok: "no call failed other than by the races real channels have")
    }
}
