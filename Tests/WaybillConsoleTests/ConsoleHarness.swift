// A real server (loopback, temporary database, the example network and orders) with its console
// on a free port, and a browser-like HTTP client that keeps the session cookie.

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SwiftProtobuf
import WaybillApplication
import WaybillConsole
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

/// The example orders, captured by the harness: web (Ada, ada@example.com), click-and-collect at STORE-NYC, ...
struct ConsoleHarness {
    let server: WaybillServer
    let port: Int
    let tokens: [String: String]
    let orders: [String: Waybill_V1_Order]  // by channel file name ("web", "click-and-collect", ...)
    let directory: URL

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `body` against a fresh server and console; both always stop.
    static func with<T>(_ adjust: (inout ConsoleConfiguration) -> Void = { _ in },
                        server adjustServer: (inout ServerConfiguration) -> Void = { _ in },
                        _ body: (ConsoleHarness) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-console-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("waybill.sqlite").path
        configuration.eventLoopThreads = 1
        configuration.readers = 1
        configuration.pruneIntervalMilliseconds = 3_600_000
        let tokens = ["admin": AccessToken.generate(), "web": AccessToken.generate(), "pos": AccessToken.generate(),
                      "nyc": AccessToken.generate(), "erp": AccessToken.generate()]
        configuration.credentials = [
            CredentialSeed(name: "ops-admin", role: .admin, token: tokens["admin"]!),
            CredentialSeed(name: "web-service", role: .channel, channels: ["web"], token: tokens["web"]!),
            CredentialSeed(name: "pos-desk", role: .channel, channels: ["store_pos"], token: tokens["pos"]!),
            CredentialSeed(name: "store-nyc", role: .fulfillment, locations: ["STORE-NYC"], token: tokens["nyc"]!),
            CredentialSeed(name: "erp", role: .erp, token: tokens["erp"]!),
        ]
        adjustServer(&configuration)
        let logger = Logger(label: "waybill-console-tests") { _ in SwiftLogNoOpLogHandler() }
        let server = try await WaybillServer.start(configuration: configuration, logger: logger)
        var console = ConsoleConfiguration()
        console.port = 0
        adjust(&console)
        let portReady = AsyncStream<Int>.makeStream()
        let application = try await OperatorConsole.application(server: server, configuration: console, logger: logger) { port in
            portReady.continuation.yield(port)
        }
        let running = Task { try await application.run() }
        do {
            var ports = portReady.stream.makeAsyncIterator()
            guard let port = await ports.next() else { throw HarnessError("the console did not start") }
            let orders = try await seed(server)
            let harness = ConsoleHarness(server: server, port: port, tokens: tokens, orders: orders, directory: directory)
            let result = try await body(harness)
            running.cancel()
            _ = try? await running.value
            await server.shutdown()
            return result
        } catch {
            running.cancel()
            _ = try? await running.value
            await server.shutdown()
            throw error
        }
    }

    /// The example network and every example order, through the same in-process calls as the console.
    private static func seed(_ server: WaybillServer) async throws -> [String: Waybill_V1_Order] {
        let examples = packageRoot.appendingPathComponent("examples")
        let model = try Waybill_V1_NetworkModel(jsonUTF8Data: Data(contentsOf: examples.appendingPathComponent("network.json")))
        let _: Waybill_V1_LoadNetworkResponse = try await server.callInProcess(Method.NetworkService.loadNetwork, model, as: .system)
        var orders: [String: Waybill_V1_Order] = [:]
        for name in ["web", "click-and-collect", "store-pos", "call-centre", "mobile-app", "marketplace"] {
            var request = Waybill_V1_CaptureOrderRequest()
            request.order = try Waybill_V1_Order(jsonUTF8Data: Data(contentsOf: examples.appendingPathComponent("orders/\(name).json")))
            let response: Waybill_V1_CaptureOrderResponse = try await server.callInProcess(Method.OrderService.captureOrder, request, as: .system)
            orders[name] = response.order
        }
        return orders
    }

    func order(_ id: String) async throws -> Waybill_V1_Order {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = id
        return try await server.callInProcess(Method.OrderService.getOrder, request, as: .system)
    }

    func browser() -> Browser { Browser(base: "http://127.0.0.1:\(port)") }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a browser does for the console: keeps the session cookie, follows nothing by itself.
final class Browser: @unchecked Sendable {
    let base: String
    var cookie: String?

    init(base: String) { self.base = base }

    /// Redirects are not followed: the tests look at them.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                   configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    struct Page: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: String

        /// The value of the hidden input `name` (the first one).
        func hidden(_ name: String) -> String? {
            guard let range = body.range(of: "name=\"\(name)\" value=\"") else { return nil }
            let rest = body[range.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }

        var location: String? { headers.first(name: "location") }
    }

    func get(_ path: String, headers extra: [(String, String)] = []) async throws -> Page {
        try await send(.GET, path, body: nil, headers: extra)
    }

    func post(_ path: String, form: [(String, String)], headers extra: [(String, String)] = []) async throws -> Page {
        var components = URLComponents()
        components.queryItems = form.map { URLQueryItem(name: $0.0, value: $0.1) }
        let encoded = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        return try await send(.POST, path, body: encoded, headers: [("Content-Type", "application/x-www-form-urlencoded")] + extra)
    }

    func signIn(_ token: String) async throws -> Page {
        let page = try await post("/sign-in", form: [("token", token), ("next", "/orders")])
        return page
    }

    private func send(_ method: HTTPMethod, _ path: String, body: String?, headers extra: [(String, String)]) async throws -> Page {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        for setCookie in response.headers["set-cookie"] {
            let pair = setCookie.split(separator: ";").first.map(String.init) ?? ""
            if pair.hasPrefix("waybill_console=") {
                cookie = pair.hasSuffix("=") ? nil : pair
            }
        }
        return Page(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }
}
