// Validation: every rule is INVALID_ARGUMENT naming the field at fault (and, for limits, the
// limit's name and value), and an invalid request changes nothing.
import Testing
import PropertyBased
import WaybillCore

struct DraftRule: Sendable, CustomTestStringConvertible {
    var name: String
    var field: String
    var limitName: String? = nil
    var limits = DomainLimits.default
    var mutate: @Sendable (inout OrderDraft) -> Void
    var testDescription: String { name }
}

struct ValidationTests {
    static let valid = Net.draft("EXT-1", [(Net.skuA, 2), (Net.skuB, 1)])

    static let rules: [DraftRule] = {
        var small = DomainLimits()
        small.linesPerOrderMax = 3
        small.quantityPerLineMax = 10
        small.identifierBytesMax = 8
        small.textBytesMax = 16
        small.attributesPerOrderMax = 2
        small.holdsPerOrderMax = 1
        return [
            DraftRule(name: "missing channel", field: "order.channel") { $0.channel = nil },
            DraftRule(name: "missing external id", field: "order.external_order_id") { $0.externalOrderID = "" },
            DraftRule(name: "external id too long", field: "order.external_order_id", limitName: "identifierBytesMax", limits: small) {
                $0.externalOrderID = "EXT-123456789"
            },
            DraftRule(name: "external id with a control character", field: "order.external_order_id") { $0.externalOrderID = "EXT\u{7}1" },
            DraftRule(name: "no lines", field: "order.lines") { $0.lines = [] },
            DraftRule(name: "too many lines (default limit)", field: "order.lines", limitName: "linesPerOrderMax") { draft in
                draft.lines = (0...500).map { DraftLine(lineID: "L\($0)", sku: Net.skuA, quantity: 1, unitPrice: Net.money(100)) }
            },
            DraftRule(name: "too many lines (configured limit)", field: "order.lines", limitName: "linesPerOrderMax", limits: small) { draft in
                draft.lines = (0..<4).map { DraftLine(lineID: "L\($0)", sku: Net.skuA, quantity: 1, unitPrice: Net.money(100)) }
            },
            DraftRule(name: "zero quantity", field: "order.lines[1].quantity") { $0.lines[1].quantity = 0 },
            DraftRule(name: "negative quantity", field: "order.lines[0].quantity") { $0.lines[0].quantity = -3 },
            DraftRule(name: "quantity over the limit", field: "order.lines[0].quantity", limitName: "quantityPerLineMax", limits: small) {
                $0.lines[0].quantity = 11
            },
            DraftRule(name: "empty SKU", field: "order.lines[0].sku") { $0.lines[0].sku = SKU("") },
            DraftRule(name: "SKU starting with punctuation", field: "order.lines[1].sku") { $0.lines[1].sku = SKU("-ABC") },
            DraftRule(name: "SKU with a space", field: "order.lines[0].sku") { $0.lines[0].sku = SKU("AB C") },
            DraftRule(name: "SKU with a non-ASCII letter", field: "order.lines[0].sku") { $0.lines[0].sku = SKU("CAFÉ-1") },
            DraftRule(name: "SKU too long", field: "order.lines[0].sku", limitName: "identifierBytesMax", limits: small) {
                $0.lines[0].sku = SKU("ABCDEFGHIJ")
            },
            DraftRule(name: "missing line id", field: "order.lines[0].line_id") { $0.lines[0].lineID = "" },
            DraftRule(name: "duplicate line id", field: "order.lines[1].line_id") { $0.lines[1].lineID = $0.lines[0].lineID },
            DraftRule(name: "negative price", field: "order.lines[1].unit_price.minor_units") { $0.lines[1].unitPrice.minorUnits = -1 },
            DraftRule(name: "mixed currencies", field: "order.lines[1].unit_price.currency") { $0.lines[1].unitPrice.currency = "EUR" },
            DraftRule(name: "malformed currency", field: "order.lines[0].unit_price.currency") { draft in
                for index in draft.lines.indices { draft.lines[index].unitPrice.currency = "usd" }
            },
            DraftRule(name: "missing postal code for a shipped order", field: "order.ship_to.postal_code") { $0.shipTo.postalCode = "" },
            DraftRule(name: "missing country for a shipped order", field: "order.ship_to.country") { $0.shipTo.country = "" },
            DraftRule(name: "country not alpha-2", field: "order.ship_to.country") { $0.shipTo.country = "USA" },
            DraftRule(name: "pickup without a store", field: "order.fulfillment.pickup_location_id") {
                $0.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: nil)
            },
            DraftRule(name: "pickup with an empty store id", field: "order.fulfillment.pickup_location_id") {
                $0.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: LocationID(""))
            },
            DraftRule(name: "latitude out of range", field: "order.ship_to.coordinates.latitude") {
                $0.shipTo.coordinates = Coordinates(latitude: 91, longitude: 0)
            },
            DraftRule(name: "longitude not a number", field: "order.ship_to.coordinates.longitude") {
                $0.shipTo.coordinates = Coordinates(latitude: 0, longitude: .nan)
            },
            DraftRule(name: "negative creation time", field: "order.created_at_unix_ms") { $0.createdAt = Timestamp(millisecondsSinceEpoch: -1) },
            DraftRule(name: "customer name too long", field: "order.customer.name", limitName: "textBytesMax", limits: small) {
                $0.customer.name = String(repeating: "x", count: 17)
            },
            DraftRule(name: "too many address lines", field: "order.ship_to.lines") { $0.shipTo.lines = Array(repeating: "x", count: 9) },
            DraftRule(name: "duplicate hold reason", field: "order.holds[1].reason") {
                $0.holds = [Hold(reason: .fraud), Hold(reason: .fraud)]
            },
            DraftRule(name: "too many holds", field: "order.holds", limitName: "holdsPerOrderMax", limits: small) {
                $0.holds = [Hold(reason: .fraud), Hold(reason: .payment)]
            },
            DraftRule(name: "too many attributes", field: "order.attributes", limitName: "attributesPerOrderMax", limits: small) {
                $0.attributes = ["a": "1", "b": "2", "c": "3"]
            },
            DraftRule(name: "empty attribute key", field: "order.attributes key") { $0.attributes = ["": "x"] },
        ]
    }()

    @Test("the valid draft is valid (the control for every rule)")
    func validDraft() {
        #expect(Validation.check(Self.valid) == nil)
        var pickup = Self.valid
        pickup.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: Net.stCenter)
        pickup.shipTo = Address()
        #expect(Validation.check(pickup) == nil, "a pickup needs no ship-to address")
    }

    @Test("each rule is INVALID_ARGUMENT naming its field", arguments: rules)
    func rule(_ rule: DraftRule) {
        var draft = Self.valid
        rule.mutate(&draft)
        guard let error = Validation.check(draft, limits: rule.limits) else {
            Issue.record("\(rule.name): accepted")
            return
        }
        #expect(error.code == .invalidArgument)
        #expect(error.field == rule.field, "\(error)")
        #expect(error.message.hasPrefix(rule.field + ":"), "the message starts with the field: \(error.message)")
        if let limitName = rule.limitName {
            #expect(error.limitName == limitName)
            #expect(error.message.contains(limitName))
            let value: Int64 = switch limitName {
            case "linesPerOrderMax": Int64(rule.limits.linesPerOrderMax)
            case "quantityPerLineMax": Int64(rule.limits.quantityPerLineMax)
            case "identifierBytesMax": Int64(rule.limits.identifierBytesMax)
            case "textBytesMax": Int64(rule.limits.textBytesMax)
            case "attributesPerOrderMax": Int64(rule.limits.attributesPerOrderMax)
            case "holdsPerOrderMax": Int64(rule.limits.holdsPerOrderMax)
            default: -1
            }
            #expect(error.limitValue == value)
        }
    }

    @Test("a ValidatedDraft exists only for a valid draft; the engine checks it again only under other limits",
          arguments: rules.filter { $0.limits == .default })
    func validatedDrafts(_ rule: DraftRule) throws {
        var draft = Self.valid
        rule.mutate(&draft)
        expectDomainError(.invalidArgument, field: rule.field) { _ = try ValidatedDraft(draft, limits: .default) }
        // Valid under the defaults, too many lines for an engine allowing one: refused there.
        var strict = DomainLimits.default
        strict.linesPerOrderMax = 1
        let validated = try ValidatedDraft(Self.valid, limits: .default)
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 10)], limits: strict)
        let error = expectDomainError(.invalidArgument, field: "order.lines") {
            _ = try h.engine.capture(validated, context: h.context(), storage: h.storage)
        }
        #expect(error?.limitName == "linesPerOrderMax" && h.storage.orders.isEmpty)
    }

    @Test("an invalid capture changes nothing", arguments: rules.filter { $0.limits == .default })
    func invalidCaptureChangesNothing(_ rule: DraftRule) throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whEast, 10)])
        var draft = Self.valid
        rule.mutate(&draft)
        let figures = liveFigures(h.engine), events = h.storage.events.count
        expectDomainError(.invalidArgument, field: rule.field) {
            _ = try h.engine.capture(draft, context: h.context(), storage: h.storage)
        }
        #expect(h.storage.orders.isEmpty && h.engine.state.nextOrderSequence == 1)
        #expect(liveFigures(h.engine) == figures && h.storage.events.count == events)
    }

    /// A valid draft of 1–6 lines with random SKUs, quantities and prices.
    static let validDrafts = zip(Gen.int(in: 1...6), Gen.int32(in: 1...1_000_000).array(of: 6), Gen.int64(in: 0...1_000_000).array(of: 6),
                                 Gen.int(in: 0...3).array(of: 6))
        .map { generated in
            let (count, quantities, prices, skus) = generated
            var draft = Net.draft("EXT-P", [])
            draft.lines = (0..<count).map {
                DraftLine(lineID: "line-\($0)", sku: Net.allSKUs[skus[$0]], quantity: quantities[$0], unitPrice: Net.money(prices[$0]))
            }
            return draft
        }

    @Test("random valid drafts pass; a bad quantity on any line names that line")
    func quantityOnAnyLine() async {
        await propertyCheck(count: 200, input: Self.validDrafts, Gen.int(in: 0...5), Gen.int32(in: -5...0)) { draft, line, quantity in
            #expect(Validation.check(draft) == nil)
            var bad = draft
            let index = line % bad.lines.count
            bad.lines[index].quantity = quantity
            #expect(Validation.check(bad)?.field == "order.lines[\(index)].quantity")
            var heavy = draft
            heavy.lines[index].quantity = 1_000_001
            #expect(Validation.check(heavy)?.limitName == "quantityPerLineMax")
        }
    }

    @Test("random strings: SKUs are accepted exactly when they are 1–128 of [A-Za-z0-9._/-] starting alphanumeric")
    func skuShape() async {
        let alphabet = Array("AZaz09._/- é\u{0}")
        let sku = Gen.int(in: 0...(alphabet.count - 1)).array(of: 0...12).map { String($0.map { alphabet[$0] }) }
        await propertyCheck(count: 300, input: sku) { candidate in
            func alphanumeric(_ scalar: Unicode.Scalar) -> Bool { scalar.isASCII && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil) }
            let ascii = candidate.unicodeScalars.allSatisfy { alphanumeric($0) || "._/-".unicodeScalars.contains($0) }
            let startsWell = candidate.unicodeScalars.first.map(alphanumeric) ?? false
            let expected = !candidate.isEmpty && ascii && startsWell
            #expect((Validation.checkSKU(candidate, field: "sku", limits: .default) == nil) == expected, "\(candidate.debugDescription)")
        }
    }

    // MARK: other requests

    @Test("inventory changes: every malformed change names its field and changes nothing")
    func inventoryChanges() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 5)])
        let figures = liveFigures(h.engine)
        let cases: [(InventoryChange, DomainError.Code, String)] = [
            (InventoryChange(changeID: "", kind: .receipt, sku: Net.skuA, locationID: Net.whEast, quantity: 1), .invalidArgument, "change_id"),
            (InventoryChange(changeID: "c1", kind: .receipt, sku: SKU("bad sku"), locationID: Net.whEast, quantity: 1), .invalidArgument, "sku"),
            (InventoryChange(changeID: "c2", kind: .receipt, sku: Net.skuA, locationID: Net.whEast, quantity: 0), .invalidArgument, "quantity"),
            (InventoryChange(changeID: "c3", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: 0), .invalidArgument, "quantity"),
            (InventoryChange(changeID: "c4", kind: .receipt, sku: Net.skuA, locationID: LocationID("NOWHERE"), quantity: 1), .notFound, "location_id"),
            (InventoryChange(changeID: "c5", kind: .transfer, sku: Net.skuA, locationID: Net.whEast, quantity: 1, toLocationID: Net.whEast),
             .invalidArgument, "to_location_id"),
            (InventoryChange(changeID: "c6", kind: .transfer, sku: Net.skuA, locationID: Net.whEast, quantity: 1, toLocationID: LocationID("NOWHERE")),
             .notFound, "to_location_id"),
            (InventoryChange(changeID: "c7", kind: .transfer, sku: Net.skuA, locationID: Net.whEast, quantity: 1), .notFound, "to_location_id"),
            (InventoryChange(changeID: "c8", kind: .transfer, sku: Net.skuA, locationID: Net.whEast, quantity: -1, toLocationID: Net.whWest),
             .invalidArgument, "quantity"),
        ]
        for (change, code, field) in cases {
            expectDomainError(code, field: field, "\(change)") {
                _ = try h.engine.applyInventoryChange(change, context: h.context(fingerprint: 1), storage: h.storage)
            }
        }
        // Preconditions on stock: below zero, or moving reserved units.
        expectDomainError(.failedPrecondition) {
            _ = try h.engine.applyInventoryChange(InventoryChange(changeID: "c9", kind: .adjustment, sku: Net.skuA, locationID: Net.whEast, quantity: -6),
                                                  context: h.context(fingerprint: 1), storage: h.storage)
        }
        #expect(liveFigures(h.engine) == figures)
        _ = try h.capture(Net.draft("EXT-1", [(Net.skuA, 4)]))
        expectDomainError(.failedPrecondition) {
            _ = try h.engine.applyInventoryChange(InventoryChange(changeID: "c10", kind: .transfer, sku: Net.skuA, locationID: Net.whEast, quantity: 2,
                                                                  toLocationID: Net.whWest), context: h.context(fingerprint: 1), storage: h.storage)
        }
        #expect(h.balance(Net.skuA, Net.whEast).onHand == 5 && h.balance(Net.skuA, Net.whWest).onHand == 0)
        // A change id is an idempotency key: a retry replays, different content is refused.
        let receipt = InventoryChange(changeID: "r-1", kind: .receipt, sku: Net.skuB, locationID: Net.whWest, quantity: 3)
        #expect(try !h.engine.applyInventoryChange(receipt, context: h.context(fingerprint: 42), storage: h.storage).replayed)
        #expect(try h.engine.applyInventoryChange(receipt, context: h.context(fingerprint: 42), storage: h.storage).replayed)
        expectDomainError(.alreadyExists, field: "change_id") {
            _ = try h.engine.applyInventoryChange(receipt, context: h.context(fingerprint: 43), storage: h.storage)
        }
        #expect(h.balance(Net.skuB, Net.whWest).onHand == 3)
    }

    @Test("network and policy updates: every malformed value names its field")
    func networkUpdates() throws {
        let h = try Harness()
        var location = Location(locationID: LocationID("X-1"))
        location.coordinates = Coordinates(latitude: 0, longitude: 200)
        expectDomainError(.invalidArgument, field: "coordinates.longitude") {
            try h.engine.upsert(location: location, context: h.context(), storage: h.storage)
        }
        location.coordinates = nil
        location.cutoffMinuteUTC = 1_440
        expectDomainError(.invalidArgument, field: "cutoff_minute_utc") { try h.engine.upsert(location: location, context: h.context(), storage: h.storage) }
        location.cutoffMinuteUTC = 0
        location.dailyOrderCapacity = -1
        expectDomainError(.invalidArgument, field: "daily_order_capacity") { try h.engine.upsert(location: location, context: h.context(), storage: h.storage) }
        expectDomainError(.invalidArgument, field: "location_id") {
            try h.engine.upsert(location: Location(locationID: LocationID(" X")), context: h.context(), storage: h.storage)
        }
        #expect(h.engine.network.locations[LocationID("X-1")] == nil)

        var item = Item(sku: Net.skuA)
        item.weightGrams = -1
        expectDomainError(.invalidArgument, field: "weight_grams") { try h.engine.upsert(item: item, context: h.context(), storage: h.storage) }
        expectDomainError(.invalidArgument, field: "sku") { try h.engine.upsert(item: Item(sku: SKU("a b")), context: h.context(), storage: h.storage) }

        var carrier = Net.carrier
        carrier.services[0].service = "a/b"
        expectDomainError(.invalidArgument, field: "services[0].service") { try h.engine.upsert(carrier: carrier, context: h.context(), storage: h.storage) }
        carrier = Net.carrier
        carrier.services[0].rates[1].cost = Net.money(-1)
        expectDomainError(.invalidArgument, field: "services[0].rates[1]") { try h.engine.upsert(carrier: carrier, context: h.context(), storage: h.storage) }

        var policy = RoutingPolicy.standard
        policy.maxShipments = 17
        expectDomainError(.invalidArgument, field: "max_shipments") { _ = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage) }
        policy.maxShipments = 2
        policy.scoring = [(.shippingCost, -1)]
        expectDomainError(.invalidArgument, field: "scoring") { _ = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage) }
        policy.scoring = [(.shippingCost, .infinity)]
        expectDomainError(.invalidArgument, field: "scoring") { _ = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage) }
        #expect(h.engine.policy == RoutingPolicy.standard)
        // 0 means the default of 3; every accepted policy gets the next version.
        policy = RoutingPolicy.standard
        policy.maxShipments = 0
        let set = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage)
        #expect(set.maxShipments == 3 && set.version == 1 && set.setAt == h.now)
    }

    @Test("lifecycle requests: malformed arguments name their field")
    func lifecycleArguments() throws {
        let h = try Harness(stock: [(Net.skuA, Net.whEast, 10)])
        let order = try h.capture(Net.draft("EXT-1", [(Net.skuA, 2)]))
        let fid = order.fulfillments[0].fulfillmentID
        let cases: [(OrderCommand, DomainError.Code, String?)] = [
            (.cancelLines([], reason: ""), .invalidArgument, "lines"),
            (.cancelLines([LineQuantity(lineID: "L1", quantity: 1), LineQuantity(lineID: "L1", quantity: 1)], reason: ""), .invalidArgument, "lines[1].line_id"),
            (.rejectFulfillment(fid, lines: [LineQuantity(lineID: "L1", quantity: 3)], reason: "", stockMissing: false), .invalidArgument, "lines[0].quantity"),
            (.rejectFulfillment(fid, lines: [LineQuantity(lineID: "L7", quantity: 1)], reason: "", stockMissing: false), .invalidArgument, "lines[0].line_id"),
            (.confirmPick("W-00000001-F9"), .notFound, nil),
            (.createReturn(returnID: "", lines: [LineQuantity(lineID: "L1", quantity: 1)], reason: ""), .invalidArgument, "return_id"),
            (.createReturn(returnID: "R1", lines: [], reason: ""), .invalidArgument, "lines"),
        ]
        for (command, code, field) in cases {
            expectDomainError(code, field: field, "\(command)") { try h.apply(command, to: order.orderID) }
        }
        expectDomainError(.notFound) { try h.apply(.hold(.fraud, note: ""), to: OrderID("W-00000099")) }
        let unchanged = h.order(order.orderID) == order
        #expect(unchanged)
    }
}

@Suite("Item master at capture")
struct ItemMasterCaptureTests {
    @Test("an inactive SKU is refused with INVALID_ARGUMENT naming the line; nothing is stored")
    func inactiveItem() throws {
        let storage = MemoryStorage()
        var engine = Engine()
        let context = CommandContext(now: Timestamp(millisecondsSinceEpoch: 1_795_700_000_000))
        // A network to capture against (captures before any are refused) and a located ship-to.
        try engine.upsert(location: Location(locationID: LocationID("WH-1")), context: context, storage: storage)
        try engine.upsert(item: Item(sku: SKU("OK-1")), context: context, storage: storage)
        var item = Item(sku: SKU("RETIRED-1"))
        item.active = false
        try engine.upsert(item: item, context: context, storage: storage)
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = "x-1"
        draft.shipTo.country = "US"
        draft.shipTo.postalCode = "10001"
        draft.shipTo.coordinates = Coordinates(latitude: 40.7506, longitude: -73.9972)
        draft.lines = [DraftLine(lineID: "1", sku: SKU("OK-1"), quantity: 1, unitPrice: Money(minorUnits: 100, currency: "USD")),
                       DraftLine(lineID: "2", sku: SKU("RETIRED-1"), quantity: 1, unitPrice: Money(minorUnits: 100, currency: "USD"))]
        #expect(throws: DomainError.self) { try engine.capture(draft, context: context, storage: storage) }
        do {
            _ = try engine.capture(draft, context: context, storage: storage)
        } catch let error as DomainError {
            #expect(error.code == .invalidArgument)
            #expect(error.field == "order.lines[1].sku")
            #expect(error.currentState == "ITEM_INACTIVE")
        }
        #expect(storage.orders.isEmpty)
        item.active = true
        try engine.upsert(item: item, context: context, storage: storage)
        #expect(try engine.capture(draft, context: context, storage: storage).order.lines.count == 2)
    }
}
