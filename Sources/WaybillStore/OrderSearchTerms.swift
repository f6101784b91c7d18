// The terms of an order for the search index (SearchIndex.swift, the `order_search_terms` table of
// the `<database>-search` file): a candidate index for OrderService.SearchOrders,
// an FTS5 table without content (`content=''`, `detail=none`: rowids only) whose rowid is the
// order's seq and whose one column holds the order's terms, each hashed to one token. FTS5 is an
// LSM: a transaction's documents are gathered in memory and written at commit as one new segment
// (sequential pages), merged later a little at a time, where a (term, seq) B-tree took a random
// page per term (several times the cost in a Python sqlite3 micro-benchmark of the same rows:
// docs/PERFORMANCE.md).
// An order's terms are indexed as captured (insertOrder); an update (updateOrder) adds a document with the
// terms that appeared in it (a fulfillment created or shipped by this change: its location and
// tracking number; on an edited order, the ship-to's name and phone and the lines' SKUs) under
// the same rowid. Nothing is ever deleted: every candidate is verified against the decoded order,
// so terms left behind by an address edit or a re-route, and hash collisions, are harmless.
//
// Terms before hashing (the prefix says the kind; values normalized as `SearchText` does):
//   e:<email>  p:<phone digits>  n:<name word>  s:<sku>  t:<tracking number>  l:<location id>
// An order id and a channel's external order id need no term: `orders` is indexed by both.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

/// How search text is normalized, alike for the terms written and for the values searched. ASCII
/// text (nearly all of it) takes a byte-level path: terms are computed on the writer for every
/// capture, where Foundation's trimming and Character-wise splitting cost microseconds.
public enum SearchText {
    /// Trimmed and lower-cased.
    public static func email(_ text: String) -> String { code(text) }

    /// The digits only ("+1 (555) 123-4567" → "15551234567").
    public static func phone(_ text: String) -> String {
        String(decoding: text.utf8.filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)
    }

    /// Lower-cased words: runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
        }
        var words: [String] = []
        var word: [UInt8] = []
        for byte in text.utf8 {
            if isASCIIAlphanumeric(byte) {
                word.append(lowered(byte))
            } else if !word.isEmpty {
                words.append(String(decoding: word, as: UTF8.self))
                word.removeAll(keepingCapacity: true)
            }
        }
        if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
        return words
    }

    /// SKUs and tracking numbers: trimmed and lower-cased (searches ignore case).
    public static func code(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }) else { return text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        guard let first = utf8.firstIndex(where: { !isASCIISpace($0) }), let last = utf8.lastIndex(where: { !isASCIISpace($0) }) else { return "" }
        return String(decoding: utf8[first...last].map(lowered), as: UTF8.self)
    }

    /// Whether free text reads as a phone number: digits with only + - ( ) . and spaces between.
    public static func looksLikePhone(_ text: String) -> Bool {
        var digits = 0
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39: digits += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "."), UInt8(ascii: " "): continue
            default: return false
            }
        }
        return digits > 0
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
    private static func lowered(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte + 0x20 : byte }
}

/// The terms of an order.
enum OrderSearchTerms {
    enum Kind: String, CaseIterable {
        case email = "e:", phone = "p:", name = "n:", sku = "s:", tracking = "t:", location = "l:"
    }

    static func term(_ kind: Kind, _ normalized: String) -> String { kind.rawValue + normalized }

    /// Every term of `order` (written at capture, and by the migration's backfill).
    static func all(of order: Order) -> [UInt64] {
        var terms = TermList()
        func add(_ kind: Kind, _ value: String) { terms.add(kind, value) }
        add(.email, SearchText.email(order.customer.email))
        add(.phone, SearchText.phone(order.customer.phone))
        for word in SearchText.words(order.customer.name) { add(.name, word) }
        addEditable(order, add)
        addFulfillments(order, add)
        return terms.hashes
    }

    /// The terms that may have appeared in the update that left the order as it is: fulfillments
    /// created or shipped by it (each change stamps them and the order with the same time), and on
    /// an edited order its editable content (edits are rare; the same terms again are harmless).
    static func later(of order: Order) -> [UInt64] {
        var terms = TermList()
        func add(_ kind: Kind, _ value: String) { terms.add(kind, value) }
        if order.capturedContent != nil { addEditable(order, add) }
        for fulfillment in order.fulfillments {
            if fulfillment.createdAt == order.updatedAt { add(.location, fulfillment.locationID.rawValue) }
            if fulfillment.shippedAt == order.updatedAt { add(.tracking, SearchText.code(fulfillment.trackingNumber)) }
        }
        return terms.hashes
    }

    /// The hashes of terms in the order first added, each once, none empty (the writer builds no
    /// term string: each is hashed from its kind's prefix and value as they come).
    struct TermList {
        var hashes: [UInt64] = []
        mutating func add(_ kind: Kind, _ value: String) {
            guard !value.isEmpty else { return }
            let hash = OrderSearchTerms.hash(value, from: OrderSearchTerms.hash(kind.rawValue))
            if !hashes.contains(hash) { hashes.append(hash) }
        }
    }

    /// FNV-1a, 64 bits, of `text`'s UTF-8 continuing from `seed` (hash(a + b) = hash(b, from: hash(a))):
    /// the same in every process, unlike Hasher.
    static func hash(_ text: String, from seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// The FTS5 token of a term: "t" and its hash in 16 hex digits (letters and digits only: one
    /// token for any tokenizer).
    static func token(_ term: String) -> String {
        var bytes: [UInt8] = []
        appendToken(hash(term), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendToken(_ hash: UInt64, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "t"))
        for shift in stride(from: 60, through: 0, by: -4) { bytes.append(hexDigits[Int((hash >> UInt64(shift)) & 0xF)]) }
    }

    /// The document of terms (by hash): their tokens, space-separated.
    static func document(_ hashes: [UInt64]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hashes.count * 18)
        for hash in hashes {
            if !bytes.isEmpty { bytes.append(UInt8(ascii: " ")) }
            appendToken(hash, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
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
        // v12 created the term index inside the database, written by the writer at every capture;
        // it now lives in its own file, written by the search indexer (SearchIndex.swift). The
        // migration keeps its name (databases record it) and does nothing; v16 drops the table
        // from databases that had it.
        migrator.registerMigration("v12: order search terms") { _ in }
    }

    static func registerSearchIndexMove(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v16: order search index in its own file") { db in
            try db.execute(sql: "DROP TABLE IF EXISTS order_search_terms")
        }
    }
}
