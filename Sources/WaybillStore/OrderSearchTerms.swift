// The `order_search_terms` table (migration v12): a candidate index for OrderService.SearchOrders.
// One row per (term, order seq), WITHOUT ROWID, so a term's orders are one range of the primary key,
// read newest first. Terms are written at capture (insertOrder) and, on an update, only those that
// can appear later (tracking numbers, fulfillment locations, and after an edit the ship-to's name
// and phone and the lines' SKUs) with INSERT OR IGNORE. A term is never deleted: every candidate
// is verified against the decoded order, so a term left behind by an address edit or a re-route
// finds an order that then does not match, never a wrong answer.
//
// Terms (the prefix says the kind; values normalized as `SearchText` does):
//   e:<email>  p:<phone digits>  n:<name word>  s:<sku>  t:<tracking number>  l:<location id>
// An order id and a channel's external order id need no term: `orders` is indexed by both.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

/// How search text is normalized, alike for the terms written and for the values searched.
public enum SearchText {
    /// Trimmed and lower-cased.
    public static func email(_ text: String) -> String { code(text) }

    /// The digits only ("+1 (555) 123-4567" → "15551234567").
    public static func phone(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 48 && $0.value <= 57 }))
    }

    /// Lower-cased words: runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }

    /// SKUs and tracking numbers: trimmed and lower-cased (searches ignore case).
    public static func code(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// Whether free text reads as a phone number: digits with only + - ( ) . and spaces between.
    public static func looksLikePhone(_ text: String) -> Bool {
        var digits = 0
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0"..."9": digits += 1
            case "+", "-", "(", ")", ".", " ": continue
            default: return false
            }
        }
        return digits > 0
    }
}

/// The terms of an order.
enum OrderSearchTerms {
    enum Kind: String, CaseIterable {
        case email = "e:", phone = "p:", name = "n:", sku = "s:", tracking = "t:", location = "l:"
    }

    static func term(_ kind: Kind, _ normalized: String) -> String { kind.rawValue + normalized }

    /// Every term of `order` (written at capture, and by the migration's backfill).
    static func all(of order: Order) -> [String] {
        var terms: [String] = []
        func add(_ kind: Kind, _ value: String) {
            guard !value.isEmpty else { return }
            let term = kind.rawValue + value
            if !terms.contains(term) { terms.append(term) }
        }
        add(.email, SearchText.email(order.customer.email))
        add(.phone, SearchText.phone(order.customer.phone))
        for word in SearchText.words(order.customer.name) { add(.name, word) }
        addEditable(order, add)
        addFulfillments(order, add)
        return terms
    }

    /// The terms an update may have added: fulfillments' tracking numbers and locations, and, on an
    /// edited order, the ship-to's name and phone and the lines' SKUs.
    static func later(of order: Order) -> [String] {
        var terms: [String] = []
        func add(_ kind: Kind, _ value: String) {
            guard !value.isEmpty else { return }
            let term = kind.rawValue + value
            if !terms.contains(term) { terms.append(term) }
        }
        if order.capturedContent != nil { addEditable(order, add) }
        addFulfillments(order, add)
        return terms
    }

    private static func addEditable(_ order: Order, _ add: (Kind, String) -> Void) {
        add(.phone, SearchText.phone(order.shipTo.phone))
        if order.shipTo.name != order.customer.name {
            for word in SearchText.words(order.shipTo.name) { add(.name, word) }
        }
        for line in order.lines { add(.sku, SearchText.code(line.sku.rawValue)) }
    }

    private static func addFulfillments(_ order: Order, _ add: (Kind, String) -> Void) {
        for fulfillment in order.fulfillments {
            add(.location, fulfillment.locationID.rawValue)
            add(.tracking, SearchText.code(fulfillment.trackingNumber))
        }
    }
}

extension Schema {
    static func registerOrderSearchTerms(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12: order search terms") { db in
            try db.execute(sql: """
                CREATE TABLE order_search_terms (
                    term TEXT NOT NULL,
                    order_seq INTEGER NOT NULL,
                    PRIMARY KEY (term, order_seq)
                ) WITHOUT ROWID;
                """)
            // Backfill: every order already stored, in slices of seq (a million orders hold
            // a few million terms; decoding them all at once would hold every order in memory).
            try OrderRowsBackfill.each(db) { sequence, order in
                for term in OrderSearchTerms.all(of: order) {
                    try db.execute(sql: "INSERT OR IGNORE INTO order_search_terms (term, order_seq) VALUES (?, ?)",
                                   arguments: [term, sequence])
                }
            }
        }
    }
}

/// Walks every stored order in seq order, decoded, a slice at a time (migration backfills).
enum OrderRowsBackfill {
    static func each(_ db: Database, slice: Int = 1_000, _ body: (Int64, Order) throws -> Void) throws {
        var after: Int64 = -1
        while true {
            let rows = try Row.fetchAll(db, sql: "SELECT seq, body FROM orders WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, slice])
            guard let last = rows.last else { return }
            for row in rows { try body(row[0], try SQLiteStorage.decodeOrder(row[1])) }
            after = last[0]
        }
    }
}

extension SQLiteStorage {
    /// At capture: every term of the new order.
    func insertSearchTerms(of order: Order, sequence: Int64) throws {
        try insertTerms(OrderSearchTerms.all(of: order), sequence: sequence)
    }

    /// On an update: the terms that may be new (one index probe each when they are not).
    func addLaterSearchTerms(of order: Order, sequence: Int64) throws {
        try insertTerms(OrderSearchTerms.later(of: order), sequence: sequence)
    }

    private func insertTerms(_ terms: [String], sequence: Int64) throws {
        for term in terms {
            try execute("INSERT OR IGNORE INTO order_search_terms (term, order_seq) VALUES (?, ?)") { b in
                b.text(1, term)
                b.int(2, sequence)
            }
        }
    }
}
