// A real Waybill server on loopback (port 0, a temporary database file), real clients, raw
// sockets for garbage, and a collector for change-feed streams.

import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SwiftProtobuf
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillStore
import WaybillWire

/// Event loops shared by every client of every test (connections are cheap, threads are not).
let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

let quietLogger = Logger(label: "waybill-server-tests") { _ in SwiftLogNoOpLogHandler() }

/// A fresh directory, removed when released.
final class TemporaryDirectory: Sendable {
    let url: URL
    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Server time under the test's control (2026-03-02 15:00 UTC unless advanced).
final class ManualClock: Sendable {
    static let start: Int64 = 1_772_463_600_000
    private let value = Mutex(ManualClock.start)
    var now: Int64 { value.withLock { $0 } }
    func advance(milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

/// One server for one test.
final class TestServer: Sendable {
    let server: WaybillServer
    let directory: TemporaryDirectory
    let clock: ManualClock
    private let clients = Mutex<[WaybillClient]>([])

    var port: Int { server.port }
    var databasePath: String { server.configuration.databasePath }

    private init(server: WaybillServer, directory: TemporaryDirectory, clock: ManualClock) {
        self.server = server
        self.directory = directory
        self.clock = clock
    }

    static func start(logger: Logger = quietLogger, _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        let directory = try TemporaryDirectory("server")
        let clock = ManualClock()
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.databasePath = directory.path("waybill.sqlite")
        configuration.eventLoopThreads = 2
        configuration.readers = 2
        configuration.drainTimeoutMilliseconds = 10_000
        configuration.pruneIntervalMilliseconds = 3_600_000
        configuration.clock = { Timestamp(millisecondsSinceEpoch: clock.now) }
        configuration.credentials = TestCredentials.all
        configure(&configuration)
        let server = try await WaybillServer.start(configuration: configuration, logger: logger)
        return TestServer(server: server, directory: directory, clock: clock)
    }

    /// A connected client, closed when the server stops.
    /// A connected client calling as `credential` (an admin unless told), closed when the server stops.
    func client(_ clientID: String = "server-tests", timeoutMilliseconds: UInt32 = 30_000,
                frameBytesMax: Int? = nil, as credential: CredentialSeed? = TestCredentials.admin) async throws -> WaybillClient {
        var configuration = ClientConfiguration()
        configuration.clientID = clientID
        configuration.token = credential?.token
        configuration.defaultTimeoutMilliseconds = timeoutMilliseconds
        if let frameBytesMax { configuration.frameBytesMax = frameBytesMax }
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: port, configuration: configuration, group: clientGroup)
        clients.withLock { $0.append(client) }
        return client
    }

    func raw() async throws -> RawConnection { try await RawConnection.connect(port: port) }

    func stop() async {
        let open = clients.withLock { list -> [WaybillClient] in
            defer { list.removeAll() }
            return list
        }
        for client in open { await client.close() }
        await server.shutdown()
    }
}

/// Runs `body` against a fresh server and always shuts it down.
func withServer<T>(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                   _ body: (TestServer) async throws -> T) async throws -> T {
    let server = try await TestServer.start(configure)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

// MARK: - Waiting

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` until it holds (true) or the time runs out (false). Never an assertion on speed:
/// the limits are generous and only stop a broken test from hanging.
func eventually(_ what: String = "condition", timeout: Duration = .seconds(15), poll: Duration = .milliseconds(10),
                _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: poll)
    }
    return try await condition()
}

// MARK: - Errors

/// Expects `body` to fail with a WaybillStatusError of `code` (and `field`, if given); returns it.
@discardableResult
func expectStatus<T>(_ code: Waybill_V1_StatusCode, field: String? = nil, _ comment: Comment? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () async throws -> T) async -> WaybillStatusError? {
    do {
        let value = try await body()
        Issue.record("expected \(code.name)\(field.map { " on \($0)" } ?? ""), got success: \(value) \(comment.map { "— \($0)" } ?? "")",
                     sourceLocation: sourceLocation)
        return nil
    } catch let error as WaybillStatusError {
        #expect(error.code == code, "\(comment.map { "\($0): " } ?? "")got \(error)", sourceLocation: sourceLocation)
        if let field {
            #expect(error.details.field == field, "\(comment.map { "\($0): " } ?? "")field of \(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(field), "the message names the field: \(error.message)", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected a WaybillStatusError \(code.name), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func statusCode(of error: Error) -> Waybill_V1_StatusCode? { (error as? WaybillStatusError)?.code }

// MARK: - Raw connections

/// A bare TCP connection: bytes in, bytes out, and whether the server closed it.
final class RawConnection: Sendable {
    private final class Received: Sendable {
        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: Received
        init(_ received: Received) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.state.withLock { $0.bytes += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            received.state.withLock { $0.closed = true }
            context.fireChannelInactive()
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }

    private let channel: any NIOCore.Channel
    private let received: Received

    private init(channel: any NIOCore.Channel, received: Received) {
        self.channel = channel
        self.received = received
    }

    static func connect(port: Int) async throws -> RawConnection {
        let received = Received()
        let channel = try await ClientBootstrap(group: clientGroup)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func send(_ envelope: Waybill_V1_RequestEnvelope) async throws {
        var buffer = ByteBuffer()
        try buffer.writeFrame(envelope)
        try await send(Array(buffer.readableBytesView))
    }

    var isClosed: Bool { received.state.withLock { $0.closed } }

    /// Every whole envelope received so far.
    var envelopes: [Waybill_V1_ResponseEnvelope] {
        get throws {
            var buffer = ByteBuffer(bytes: received.state.withLock { $0.bytes })
            var result: [Waybill_V1_ResponseEnvelope] = []
            while var frame = try FrameDecoder.nextFrame(&buffer, frameBytesMax: 64 << 20) {
                result.append(try Waybill_V1_ResponseEnvelope(serializedBytes: frame.readBytes(length: frame.readableBytes) ?? []))
            }
            return result
        }
    }

    /// Waits until the server closes the connection; returns what it sent before.
    func waitUntilClosed(timeout: Duration = .seconds(15)) async throws -> [Waybill_V1_ResponseEnvelope] {
        guard await eventually("the server to close the connection", timeout: timeout, { isClosed }) else {
            throw TimedOut(what: "the server to close the connection (received \(try envelopes.count) envelopes)")
        }
        return try envelopes
    }

    /// Waits for at least `count` envelopes.
    func waitForEnvelopes(_ count: Int, timeout: Duration = .seconds(15)) async throws -> [Waybill_V1_ResponseEnvelope] {
        guard try await eventually("\(count) envelopes", timeout: timeout, { try envelopes.count >= count }) else {
            throw TimedOut(what: "\(count) envelopes (received \(try envelopes.count))")
        }
        return try envelopes
    }

    func close() async { try? await channel.close() }
}

/// A request envelope as a well-behaved client builds it.
func requestEnvelope(callID: UInt64, method: String, payload: some SwiftProtobuf.Message,
                     version: Waybill_V1_ProtocolVersion = .protocolVersion1) throws -> Waybill_V1_RequestEnvelope {
    var envelope = Waybill_V1_RequestEnvelope()
    envelope.callID = callID
    envelope.method = method
    envelope.payload = try payload.serializedData()
    envelope.protocolVersion = version
    envelope.metadata = ["client-id": "raw", "authorization": "Bearer " + TestCredentials.admin.token]
    return envelope
}

extension ClientConfiguration {
    /// A client calling as the test servers' admin credential.
    static var testAdmin: ClientConfiguration {
        var configuration = ClientConfiguration()
        configuration.token = TestCredentials.admin.token
        return configuration
    }
}

/// The credentials every test server is given (fixed tokens: a test may name any of them).
enum TestCredentials {
    static let admin = seed("test-admin", .admin)
    static let erp = seed("test-erp", .erp)
    static let web = seed("test-web", .channel, channels: ["web"])
    static let marketplace = seed("test-marketplace", .channel, channels: ["marketplace"])
    static let eastWarehouse = seed("test-wh-east", .fulfillment, locations: ["WH-EAST"])
    static let all = [admin, erp, web, marketplace, eastWarehouse]

    static func seed(_ name: String, _ role: Role, channels: [String] = [], locations: [String] = []) -> CredentialSeed {
        CredentialSeed(name: name, role: role, channels: channels, locations: locations,
                       token: AccessToken.make(from: Array(name.utf8) + Array(repeating: 0x5A, count: max(0, 32 - name.utf8.count))))
    }
}

/// The 5-byte header followed by `body`.
func frameBytes(_ body: [UInt8], flags: UInt8 = 0, declaredLength: UInt32? = nil) -> [UInt8] {
    let length = declaredLength ?? UInt32(body.count)
    return [flags, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + body
}

// MARK: - Change-feed streams

/// Consumes a Subscribe stream in the background and keeps what arrived.
final class FeedCollector: Sendable {
    private struct State {
        var events: [Waybill_V1_ChangeEvent] = []
        var heads: [UInt64] = []
        var frames = 0
        var ended = false
        var error: WaybillStatusError?
    }
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    static func subscribe(_ client: WaybillClient, consumer: String, from offset: UInt64 = 0, window: UInt32 = 0,
                          perFrame: UInt32 = 0) throws -> FeedCollector {
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = consumer
        request.fromOffset = offset
        request.windowEvents = window
        request.maxEventsPerFrame = perFrame
        let stream = try client.subscribe(request)
        let collector = FeedCollector()
        collector.task.withLock { slot in
            slot = Task { [collector] in
                do {
                    for try await frame in stream {
                        collector.state.withLock { state in
                            state.events += frame.events
                            state.heads.append(frame.headOffset)
                            state.frames += 1
                        }
                    }
                    collector.state.withLock { $0.ended = true }
                } catch {
                    collector.state.withLock { state in
                        state.ended = true
                        state.error = error as? WaybillStatusError ?? WaybillStatusError(.unknown, "\(error)")
                    }
                }
            }
        }
        return collector
    }

    var events: [Waybill_V1_ChangeEvent] { state.withLock { $0.events } }
    var frames: Int { state.withLock { $0.frames } }
    var heads: [UInt64] { state.withLock { $0.heads } }
    var ended: Bool { state.withLock { $0.ended } }
    var error: WaybillStatusError? { state.withLock { $0.error } }

    /// Waits for at least `count` events in total.
    func waitForEvents(_ count: Int, timeout: Duration = .seconds(15)) async throws -> [Waybill_V1_ChangeEvent] {
        guard await eventually("\(count) change events", timeout: timeout, { events.count >= count || ended }) else {
            throw TimedOut(what: "\(count) change events (have \(events.count))")
        }
        if events.count < count { throw TimedOut(what: "\(count) change events: the stream ended with \(String(describing: error))") }
        return events
    }

    func waitForEnd(timeout: Duration = .seconds(15)) async throws -> WaybillStatusError? {
        guard await eventually("the stream to end", timeout: timeout, { ended }) else { throw TimedOut(what: "the stream to end") }
        return error
    }

    func cancel() { task.withLock { $0?.cancel() } }
}

// MARK: - Gate

/// Holds the server's writer inside a batch until opened (makes "calls in flight" deterministic).
final class WriterGate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    func close(_ writer: StoreWriter) async {
        writer.submit(Job({ [self] _ in
            self.entered.signal()
            self.released.wait()
        }) { _ in })
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.entered.wait()
                continuation.resume()
            }
        }
    }

    func open() { released.signal() }
}
