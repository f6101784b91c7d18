// Durability with a real process: `waybill serve` is killed with SIGKILL (no drain, no final
// checkpoint) and restarted on the same file. What was acknowledged must be there, exactly.

import Foundation
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

@Suite("Durability across kill -9", .serialized, .timeLimit(.minutes(4)),
       .enabled(if: WaybillExecutable.url != nil,
                "the waybill executable was not found next to the test bundle or in .build/debug: run `swift build` first, or set WAYBILL_EXECUTABLE"))
struct DurabilityTests {
    /// What the capturing lanes sent and what came back acknowledged.
    private final class Tally: Sendable {
        let acknowledged = Mutex<[String: Waybill_V1_Order]>([:])
        let attempted = Mutex<Set<String>>([])
    }

    /// The content of the order with this external id (the same on every retry).
    private static func content(_ external: String) -> Waybill_V1_Order {
        let n = Int(external.split(separator: "-").last!)!
        return Fixture.order(external, lines: [("SKU-A", Int32(1 + n % 2)), ("SKU-B", 1)])
    }

    private func connect(_ process: ServerProcess, _ clientID: String = "durability") async throws -> WaybillClient {
        var configuration = process.adminClientConfiguration
        configuration.clientID = clientID
        return try await WaybillClient.connect(host: "127.0.0.1", port: process.port, configuration: configuration, group: clientGroup)
    }

    @Test("every acknowledged change survives SIGKILL right after its acknowledgement, exactly")
    func acknowledgedSurvivesKill() async throws {
        let directory = try TemporaryDirectory("kill")
        let database = directory.path("waybill.sqlite")
        let first = try await ServerProcess.start(database: database, logPath: directory.path("first.log"))
        var acknowledged: [String: Waybill_V1_Order] = [:]
        let positionsBefore: [Waybill_V1_InventoryPosition]
        let headBefore: UInt64
        do {
            let client = try await connect(first)
            try await client.loadFixtureNetwork()
            // Single captures, many in flight at once.
            let singles = try await withThrowingTaskGroup(of: Waybill_V1_Order.self) { group in
                for n in 0..<40 {
                    let lines: [(String, Int32)] = n % 3 == 0 ? [("SKU-A", 2), ("SKU-B", 1)] : n % 3 == 1 ? [("SKU-C", 1)] : [("SKU-E", 3)]
                    group.addTask { try await client.captureOrder(Fixture.order("K-\(n)", lines: lines)).order }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for order in singles { acknowledged[order.orderID] = order }
            // A batch.
            let batch = try await client.captureOrders((0..<15).map { Fixture.order("KB-\($0)", channel: .marketplace, lines: [("SKU-A", 1)]) })
            for result in batch.results {
                #expect(result.status.code == .ok)
                acknowledged[result.response.order.orderID] = result.response.order
            }
            // Lifecycle changes and stock movements on some of them.
            let shipped = singles.filter { $0.status == .allocated }.prefix(6)
            for order in shipped {
                _ = try await client.release(order.orderID, request: "rel-\(order.orderID)")
                for fulfillment in order.fulfillments {
                    acknowledged[order.orderID] = try await client.ship(order.orderID, fulfillment.fulfillmentID,
                                                                         request: "ship-\(fulfillment.fulfillmentID)").order
                }
            }
            if let cancelled = singles.first(where: { $0.status == .allocated && acknowledged[$0.orderID]?.status == .allocated }) {
                acknowledged[cancelled.orderID] = try await client.cancel(cancelled.orderID, request: "cancel-1").order
            }
            let receipt = try await client.receive([Fixture.stock("SKU-E", "WH-WEST", 4)].map { var c = $0; c.changeID = "rcv-E"; return c })
            #expect(receipt.results.first?.status.code == .ok)
            // The receipt released backorders: read back the orders it touched (acknowledged through GetOrder).
            for id in acknowledged.keys { acknowledged[id] = try await client.getOrder(id) }
            positionsBefore = try await client.availability(skus: ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"]).positions
            headBefore = try await client.feedInfo().headOffset
            await client.close()
        }
        await first.kill9()
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try await ServerProcess.start(database: database, logPath: directory.path("second.log"))
        do {
            let client = try await connect(second)
            let stored = try await client.allOrders()
            #expect(stored.count == acknowledged.count)
            for (id, order) in acknowledged {
                let after = try await client.getOrder(id)
                #expect(after == order, "order \(id) is exactly as acknowledged")
                #expect(after.lines.map(\.lineID) == order.lines.map(\.lineID))
                #expect(after.lines.map(\.quantity) == order.lines.map(\.quantity))
            }
            let positionsAfter = try await client.availability(skus: ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"]).positions
            #expect(positionsAfter == positionsBefore, "balances replayed from the ledger equal the acknowledged ones")
            // Reservations still match the orders.
            var reserved: [String: Int64] = [:]
            for order in stored { for (key, units) in order.reservations { reserved[key, default: 0] += units } }
            for position in positionsAfter {
                #expect(position.reserved == reserved["\(position.sku)@\(position.locationID)"] ?? 0, "\(position.sku)@\(position.locationID)")
            }
            // Search finds every acknowledged order after the crash (the index file caught up on start
            // with what the killed process had only handed over in memory): by SKU and by tracking number.
            func search(_ configure: (inout Waybill_V1_SearchOrdersRequest) -> Void) async throws -> Set<String> {
                var request = Waybill_V1_SearchOrdersRequest()
                request.pageSize = 200
                configure(&request)
                let page: Waybill_V1_SearchOrdersResponse = try await client.call(Method.OrderService.searchOrders, request)
                #expect(page.nextPageToken.isEmpty)
                return Set(page.orders.map(\.orderID))
            }
            for sku in ["SKU-A", "SKU-C", "SKU-E"] {
                #expect(try await search { $0.sku = sku } == Set(stored.filter { $0.lines.contains { $0.sku == sku } }.map(\.orderID)), "\(sku)")
            }
            var byTracking: [String: Set<String>] = [:]
            for order in acknowledged.values {
                for fulfillment in order.fulfillments where !fulfillment.trackingNumber.isEmpty { byTracking[fulfillment.trackingNumber, default: []].insert(order.orderID) }
            }
            #expect(!byTracking.isEmpty)
            for (tracking, orders) in byTracking { #expect(try await search { $0.trackingNumber = tracking } == orders, "\(tracking)") }
            // Numbering and the feed continue where they were.
            #expect(try await client.feedInfo().headOffset == headBefore)
            let next = try await client.captureOrder(Fixture.order("AFTER-RESTART"))
            let expectedNumber = String(acknowledged.count + 1)
            #expect(next.order.orderID == "W-" + String(repeating: "0", count: 8 - expectedNumber.count) + expectedNumber)
            #expect(try await client.feedInfo().headOffset == headBefore + 1)
            // Retrying acknowledged work changes nothing.
            let retry = try await client.captureOrder(Fixture.order("K-0", lines: [("SKU-A", 2), ("SKU-B", 1)]))
            #expect(retry.replayed)
            await client.close()
        }
        // A clean stop after the crash recovery writes a checkpoint: it must cover the replayed balances.
        #expect(await second.terminate() == 0, "SIGTERM is a clean shutdown:\n\(second.log)")
        let third = try await ServerProcess.start(database: database, logPath: directory.path("third.log"))
        do {
            let client = try await connect(third)
            let positions = try await client.availability(skus: ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"]).positions
            var reserved: [String: Int64] = [:]
            for order in try await client.allOrders() { for (key, units) in order.reservations { reserved[key, default: 0] += units } }
            let before = Dictionary(uniqueKeysWithValues: positionsBefore.map { ("\($0.sku)@\($0.locationID)", $0) })
            for position in positions {
                let key = "\(position.sku)@\(position.locationID)"
                let reservedByAfterRestartOrder: Int64 = key == "SKU-A@WH-EAST" ? 1 : 0
                #expect(position.onHand == before[key]?.onHand, "\(key) on hand after kill, restart, clean stop, restart")
                #expect(position.reserved == (before[key]?.reserved ?? 0) + reservedByAfterRestartOrder, "\(key)")
                #expect(position.reserved == reserved[key] ?? 0, "\(key) reserved vs orders")
            }
            await client.close()
        }
        #expect(await third.terminate() == 0)
    }

    @Test("killed while captures stream in: acknowledged ⊆ stored, and retries with the same ids leave no duplicates")
    func killDuringCaptureStream() async throws {
        let directory = try TemporaryDirectory("kill-stream")
        let database = directory.path("waybill.sqlite")
        let first = try await ServerProcess.start(database: database, logPath: directory.path("first.log"))
        let tally = Tally()
        let content = Self.content

        let setup = try await connect(first)
        var model = Fixture.network
        model.initialStock = [Fixture.stock("SKU-A", "WH-EAST", 5_000), Fixture.stock("SKU-B", "WH-WEST", 5_000)]
        _ = try await setup.loadNetwork(model)
        await setup.close()

        // 4 connections × 6 lanes, each lane capturing one order after another until the server dies.
        let clients = try await withThrowingTaskGroup(of: WaybillClient.self) { group in
            for c in 0..<4 { group.addTask { try await connect(first, "stream-\(c)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let lanes = Task {
            await withTaskGroup(of: Void.self) { group in
                for (c, client) in clients.enumerated() {
                    for lane in 0..<6 {
                        group.addTask {
                            var n = 0
                            while true {
                                let external = "S\(c)x\(lane)-\(n)"
                                tally.attempted.withLock { _ = $0.insert(external) }
                                do {
                                    let response = try await client.captureOrder(content(external), timeoutMilliseconds: 10_000)
                                    tally.acknowledged.withLock { $0[external] = response.order }
                                } catch {
                                    return
                                }
                                n += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(await eventually("300 acknowledged captures", timeout: .seconds(120)) { tally.acknowledged.withLock { $0.count } >= 300 })
        await first.kill9()
        await lanes.value
        for client in clients { await client.close() }
        let acked = tally.acknowledged.withLock { $0 }
        let tried = tally.attempted.withLock { $0 }
        #expect(tried.count > acked.count, "some captures were in flight when the process died")

        let second = try await ServerProcess.start(database: database, logPath: directory.path("second.log"))
        let client = try await connect(second)
        let stored = try await client.allOrders(pageSize: 1_000)
        let storedByExternal = Dictionary(grouping: stored, by: \.externalOrderID)
        for (external, order) in acked {
            let found = try #require(storedByExternal[external]?.first, "acknowledged \(external) is stored")
            #expect(found.orderID == order.orderID)
            #expect(found.lines == order.lines, "\(external) has exactly its lines")
        }
        #expect(Set(storedByExternal.keys).isSubset(of: tried), "nothing was stored that was never sent")

        // Clients retry everything they sent, with the same external ids and content.
        try await withThrowingTaskGroup(of: Void.self) { group in
            let tries = Array(tried)
            for slice in stride(from: 0, to: tries.count, by: 100) {
                let chunk = Array(tries[slice..<min(slice + 100, tries.count)])
                group.addTask {
                    for external in chunk {
                        let response = try await client.captureOrder(content(external))
                        if let original = acked[external] {
                            #expect(response.replayed && response.order.orderID == original.orderID, "\(external) is not captured twice")
                        } else if let before = storedByExternal[external]?.first {
                            #expect(response.replayed && response.order.orderID == before.orderID, "committed but unacknowledged \(external)")
                        } else {
                            #expect(!response.replayed)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await client.allOrders(pageSize: 1_000)
        #expect(final.count == tried.count, "one order per external id")
        #expect(Set(final.map(\.externalOrderID)) == tried)
        #expect(Set(final.map(\.orderID)).count == final.count)
        // Reservations match the orders after the crash and the retries.
        let positions = try await client.availability(skus: ["SKU-A", "SKU-B"]).positions
        var reserved: [String: Int64] = [:]
        for order in final { for (key, units) in order.reservations { reserved[key, default: 0] += units } }
        for position in positions {
            #expect(position.reserved == reserved["\(position.sku)@\(position.locationID)"] ?? 0)
        }
        await client.close()
        #expect(await second.terminate() == 0, "\(second.log)")
    }
}
