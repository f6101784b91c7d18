// `waybill demo`: an embedded server on a temporary database, the example orders captured
// through it over the real protocol, and what came back.

import ArgumentParser
import Foundation
import Logging
import WaybillClient
import WaybillProto
import WaybillServer

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an embedded server and capture the example orders through it.")

    @Option(help: "Directory of order JSON files.")
    var orders = "examples/orders"

    @Option(help: "Network JSON to load first (locations, carriers, items, stock).")
    var network = "examples/network.json"

    func run() async throws {
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-demo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("demo.sqlite").path
        let server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "waybill"))
        print("embedded server on 127.0.0.1:\(server.port), database \(configuration.databasePath)")
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port)
        do {
            if FileManager.default.fileExists(atPath: network) {
                let loaded = try await client.loadNetwork(try readJSON(network))
                print("network: \(loaded.locations) locations, \(loaded.carriers) carriers, \(loaded.items) items, \(loaded.stockChanges) stock lines")
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: orders).filter { $0.hasSuffix(".json") }.sorted()
            for file in files {
                let order: Waybill_V1_Order = try readJSON("\(orders)/\(file)")
                let captured = try await client.captureOrder(order)
                let back = try await client.getOrder(captured.order.orderID)
                let shipments = back.fulfillments.map { "\($0.locationID)×\($0.lines.reduce(0) { $0 + $1.quantity })" }.joined(separator: " ")
                print("\(file): \(back.orderID) \(back.channel) \(back.status) lines=\(back.lines.count) \(shipments)")
            }
        } catch {
            await client.close()
            await server.shutdown()
            fail(error)
        }
        await client.close()
        await server.shutdown()
    }
}
