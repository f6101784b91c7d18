// Order search (the search index file, SearchIndex) and location queues (location_queue, v13) against
// the real writer: each filter, stale terms after edits and re-routes, the index built and the
// queues filled for orders already stored, the queue's order and upkeep, and a property: a search
// answers exactly what a brute-force filter over every order (written here, apart from the index
// code) answers, with the index behind the database and caught up.

import Foundation
import GRDB
import PropertyBased
import Testing
import WaybillCore
import WaybillProto
@testable import WaybillStore

/// Customers shared by several orders (names overlap by word; emails and phones differ in case
/// and punctuation from how they are searched).
private let customers: [(name: String, email: String, phone: String)] = [
    ("Ada Lovelace", "Ada@Example.com", "+1 (555) 010-0001"),
    ("Grace Hopper", "grace@example.com", "555.010.0002"),
    ("Ada Byron", " ada.byron@example.com", "1-555-010-0003"),
    ("Alan Turing", "ALAN@example.com", ""),
    ("Edsger W. Dijkstra", "", "+1 555 010 0005"),
]

func customerDraft(_ external: String, customer: Int, channel: Channel = .web, lines: [(String, Int32)],
                           pickup: Bool = false) -> OrderDraft {
    var order = draft(external, channel: channel, lines: lines)
    let who = customers[customer % customers.count]
    order.customer.name = who.name
    order.customer.email = who.email
    order.customer.phone = who.phone
    order.shipTo.name = who.name
    if pickup { order.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: StoreNet.locations[2]) }
    return order
}

/// A store with stock at every location, for orders that get fulfillments.
func stockedStore(_ label: String, searchIndexer: Bool = true, searchLimits: SearchIndexLimits = SearchIndexLimits()) async throws
    -> (TemporaryDirectory, WaybillDatabase, StoreWriter, StoreReader, ManualClock) {
    let directory = try TemporaryDirectory(label)
    let clock = ManualClock()
    let (database, writer) = try openStore(directory.path("store.sqlite"), clock: clock, searchIndexer: searchIndexer, searchLimits: searchLimits)
    try await StoreNet.setUp(writer)
    for sku in StoreNet.skus {
        for location in StoreNet.locations {
            _ = try await receive(writer, "stock-\(sku)-\(location)", sku.rawValue, location.rawValue, 500)
        }
    }
    return (directory, database, writer, StoreReader(database: database), clock)
}

private func apply(_ writer: StoreWriter, _ command: OrderCommand, _ orderID: OrderID, request: String) async throws -> Order {
    try await writer.run { context in
        try context.engine.apply(command, to: orderID, context: CommandContext(now: context.now, clientID: "search-tests", requestID: request,
                                                                                fingerprint: testFingerprint(request)),
                                 storage: context.engineStorage).order
    }
}

/// Every page of a search, newest first.
func searchAll(_ reader: StoreReader, pageSize: Int = 3, candidatesMax: Int = 10_000,
                       _ configure: (inout OrderSearchFilter) -> Void) throws -> [String] {
    var filter = OrderSearchFilter(pageSize: pageSize, candidatesScannedMax: candidatesMax)
    configure(&filter)
    var ids: [String] = []
    while true {
        let page = try reader.searchOrdersNow(filter)
        ids += try page.rows.map { try Waybill_V1_Order(serializedBytes: $0.1).orderID }
        guard let next = page.nextBeforeSequence else { return ids }
        filter.beforeSequence = next
    }
}

@Suite("Order search and location queues (store)")
struct OrderSearchStoreTests {
    @Test("each filter finds exactly its orders, newest first, across pages")
    func eachFilter() async throws {
        let (_, database, writer, reader, clock) = try await stockedStore("search-filters")
        var ids: [String] = []
        for index in 0..<10 {
            let channel: Channel = index % 3 == 0 ? .marketplace : .web
            let result = try await capture(writer, customerDraft("EXT-\(index)", customer: index, channel: channel,
                                                                 lines: [("SKU-\(1 + index % 3)", 1), ("SKU-6", 1)]))
            ids.append(result.order.orderID.rawValue)
            clock.advance(milliseconds: 1_000)
        }
        // customers 0 and 5 are Ada Lovelace; 2 and 7 Ada Byron.
        #expect(try searchAll(reader) { $0.email = "ada@EXAMPLE.com " } == [ids[5], ids[0]])
        #expect(try searchAll(reader) { $0.phone = "5550100001" } == [], "digits must match whole: the country code is part of them")
        #expect(try searchAll(reader) { $0.phone = "1 555 010 0001" } == [ids[5], ids[0]])
        #expect(try searchAll(reader) { $0.name = "ADA" } == [ids[7], ids[5], ids[2], ids[0]])
        #expect(try searchAll(reader) { $0.name = "ada byron" } == [ids[7], ids[2]])
        #expect(try searchAll(reader) { $0.sku = "sku-2" } == [ids[7], ids[4], ids[1]])
        #expect(try searchAll(reader) { $0.sku = "SKU-6"; $0.channel = .marketplace } == [ids[9], ids[6], ids[3], ids[0]])
        #expect(try searchAll(reader) { $0.externalOrderID = "EXT-4"; $0.channel = .web } == [ids[4]])
        #expect(try searchAll(reader) { $0.externalOrderID = "EXT-4"; $0.channel = .marketplace } == [])
        #expect(try searchAll(reader) { $0.query = ids[3].lowercased() } == [ids[3]])
        #expect(try searchAll(reader) { $0.query = "EXT-8" } == [ids[8]])
        #expect(try searchAll(reader) { $0.query = "grace@example.com" } == [ids[6], ids[1]])
        #expect(try searchAll(reader) { $0.query = "(555) 010-0003" } == [], "the phone's digits must match whole")
        #expect(try searchAll(reader) { $0.query = "+1 555 010 0003" } == [ids[7], ids[2]])
        #expect(try searchAll(reader) { $0.query = "dijkstra" } == [ids[9], ids[4]])
        #expect(try searchAll(reader) { $0.query = "Sku-3" } == [ids[8], ids[5], ids[2]])
        let capturedAt = try reader.allOrders().map(\.capturedAt)
        #expect(try searchAll(reader) { $0.sku = "SKU-6"; $0.capturedFrom = capturedAt[2]; $0.capturedTo = capturedAt[5] }
                == [ids[4], ids[3], ids[2]])
        #expect(try searchAll(reader) { $0.statuses = [.allocated]; $0.email = "grace@example.com" } == [ids[6], ids[1]])
        #expect(try searchAll(reader) { $0.statuses = [.shipped]; $0.email = "grace@example.com" } == [])
        #expect(try searchAll(reader) { $0.channels = [.web]; $0.query = ids[3] } == [], "outside the channel scope: nothing")

        // Tracking numbers and locations appear later, through updateOrder.
        let order = try #require(try reader.order(id: ids[1]))
        let fulfillment = try #require(order.fulfillments.first)
        _ = try await apply(writer, .releaseFulfillment(nil), order.orderID, request: "r1")
        _ = try await apply(writer, .confirmShipment(fulfillment.fulfillmentID, carrierID: "UPX", trackingNumber: "1Z999AA1"), order.orderID, request: "s1")
        #expect(try searchAll(reader) { $0.trackingNumber = "1z999aa1" } == [ids[1]])
        #expect(try searchAll(reader) { $0.query = "1Z999AA1" } == [ids[1]])
        let atLocation = try reader.allOrders().filter { $0.fulfillments.contains { $0.locationID == fulfillment.locationID } }
        #expect(try searchAll(reader) { $0.locationID = fulfillment.locationID.rawValue } == atLocation.reversed().map(\.orderID.rawValue))
        writer.stop()
        database.close()
    }

    @Test("terms left behind by an edited address, a replaced SKU or a re-route never answer an order that no longer matches")
    func staleTerms() async throws {
        let (_, database, writer, reader, _) = try await stockedStore("search-stale", searchIndexer: false)
        let order = try await capture(writer, customerDraft("STALE-1", customer: 0, lines: [("SKU-1", 1)])).order
        var address = order.shipTo
        address.name = "Charles Babbage"
        address.phone = "+44 20 7946 0000"
        _ = try await apply(writer, .edit([.changeShipTo(address), .replaceSKU(lineID: "L1", sku: SKU("SKU-2"), unitPrice: nil)], reason: "moved"),
                            order.orderID, request: "edit-1")
        #expect(try searchAll(reader) { $0.name = "babbage" } == [order.orderID.rawValue])
        #expect(try searchAll(reader) { $0.phone = "442079460000" } == [order.orderID.rawValue])
        #expect(try searchAll(reader) { $0.sku = "SKU-2" } == [order.orderID.rawValue])
        #expect(try searchAll(reader) { $0.sku = "SKU-1" } == [], "the old SKU's term is stale")
        #expect(try searchAll(reader) { $0.query = "sku-1" } == [])
        #expect(try searchAll(reader) { $0.name = "lovelace" } == [order.orderID.rawValue], "the customer's name did not change")
        // The stale term is still there once indexed: only verification keeps it out.
        try database.searchIndex.indexPending()
        #expect(try database.searchIndex.count(matching: ["s:sku-1"], cap: 10) == 1)
        #expect(try searchAll(reader) { $0.sku = "SKU-1" } == [])

        // A re-route: the rejected location keeps the order (it had a fulfillment there); the
        // queue of that location no longer lists it, the new location's does.
        let edited = try #require(try reader.order(id: order.orderID.rawValue))
        let first = try #require(edited.fulfillments.first { $0.status == .created })
        let rerouted = try await apply(writer, .rejectFulfillment(first.fulfillmentID, lines: [], reason: "damaged", stockMissing: false),
                                       order.orderID, request: "reject-1")
        let second = try #require(rerouted.fulfillments.first { $0.status == .created })
        #expect(second.locationID != first.locationID)
        #expect(try searchAll(reader) { $0.locationID = second.locationID.rawValue } == [order.orderID.rawValue])
        #expect(try reader.locationQueueNow(LocationQueueFilter(locationID: first.locationID.rawValue, pageSize: 10)).rows.isEmpty)
        #expect(try reader.locationQueueNow(LocationQueueFilter(locationID: second.locationID.rawValue, pageSize: 10)).rows.map(\.fulfillmentID)
                == [second.fulfillmentID])
        writer.stop()
        database.close()
    }

    @Test("a location's queue lists open fulfillments oldest first; each leaves it when picked, packed and shipped (pickup: when collected)")
    func queue() async throws {
        let (_, database, writer, reader, clock) = try await stockedStore("search-queue")
        var orders: [Order] = []
        for index in 0..<5 {
            orders.append(try await capture(writer, customerDraft("Q-\(index)", customer: index, lines: [("SKU-4", 1)], pickup: true)).order)
            clock.advance(milliseconds: 60_000)
        }
        let store = StoreNet.locations[2].rawValue
        func queue(_ statuses: [FulfillmentStatus] = [], pageSize: Int = 2) throws -> [String] {
            var filter = LocationQueueFilter(locationID: store, pageSize: pageSize)
            filter.statuses = statuses
            var ids: [String] = []
            while true {
                let page = try reader.locationQueueNow(filter)
                ids += page.rows.map(\.fulfillmentID)
                guard let next = page.next else { return ids }
                filter.after = next
            }
        }
        let fulfillments = orders.map { $0.fulfillments[0].fulfillmentID }
        #expect(try queue() == fulfillments, "oldest first, across pages")
        let target = orders[1].orderID, id = fulfillments[1]
        _ = try await apply(writer, .releaseFulfillment(id), target, request: "q-release")
        #expect(try queue([.released]) == [id])
        #expect(try queue([.created]) == fulfillments.filter { $0 != id })
        _ = try await apply(writer, .confirmPick(id), target, request: "q-pick")
        #expect(try queue([.picked]) == [id])
        _ = try await apply(writer, .confirmPack(id), target, request: "q-pack")
        #expect(try queue([.packed]) == [id])
        _ = try await apply(writer, .confirmShipment(id, carrierID: "", trackingNumber: ""), target, request: "q-hand-over")
        #expect(try queue([.shipped]) == [id], "a pickup handed over waits for collection")
        #expect(try queue() == fulfillments, "still in the queue, in its place")
        _ = try await apply(writer, .confirmDelivery(id), target, request: "q-collected")
        #expect(try queue() == fulfillments.filter { $0 != id })
        _ = try await apply(writer, .cancelOrder(reason: "changed mind"), orders[3].orderID, request: "q-cancel")
        #expect(try queue() == [fulfillments[0], fulfillments[2], fulfillments[4]])
        writer.stop()
        database.close()
    }

    @Test("orders already stored get their queues (migration v13) and their terms (a missing search index file is built)")
    func backfill() async throws {
        let directory = try TemporaryDirectory("search-backfill")
        let path = directory.path("store.sqlite")
        var expected: [String] = []
        do {
            let clock = ManualClock()
            let (database, writer) = try openStore(path, clock: clock)
            try await StoreNet.setUp(writer)
            _ = try await receive(writer, "stock", "SKU-4", StoreNet.locations[2].rawValue, 50)
            for index in 0..<6 {
                expected.append(try await capture(writer, customerDraft("B-\(index)", customer: index, lines: [("SKU-4", 1)], pickup: true))
                    .order.orderID.rawValue)
            }
            writer.stop()
            database.close()
            // The database as a server before v12 left it: no search index, no queues, v13 unrun.
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: """
                    DROP TABLE location_queue; DELETE FROM grdb_migrations WHERE identifier = 'v13: location queues';
                    """)
            }
            try queue.close()
            SearchIndex.removeFiles(path + "-search")
        }
        let clock = ManualClock()
        let (database, writer) = try openStore(path, clock: clock, searchIndexer: false)
        let reader = StoreReader(database: database)
        #expect(try database.searchIndex.count(matching: ["e:ada@example.com"], cap: 10) == 2, "built on open, not searched from the outbox")
        #expect(try searchAll(reader) { $0.email = "ada@example.com" } == [expected[5], expected[0]])
        #expect(try searchAll(reader) { $0.sku = "SKU-4" } == expected.reversed())
        #expect(try reader.locationQueueNow(LocationQueueFilter(locationID: StoreNet.locations[2].rawValue, pageSize: 10)).rows.count == 6)
        writer.stop()
        database.close()
    }

    @Test("a search stops at candidatesScannedMax and says so, with a cursor that goes on where it stopped")
    func candidateLimit() async throws {
        let (_, database, writer, reader, _) = try await stockedStore("search-limit")
        var ids: [String] = []
        for index in 0..<12 {
            ids.append(try await capture(writer, customerDraft("L-\(index)", customer: index % 2 == 0 ? 0 : 1, lines: [("SKU-5", 1)])).order.orderID.rawValue)
        }
        try waitForSearchIndex(database)  // postings counted from the index (not all 12 orders from the outbox)
        var filter = OrderSearchFilter(pageSize: 50, candidatesScannedMax: 5)
        filter.sku = "SKU-5"
        filter.email = "grace@example.com"  // the email's 6 postings are read: fewer than the SKU's 12
        var page = try reader.searchOrdersNow(filter)
        #expect(page.candidatesLimitReached && page.rows.count == 5 && page.nextBeforeSequence != nil)
        filter.beforeSequence = try #require(page.nextBeforeSequence)
        page = try reader.searchOrdersNow(filter)
        #expect(!page.candidatesLimitReached && page.rows.count == 1 && page.nextBeforeSequence == nil)
        // Without a term the orders themselves are walked, under the same bound.
        var every = OrderSearchFilter(pageSize: 50, candidatesScannedMax: 5)
        every.statuses = [.shipped]
        page = try reader.searchOrdersNow(every)
        #expect(page.candidatesLimitReached && page.rows.isEmpty && page.candidatesScanned == 5)
        writer.stop()
        database.close()
    }

    @Test("property: ASCII text normalizes on the byte path exactly as on Foundation's (trim, lower-case, words)")
    func asciiNormalization() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...1_000_000)) { seed in
            var random = SeededRandom(seed: UInt64(seed))
            let alphabet = Array(" \t\nAbZz09-_.@+()éÅ".unicodeScalars)
            let length = Int(random.next() % 16)
            var text = ""
            for _ in 0..<length { text.unicodeScalars.append(alphabet[Int(random.next() % UInt64(alphabet.count - (seed % 2 == 0 ? 2 : 0)))]) }
            #expect(SearchText.code(text) == text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased(), "\(text.debugDescription)")
            #expect(SearchText.words(text) == text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init), "\(text.debugDescription)")
            #expect(SearchText.phone(text) == String(text.filter { $0.isASCII && $0.isNumber }), "\(text.debugDescription)")
        }
    }

    @Test("property: every search answers what a brute-force filter over all orders answers, in the same order — the index behind the database, then caught up")
    func searchEqualsBruteForce() async throws {
        // The indexer runs when the test says: at random points of the workload, so the checks
        // first meet an index that covers part of the changes (the rest read from the outbox),
        // then one that covers them all (nothing from the outbox).
        let (_, database, writer, reader, clock) = try await stockedStore("search-property", searchIndexer: false)
        var random = SeededRandom(seed: 17)
        // Orders of every channel and shape, then lifecycle changes that add and strand terms.
        for index in 0..<120 {
            let lines = (0..<(1 + Int(random.next() % 3))).map { line in ("SKU-\(1 + (Int(random.next() % 6) + line) % 6)", Int32(1 + random.next() % 3)) }
            _ = try await capture(writer, customerDraft("P-\(index)", customer: Int(random.next() % 5), channel: Channel.allCases[Int(random.next() % 6)],
                                                        lines: lines, pickup: random.next() % 5 == 0))
            clock.advance(milliseconds: Int64(random.next() % 5_000))
        }
        for step in 0..<150 {
            let orderID = OrderID(sequence: 1 + Int64(random.next() % 120))
            guard let order = try reader.order(id: orderID.rawValue) else { continue }
            let open = order.fulfillments.filter { !$0.status.isTerminal }
            let command: OrderCommand
            switch random.next() % 6 {
            case 0:
                var address = order.shipTo
                address.name = ["Charles Babbage", "Ada Lovelace", "Hedy Lamarr"][Int(random.next() % 3)]
                address.phone = "+1 555 020 00\(random.next() % 10)"
                command = .edit([.changeShipTo(address)], reason: "address")
            case 1:
                command = .edit([.replaceSKU(lineID: "L1", sku: StoreNet.skus[Int(random.next() % 6)], unitPrice: nil)], reason: "sku")
            case 2:
                guard let f = open.first else { continue }
                command = .rejectFulfillment(f.fulfillmentID, lines: [], reason: "no", stockMissing: false)
            case 3:
                command = .releaseFulfillment(nil)
            default:
                guard let f = open.first(where: { $0.status == .released || $0.status == .packed || $0.status == .picked }) else {
                    command = .releaseFulfillment(nil)
                    break
                }
                command = .confirmShipment(f.fulfillmentID, carrierID: f.carrierID, trackingNumber: "1Z-\(step % 40)")
            }
            _ = try? await apply(writer, command, orderID, request: "p-\(step)")
            if random.next() % 10 == 0 { try database.searchIndex.indexPending() }
        }
        let all = try reader.allOrders()
        let emails = ["ada@example.com", "GRACE@example.com", "ada.byron@example.com", "nobody@example.com"]
        let phones = ["+1 (555) 010-0001", "15550100005", "+1 555 020 003"]
        let names = ["ada", "Lovelace", "babbage", "w", "ada byron", "hedy lamarr"]
        let skus = ["SKU-1", "sku-4", "SKU-6", "SKU-9"]
        let trackings = ["1Z-3", "1z-17", "1Z-99"]
        let queries = ["ada", "GRACE@EXAMPLE.COM", "+1 555 010 0003", "sku-2", "1Z-5", "P-7", "W-00000011", "w-00000050", "dijkstra", "nothing"]
        let head = try reader.feedBounds().head
        func check() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...1_000_000)) { seed in
            var pick = SeededRandom(seed: UInt64(seed))
            func maybe<T>(_ values: [T], _ odds: UInt64 = 4) -> T? { pick.next() % odds == 0 ? values[Int(pick.next() % UInt64(values.count))] : nil }
            var query = BruteForceQuery()
            query.email = maybe(emails)
            query.phone = maybe(phones, 6)
            query.name = maybe(names)
            query.sku = maybe(skus)
            query.tracking = maybe(trackings, 5)
            query.location = maybe(StoreNet.locations.map(\.rawValue), 5)
            query.text = maybe(queries, 3)
            query.channels = maybe([[Channel.web], [.marketplace, .storePOS], []], 6)
            query.statuses = maybe([[OrderStatus.allocated], [.released, .shipped, .partiallyShipped]], 5) ?? []
            let pageSize = 1 + Int(pick.next() % 7)
            let found = try searchAll(reader, pageSize: pageSize) { filter in
                (filter.email, filter.phone, filter.name, filter.sku) = (query.email, query.phone, query.name, query.sku)
                (filter.trackingNumber, filter.locationID, filter.query) = (query.tracking, query.location, query.text)
                filter.channels = query.channels
                filter.statuses = query.statuses
            }
            let expected = all.filter(query.matches).sorted { $0.captureSequence > $1.captureSequence }.map(\.orderID.rawValue)
            #expect(found == expected, "\(query)")
        }
        }
        #expect(database.searchIndex.indexedThrough < Int64(head), "the index is behind: some candidates come from the outbox")
        await check()
        try database.searchIndex.indexPending()
        #expect(database.searchIndex.indexedThrough == Int64(head))
        await check()
        writer.stop()
        database.close()
    }
}

/// The oracle: what a search means, read straight off each order (no terms, no index).
struct BruteForceQuery: CustomStringConvertible {
    var email: String?, phone: String?, name: String?, sku: String?, tracking: String?, location: String?, text: String?
    var channels: [Channel]?
    var statuses: [OrderStatus] = []

    var description: String {
        "email \(email ?? "-") phone \(phone ?? "-") name \(name ?? "-") sku \(sku ?? "-") tracking \(tracking ?? "-") "
            + "location \(location ?? "-") text \(text ?? "-") channels \(channels.map { "\($0)" } ?? "-") statuses \(statuses)"
    }

    private static func folded(_ text: String) -> String { text.lowercased().trimmingCharacters(in: .whitespaces) }
    private static func digits(_ text: String) -> String { String(text.filter { "0123456789".contains($0) }) }
    private static func words(_ text: String) -> Set<String> {
        Set(text.lowercased().components(separatedBy: CharacterSet.alphanumerics.inverted).filter { !$0.isEmpty })
    }

    private static func phoneMatches(_ order: Order, _ digits: String) -> Bool {
        !digits.isEmpty && (Self.digits(order.customer.phone) == digits || Self.digits(order.shipTo.phone) == digits)
    }
    private static func nameMatches(_ order: Order, _ name: String) -> Bool {
        let wanted = words(name)
        return !wanted.isEmpty && wanted.isSubset(of: words(order.customer.name).union(words(order.shipTo.name)))
    }
    private static func skuMatches(_ order: Order, _ sku: String) -> Bool { order.lines.contains { folded($0.sku.rawValue) == folded(sku) } }
    private static func trackingMatches(_ order: Order, _ tracking: String) -> Bool {
        order.fulfillments.contains { !$0.trackingNumber.isEmpty && folded($0.trackingNumber) == folded(tracking) }
    }

    func matches(_ order: Order) -> Bool {
        if let channels, !channels.contains(order.channel) { return false }
        if !statuses.isEmpty && !statuses.contains(order.status) { return false }
        if let email, Self.folded(order.customer.email) != Self.folded(email) { return false }
        if let phone, !Self.phoneMatches(order, Self.digits(phone)) { return false }
        if let name, !Self.nameMatches(order, name) { return false }
        if let sku, !Self.skuMatches(order, sku) { return false }
        if let tracking, !Self.trackingMatches(order, tracking) { return false }
        if let location, !order.fulfillments.contains(where: { $0.locationID.rawValue == location }) { return false }
        if let text {
            let phoneLike = text.allSatisfy { "0123456789+-(). ".contains($0) }
            let any = Self.folded(order.orderID.rawValue) == Self.folded(text) || order.externalOrderID == text
                || Self.folded(order.customer.email) == Self.folded(text)
                || (phoneLike && Self.phoneMatches(order, Self.digits(text)))
                || Self.nameMatches(order, text) || Self.skuMatches(order, text) || Self.trackingMatches(order, text)
            if !any { return false }
        }
        return true
    }
}
