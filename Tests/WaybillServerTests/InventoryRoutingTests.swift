// Inventory and routing (issue 3) over the protocol: the network, availability, idempotent stock
// changes, no oversell under concurrency, routing explanations and policy versions.

import Foundation
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("Network and availability", .timeLimit(.minutes(2)))
struct NetworkAvailabilityTests {
    @Test("LoadNetwork loads locations, carriers, items and opening stock; loading it twice does not double the stock")
    func loadNetwork() async throws {
        try await withServer { server in
            let client = try await server.client()
            let loaded = try await client.loadFixtureNetwork()
            #expect(loaded.locations == 4)
            #expect(loaded.carriers == 1)
            #expect(loaded.items == 6)
            #expect(loaded.stockChanges == 7)
            #expect(loaded.routingPolicyVersion == 0, "no policy in the model: the built-in standard policy")
            let locations: Waybill_V1_LocationsResponse = try await client.call(Method.NetworkService.listLocations, Waybill_V1_ListRequest())
            #expect(locations.locations.map(\.locationID) == ["MKT-VENDOR", "ST-PHL", "WH-EAST", "WH-WEST"])
            #expect(locations.locations.first { $0.locationID == "ST-PHL" }?.channels == [.storePos, .clickAndCollect])
            let carriers: Waybill_V1_CarriersResponse = try await client.call(Method.NetworkService.listCarriers, Waybill_V1_ListRequest())
            #expect(carriers.carriers.first?.services.first?.rates.count == 4)
            var page = Waybill_V1_ListRequest()
            page.pageSize = 4
            let items: Waybill_V1_ItemsResponse = try await client.call(Method.NetworkService.listItems, page)
            #expect(items.items.map(\.sku) == ["SKU-A", "SKU-B", "SKU-C", "SKU-D"])
            page.pageToken = items.nextPageToken
            let rest: Waybill_V1_ItemsResponse = try await client.call(Method.NetworkService.listItems, page)
            #expect(rest.items.map(\.sku) == ["SKU-E", "SKU-F"])
            #expect(rest.nextPageToken.isEmpty)

            _ = try await client.loadFixtureNetwork()
            let position = try await client.position("SKU-A", "WH-EAST")
            #expect(position.onHand == 50, "opening stock is idempotent")

            // A bad record refuses the whole model, naming the record.
            var bad = Fixture.network
            bad.locations[1].cutoffMinuteUtc = 2_000
            bad.initialStock = [Fixture.stock("SKU-A", "WH-EAST", 1_000)]
            let error = await expectStatus(.invalidArgument, field: "locations[1].cutoff_minute_utc") { try await client.loadNetwork(bad) }
            #expect(error != nil)
            #expect(try await client.position("SKU-A", "WH-EAST").onHand == 50, "nothing of the refused model was applied")
        }
    }

    @Test("GetAvailability per SKU × location and per channel (the locations the channel may sell from)")
    func availability() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let all = try await client.availability(skus: ["SKU-A"])
            #expect(all.positions.map(\.locationID) == ["MKT-VENDOR", "ST-PHL", "WH-EAST", "WH-WEST"])
            #expect(all.positions.map(\.onHand) == [100, 5, 50, 30])
            #expect(all.positions.allSatisfy { $0.reserved == 0 && $0.available == $0.onHand && $0.sku == "SKU-A" })
            #expect(all.network.isEmpty, "no channel asked")

            let named = try await client.availability(skus: ["SKU-A", "SKU-B"], locations: ["WH-EAST", "ST-NOWHERE"])
            #expect(named.positions.map { "\($0.sku)@\($0.locationID)=\($0.available)" }
                        == ["SKU-A@WH-EAST=50", "SKU-A@ST-NOWHERE=0", "SKU-B@WH-EAST=20", "SKU-B@ST-NOWHERE=0"])

            for (channel, expected, withStock) in [(Waybill_V1_Channel.web, Int64(80), Int32(2)), (.marketplace, 180, 3), (.storePos, 85, 3),
                                                    (.clickAndCollect, 85, 3), (.callCentre, 80, 2)] {
                let answer = try await client.availability(skus: ["SKU-A", "SKU-D", "SKU-E"], channel: channel, networkOnly: true)
                #expect(answer.positions.isEmpty, "network only")
                let bySKU = Dictionary(uniqueKeysWithValues: answer.network.map { ($0.sku, $0) })
                #expect(bySKU["SKU-A"]?.available == expected, "\(channel)")
                #expect(bySKU["SKU-A"]?.locationsWithStock == withStock, "\(channel)")
                #expect(bySKU["SKU-A"]?.channel == channel)
                #expect(bySKU["SKU-D"]?.available == (channel == .storePos || channel == .clickAndCollect ? 3 : 0), "\(channel)")
                #expect(bySKU["SKU-E"]?.available == 0)
            }
            // Reservations and safety stock lower availability.
            _ = try await client.captureOrder(Fixture.order("AV-1", lines: [("SKU-A", 4)]))
            var setting = Waybill_V1_InventorySetting()
            setting.sku = "SKU-A"
            setting.locationID = "WH-WEST"
            setting.safetyStock = 10
            var settings = Waybill_V1_UpdateInventorySettingsRequest()
            settings.settings = [setting]
            let updated: Waybill_V1_UpdateInventorySettingsResponse = try await client.call(Method.InventoryService.updateInventorySettings, settings)
            #expect(updated.positions.first?.available == 20)
            let web = try await client.availability(skus: ["SKU-A"], channel: .web)
            let expectedWeb: Int64 = 80 - 4 - 10
            #expect(web.network.first?.available == expectedWeb)
            let east = try await client.position("SKU-A", "WH-EAST")
            #expect(east.onHand == 50 && east.reserved == 4 && east.available == 46)
        }
    }

    @Test("GetAvailability refuses bad requests")
    func availabilityErrors() async throws {
        try await withServer({ $0.transport.availabilitySkusMax = 3 }) { server in
            let client = try await server.client()
            let tooMany = await expectStatus(.invalidArgument) { try await client.availability(skus: ["A", "B", "C", "D"]) }
            #expect(tooMany?.details.limitName == "availabilitySkusMax")
            await expectStatus(.invalidArgument, field: "skus[1]") { try await client.availability(skus: ["SKU-A", "bad sku"]) }
            await expectStatus(.invalidArgument) { try await client.availability(skus: ["SKU-A"], networkOnly: true) }
        }
    }
}

@Suite("Stock changes", .timeLimit(.minutes(2)))
struct StockChangeTests {
    private func change(_ id: String, _ kind: Waybill_V1_InventoryChangeKind, _ sku: String, _ location: String, _ quantity: Int32,
                        to: String = "") -> Waybill_V1_InventoryChange {
        var change = Fixture.stock(sku, location, quantity)
        change.changeID = id
        change.kind = kind
        change.toLocationID = to
        change.reason = "test"
        return change
    }

    @Test("ReceiveInventory is idempotent by change id; the same id with other content is ALREADY_EXISTS")
    func receiveIdempotent() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let receipt = change("rcv-1", .unspecified, "SKU-B", "WH-WEST", 10)
            let first = try await client.receive([receipt])
            #expect(first.results.first?.status.code == .ok)
            #expect(first.results.first?.replayed == false)
            #expect(first.results.first?.positions.first?.onHand == 10)
            for _ in 0..<3 {
                let retry = try await client.receive([receipt])
                #expect(retry.results.first?.replayed == true)
                #expect(retry.results.first?.positions.first?.onHand == 10)
            }
            var different = receipt
            different.quantity = 11
            let conflict = try await client.receive([different])
            #expect(conflict.results.first?.status.code == .alreadyExists)
            #expect(conflict.results.first?.status.details.field == "change_id")
            #expect(try await client.position("SKU-B", "WH-WEST").onHand == 10)
            // The ledger has exactly one movement for it.
            var list = Waybill_V1_ListMovementsRequest()
            list.sku = "SKU-B"
            list.locationID = "WH-WEST"
            let movements: Waybill_V1_ListMovementsResponse = try await client.call(Method.InventoryService.listMovements, list)
            #expect(movements.movements.map(\.reference) == ["rcv-1"])
            #expect(movements.movements.first?.kind == "received")
            #expect(movements.movements.first?.onHandDelta == 10)
        }
    }

    @Test("bulk changes: each applied or refused on its own; adjustments and transfers idempotent too")
    func bulkChanges() async throws {
        try await withServer({ $0.transport.inventoryChangesPerRequestMax = 6 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let receipts = try await client.receive([
                change("r-1", .receipt, "SKU-C", "WH-EAST", 7),
                change("r-2", .receipt, "SKU-C", "NOWHERE", 7),
                change("r-3", .receipt, "SKU-C", "WH-EAST", 0),
                change("r-4", .adjustment, "SKU-C", "WH-EAST", 3),
                change("r-5", .receipt, "bad sku", "WH-EAST", 1),
                change("r-6", .receipt, "SKU-D", "WH-EAST", 2),
            ])
            #expect(receipts.results.map(\.changeID) == ["r-1", "r-2", "r-3", "r-4", "r-5", "r-6"])
            #expect(receipts.results.map(\.status.code) == [.ok, .notFound, .invalidArgument, .invalidArgument, .invalidArgument, .ok])
            #expect(receipts.results[2].status.details.field == "quantity")
            #expect(receipts.results[3].status.details.field == "kind")
            #expect(try await client.position("SKU-C", "WH-EAST").onHand == 7)
            #expect(try await client.position("SKU-D", "WH-EAST").onHand == 2)

            let adjustments = try await client.adjust([
                change("a-1", .unspecified, "SKU-C", "WH-EAST", -2),
                change("a-2", .adjustment, "SKU-C", "WH-EAST", -100),
                change("a-3", .transfer, "SKU-A", "WH-EAST", 5, to: "WH-WEST"),
                change("a-4", .transfer, "SKU-A", "WH-EAST", 500, to: "WH-WEST"),
                change("a-5", .receipt, "SKU-A", "WH-EAST", 5),
                change("a-6", .adjustment, "SKU-A", "WH-EAST", 0),
            ])
            #expect(adjustments.results.map(\.status.code) == [.ok, .failedPrecondition, .ok, .failedPrecondition, .invalidArgument, .invalidArgument])
            #expect(adjustments.results[2].positions.map(\.onHand) == [45, 35], "a transfer reports both ends")
            #expect(try await client.position("SKU-C", "WH-EAST").onHand == 5)
            // Retried: nothing moves twice; failed ones can be retried with a valid change.
            let retried = try await client.adjust([change("a-1", .unspecified, "SKU-C", "WH-EAST", -2),
                                                   change("a-3", .transfer, "SKU-A", "WH-EAST", 5, to: "WH-WEST"),
                                                   change("a-2", .adjustment, "SKU-C", "WH-EAST", -1)])
            #expect(retried.results.map(\.replayed) == [true, true, false])
            #expect(retried.results.map(\.status.code) == [.ok, .ok, .ok])
            #expect(try await client.position("SKU-C", "WH-EAST").onHand == 4)
            #expect(try await client.position("SKU-A", "WH-WEST").onHand == 35)

            let tooMany = await expectStatus(.invalidArgument) {
                try await client.receive((0..<7).map { change("many-\($0)", .receipt, "SKU-F", "WH-EAST", 1) })
            }
            #expect(tooMany?.details.limitName == "inventoryChangesPerRequestMax")
            #expect(try await client.position("SKU-F", "WH-EAST").onHand == 0)
        }
    }
}

@Suite("No oversell", .timeLimit(.minutes(3)))
struct OversellTests {
    @Test("many clients on many connections hammering scarce hot SKUs never reserve more than the stock")
    func noOversell() async throws {
        // A deliberate overload burst: admission by queueing time is off here (tested in BackpressureTests).
        try await withServer({ $0.writer.admission.writeQueueDelayTargetMilliseconds = 600_000 }) { server in
            let setup = try await server.client()
            var model = Fixture.network
            model.items += ["HOT-1", "HOT-2", "HOT-3"].map { Fixture.item($0) }
            let stock: [String: [String: Int64]] = [
                "HOT-1": ["WH-EAST": 12, "WH-WEST": 8],
                "HOT-2": ["WH-EAST": 10, "ST-PHL": 6],
                "HOT-3": ["WH-WEST": 15],
            ]
            model.initialStock = stock.flatMap { sku, locations in locations.map { Fixture.stock(sku, $0.key, Int32($0.value)) } }
            var policy = Waybill_V1_RoutingPolicy()
            policy.name = "no-backorder"
            var channelFilter = Waybill_V1_RoutingFilter()
            channelFilter.kind = .channelEligibility
            policy.filters = [channelFilter]
            var cost = Waybill_V1_ScoringCriterion()
            cost.kind = .shippingCost
            cost.weight = 1
            policy.scoring = [cost]
            policy.maxShipments = 2
            policy.allowPartialAllocation = false
            policy.allowBackorder = false
            model.routingPolicy = policy
            let loaded = try await setup.loadNetwork(model)
            #expect(loaded.routingPolicyVersion == 1)

            let connections = 8, perConnection = 40
            let hot = ["HOT-1", "HOT-2", "HOT-3"]
            let channels: [Waybill_V1_Channel] = [.web, .storePos, .marketplace]
            let outcomes = try await withThrowingTaskGroup(of: [(Waybill_V1_Order, Waybill_V1_CaptureOrderResponse?, WaybillStatusError?)].self) { group in
                for c in 0..<connections {
                    let client = try await server.client("hammer-\(c)")
                    group.addTask {
                        try await withThrowingTaskGroup(of: (Waybill_V1_Order, Waybill_V1_CaptureOrderResponse?, WaybillStatusError?).self) { inner in
                            for n in 0..<perConnection {
                                let seed = c * 131 + n * 17
                                var lines: [(String, Int32)] = [(hot[seed % 3], Int32(1 + seed % 3))]
                                if seed % 4 == 0 { lines.append((hot[(seed + 1) % 3], 1)) }
                                let order = Fixture.order("H\(c)-\(n)", channel: channels[seed % 3], lines: lines)
                                inner.addTask {
                                    do {
                                        return (order, try await client.captureOrder(order), nil)
                                    } catch let error as WaybillStatusError {
                                        return (order, nil, error)
                                    }
                                }
                            }
                            return try await inner.reduce(into: []) { $0.append($1) }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let accepted = outcomes.compactMap { $0.1?.order }
            let refused = outcomes.compactMap { $0.2 }
            #expect(accepted.count + refused.count == connections * perConnection)
            #expect(!accepted.isEmpty && !refused.isEmpty, "the stock is scarce: some orders win, some lose")
            for error in refused {
                #expect(error.code == .failedPrecondition, "\(error)")
                #expect(error.details.currentState == "INSUFFICIENT_STOCK")
            }
            // Every acknowledged order is fully allocated (no partial, no backorder), as planned.
            for order in accepted {
                #expect(order.status == .allocated)
                for line in order.lines {
                    let planned = order.fulfillments.flatMap(\.lines).filter { $0.lineID == line.lineID }.reduce(0) { $0 + $1.quantity }
                    #expect(planned == line.quantity && line.quantities.allocated == line.quantity && line.quantities.backordered == 0)
                }
                #expect(order.routingDecisions.first?.policyVersion == 1)
            }
            // Refused orders were not stored.
            let stored = try await setup.allOrders()
            #expect(Set(stored.map(\.orderID)) == Set(accepted.map(\.orderID)))
            // Reservations: the orders' plans add up to the books, never beyond the stock.
            var planned: [String: Int64] = [:]
            for order in stored { for (key, units) in order.reservations { planned[key, default: 0] += units } }
            let positions = try await setup.availability(skus: hot).positions
            for position in positions {
                let key = "\(position.sku)@\(position.locationID)"
                let onHand = stock[position.sku]?[position.locationID] ?? 0
                #expect(position.onHand == onHand, "\(key)")
                #expect(position.reserved == planned[key] ?? 0, "\(key)")
                #expect(position.reserved <= position.onHand, "\(key) oversold")
                #expect(position.available == position.onHand - position.reserved, "\(key)")
            }
            for sku in hot {
                let reserved = positions.filter { $0.sku == sku }.reduce(0) { $0 + $1.reserved }
                #expect(reserved <= stock[sku]!.values.reduce(0, +))
            }
            // Channel rules held: ST-PHL stock went only to store-POS orders.
            for order in accepted where order.fulfillments.contains(where: { $0.locationID == "ST-PHL" }) {
                #expect(order.channel == .storePos)
            }
        }
    }
}

@Suite("Routing explanations and policies", .timeLimit(.minutes(2)))
struct RoutingPolicyTests {
    @Test("routing_decisions and GetOrderHistory explain the choice")
    func explanations() async throws {
        try await withServer { server in
            let client = try await server.client("explainer")
            try await client.loadFixtureNetwork()
            let order = try await client.captureOrder(Fixture.order("EX-1", lines: [("SKU-A", 1)])).order
            let fulfillment = try #require(order.fulfillments.first)
            #expect(order.fulfillments.count == 1)
            #expect(fulfillment.locationID == "WH-EAST", "the cheaper warehouse for Philadelphia")
            #expect(fulfillment.carrierID == "PARCELCO" && fulfillment.carrierService == "ground")
            #expect(fulfillment.shippingCostEstimate.minorUnits == 800 + 100)
            #expect(fulfillment.transitDaysEstimate == 2)
            #expect(fulfillment.promisedDeliveryUnixMs > 0)
            let decision = try #require(order.routingDecisions.first)
            #expect(decision.trigger == "capture")
            #expect(decision.shipments == 1)
            #expect(decision.backorderedUnits == 0)
            #expect(decision.totalCostEstimate.minorUnits == 900)
            let byLocation = Dictionary(uniqueKeysWithValues: decision.locations.map { ($0.locationID, $0) })
            #expect(byLocation["WH-EAST"]?.chosen == true)
            #expect(byLocation["WH-EAST"]?.reason.hasPrefix("chosen:") == true)
            #expect(byLocation["WH-WEST"]?.chosen == false)
            #expect(byLocation["WH-WEST"]?.reason.hasPrefix("not chosen") == true)
            #expect((byLocation["WH-WEST"]?.score ?? 0) > (byLocation["WH-EAST"]?.score ?? 0))
            #expect(byLocation["ST-PHL"]?.reason == "filtered: does not sell to web")
            #expect(byLocation["MKT-VENDOR"]?.reason == "filtered: does not sell to web")
            #expect(fulfillment.routingDecision == 0)

            let history = try await client.orderHistory(order.orderID)
            #expect(history.orderID == order.orderID)
            #expect(history.routingDecisions == order.routingDecisions)
            #expect(history.entries.map(\.action) == ["captured"])
            #expect(history.entries.first?.clientID == TestCredentials.admin.name)
            #expect(history.entries.first?.version == 1)
            _ = try await client.hold(order.orderID, request: "h-1", reason: .fraud, note: "manual review")
            let later = try await client.orderHistory(order.orderID)
            #expect(later.entries.map(\.action) == ["captured", "hold_placed"])
            #expect(later.entries.last?.requestID == "h-1")
            #expect(later.entries.last?.detail == "manual review")
            await expectStatus(.notFound) { try await client.orderHistory("W-404") }

            // A store-POS order ships from the store next door (cheapest), and the decision says why.
            let pos = try await client.captureOrder(Fixture.order("EX-2", channel: .storePos, lines: [("SKU-A", 1)])).order
            #expect(pos.fulfillments.first?.locationID == "ST-PHL")
            #expect(pos.routingDecisions.first?.locations.first { $0.locationID == "WH-EAST" }?.chosen == false)
        }
    }

    @Test("SetRoutingPolicy versions policies; GetRoutingPolicy reads them; each allocation records its version")
    func policyVersions() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let builtIn: Waybill_V1_RoutingPolicy = try await client.call(Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest())
            #expect(builtIn.version == 0)
            #expect(builtIn.name == "standard")
            let before = try await client.captureOrder(Fixture.order("PV-0")).order
            #expect(before.routingDecisions.first?.policyVersion == 0)

            var west = Waybill_V1_RoutingPolicy()
            west.name = "prefer-west"
            var priority = Waybill_V1_ScoringCriterion()
            priority.kind = .locationPriority
            priority.weight = 1
            var typeFilter = Waybill_V1_RoutingFilter()
            typeFilter.kind = .region
            typeFilter.regions = ["NV"]
            west.filters = [typeFilter]
            west.scoring = [priority]
            west.allowBackorder = true
            west.allowPartialAllocation = true
            let v1 = try await client.setRoutingPolicy(west)
            #expect(v1.version == 1)
            #expect(v1.setAtUnixMs == server.clock.now)
            #expect(v1.maxShipments == 3, "0 means the default of 3")
            let first = try await client.captureOrder(Fixture.order("PV-1")).order
            #expect(first.fulfillments.first?.locationID == "WH-WEST", "the region filter keeps only NV")
            #expect(first.routingDecisions.first?.policyVersion == 1)
            #expect(first.routingDecisions.first?.locations.contains { $0.locationID == "WH-EAST" && $0.code == .policyRegion } == true)

            var east = west
            east.name = "east-only"
            east.filters[0].regions = ["NJ"]
            let v2 = try await client.setRoutingPolicy(east)
            #expect(v2.version == 2)
            let second = try await client.captureOrder(Fixture.order("PV-2")).order
            #expect(second.fulfillments.first?.locationID == "WH-EAST")
            #expect(second.routingDecisions.first?.policyVersion == 2)
            #expect(try await client.getOrder(first.orderID).routingDecisions.first?.policyVersion == 1, "earlier decisions keep their version")

            var get = Waybill_V1_GetRoutingPolicyRequest()
            let current: Waybill_V1_RoutingPolicy = try await client.call(Method.NetworkService.getRoutingPolicy, get)
            #expect(current.version == 2 && current.name == "east-only")
            get.version = 1
            let old: Waybill_V1_RoutingPolicy = try await client.call(Method.NetworkService.getRoutingPolicy, get)
            #expect(old.version == 1 && old.name == "prefer-west" && old.filters.first?.regions == ["NV"])
            get.version = 3
            await expectStatus(.notFound) {
                try await client.call(Method.NetworkService.getRoutingPolicy, get, as: Waybill_V1_RoutingPolicy.self)
            }

            // Invalid policies are refused and do not take a version.
            var invalid = east
            invalid.maxShipments = 17
            await expectStatus(.invalidArgument, field: "max_shipments") { try await client.setRoutingPolicy(invalid) }
            var unknownFilter = east
            unknownFilter.filters = [Waybill_V1_RoutingFilter()]
            await expectStatus(.invalidArgument, field: "filters[0].kind") { try await client.setRoutingPolicy(unknownFilter) }
            var negative = east
            negative.scoring[0].weight = -1
            await expectStatus(.invalidArgument, field: "scoring") { try await client.setRoutingPolicy(negative) }
            #expect(try await client.setRoutingPolicy(west).version == 3, "the next change takes the next version")
        }
    }
}
