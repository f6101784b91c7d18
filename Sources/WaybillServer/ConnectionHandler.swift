// One TCP connection: envelopes in, calls dispatched, answers out in any order.
// Everything here runs on the connection's event loop.
//
// Back-pressure: a client that sends requests without reading the answers must not make the
// server buffer every answer. While the answer bytes waiting to be sent reach
// connectionOutboundBytesMax, or the socket is not writable, the handler holds the channel's
// `read()` (so the kernel's buffers fill and TCP stops the client) and keeps the frames already
// decoded from the last read for later, instead of starting their calls.

import Dispatch
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import WaybillApplication
import WaybillProto
import WaybillTLS
import WaybillWire

final class ConnectionHandler: ChannelDuplexHandler, CallStreamTarget {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A call in flight, under the server's key for it (see `calls`).
    struct InFlight {
        /// The client's call id: what the answer frames carry.
        var wireCallID: UInt64
        var deadline: Scheduled<Void>?
        var stream: StreamCall?
        var method: String
        var startedUptimeNanoseconds: UInt64
    }

    private let services: Services
    private let limits: TransportLimits
    private let batcher: ReplyBatcher
    private let logger: Logger
    private let metrics: ServerMetrics
    private var context: ChannelHandlerContext?
    private var box: ConnectionBox?
    /// Calls in flight by the server's key for each: a number never reused on this connection. A
    /// client may reuse a call id once its call has ended (by its answer, a cancel or a deadline);
    /// an answer still on its way for the old call (a write that commits after its deadline) then
    /// finds no call under its key and is dropped, instead of answering the new call.
    private var inFlight: [UInt64: InFlight] = [:]
    /// The key of each client call id in flight (duplicates, cancels).
    private var keyOfCallID: [UInt64: UInt64] = [:]
    private var lastCallKey: UInt64 = 0
    private var closing = false
    /// Whether a whole frame has arrived: before that, a first byte that starts an HTTP/1 method
    /// is someone's browser or curl, answered in plain HTTP.
    private var framesReceived = false
    /// Frames written since the last flush.
    private var wroteSinceFlush = false
    /// Queued on the batcher for a flush at the end of its drain.
    var queuedForFlush = false
    /// Answer bytes written and not yet taken by the socket (unflushed ones included).
    private var outboundBytesPending = 0
    /// Bytes written since the last flush: their flush's completion takes them off the count.
    private var outboundBytesUnflushed = 0
    /// The highest `outboundBytesPending` of this connection (reported when it grows).
    private var outboundBytesPendingHigh = 0
    /// A `read()` held back while paused, issued when the connection may be read again.
    private var readHeld = false
    /// Frames decoded from the last read while paused: their calls start when the pause ends.
    private var deferredFrames = CircularBuffer<ByteBuffer>()
    /// Whether the connection counts as paused in the server's statistics.
    private var reportedPaused = false
    /// Set by ChannelShouldQuiesceEvent (graceful shutdown): new calls are refused and the server
    /// ends its side of the connection once the last call is answered.
    private var quiescing = false
    /// The remote IP address (authentication throttling, logs).
    private var peerAddress = "unknown"
    /// The subject common name of the client certificate a mutual-TLS connection verified (read
    /// at the first call: every call arrives after the handshake).
    private var certificateSubject: String?
    private var certificateSubjectRead = false
    private var tokenMemo = TokenMemo()

    init(services: Services, limits: TransportLimits, batcher: ReplyBatcher, logger: Logger, metrics: ServerMetrics) {
        self.services = services
        self.limits = limits
        self.batcher = batcher
        self.logger = logger
        self.metrics = metrics
    }

    var callsInFlight: Int { inFlight.count }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        box = ConnectionBox(self, eventLoop: context.eventLoop)
        peerAddress = PeerAddress.key(context.channel.remoteAddress)
        services.outbound.handlerAdded()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelEverything()
        deferredFrames.removeAll()
        if reportedPaused {
            reportedPaused = false
            services.outbound.paused(false)
        }
        services.outbound.handlerRemoved()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelEverything()
        context.fireChannelInactive()
    }

    private func cancelEverything() {
        for (_, call) in inFlight {
            call.deadline?.cancel()
            call.stream?.cancel()
        }
        inFlight.removeAll()
        keyOfCallID.removeAll()
    }

    // MARK: back-pressure

    /// Whether the client must read answers before more of its requests are read.
    private var mustPause: Bool {
        outboundBytesPending >= limits.connectionOutboundBytesMax || !(context?.channel.isWritable ?? true)
    }

    private func notePaused(_ paused: Bool) {
        guard paused != reportedPaused else { return }
        reportedPaused = paused
        services.outbound.paused(paused)
    }

    /// The channel asks for more bytes: granted unless the client has too many answers waiting.
    func read(context: ChannelHandlerContext) {
        if mustPause || !deferredFrames.isEmpty {
            readHeld = true
            notePaused(true)
            return
        }
        context.read()
    }

    /// After answers left (socket writable again, a flush completed): starts the deferred calls
    /// while the connection may go on, then lets the channel read again.
    private func resumeIfPossible() {
        guard let context, !closing else { return }
        while !mustPause, let frame = deferredFrames.popFirst() { process(frame) }
        flushNow()
        guard !mustPause, deferredFrames.isEmpty else { return }
        notePaused(false)
        if readHeld {
            readHeld = false
            context.read()
        }
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing { return }
        framesReceived = true
        let frame = unwrapInboundIn(data)
        if mustPause || !deferredFrames.isEmpty {
            deferredFrames.append(frame)
            notePaused(true)
            return
        }
        process(frame)
    }

    private func process(_ frame: ByteBuffer) {
        guard let context, !closing else { return }
        var frame = frame
        let envelope: Waybill_V1_RequestEnvelope
        do {
            envelope = try Waybill_V1_RequestEnvelope(serializedBytes: frame.readBytes(length: frame.readableBytes) ?? [])
        } catch {
            connectionError(WaybillStatusError(.invalidArgument, "malformed request envelope: \(error)"))
            return
        }
        guard envelope.protocolVersion == ProtocolVersions.current else {
            connectionError(WaybillStatusError(.failedPrecondition,
                                               "protocol_version \(envelope.protocolVersion.rawValue) is not supported; this server speaks "
                                                   + ProtocolVersions.supported.map { String($0.rawValue) }.joined(separator: ", ")),
                            callID: envelope.callID)
            return
        }
        guard envelope.callID != 0 else {
            connectionError(WaybillStatusError(.invalidArgument, "call_id must not be 0"))
            return
        }
        if envelope.cancel {
            if let key = keyOfCallID.removeValue(forKey: envelope.callID), let call = inFlight.removeValue(forKey: key) {
                call.deadline?.cancel()
                call.stream?.cancel()
                write(callID: envelope.callID, status: WaybillStatusError(.cancelled, "cancelled by the client").status,
                      payload: [], endOfStream: true)
                if quiescing && inFlight.isEmpty { endOutput() }
            }
            return
        }
        if keyOfCallID[envelope.callID] != nil {
            connectionError(WaybillStatusError(.invalidArgument, "call_id \(envelope.callID) is already in flight on this connection"),
                            callID: envelope.callID)
            return
        }
        if let refusal = MetadataLimits.violation(envelope.metadata, limits: limits) {
            metrics.rejected(reason: "metadata")
            write(callID: envelope.callID, status: refusal.status, payload: [], endOfStream: true)
            return
        }
        if quiescing {
            metrics.rejected(reason: "shutting_down")
            write(callID: envelope.callID, status: Self.shuttingDown(services.configuration).status, payload: [], endOfStream: true)
            batcher.needsFlush(self)
            return
        }
        if inFlight.count >= limits.callsInFlightPerConnectionMax {
            metrics.rejected(reason: "calls_in_flight")
            var error = WaybillStatusError.limit(.resourceExhausted, name: "callsInFlightPerConnectionMax",
                                                 value: limits.callsInFlightPerConnectionMax,
                                                 "too many calls in flight on this connection; wait for an answer")
            error.details.retryAfterMs = UInt32(clamping: limits.callsInFlightRetryAfterMilliseconds)
            write(callID: envelope.callID, status: error.status, payload: [], endOfStream: true)
            return
        }
        let now = uptimeNanoseconds()
        var deadline: UInt64 = .max
        lastCallKey += 1
        let key = lastCallKey
        var state = InFlight(wireCallID: envelope.callID, deadline: nil, stream: nil, method: envelope.method, startedUptimeNanoseconds: now)
        if envelope.timeoutMs > 0 {
            deadline = now + UInt64(envelope.timeoutMs) * 1_000_000
            let callID = key, box = self.box!
            state.deadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64(envelope.timeoutMs))) {
                box.finish(callID: callID, response: .failure(WaybillStatusError(
                    .deadlineExceeded, "deadline of \(envelope.timeoutMs) ms exceeded; a mutation may still commit: read back or retry with the same idempotency key")))
            }
        }
        inFlight[key] = state
        keyOfCallID[envelope.callID] = key
        let responder = CallResponder(callID: key, connection: box!, batcher: batcher)
        if !certificateSubjectRead {
            certificateSubjectRead = true
            if services.configuration.tls?.requiresClientCertificates == true {
                certificateSubject = TLSPeerIdentity.clientCertificateCommonName(of: context.channel)
            }
        }
        let caller: Caller
        switch services.authenticate(authorization: envelope.metadata["authorization"], certificateSubject: certificateSubject,
                                     peer: peerAddress, memo: &tokenMemo) {
        case .success(let proven): caller = proven
        case .failure(let error):
            finish(callID: key, response: .failure(error))
            return
        }
        let call = Call(callID: key, method: envelope.method, payload: [UInt8](envelope.payload), caller: caller,
                        deadlineUptimeNanoseconds: deadline, responder: responder)
        services.dispatch(call, stream: self)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushNow()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case let frameError as FrameError:
            metrics.rejected(reason: "bad_frame")
            switch frameError {
            case .unsupportedFlags(let flags) where !framesReceived && Self.httpMethodInitials.contains(flags):
                answerPlainHTTP(context)
            case .tooLarge(_, let limit, let callID):
                connectionError(WaybillStatusError.limit(.resourceExhausted, name: "frameBytesMax", value: limit, frameError.description),
                                callID: callID ?? 0)
            default:
                connectionError(WaybillStatusError(.invalidArgument, frameError.description))
            }
        case let decoderError as ByteToMessageDecoderError:
            // Bytes after a frame error: the connection is already closing.
            if case .dataReceivedInErrorState = decoderError { return }
            connectionError(WaybillStatusError(.invalidArgument, "\(decoderError)"))
        default:
            if !(error is ChannelError) && (error as? IOError)?.errnoCode != ECONNRESET {
                logger.debug("connection error: \(error)")
            }
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if inFlight.isEmpty {
                logger.debug("closing idle connection")
                connectionError(WaybillStatusError(.unavailable, "idle for idleTimeoutMilliseconds (\(limits.idleTimeoutMilliseconds)); closing"))
            }
            return
        }
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            shutdown()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: outbound

    /// Bytes a response envelope adds around its payload when it carries no status: call_id (11),
    /// status (2), payload tag and length (6), end_of_stream (2), protocol_version (2).
    static let envelopeOverheadMax = 32

    /// Ends a call (`callID` is the server's key of it) with its answer; a second answer (after a
    /// deadline fired or a cancel) is dropped, even when the client has reused the call id since.
    func finish(callID key: UInt64, response: CallResponse) {
        guard let call = inFlight.removeValue(forKey: key) else { return }
        keyOfCallID.removeValue(forKey: call.wireCallID)
        let callID = call.wireCallID
        call.deadline?.cancel()
        call.stream?.cancel()
        let elapsed = uptimeNanoseconds() - call.startedUptimeNanoseconds
        let outcome = response.encoded(frameBytesMax: limits.frameBytesMax)
        switch outcome {
        case .success(let bytes):
            metrics.completed(method: call.method, code: .ok, nanoseconds: elapsed)
            write(callID: callID, status: nil, payload: bytes, endOfStream: true)
        case .failure(let error):
            metrics.completed(method: call.method, code: error.code, nanoseconds: elapsed)
            write(callID: callID, status: error.status, payload: [], endOfStream: true)
        }
        batcher.needsFlush(self)
        if quiescing && inFlight.isEmpty { endOutput() }
    }

    /// Registers a server stream for `callID` (already in flight).
    func attachStream(callID key: UInt64, _ stream: StreamCall) -> Bool {
        guard inFlight[key] != nil else { return false }
        inFlight[key]!.stream = stream
        return true
    }

    /// One frame of a server stream (end_of_stream = false); false when the call is gone.
    @discardableResult
    func streamFrame(callID key: UInt64, payload: [UInt8]) -> Bool {
        guard let call = inFlight[key] else { return false }
        write(callID: call.wireCallID, status: nil, payload: payload, endOfStream: false)
        batcher.needsFlush(self)
        return true
    }

    /// The largest frame this connection may send (stream frames are cut to fit).
    var frameBytesMax: Int { limits.frameBytesMax }

    /// Whether the socket accepts more without buffering (stream flow control).
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for (_, call) in inFlight { call.stream?.writable() }
            resumeIfPossible()
        }
        context.fireChannelWritabilityChanged()
    }

    func flushNow() {
        guard wroteSinceFlush, let context else { return }
        wroteSinceFlush = false
        // An empty write completes after every write before it: one promise per flush (not per
        // answer) takes the flushed bytes off the pending count.
        let flushed = outboundBytesUnflushed
        outboundBytesUnflushed = 0
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        context.flush()
        let box = self.box
        written.futureResult.whenComplete { _ in box?.connectionHandler?.flushCompleted(bytes: flushed) }
    }

    /// The bytes of one flush left for the socket (or the connection closed).
    private func flushCompleted(bytes: Int) {
        outboundBytesPending -= bytes
        if !deferredFrames.isEmpty || readHeld { resumeIfPossible() }
    }

    /// Ends every stream with UNAVAILABLE and retry_after_ms (graceful shutdown); the connection
    /// ends once unary calls are answered.
    func shutdown() {
        for (key, call) in inFlight where call.stream != nil {
            var error = Self.shuttingDown(services.configuration)
            error.message = "server is shutting down; resubscribe elsewhere or later"
            finish(callID: key, response: .failure(error))
        }
        flushNow()
        if quiescing && inFlight.isEmpty { endOutput() }
    }

    /// The answer to a call the draining server does not start, and the end of its streams.
    static func shuttingDown(_ configuration: ServerConfiguration) -> WaybillStatusError {
        var error = WaybillStatusError(.unavailable, "server is shutting down; retry on another instance or later")
        error.details.retryAfterMs = UInt32(clamping: configuration.shutdownRetryAfterMilliseconds)
        return error
    }

    /// Sends what is written, then ends the server's side of the connection (FIN, not a reset:
    /// the client reads every answer, then the end). The client's close completes the close;
    /// the drain bound closes connections whose clients never do.
    private func endOutput() {
        guard let context, !closing else { return }
        closing = true
        flushNow()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
    }

    /// G(ET), P(OST/UT/ATCH), H(EAD), D(ELETE), O(PTIONS), C(ONNECT), T(RACE).
    static let httpMethodInitials: Set<UInt8> = Set("GPHDOCT".utf8)
    static let plainHTTPAnswer = "this is a Waybill protocol port, see docs/PROTOCOL.md\n"

    /// A short HTTP/1.1 400 in plain text, then close.
    private func answerPlainHTTP(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        let body = Self.plainHTTPAnswer
        let text = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func connectionError(_ error: WaybillStatusError, callID: UInt64 = 0) {
        guard let context, !closing else { return }
        closing = true
        write(callID: callID, status: error.status, payload: [], endOfStream: true)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Encodes a ResponseEnvelope straight into the outbound buffer (no intermediate copy of the
    /// payload): fields 1 call_id, 2 status, 3 payload, 4 end_of_stream, 5 protocol_version.
    private func write(callID: UInt64, status: Waybill_V1_Status?, payload: [UInt8], endOfStream: Bool) {
        guard let context else { return }
        let statusBytes: [UInt8] = (try? status?.serializedBytes()) ?? []
        var buffer = context.channel.allocator.buffer(capacity: 32 + payload.count + statusBytes.count)
        buffer.writeInteger(Framing.uncompressed)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let start = buffer.writerIndex
        buffer.writeVarint(0x08)
        buffer.writeVarint(callID)
        buffer.writeVarint(0x12)
        buffer.writeVarint(UInt64(statusBytes.count))
        buffer.writeBytes(statusBytes)
        if !payload.isEmpty {
            buffer.writeVarint(0x1A)
            buffer.writeVarint(UInt64(payload.count))
            buffer.writeBytes(payload)
        }
        if endOfStream {
            buffer.writeVarint(0x20)
            buffer.writeVarint(1)
        }
        buffer.writeVarint(0x28)
        buffer.writeVarint(UInt64(ProtocolVersions.current.rawValue))
        buffer.setInteger(UInt32(buffer.writerIndex - start), at: lengthIndex)
        let bytes = buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
        wroteSinceFlush = true
        outboundBytesUnflushed += bytes
        outboundBytesPending += bytes
        if outboundBytesPending > outboundBytesPendingHigh {
            // New highs are rare once a connection has warmed up: reporting each costs little.
            outboundBytesPendingHigh = outboundBytesPending
            services.outbound.observed(outboundBytesPending: outboundBytesPending)
        }
    }
}

extension ByteBuffer {
    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        writeInteger(UInt8(value))
    }
}
