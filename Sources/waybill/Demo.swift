// `waybill demo`: an embedded server on a temporary database, the example orders captured
// through it over the real protocol, and what came back. Works from any directory: the examples
// are found beside the binary (walking up from it to the package's examples/ folder). The server
// is secured as a deployed one: TLS with a throwaway certificate authority, an admin credential
// that loads the network, and each order captured by its own channel's credential.

import ArgumentParser
import Foundation
import Logging
import WaybillClient
import WaybillProto
import WaybillCore
import WaybillServer
import WaybillSimulator

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an embedded server and capture the example orders through it.")

    @Option(help: "Directory of order JSON files (default: the package's examples/orders, found from the binary).")
    var orders: String?

    @Option(help: "Network JSON to load first: locations, carriers, items, stock (default: examples/network.json beside the orders).")
    var network: String?

    func run() async throws {
        bootstrapLogging(level: .warning)
        let examples = orders == nil || network == nil ? try ExamplesDirectory.locate() : nil
        let ordersPath = orders ?? examples?.appendingPathComponent("orders").path ?? ""
        let networkPath = network ?? examples?.appendingPathComponent("network.json").path ?? ""
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-demo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // `fail` exits the process (skipping any defer): the folder is removed before every exit.
        let removeDirectory = { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("demo.sqlite").path
        let server: WaybillServer
        let security: EmbeddedServerSecurity
        do {
            security = try EmbeddedServerSecurity.make(tls: true, directory: directory)
            security.configure(&configuration)
            server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "waybill"))
        } catch {
            removeDirectory()
            fail(error)
        }
        print("embedded server on 127.0.0.1:\(server.port) (\(security.tls.description); an admin and one credential per channel), "
              + "database \(configuration.databasePath) (removed at the end)")
        var failure: Error?
        do {
            let admin = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                        configuration: security.client(token: security.adminToken, clientID: "waybill-demo"))
            do {
                try await captureExamples(admin, security: security, port: server.port, orders: ordersPath, network: networkPath)
            } catch {
                failure = error
            }
            await admin.close()
        } catch {
            failure = error
        }
        await server.shutdown()
        removeDirectory()
        if let failure { fail(failure) }
    }

    /// The admin loads the network; each order is captured and read back by its channel's credential.
    private func captureExamples(_ admin: WaybillClient, security: EmbeddedServerSecurity, port: Int, orders: String, network: String) async throws {
        if FileManager.default.fileExists(atPath: network) {
            let loaded = try await admin.loadNetwork(try readJSON(network))
            print("network: \(loaded.locations) locations, \(loaded.carriers) carriers, \(loaded.items) items, \(loaded.stockChanges) stock lines")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: orders).filter { $0.hasSuffix(".json") }.sorted()
        for file in files {
            let order: Waybill_V1_Order = try readJSON("\(orders)/\(file)")
            let token = Channel(proto: order.channel).map(security.channelToken) ?? security.adminToken
            let client = try await WaybillClient.connect(host: "127.0.0.1", port: port,
                                                         configuration: security.client(token: token, clientID: "waybill-demo"))
            do {
                let captured = try await client.captureOrder(order)
                let back = try await client.getOrder(captured.order.orderID)
                let shipments = back.fulfillments.map { "\($0.locationID)×\($0.lines.reduce(0) { $0 + $1.quantity })" }.joined(separator: " ")
                print("\(file): \(back.orderID) \(back.channel) \(back.status) lines=\(back.lines.count) \(shipments)")
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        }
    }
}

/// The package's examples/ folder: ./examples if the current directory has it, else the first
/// examples/ (holding network.json) in a folder above the running binary (.build/debug/waybill
/// or .build/release/waybill sit two levels below the package root).
enum ExamplesDirectory {
    static func locate() throws -> URL {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        let binary = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var folder = binary.resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" && !folder.path.isEmpty {
            candidates.append(folder)
            folder = folder.deletingLastPathComponent()
        }
        for candidate in candidates {
            let examples = candidate.appendingPathComponent("examples")
            if FileManager.default.fileExists(atPath: examples.appendingPathComponent("network.json").path) { return examples }
        }
        throw CLIError("cannot find the examples/ folder (looked in the current directory and above \(binary.path)); "
                       + "give --orders DIR and --network FILE")
    }
}
