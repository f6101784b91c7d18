// OrderService.SearchOrders on a reader connection: candidates newest first from the most selective
// source (a term's postings in the search index plus the orders changed since the index's position
// (SearchIndex.swift), the orders' own indexes for an order id or an external id, or the orders
// table itself when no term is given), each verified against the decoded order (so stale terms never answer a wrong order), at most `candidatesScannedMax` per call.
// Channel, status and capture time are checked on the orders table's columns first, so a candidate
// they rule out costs no body read or decode (a status-only search examines rows, not protobufs).

import Foundation
import GRDB
import WaybillCore
import WaybillProto

public struct OrderSearchFilter: Sendable {
    /// Free text: an order id, an external order id, an email, a phone, name words, a SKU or a
    /// tracking number (any of them matches).
    public var query: String?
    public var email: String?
    public var phone: String?
    /// Every word must be a word of the customer's or the ship-to's name.
    public var name: String?
    public var sku: String?
    public var trackingNumber: String?
    /// A fulfillment (in any state) at this location.
    public var locationID: String?
    /// With `channel`: the capture key.
    public var externalOrderID: String?
    public var channel: Channel?
    /// Only these channels (a channel credential's scope); nil = every channel.
    public var channels: [Channel]?
    public var statuses: [OrderStatus] = []
    public var capturedFrom: Timestamp?
    public var capturedTo: Timestamp?
    /// Exclusive cursor: orders with a lower sequence (Int64.max: from the newest).
    public var beforeSequence: Int64 = .max
    public var pageSize: Int
    public var candidatesScannedMax: Int
    /// Only orders this accepts (a fulfillment credential's scope).
    public var include: (@Sendable (Waybill_V1_Order) -> Bool)?

    public init(pageSize: Int, candidatesScannedMax: Int) {
        self.pageSize = pageSize
        self.candidatesScannedMax = candidatesScannedMax
    }

    /// Whether `order` satisfies every filter (the scope and the cursor aside).
    public func matches(_ order: Waybill_V1_Order) -> Bool {
        if let channels, !channels.contains(where: { $0.rawValue == order.channel.rawValue }) { return false }
        if let channel, channel.rawValue != order.channel.rawValue { return false }
        if !statuses.isEmpty && !statuses.contains(where: { $0.rawValue == order.status.rawValue }) { return false }
        if let capturedFrom, order.capturedAtUnixMs < capturedFrom.millisecondsSinceEpoch { return false }
        if let capturedTo, order.capturedAtUnixMs >= capturedTo.millisecondsSinceEpoch { return false }
        if let externalOrderID, order.externalOrderID != externalOrderID { return false }
        if let email, SearchText.email(order.customer.email) != SearchText.email(email) { return false }
        if let phone, !Self.phones(order).contains(SearchText.phone(phone)) { return false }
        if let name, !Self.hasNameWords(order, SearchText.words(name)) { return false }
        if let sku, !order.lines.contains(where: { SearchText.code($0.sku) == SearchText.code(sku) }) { return false }
        if let trackingNumber, !Self.hasTracking(order, SearchText.code(trackingNumber)) { return false }
        if let locationID, !order.fulfillments.contains(where: { $0.locationID == locationID }) { return false }
        if let query, !Self.matchesQuery(order, query) { return false }
        return true
    }

    static func phones(_ order: Waybill_V1_Order) -> [String] {
        [SearchText.phone(order.customer.phone), SearchText.phone(order.shipTo.phone)].filter { !$0.isEmpty }
    }

    static func hasNameWords(_ order: Waybill_V1_Order, _ words: [String]) -> Bool {
        guard !words.isEmpty else { return false }
        let names = Set(SearchText.words(order.customer.name) + SearchText.words(order.shipTo.name))
        return words.allSatisfy(names.contains)
    }

    static func hasTracking(_ order: Waybill_V1_Order, _ tracking: String) -> Bool {
        !tracking.isEmpty && order.fulfillments.contains { SearchText.code($0.trackingNumber) == tracking }
    }

    static func matchesQuery(_ order: Waybill_V1_Order, _ query: String) -> Bool {
        let trimmed = query.trimmingCharacters(in: .whitespacesAndNewlines)
        let code = SearchText.code(trimmed)
        guard !code.isEmpty else { return false }
        if order.orderID.lowercased() == code || order.externalOrderID == trimmed { return true }
        if SearchText.email(order.customer.email) == code { return true }
        if SearchText.looksLikePhone(trimmed), phones(order).contains(SearchText.phone(trimmed)) { return true }
        if hasNameWords(order, SearchText.words(trimmed)) { return true }
        if order.lines.contains(where: { SearchText.code($0.sku) == code }) { return true }
        return hasTracking(order, code)
    }
}

public struct OrderSearchPage: Sendable {
    /// (seq, stored bytes), newest first.
    public var rows: [(Int64, [UInt8])]
    /// The cursor of the next page (nil: no order may follow).
    public var nextBeforeSequence: Int64?
    /// The call stopped at `candidatesScannedMax` candidates before filling the page: more
    /// orders may match past `nextBeforeSequence`.
    public var candidatesLimitReached: Bool
    /// Candidates examined.
    public var candidatesScanned: Int
}

/// The filters the orders table's own columns answer (channel and scope, status, capture time), as
/// an SQL condition: a candidate failing it is never read or decoded. The decoded order is still
/// checked against every filter (`matches`), so this only saves work.
struct OrderColumnPredicate {
    var sql: String
    var arguments: StatementArguments
}

extension OrderSearchFilter {
    var columnPredicate: OrderColumnPredicate {
        var clauses: [String] = []
        var arguments = StatementArguments()
        func among(_ column: String, _ values: [Int]) {
            clauses.append("\(column) IN (" + values.map { _ in "?" }.joined(separator: ",") + ")")
            arguments += StatementArguments(values)
        }
        if let channels { among("channel", channels.map(\.rawValue)) }
        if let channel { among("channel", [channel.rawValue]) }
        if !statuses.isEmpty { among("status", statuses.map(\.rawValue)) }
        if let capturedFrom {
            clauses.append("captured_at >= ?")
            arguments += [capturedFrom.millisecondsSinceEpoch]
        }
        if let capturedTo {
            clauses.append("captured_at < ?")
            arguments += [capturedTo.millisecondsSinceEpoch]
        }
        return OrderColumnPredicate(sql: clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments: arguments)
    }
}

/// The order search index as one search sees it: the index file's postings of terms, plus every
/// order changed after the index's position (read once, in the search's snapshot of the database:
/// their newest terms may not be in the file yet). Together a superset of the orders with a term.
final class TermPostings {
    let index: SearchIndex
    let db: Database
    private var changed: [Int64]?

    init(index: SearchIndex, db: Database) {
        self.index = index
        self.db = db
    }

    private func changedOrders() throws -> [Int64] {
        if let changed { return changed }
        let found = try index.changedOrdersAfter(db)
        changed = found
        return found
    }

    /// Up to `limit` sequences with any of `terms` below `before` (unsorted, perhaps repeated).
    func sequences(_ terms: [String], before: Int64, limit: Int) throws -> [Int64] {
        guard !terms.isEmpty else { return [] }
        return try index.sequences(matching: terms, before: before, limit: limit) + changedOrders().filter { $0 < before }
    }

    /// Postings of `terms` counted up to `cap`, plus the orders changed after the index's position.
    func count(_ terms: [String], cap: Int) throws -> Int {
        guard !terms.isEmpty else { return 0 }
        return try index.count(matching: terms, cap: cap) + changedOrders().count
    }
}

/// Where a search's candidates come from, newest first.
enum CandidateSource {
    /// Fixed sequences (an order id, external ids) merged with the postings of these terms.
    case terms([String], fixed: [Int64])
    /// Every order: the orders table by seq.
    case everyOrder

    /// Up to `limit` candidates below `before`, descending, distinct: each with its stored body,
    /// or nil when the orders table's own columns already rule it out (`columns`, checked in SQL:
    /// such a candidate is examined without reading or decoding its body).
    func next(_ postings: TermPostings, before: Int64, limit: Int, columns: OrderColumnPredicate) throws -> [(Int64, Data?)] {
        let db = postings.db
        switch self {
        case .everyOrder:
            let rows = try Row.fetchAll(db, sql: """
                SELECT seq, CASE WHEN \(columns.sql) THEN body END FROM orders WHERE seq < ? ORDER BY seq DESC LIMIT ?
                """, arguments: columns.arguments + [before, limit])
            return rows.map { ($0[0], $0[1]) }
        case .terms(let terms, let fixed):
            let merged = fixed.filter { $0 < before } + (try postings.sequences(terms, before: before, limit: limit))
            return try Set(merged).sorted(by: >).prefix(limit).map { sequence in
                (sequence, try Data.fetchOne(db, sql: "SELECT body FROM orders WHERE seq = ? AND \(columns.sql)",
                                             arguments: [sequence] + columns.arguments))
            }
        }
    }

    /// Candidates of this source, counted up to `cap` (for choosing the most selective one).
    func size(_ postings: TermPostings, cap: Int) throws -> Int {
        switch self {
        case .everyOrder: return .max
        case .terms(let terms, let fixed): return fixed.count + (try postings.count(terms, cap: cap))
        }
    }
}

extension OrderSearchFilter {
    /// Every source that holds all matching orders; the search reads the smallest.
    func sources(_ postings: TermPostings) throws -> [CandidateSource] {
        let db = postings.db
        var sources: [CandidateSource] = []
        let scope = Channel.allCases.filter { channel in
            (self.channel.map { $0 == channel } ?? true) && (channels.map { $0.contains(channel) } ?? true)
        }
        func externalSequences(_ id: String, _ channels: [Channel]) throws -> [Int64] {
            guard !id.isEmpty, !channels.isEmpty else { return [] }
            return try Int64.fetchAll(db, sql: "SELECT seq FROM orders WHERE channel IN (" + channels.map { _ in "?" }.joined(separator: ",")
                                          + ") AND external_order_id = ?", arguments: StatementArguments(channels.map { $0.rawValue }) + [id])
        }
        if let externalOrderID { sources.append(.terms([], fixed: try externalSequences(externalOrderID, scope))) }
        if let email { sources.append(.terms([OrderSearchTerms.term(.email, SearchText.email(email))], fixed: [])) }
        if let phone { sources.append(.terms([OrderSearchTerms.term(.phone, SearchText.phone(phone))], fixed: [])) }
        // Each word's orders hold every match: the rarest word is read.
        for word in Set(SearchText.words(name ?? "")) { sources.append(.terms([OrderSearchTerms.term(.name, word)], fixed: [])) }
        if let sku { sources.append(.terms([OrderSearchTerms.term(.sku, SearchText.code(sku))], fixed: [])) }
        if let trackingNumber { sources.append(.terms([OrderSearchTerms.term(.tracking, SearchText.code(trackingNumber))], fixed: [])) }
        if let locationID { sources.append(.terms([OrderSearchTerms.term(.location, locationID)], fixed: [])) }
        if let query {
            let trimmed = query.trimmingCharacters(in: .whitespacesAndNewlines)
            let code = SearchText.code(trimmed)
            var terms = [OrderSearchTerms.term(.email, code), OrderSearchTerms.term(.sku, code), OrderSearchTerms.term(.tracking, code)]
            if let word = try Self.rarest(postings, SearchText.words(trimmed).map { OrderSearchTerms.term(.name, $0) }) { terms.append(word) }
            if SearchText.looksLikePhone(trimmed) { terms.append(OrderSearchTerms.term(.phone, SearchText.phone(trimmed))) }
            var fixed = try externalSequences(trimmed, scope)
            // Order ids are upper-case ("W-00000042"); the unique index answers either spelling.
            for id in Set([trimmed, trimmed.uppercased()]) {
                if let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM orders WHERE order_id = ?", arguments: [id]) { fixed.append(seq) }
            }
            sources.append(.terms(terms.filter { !$0.hasSuffix(":") }, fixed: fixed))
        }
        return sources
    }

    /// The term of `terms` with the fewest orders (counted up to the selectivity cap).
    static func rarest(_ postings: TermPostings, _ terms: [String]) throws -> String? {
        guard terms.count > 1 else { return terms.first }
        var best: (term: String, size: Int)?
        for term in Set(terms) {
            let size = try CandidateSource.terms([term], fixed: []).size(postings, cap: StoreReader.searchSelectivityCap)
            if best == nil || size < best!.size { best = (term, size) }
        }
        return best?.term
    }
}

extension StoreReader {
    /// Postings counted per source before choosing the smallest.
    static let searchSelectivityCap = 2_000

    public func searchOrders(_ filter: OrderSearchFilter, completion: @escaping @Sendable (Result<OrderSearchPage, Error>) -> Void) {
        let index = database.searchIndex
        read({ db in try Self.searchOrders(TermPostings(index: index, db: db), filter) }, completion: completion)
    }

    public func searchOrdersNow(_ filter: OrderSearchFilter) throws -> OrderSearchPage {
        try readNow { db in try Self.searchOrders(TermPostings(index: database.searchIndex, db: db), filter) }
    }

    static func searchOrders(_ postings: TermPostings, _ filter: OrderSearchFilter) throws -> OrderSearchPage {
        if let channels = filter.channels, channels.isEmpty {
            return OrderSearchPage(rows: [], nextBeforeSequence: nil, candidatesLimitReached: false, candidatesScanned: 0)
        }
        let sources = try filter.sources(postings)
        var source = CandidateSource.everyOrder
        var smallest = Int.max
        for candidate in sources {
            let size = try candidate.size(postings, cap: searchSelectivityCap)
            if size < smallest {
                smallest = size
                source = candidate
            }
        }
        let columns = filter.columnPredicate
        var rows: [(Int64, [UInt8])] = []
        var before = filter.beforeSequence, scanned = 0
        while rows.count < filter.pageSize {
            let budget = filter.candidatesScannedMax - scanned
            if budget <= 0 {
                return OrderSearchPage(rows: rows, nextBeforeSequence: before, candidatesLimitReached: true, candidatesScanned: scanned)
            }
            let chunk = try source.next(postings, before: before, limit: min(budget, max(filter.pageSize * 2, 64)), columns: columns)
            if chunk.isEmpty {
                return OrderSearchPage(rows: rows, nextBeforeSequence: nil, candidatesLimitReached: false, candidatesScanned: scanned)
            }
            for (sequence, body) in chunk where rows.count < filter.pageSize {
                before = sequence
                scanned += 1
                guard let body else { continue }
                let bytes = [UInt8](body)
                let order = try Waybill_V1_Order(serializedBytes: bytes)
                if filter.matches(order) && (filter.include?(order) ?? true) { rows.append((sequence, bytes)) }
            }
        }
        return OrderSearchPage(rows: rows, nextBeforeSequence: before, candidatesLimitReached: false, candidatesScanned: scanned)
    }
}
