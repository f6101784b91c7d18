// A real Waybill server on loopback (port 0, a temporary database) for comparing its answers with
// the in-process simulator's.

import Foundation
import Logging
import NIOPosix
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillServer

/// Event loops of every client of these tests.
let applicationTestsClientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

/// Runs `body` with a connected client of a fresh server and always shuts both down.
func withEmbeddedServer<T>(_ body: (WaybillClient) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("waybill-application-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.databasePath = directory.appendingPathComponent("waybill.sqlite").path
    configuration.eventLoopThreads = 1
    configuration.readers = 1
    configuration.pruneIntervalMilliseconds = 3_600_000
    configuration.clock = { Timestamp(millisecondsSinceEpoch: 1_772_463_600_000) }
    let token = AccessToken.generate()
    configuration.credentials = [CredentialSeed(name: "application-tests", role: .admin, token: token)]
    let server = try await WaybillServer.start(configuration: configuration,
                                               logger: Logger(label: "waybill-application-tests") { _ in SwiftLogNoOpLogHandler() })
    var clientConfiguration = ClientConfiguration()
    clientConfiguration.clientID = "application-tests"
    clientConfiguration.token = token
    clientConfiguration.defaultTimeoutMilliseconds = 30_000
    do {
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: clientConfiguration,
                                                     group: applicationTestsClientGroup)
        do {
            let result = try await body(client)
            await client.close()
            await server.shutdown()
            return result
        } catch {
            await client.close()
            throw error
        }
    } catch {
        await server.shutdown()
        throw error
    }
}
