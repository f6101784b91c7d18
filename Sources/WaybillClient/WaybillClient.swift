// The Swift client: one TCP connection, any number of calls in flight, answers matched by call id.

import NIOCore
import NIOPosix
import Synchronization
import SwiftProtobuf
import WaybillProto
import WaybillTLS
import WaybillWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct ClientConfiguration: Sendable {
    /// Names the client software in the server's logs (letters, digits, `.`, `_`, `-`; at most 64).
    /// Who made a change is the credential's name, never this.
    public var clientID = "waybill-swift-client"
    /// The bearer token of the credential this client calls as (`authorization: Bearer TOKEN` on
    /// every call); nil = no credential (every call is answered UNAUTHENTICATED). docs/SECURITY.md.
    public var token: String?
    public var connectTimeoutMilliseconds: Int64 = 5_000
    /// Default per-call deadline, sent to the server and enforced locally; 0 = none.
    public var defaultTimeoutMilliseconds: UInt32 = 30_000
    public var frameBytesMax = TransportLimits().frameBytesMax
    /// TLS to the server (nil = plaintext). The server's certificate is always verified; `connect`
    /// returns once the handshake completed, or fails UNAVAILABLE naming why. docs/SECURITY.md.
    public var tls: ClientTLSConfiguration?
    public init() {}

    /// The metadata every call carries.
    var metadata: [String: String] {
        var metadata = ["client-id": clientID]
        if let token { metadata["authorization"] = "Bearer " + token }
        return metadata
    }
}

public final class WaybillClient: Sendable {
    public let configuration: ClientConfiguration
    /// What every call's envelope carries (client-id, authorization), built once.
    private let metadata: [String: String]
    let channel: any NIOCore.Channel
    private let handler: NIOLoopBound<ClientHandler>
    private let nextCallID = Atomic<UInt64>(1)
    private let ownedGroup: MultiThreadedEventLoopGroup?
    /// Set by `close()`. Work reaches the event loop only while this is false and under its lock, so
    /// nothing is queued on a loop that `close()` has shut down (such work would never run and its
    /// caller would wait forever: a client shared by tasks may be closed by one while another calls).
    private let closed = Mutex(false)

    /// Connects to a Waybill server. Without a group, the client runs its own single event loop.
    public static func connect(host: String, port: Int, configuration: ClientConfiguration = ClientConfiguration(),
                               group: (any EventLoopGroup)? = nil) async throws -> WaybillClient {
        let owned = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let loopGroup: any EventLoopGroup = group ?? owned!
        do {
            // The handler is kept from the initializer: looking it up after connecting fails when the
            // server has already closed the connection (connection limit, idle timeout), and the
            // client must then answer calls with the server's reason, not fail to connect.
            let installed = Mutex<NIOLoopBound<ClientHandler>?>(nil)
            let tlsContext = try configuration.tls?.makeContext()
            let handshake = Mutex<EventLoopFuture<Void>?>(nil)
            let channel = try await ClientBootstrap(group: loopGroup)
                .connectTimeout(.milliseconds(configuration.connectTimeoutMilliseconds))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        if let tls = configuration.tls, let tlsContext {
                            let done = try ClientTLSPipeline.addHandlers(to: channel, configuration: tls, context: tlsContext, host: host,
                                                                         timeout: .milliseconds(configuration.connectTimeoutMilliseconds))
                            handshake.withLock { $0 = done }
                        }
                        let handler = ClientHandler(address: "\(host):\(port)")
                        try operations.addHandler(PeerBytesRecorder(handler))
                        try operations.addHandler(ByteToMessageHandler(FrameDecoder(frameBytesMax: configuration.frameBytesMax)))
                        try operations.addHandler(handler)
                        installed.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                    }
                }
                .connect(host: host, port: port).get()
            if let tls = configuration.tls, let done = handshake.withLock({ $0 }) {
                do {
                    try await ClientTLSPipeline.awaitHandshake(done, configuration: tls, host: host, port: port, group: loopGroup,
                                                               timeout: .milliseconds(configuration.connectTimeoutMilliseconds))
                } catch {
                    try? await channel.close()
                    throw error
                }
            }
            guard let handler = installed.withLock({ $0 }) else {
                throw WaybillStatusError(.internal, "the connection has no client handler")
            }
            return WaybillClient(configuration: configuration, channel: channel, handler: handler, ownedGroup: owned)
        } catch {
            try? await owned?.shutdownGracefully()
            if let failure = error as? TLSConnectFailure {
                throw WaybillStatusError(.unavailable, "TLS to \(host):\(port) failed: \(failure)")
            }
            if let failure = error as? TLSConfigurationError { throw WaybillStatusError(.failedPrecondition, failure.message) }
            throw WaybillStatusError(.unavailable, ConnectFailure.describe(error, host: host, port: port,
                                                                           timeoutMilliseconds: configuration.connectTimeoutMilliseconds))
        }
    }

    /// Parses "host:port".
    public static func connect(_ address: String, configuration: ClientConfiguration = ClientConfiguration(),
                               group: (any EventLoopGroup)? = nil) async throws -> WaybillClient {
        let (host, port) = try parseAddress(address)
        return try await connect(host: host, port: port, configuration: configuration, group: group)
    }

    public static func parseAddress(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), port > 0, port < 65_536 else {
            throw WaybillStatusError(.invalidArgument, "address \"\(address)\" is not HOST:PORT")
        }
        return (String(address[..<colon]), port)
    }

    private init(configuration: ClientConfiguration, channel: any NIOCore.Channel, handler: NIOLoopBound<ClientHandler>,
                 ownedGroup: MultiThreadedEventLoopGroup?) {
        self.configuration = configuration
        metadata = configuration.metadata
        self.channel = channel
        self.handler = handler
        self.ownedGroup = ownedGroup
    }

    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Closes the connection: calls in flight fail with UNAVAILABLE, later calls fail at once.
    public func close() async {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        if wasClosed { return }
        try? await channel.close()
        try? await ownedGroup?.shutdownGracefully()
    }

    private var closedError: WaybillStatusError {
        WaybillStatusError(.unavailable, "the client connection to \(channel.remoteAddress.map { "\($0)" } ?? "the server") was closed by this process")
    }

    /// Runs `work` on the channel's event loop unless the client is closed; false when closed.
    private func onEventLoop(_ work: @escaping @Sendable () -> Void) -> Bool {
        if channel.eventLoop.inEventLoop {
            // On the loop, the loop is running; the handler answers a closed connection itself.
            if closed.withLock({ $0 }) { return false }
            work()
            return true
        }
        return closed.withLock { closed in
            if closed { return false }
            channel.eventLoop.execute(work)
            return true
        }
    }

    /// Starts one unary call; `completion` runs exactly once: on the event loop with the answer,
    /// or at once when the client is closed.
    private func start(method: String, payload: [UInt8], timeoutMilliseconds: UInt32?, token: String? = nil,
                       completion: @escaping @Sendable (Result<[UInt8], Error>) -> Void) {
        let callID = nextCallID.wrappingAdd(1, ordering: .relaxed).oldValue
        let envelope = makeEnvelope(method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds, callID: callID, token: token)
        let handler = self.handler
        let loop = channel.eventLoop
        let timeout = envelope.timeoutMs
        let started = onEventLoop {
            // The promise is made and observed on the loop, so its answer never needs a task queued
            // from another thread.
            let promise = loop.makePromise(of: [UInt8].self)
            promise.futureResult.whenComplete(completion)
            handler.value.start(envelope: envelope, promise: promise, timeoutMilliseconds: timeout)
        }
        if !started { completion(.failure(closedError)) }
    }

    func makeEnvelope(method: String, payload: [UInt8], timeoutMilliseconds: UInt32?, callID: UInt64, token: String? = nil) -> Waybill_V1_RequestEnvelope {
        var envelope = Waybill_V1_RequestEnvelope()
        envelope.callID = callID
        envelope.method = method
        envelope.payload = .init(payload)
        envelope.timeoutMs = timeoutMilliseconds ?? configuration.defaultTimeoutMilliseconds
        envelope.metadata = metadata
        if let token { envelope.metadata["authorization"] = "Bearer " + token }
        envelope.protocolVersion = ProtocolVersions.current
        return envelope
    }

    /// Sends one unary call; the future completes with the answer's payload or a WaybillStatusError.
    /// A closed client answers on a loop that is always running (its own may be shut down).
    /// `token`: this call's credential instead of the configuration's (one connection carrying
    /// several callers' calls, as the simulator's actors do).
    public func send(method: String, payload: [UInt8], timeoutMilliseconds: UInt32? = nil, token: String? = nil) -> EventLoopFuture<[UInt8]> {
        if closed.withLock({ $0 }) { return MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(closedError) }
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        start(method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds, token: token) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// Calls `method` with `request` and decodes the answer as `Response`.
    public func call<Response: SwiftProtobuf.Message>(_ method: String, _ request: some SwiftProtobuf.Message,
                                                      as type: Response.Type = Response.self,
                                                      timeoutMilliseconds: UInt32? = nil) async throws -> Response {
        let payload: [UInt8] = try request.serializedBytes()
        let bytes = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], Error>) in
            start(method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds) { continuation.resume(with: $0) }
        }
        do {
            return try Response(serializedBytes: bytes)
        } catch {
            throw WaybillStatusError(.internal, "answer to \(method) does not parse as \(Response.protoMessageName): \(error)")
        }
    }

    /// Opens a server stream. Frames arrive on the returned stream; cancelling it (or breaking out
    /// of the loop) sends a cancel for the call.
    public func stream(method: String, payload: [UInt8]) -> AsyncThrowingStream<[UInt8], Error> {
        let callID = nextCallID.wrappingAdd(1, ordering: .relaxed).oldValue
        let envelope = makeEnvelope(method: method, payload: payload, timeoutMilliseconds: 0, callID: callID)
        let handler = self.handler
        return AsyncThrowingStream { continuation in
            if !onEventLoop({ handler.value.startStream(envelope: envelope, continuation: continuation) }) {
                continuation.finish(throwing: closedError)
                return
            }
            continuation.onTermination = { [self] termination in
                if case .cancelled = termination {
                    _ = onEventLoop { handler.value.cancelStream(callID: callID) }
                }
            }
        }
    }
}

/// Matches answers to calls on the client's event loop.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<[UInt8]>
        var timer: Scheduled<Void>?
    }

    private var pending: [UInt64: Pending] = [:]
    private var streams: [UInt64: AsyncThrowingStream<[UInt8], Error>.Continuation] = [:]
    private var context: ChannelHandlerContext?
    private var flushScheduled = false
    private var closedError: WaybillStatusError?
    /// "HOST:PORT", for errors about the peer.
    private let address: String
    /// The first bytes the peer sent, and whether a whole Waybill frame has arrived: a peer whose
    /// first bytes are not a frame is not a Waybill server, and is named as such.
    private var peerFirstBytes: [UInt8] = []
    private var framesReceived = false

    init(address: String) { self.address = address }

    func recordPeerBytes(_ bytes: [UInt8]) { if peerFirstBytes.isEmpty { peerFirstBytes = bytes } }

    /// UNAVAILABLE "HOST:PORT is not a Waybill server (…)": a wrong port is the caller's setup, not a bug.
    private var notWaybillServer: WaybillStatusError {
        WaybillStatusError(.unavailable, "\(address) is not a Waybill server (\(PeerBytes.describe(peerFirstBytes)))")
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func start(envelope: Waybill_V1_RequestEnvelope, promise: EventLoopPromise<[UInt8]>, timeoutMilliseconds: UInt32) {
        if let closedError { promise.fail(closedError); return }
        var timer: Scheduled<Void>?
        if timeoutMilliseconds > 0, let loop = context?.eventLoop {
            // The server enforces the deadline too; this local timer (with slack) covers a silent server.
            let callID = envelope.callID
            let bound = NIOLoopBound(self, eventLoop: loop)
            timer = loop.scheduleTask(in: .milliseconds(Int64(timeoutMilliseconds) + 250)) {
                bound.value.fail(callID: callID, WaybillStatusError(.deadlineExceeded, "no answer within \(timeoutMilliseconds) ms"))
            }
        }
        pending[envelope.callID] = Pending(promise: promise, timer: timer)
        send(envelope)
    }

    func startStream(envelope: Waybill_V1_RequestEnvelope, continuation: AsyncThrowingStream<[UInt8], Error>.Continuation) {
        if let closedError { continuation.finish(throwing: closedError); return }
        streams[envelope.callID] = continuation
        send(envelope)
    }

    func cancelStream(callID: UInt64) {
        guard streams.removeValue(forKey: callID) != nil else { return }
        var envelope = Waybill_V1_RequestEnvelope()
        envelope.callID = callID
        envelope.cancel = true
        envelope.protocolVersion = ProtocolVersions.current
        send(envelope)
    }

    private func send(_ envelope: Waybill_V1_RequestEnvelope) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 + envelope.payload.count)
        do {
            try buffer.writeFrame(envelope)
        } catch {
            fail(callID: envelope.callID, WaybillStatusError(.internal, "request does not serialize: \(error)"))
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        // Coalesce flushes of calls issued together.
        if !flushScheduled {
            flushScheduled = true
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute {
                bound.value.flushScheduled = false
                bound.value.context?.flush()
            }
        }
    }

    private func fail(callID: UInt64, _ error: WaybillStatusError) {
        if let call = pending.removeValue(forKey: callID) {
            call.timer?.cancel()
            call.promise.fail(error)
        }
        if let stream = streams.removeValue(forKey: callID) { stream.finish(throwing: error) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        let envelope: Waybill_V1_ResponseEnvelope
        do {
            envelope = try Waybill_V1_ResponseEnvelope(serializedBytes: frame.readBytes(length: frame.readableBytes) ?? [])
            framesReceived = true
        } catch {
            failAll(framesReceived ? WaybillStatusError(.internal, "malformed response envelope: \(error)") : notWaybillServer)
            context.close(promise: nil)
            return
        }
        let status = envelope.hasStatus ? envelope.status : Waybill_V1_Status()
        if envelope.callID == 0 {
            // A connection-level error: the server closes the connection after it.
            failAll(WaybillStatusError(status))
            return
        }
        if let stream = streams[envelope.callID] {
            if !envelope.endOfStream {
                stream.yield([UInt8](envelope.payload))
            } else {
                streams.removeValue(forKey: envelope.callID)
                if status.code == .ok { stream.finish() } else { stream.finish(throwing: WaybillStatusError(status)) }
            }
            return
        }
        guard let call = pending.removeValue(forKey: envelope.callID) else { return }  // e.g. after a local timeout
        call.timer?.cancel()
        if status.code == .ok {
            call.promise.succeed([UInt8](envelope.payload))
        } else {
            call.promise.fail(WaybillStatusError(status))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !framesReceived && (error is FrameError || error is ByteToMessageDecoderError) {
            failAll(notWaybillServer)
        } else if error is IOError || error is ChannelError {
            failAll(WaybillStatusError(.unavailable, "connection to \(address) failed: \(error)"))
        } else if TLSErrorText.isTLSError(error) {
            failAll(WaybillStatusError(.unavailable, "TLS connection to \(address) failed: \(TLSErrorText.describe(error))"))
        } else {
            failAll(WaybillStatusError(.internal, "connection error: \(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Bytes that never made a frame (fewer than a header, then close) are not a Waybill server either.
        failAll(!framesReceived && !peerFirstBytes.isEmpty ? notWaybillServer
                : WaybillStatusError(.unavailable, "connection to \(address) closed"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: WaybillStatusError) {
        if closedError == nil { closedError = error }
        let calls = pending
        pending.removeAll()
        for (_, call) in calls {
            call.timer?.cancel()
            call.promise.fail(error)
        }
        let open = streams
        streams.removeAll()
        for (_, stream) in open { stream.finish(throwing: error) }
    }
}

/// Passes bytes through, handing the first read's leading bytes to the client handler (before the
/// frame decoder consumes or rejects them).
final class PeerBytesRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let client: ClientHandler
    private var recorded = false

    init(_ client: ClientHandler) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !recorded {
            recorded = true
            let buffer = unwrapInboundIn(data)
            client.recordPeerBytes(Array(buffer.readableBytesView.prefix(PeerBytes.recordedMax)))
        }
        context.fireChannelRead(data)
    }
}

/// What a peer that is not a Waybill server answered, in words.
public enum PeerBytes {
    /// Leading bytes kept to recognise the peer.
    static let recordedMax = 32

    public static func describe(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.hasPrefix("HTTP/") { return "it answered like an HTTP server" }
        if text.hasPrefix("<") { return "it answered with HTML or XML" }
        if text.hasPrefix("SSH-") { return "it answered like an SSH server" }
        if bytes.count >= 3, (0x14...0x17).contains(bytes[0]), bytes[1] == 0x03 { return "it answered with TLS" }
        if bytes.count >= 9, bytes[3] == 0x04, bytes[4] == 0x00 { return "it answered like an HTTP/2 server" }
        let printable = bytes.allSatisfy { (0x20...0x7E).contains($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if printable && !bytes.isEmpty {
            let line = text.prefix { $0 != "\r" && $0 != "\n" }
            return "it answered text: \"\(line)\""
        }
        return "it answered bytes that are not Waybill frames: " + bytes.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: " ")
    }
}

/// A failed connect in words: refused, timed out, unknown host, or what the system said.
enum ConnectFailure {
    static func describe(_ error: Error, host: String, port: Int, timeoutMilliseconds: Int64) -> String {
        let prefix = "cannot connect to \(host):\(port)"
        if let connection = error as? NIOConnectionError {
            if connection.dnsAError != nil && connection.dnsAAAAError != nil && connection.connectionErrors.isEmpty {
                return "\(prefix): host \(host) not found"
            }
            if let first = connection.connectionErrors.first {
                return describe(first.error, host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
            }
        }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED {
            return "\(prefix): connection refused (is `waybill serve` running? default port 7400)"
        }
        if let channel = error as? ChannelError, case .connectTimeout = channel {
            return "\(prefix): no answer within \(timeoutMilliseconds) ms (connectTimeoutMilliseconds)"
        }
        return "\(prefix): \(error)"
    }
}
