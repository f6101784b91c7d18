// `waybill bench search`: SearchOrders and ListLocationQueue latency on a large store.
//
// An embedded server (TLS + tokens, as deployed) on a temporary database — or on --database, kept
// for later runs — is filled through CaptureOrders with the capture benchmark's orders (each with a
// customer name, email and phone), routed and reserved, so fulfillments and queues exist. Then
// searches by email, phone, name, SKU, external id, free text, and location queue pages are
// timed one at a time over a connection, as a console would call them.

import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillSimulator
import WaybillStore
import WaybillWire

struct SearchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "SearchOrders and ListLocationQueue latency over the socket on a store of --orders orders.")

    @Option(help: "Orders in the store (captured first, unless --database already holds them).") var orders = 1_000_000
    @Option(help: "Lines per order.") var lines = 3
    @Option(help: "SKUs in the catalogue.") var skus = 5_000
    @Option(help: "Locations in the network.") var locations = 100
    @Option(help: "Timed calls of each kind.") var calls = 500
    @Option(help: "Keep the store in this file (reused when it already holds --orders orders).") var database: String?
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    struct Report: Codable {
        var orders: Int
        var fillSeconds: Double?
        var databaseMegabytes: Double
        var latencies: [String: LatencySummary]
        var meanOrdersPerCall: [String: Double]
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-search-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = database ?? directory.appendingPathComponent("waybill.sqlite").path
        let exists = FileManager.default.fileExists(atPath: path)
        var random = BenchRandom(state: 7)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = path
        let security = try EmbeddedServerSecurity.make(tls: true, directory: directory)
        security.configure(&configuration)
        let server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let admin = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                    configuration: security.client(token: security.adminToken, clientID: "bench-admin"), group: group)
        var fillSeconds: Double?
        if !exists {
            try await BenchNetwork.load(BenchNetwork.model(locations: locations, skus: skus, stockPerSKU: 1_000_000_000, random: &random), into: admin)
            fillSeconds = try await fill(server: server, security: security, group: group)
        }
        let stored = try await count(admin)
        print("store: \(stored) orders" + (fillSeconds.map { String(format: ", filled in %.0f s (%.0f orders/s)", $0, Double(orders) / $0) } ?? ""))
        // The search index is written beside the writer: the calls are timed once it has caught up
        // (a search while it lags also reads the changes it has not covered: `bench capture` shows the lag).
        let feedHead = Int64(try StoreReader(database: server.database).feedBounds().head)
        let lag = feedHead - server.database.searchIndex.indexedThrough
        let catchUpStarted = Date()
        guard server.database.searchIndex.waitUntilIndexed(through: feedHead, seconds: 600) else {
            throw CLIError("the search index did not catch up with the store within 600 s (\(lag) events behind)")
        }
        print(String(format: "search index: %lld events behind after the fill, caught up in %.2f s", lag, Date().timeIntervalSince(catchUpStarted)))

        // Timed one call at a time: what one console user waits for.
        var latencies: [String: LatencySummary] = [:]
        var found: [String: Double] = [:]
        func time(_ name: String, _ requests: [Waybill_V1_SearchOrdersRequest]) async throws {
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var total = 0
            for request in requests {
                let start = DispatchTime.now().uptimeNanoseconds
                total += try await admin.searchOrders(request).orders.count
                histogram.record((DispatchTime.now().uptimeNanoseconds - start) / 1000)
            }
            latencies[name] = LatencySummary(histogram)
            found[name] = Double(total) / Double(max(requests.count, 1))
            print("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0) + LatencySummary(histogram).line
                  + String(format: "  %.1f orders per answer", found[name]!))
        }
        typealias Request = Waybill_V1_SearchOrdersRequest
        var pick = BenchRandom(state: 99)
        let numbers = (0..<calls).map { _ in pick.int(min(stored, orders)) }
        print("SearchOrders, one call at a time (page_size 50):")
        try await time("email", numbers.map { n in Request.with { $0.customerEmail = BenchNetwork.customerEmail(n) } })
        try await time("phone", numbers.map { n in Request.with { $0.customerPhone = BenchNetwork.customerPhone(n) } })
        try await time("name (2 words)", numbers.map { n in Request.with { $0.customerName = "customer \(n % 1000)" } })
        try await time("external id", numbers.map { n in Request.with { $0.channel = .web; $0.externalOrderID = "search-\(n)" } })
        try await time("query: email", numbers.map { n in Request.with { $0.query = BenchNetwork.customerEmail(n).uppercased() } })
        try await time("query: order id", numbers.map { n in Request.with { $0.query = String(format: "W-%08d", n + 1) } })
        try await time("sku", numbers.map { n in Request.with { $0.sku = "SKU-\(n % skus)" } })
        try await time("email + sku (no match)", numbers.map { n in Request.with { $0.customerEmail = BenchNetwork.customerEmail(n); $0.sku = "SKU-NONE" } })
        try await time("statuses only (walk)", numbers.prefix(50).map { _ in Request.with { $0.statuses = [.shipped] } })

        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var entries = 0
        for n in numbers {
            let start = DispatchTime.now().uptimeNanoseconds
            entries += try await admin.listLocationQueue(.with { $0.locationID = String(format: "LOC-%03d", n % locations) }).entries.count
            histogram.record((DispatchTime.now().uptimeNanoseconds - start) / 1000)
        }
        latencies["location queue"] = LatencySummary(histogram)
        found["location queue"] = Double(entries) / Double(numbers.count)
        print("ListLocationQueue, one call at a time (page_size 50):\n  location queue            " + LatencySummary(histogram).line
              + String(format: "  %.1f entries per answer", found["location queue"]!))

        await admin.close()
        try await group.shutdownGracefully()
        await server.shutdown()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let megabytes = Double(bytes) / 1_048_576
        print(String(format: "database: %.0f MB", megabytes))
        if let json {
            let report = Report(orders: stored, fillSeconds: fillSeconds, databaseMegabytes: megabytes, latencies: latencies, meanOrdersPerCall: found)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    /// Captures --orders orders through CaptureOrders batches of 1,000 on four connections.
    func fill(server: WaybillServer, security: EmbeddedServerSecurity, group: MultiThreadedEventLoopGroup) async throws -> Double {
        let configuration = security.client(token: security.channelToken(.web), clientID: "bench")
        var clients: [WaybillClient] = []
        for _ in 0..<4 { clients.append(try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration, group: group)) }
        let batch = 1_000
        let start = Date()
        let (lines, skus, orders, connections) = (self.lines, self.skus, self.orders, clients)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, client) in connections.enumerated() {
                tasks.addTask {
                    var random = BenchRandom(state: 1_000 + UInt64(index))
                    for first in stride(from: index * batch, to: orders, by: batch * connections.count) {
                        var request = Waybill_V1_CaptureOrdersRequest()
                        request.orders = (first..<min(first + batch, orders)).map { n in
                            BenchNetwork.order(n, lines: lines, skus: skus, random: &random, prefix: "search")
                        }
                        while true {
                            do {
                                let response = try await client.captureOrders(request)
                                if let failed = response.results.first(where: { $0.status.code != .ok }) { throw WaybillStatusError(failed.status) }
                                break
                            } catch {
                                // Overload admission refuses whole batches: wait as told and send it again.
                                guard let retry = CaptureBench.retryAfter(error) else { throw error }
                                try await Task.sleep(for: .milliseconds(retry))
                            }
                        }
                        if (first / batch) % 100 == 0 { print("  captured about \(first + batch) of \(orders)") }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        for client in clients { await client.close() }
        return Date().timeIntervalSince(start)
    }

    func count(_ client: WaybillClient) async throws -> Int {
        // The newest order's sequence: orders are numbered from 1 in capture order.
        let newest = try await client.searchOrders(Waybill_V1_SearchOrdersRequest.with { $0.pageSize = 1 }).orders.first?.orderID ?? "W-0"
        return Int(newest.dropFirst(2)) ?? 0
    }
}
