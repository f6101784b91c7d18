// Shared pieces of the ERP tests: an in-process server with a manual clock, a small network,
// order builders, child processes (the real `waybill` binary), and a fake ERP webhook.

import Dispatch
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillServer
import WaybillWire

/// A clock the test moves.
final class ManualClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_800_000_000_000) { value = Mutex(start) }
    var now: Timestamp { Timestamp(millisecondsSinceEpoch: value.withLock { $0 }) }
    var milliseconds: Int64 { value.withLock { $0 } }
    func advance(_ milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-erp-tests-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// An in-process server on a temporary database.
struct InProcessServer {
    let server: WaybillServer
    let directory: String
    let clock: ManualClock?

    static func start(_ name: String, clock: ManualClock? = ManualClock(), configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> InProcessServer {
        try await start(in: try temporaryDirectory(name), clock: clock, configure: configure)
    }

    /// Shuts this server down and starts another on the same database file and clock.
    func restart() async throws -> InProcessServer {
        await server.shutdown()
        return try await Self.start(in: directory, clock: clock)
    }

    private static func start(in directory: String, clock: ManualClock?, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> InProcessServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory + "/waybill.sqlite"
        configuration.eventLoopThreads = 2
        if let clock { configuration.clock = { clock.now } }
        configuration.credentials = TestCredentials.seeds
        configure(&configuration)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let server = try await WaybillServer.start(configuration: configuration, logger: logger)
        return InProcessServer(server: server, directory: directory, clock: clock)
    }

    var address: String { "127.0.0.1:\(server.port)" }
    func client(_ id: String = "erp-tests") async throws -> WaybillClient {
        var configuration = ClientConfiguration()
        configuration.clientID = id
        configuration.token = TestCredentials.adminToken
        return try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration)
    }

    func stop() async {
        await server.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum TestNetwork {
    static let warehouses = ["WH-1", "WH-2"]
    static let skus = ["SKU-1", "SKU-2", "SKU-3"]

    /// Two warehouses, one carrier, three items; `stock` units of each SKU at each warehouse.
    static func model(stock: Int32) -> Waybill_V1_NetworkModel {
        var model = Waybill_V1_NetworkModel()
        for (index, id) in warehouses.enumerated() {
            var location = Waybill_V1_Location()
            location.locationID = id
            location.type = .warehouse
            location.coordinates.latitude = index == 0 ? 40.7357 : 32.7831
            location.coordinates.longitude = index == 0 ? -74.1724 : -96.8067
            location.region = index == 0 ? "NJ" : "TX"
            location.country = "US"
            location.dailyOrderCapacity = 1_000_000
            location.ships = true
            location.active = true
            location.priority = 1
            location.cutoffMinuteUtc = 1439
            location.processingCost.minorUnits = 100
            location.processingCost.currency = "USD"
            model.locations.append(location)
        }
        var carrier = Waybill_V1_Carrier()
        carrier.carrierID = "UPX"
        carrier.active = true
        var ground = Waybill_V1_CarrierService()
        ground.service = "ground"
        ground.serviceLevel = .standard
        for (distanceIndex, distance) in [500.0, 2000, 6000].enumerated() {
            var band = Waybill_V1_RateBand()
            band.maxDistanceKm = distance
            band.maxWeightGrams = 50_000
            band.cost.minorUnits = Int64(600 + 200 * distanceIndex)
            band.cost.currency = "USD"
            band.transitDays = Int32(distanceIndex + 1)
            ground.rates.append(band)
        }
        carrier.services = [ground]
        model.carriers = [carrier]
        for sku in skus {
            var item = Waybill_V1_Item()
            item.sku = sku
            item.weightGrams = 200
            item.active = true
            model.items.append(item)
            if stock > 0 {
                for warehouse in warehouses {
                    var change = Waybill_V1_InventoryChange()
                    change.kind = .receipt
                    change.sku = sku
                    change.locationID = warehouse
                    change.quantity = stock
                    change.changeID = "initial-\(sku)-\(warehouse)"
                    model.initialStock.append(change)
                }
            }
        }
        return model
    }

    static func order(_ external: String, _ lines: [(String, Int32)]) -> Waybill_V1_Order {
        var order = Waybill_V1_Order()
        order.channel = .web
        order.externalOrderID = external
        order.customer.name = "Test Customer"
        order.shipTo.name = "Test Customer"
        order.shipTo.lines = ["1 Main St"]
        order.shipTo.city = "New York"
        order.shipTo.region = "NY"
        order.shipTo.postalCode = "10001"
        order.shipTo.country = "US"
        order.shipTo.coordinates.latitude = 40.7128
        order.shipTo.coordinates.longitude = -74.006
        order.createdAtUnixMs = 1_795_700_000_000
        for (index, line) in lines.enumerated() {
            var orderLine = Waybill_V1_OrderLine()
            orderLine.lineID = "\(index + 1)"
            orderLine.sku = line.0
            orderLine.quantity = line.1
            orderLine.unitPrice.minorUnits = 1_000
            orderLine.unitPrice.currency = "USD"
            order.lines.append(orderLine)
        }
        return order
    }
}

extension WaybillClient {
    /// Releases (if needed) and ships every fulfillment of the order.
    func shipAll(_ orderID: String, requestPrefix: String) async throws -> Waybill_V1_Order {
        var release = Waybill_V1_FulfillmentRequest()
        release.requestID = requestPrefix + "-release"
        release.orderID = orderID
        var order: Waybill_V1_Order
        do {
            order = try await lifecycle(Method.OrderService.releaseFulfillment, release).order
        } catch let error as WaybillStatusError where error.code == .failedPrecondition {
            order = try await getOrder(orderID)
        }
        for fulfillment in order.fulfillments where fulfillment.status == .released {
            var ship = Waybill_V1_ConfirmShipmentRequest()
            ship.requestID = requestPrefix + "-ship-" + fulfillment.fulfillmentID
            ship.orderID = orderID
            ship.fulfillmentID = fulfillment.fulfillmentID
            ship.carrierID = "UPX"
            ship.trackingNumber = "T-" + fulfillment.fulfillmentID
            order = try await lifecycle(Method.OrderService.confirmShipment, ship).order
        }
        return order
    }

    func cancel(_ orderID: String, requestID: String) async throws -> Waybill_V1_Order {
        var request = Waybill_V1_CancelOrderRequest()
        request.requestID = requestID
        request.orderID = orderID
        request.reason = "customer changed their mind"
        return try await lifecycle(Method.OrderService.cancelOrder, request).order
    }

    func position(_ sku: String, _ location: String) async throws -> Waybill_V1_InventoryPosition {
        let answer = try await availability(skus: [sku], locations: [location])
        return try #require(answer.positions.first { $0.sku == sku && $0.locationID == location })
    }
}

/// Waits for `condition`, checking it whenever `poll` elapses (for state of other processes or
/// the file system, which cannot be awaited); fails the test with `what` after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(30), poll: Duration = .milliseconds(20),
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: poll)
    }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw CancellationError()
}

/// Whether `process` exited within `bound`. Polls instead of `waitUntilExit()`, which would block
/// one of the cooperative pool's threads (two on a 2-core machine) while in-process servers and
/// bridges in this test process need them.
func exited(_ process: Process, within bound: Duration) async -> Bool {
    let deadline = ContinuousClock.now + bound
    while process.isRunning {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

extension ErpBridge {
    /// Waits until everything through `offset` is delivered; a bridge that never gets there fails
    /// the test after `timeout` instead of hanging the run.
    nonisolated func delivered(through offset: UInt64, timeout: Duration = .seconds(120)) async throws {
        try await eventually("the bridge delivers through offset \(offset)", timeout: timeout, poll: .milliseconds(5)) {
            await self.deliveredWatermark >= offset
        }
    }
}

// MARK: - Child processes

enum Binary {
    /// The `waybill` executable next to the test bundle (swift build puts both in the same directory).
    static var waybill: String {
        get throws {
            var candidates: [String] = []
            let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            candidates.append(runner.deletingLastPathComponent().appendingPathComponent("waybill").path)
            candidates.append(runner.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("waybill").path)
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            candidates.append(root.appendingPathComponent(".build/debug/waybill").path)
            for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            throw TestFailure("the waybill executable was not found (tried \(candidates)); run `swift build` first")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A child process with its output in a log file.
final class Child: @unchecked Sendable {
    let process = Process()
    let log: String
    let name: String

    /// `executable` nil = the `waybill` binary; `environment` entries are added to the test's own.
    init(_ name: String, executable: String? = nil, arguments: [String], environment: [String: String] = [:], log: String) throws {
        self.name = name
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: try executable ?? Binary.waybill)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// SIGKILL: no chance to flush or acknowledge anything.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait (graceful), off the cooperative pool; a child still running after `within`
    /// is a failure: it is killed so the run goes on, and the test says so.
    func terminate(within bound: Duration = .seconds(60)) async {
        guard process.isRunning else { return }
        process.terminate()
        if !(await exited(process, within: bound)) {
            Issue.record("\(name) did not exit within \(bound) of SIGTERM; killed. Log:\n\(output)")
            kill()
        }
    }

    /// Waits for the child to exit on its own (a command that finishes); killed after `within`.
    func finish(within bound: Duration = .seconds(60)) async -> Int32 {
        if !(await exited(process, within: bound)) {
            Issue.record("\(name) did not finish within \(bound); killed. Log:\n\(output)")
            kill()
        }
        return process.terminationStatus
    }

    var residentMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1024
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
}

/// A free TCP port on the loopback (bound then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `waybill serve` as a child process on a fixed port and database (restartable).
final class ServerProcess: @unchecked Sendable {
    let port: Int
    let database: String
    let log: String
    let extra: [String]
    /// The erp credential's token in a file, for the bridges and `waybill reconcile` this server's tests run.
    let erpTokenFile: String
    private(set) var child: Child?

    init(directory: String, extra: [String] = []) throws {
        port = try freePort()
        database = directory + "/server.sqlite"
        log = directory + "/server.log"
        self.extra = ["--credentials-file", try TestCredentials.credentialsFile(in: directory)] + extra
        erpTokenFile = try TestCredentials.tokenFile(in: directory)
    }

    var address: String { "127.0.0.1:\(port)" }

    func start() async throws {
        child = try Child("server", arguments: ["serve", "--db", database, "--listen", address, "--admin-listen", "127.0.0.1:0", "--log-level", "warning", "--threads", "2"] + extra, log: log)
        try await eventually("the server accepts connections on \(address)", timeout: .seconds(60), poll: .milliseconds(25)) {
            guard self.child?.isRunning == true else { throw TestFailure("the server exited:\n\(self.child?.output ?? "")") }
            guard let client = try? await TestCredentials.connect(self.address) else { return false }
            defer { Task { await client.close() } }
            return (try? await client.serverInfo()) != nil
        }
    }

    func kill() { child?.kill() }
    func stop() async { await child?.terminate() }
}

// MARK: - Fake ERP webhook

/// What the fake ERP received: every POST, in arrival order.
struct Received: Sendable {
    var idempotencyKey: String
    var message: ErpMessage
    /// The Waybill-Signature and Waybill-Delivery-Id headers ("" when absent) and the raw body.
    var signature = ""
    var deliveryId = ""
    var body: [UInt8] = []
}

/// An HTTP server standing in for the ERP: records every POST and answers what `respond` says.
final class FakeErp: Sendable {
    typealias Responder = @Sendable (_ message: ErpMessage, _ attempt: Int) -> HTTPResponseStatus
    private let state = Mutex<(received: [Received], attempts: [String: Int])>(([], [:]))
    private let responder: Mutex<Responder>
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<(any NIOCore.Channel)?> = Mutex(nil)

    init(_ respond: @escaping Responder = { _, _ in .ok }) {
        responder = Mutex(respond)
    }

    func setResponder(_ respond: @escaping Responder) { responder.withLock { $0 = respond } }

    func start() async throws -> Int {
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(FakeErpHandler(erp: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        return bound.localAddress!.port!
    }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
        try? await group.shutdownGracefully()
    }

    func handle(body: [UInt8], idempotencyKey: String, signature: String = "", deliveryId: String = "") -> HTTPResponseStatus {
        guard let message = try? ErpMessage.decode(Data(body)) else { return .badRequest }
        let attempt = state.withLock { state -> Int in
            state.attempts[message.eventId, default: 0] += 1
            return state.attempts[message.eventId]!
        }
        let status = responder.withLock { $0 }(message, attempt)
        if status.code >= 200 && status.code < 300 {
            state.withLock {
                $0.received.append(Received(idempotencyKey: idempotencyKey, message: message, signature: signature, deliveryId: deliveryId, body: body))
            }
        }
        return status
    }

    var received: [Received] { state.withLock { $0.received } }
    func attempts(_ eventId: String) -> Int { state.withLock { $0.attempts[eventId] ?? 0 } }
    var distinctEventIDs: Set<String> { Set(received.map(\.message.eventId)) }
}

final class FakeErpHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let erp: FakeErp
    private var body: [UInt8] = []
    private var key = ""
    private var signature = ""
    private var deliveryId = ""
    private var keepAlive = true

    init(erp: FakeErp) { self.erp = erp }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            body = []
            key = head.headers.first(name: "Idempotency-Key") ?? ""
            signature = head.headers.first(name: WebhookSignature.header) ?? ""
            deliveryId = head.headers.first(name: WebhookSignature.deliveryIdHeader) ?? ""
            keepAlive = head.isKeepAlive
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            let status = erp.handle(body: body, idempotencyKey: key, signature: signature, deliveryId: deliveryId)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

// MARK: - The ERP's view

/// Dedupes delivered messages by event id (first delivery wins) and checks per-aggregate order.
struct Delivery {
    var firstDeliveries: [ErpMessage] = []
    var duplicates = 0
    var conflicting: [String] = []

    init(_ messages: [ErpMessage]) {
        var seen: [String: ErpMessage] = [:]
        for message in messages {
            if let earlier = seen[message.eventId] {
                duplicates += 1
                if earlier != message { conflicting.append(message.eventId) }
                continue
            }
            seen[message.eventId] = message
            firstDeliveries.append(message)
        }
    }

    /// Aggregates whose first deliveries are not in strictly increasing aggregate sequence.
    var outOfOrder: [String] {
        var last: [String: Int64] = [:]
        var bad: [String] = []
        for message in firstDeliveries {
            if let previous = last[message.orderingKey], previous >= message.aggregateSequence { bad.append("\(message.orderingKey) \(previous)→\(message.aggregateSequence)") }
            last[message.orderingKey] = message.aggregateSequence
        }
        return bad
    }
}

/// Reads every JSON-lines file of a drop directory, in name order.
func droppedMessages(_ directory: String) throws -> [ErpMessage] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var messages: [ErpMessage] = []
    for name in names.sorted() where name.hasPrefix("waybill-") && name.hasSuffix(".jsonl") {
        let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        for line in text.split(separator: "\n") where !line.isEmpty {
            messages.append(try ErpMessage.decode(Data(line.utf8)))
        }
    }
    return messages
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

// MARK: - Credentials

/// The credentials every in-process test server starts with: an admin for the tests' own calls and
/// an erp credential for the bridges (fixed tokens: the tests search logs for them).
enum TestCredentials {
    static let adminToken = AccessToken.make(from: Array(repeating: 0xA1, count: AccessToken.randomBytes))
    static let erpToken = AccessToken.make(from: Array(repeating: 0xE2, count: AccessToken.randomBytes))
    static let seeds = [
        CredentialSeed(name: "erp-tests-admin", role: .admin, token: adminToken),
        CredentialSeed(name: "erp-bridge", role: .erp, token: erpToken),
    ]

    /// How a bridge reaches the test server: as the erp credential.
    static var erpConnection: ClientConfiguration {
        var configuration = ClientConfiguration()
        configuration.token = erpToken
        return configuration
    }

    /// A client of a test server at "HOST:PORT" calling as `token` (the admin by default).
    static func connect(_ address: String, token: String = adminToken) async throws -> WaybillClient {
        var configuration = ClientConfiguration()
        configuration.token = token
        return try await WaybillClient.connect(address, configuration: configuration)
    }

    /// `token` in a new owner-only file in `directory` (for --token-file).
    static func tokenFile(_ token: String = erpToken, in directory: String) throws -> String {
        let path = directory + "/token-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }

    /// The seeds as `waybill serve --credentials-file` reads them (owner-only JSON).
    static func credentialsFile(in directory: String) throws -> String {
        let path = directory + "/credentials-\(UInt32.random(in: 0...UInt32.max)).json"
        let entries = seeds.map { ["name": $0.name, "role": $0.role.rawValue, "token": $0.token] }
        let data = try JSONSerialization.data(withJSONObject: entries)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }
}

// MARK: - Webhook secrets

enum TestSecrets {
    /// Two secrets of the documented form (38 bytes each); the test vectors were computed with
    /// Python's hmac module, independently of the Swift code.
    static let first = "whsec_0123456789abcdefghijklmnopqrstuv"
    static let second = "whsec_ZYXWVUTSRQPONMLKJIHGFEDCBA987654"

    static var current: WebhookSecrets { try! WebhookSecrets([first]) }

    /// A secret file for a bridge process: `secrets` one per line, mode 0600.
    static func file(in directory: String, _ secrets: [String] = [first], mode: mode_t = 0o600) throws -> String {
        let path = directory + "/webhook-\(UInt32.random(in: 0...UInt32.max)).secret"
        guard FileManager.default.createFile(atPath: path, contents: Data((secrets.joined(separator: "\n") + "\n").utf8)),
              chmod(path, mode) == 0 else { throw TestFailure("cannot write \(path)") }
        return path
    }
}

extension BridgeConfiguration {
    /// A webhook bridge configuration signed with the test secret.
    static func signedWebhook(server: String, consumer: String, url: String, stateDirectory: String) -> BridgeConfiguration {
        var configuration = BridgeConfiguration(server: server, consumer: consumer, target: .webhook(url: url), stateDirectory: stateDirectory)
        configuration.webhookSecrets = TestSecrets.current
        configuration.connection = TestCredentials.erpConnection
        return configuration
    }
}

extension WebhookTarget {
    /// A target signed with the test secret.
    static func signed(url: String, requestTimeoutMilliseconds: Int64 = 2_000) throws -> WebhookTarget {
        try WebhookTarget(url: url, requestTimeoutMilliseconds: requestTimeoutMilliseconds, secrets: TestSecrets.current)
    }
}
