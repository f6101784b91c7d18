// frameCompletionTimeoutMilliseconds: a frame whose first byte has arrived must be whole within
// the bound, or the connection is closed. The idle timeout only sees silence, so without this a
// client sending one byte every few minutes holds a connection slot (and its partial frame's
// buffer) for ever.
//
// Sits before the frame decoder and follows the frame boundaries itself (5-byte header, then the
// declared length) without buffering anything. A partial frame the server itself is not reading
// (back-pressure: the connection handler holds `read()` while the client does not read its
// answers) is not the client's fault: the bound starts again when the server reads again.

import NIOCore
import WaybillProto
import WaybillWire

final class FrameCompletionTimeout: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let limitMilliseconds: Int64
    private let metrics: ServerMetrics
    /// Header bytes of the current frame received so far (0...4; 5 moves to the payload).
    private var headerBytesReceived = 0
    private var declaredLength: UInt32 = 0
    /// Payload bytes of the current frame still to come.
    private var payloadBytesRemaining = 0
    private var timer: Scheduled<Void>?
    /// Whether a `read()` has gone down the pipeline since the last read completed: when not, the
    /// server is holding reads (back-pressure) and the client cannot complete its frame.
    private var readRequested = true
    private var expired = false

    init(limits: TransportLimits, metrics: ServerMetrics) {
        limitMilliseconds = limits.frameCompletionTimeoutMilliseconds
        timeout = .milliseconds(limits.frameCompletionTimeoutMilliseconds)
        self.metrics = metrics
    }

    /// Whether a frame has begun and is not whole yet.
    var framePartial: Bool { headerBytesReceived > 0 || payloadBytesRemaining > 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if expired { return }
        let buffer = unwrapInboundIn(data)
        let completedAFrame = follow(buffer)
        if !framePartial {
            cancelTimer()
        } else if timer == nil || completedAFrame {
            // A new frame began in these bytes: its bound starts now.
            startTimer(context)
        }
        context.fireChannelRead(data)
    }

    /// Walks `buffer` across frame boundaries; true when at least one frame ended in it.
    private func follow(_ buffer: ByteBuffer) -> Bool {
        var index = buffer.readerIndex
        let end = buffer.writerIndex
        var completed = false
        while index < end {
            if payloadBytesRemaining > 0 {
                let taken = min(payloadBytesRemaining, end - index)
                payloadBytesRemaining -= taken
                index += taken
                if payloadBytesRemaining == 0 { completed = true }
                continue
            }
            let byte = buffer.getInteger(at: index, as: UInt8.self)!
            index += 1
            if headerBytesReceived >= 1 { declaredLength = declaredLength << 8 | UInt32(byte) }
            headerBytesReceived += 1
            if headerBytesReceived == Framing.headerBytes {
                headerBytesReceived = 0
                payloadBytesRemaining = Int(declaredLength)
                declaredLength = 0
                if payloadBytesRemaining == 0 { completed = true }
            }
        }
        return completed
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readRequested = false
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        readRequested = true
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.timerFired(context)
        }
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard framePartial, !expired else { return }
        guard readRequested else {
            // The server is not reading this connection (back-pressure): not the client's delay.
            startTimer(context)
            return
        }
        expired = true
        metrics.rejected(reason: "frame_completion_timeout")
        let error = WaybillStatusError.limit(.resourceExhausted, name: "frameCompletionTimeoutMilliseconds", value: Int(limitMilliseconds),
                                             "a frame was not completed in time; connection closed")
        var envelope = Waybill_V1_ResponseEnvelope()
        envelope.callID = 0
        envelope.status = error.status
        envelope.endOfStream = true
        envelope.protocolVersion = ProtocolVersions.current
        var buffer = context.channel.allocator.buffer(capacity: 160)
        try? buffer.writeFrame(envelope)
        let channel = context.channel
        // The answer frames already written stay whole: NIO writes buffers in order.
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
