// One call outside a frames connection — a standard gRPC call, or an in-process call (the
// operator console, InProcessCall.swift) — as the target of a Waybill call's answers: the same `finish` /
// `streamFrame` a frames connection offers, delivered to the gRPC handler's task as items of an
// AsyncStream. Everything but `outputWritten` and `cancelledByClient` runs on `eventLoop`.

import NIOCore
import SwiftProtobuf
import WaybillProto
import WaybillWire

final class GRPCCallSink: CallStreamTarget, @unchecked Sendable {
    /// What the gRPC handler's task receives: messages, then the end (nil = OK).
    enum Item: Sendable {
        case message([UInt8])
        case end(WaybillStatusError?)
    }

    let eventLoop: any EventLoop
    let method: String
    let limits: TransportLimits
    private let metrics: ServerMetrics
    private let output: AsyncStream<Item>.Continuation
    private let onEnd: @Sendable (GRPCCallSink) -> Void
    private(set) var box: ConnectionBox!
    // Loop-confined:
    private var ended = false
    private var stream: StreamCall?
    private var deadline: Scheduled<Void>?
    private var deadlineUptimeNanoseconds: UInt64 = .max
    private var timeoutMilliseconds: Int64 = 0
    private var startedUptimeNanoseconds: UInt64 = 0
    /// Stream bytes handed to the task and not yet written to the HTTP/2 stream.
    private var outputBytesPending = 0

    init(method: String, eventLoop: any EventLoop, limits: TransportLimits, metrics: ServerMetrics,
         output: AsyncStream<Item>.Continuation, onEnd: @escaping @Sendable (GRPCCallSink) -> Void) {
        self.method = method
        self.eventLoop = eventLoop
        self.limits = limits
        self.metrics = metrics
        self.output = output
        self.onEnd = onEnd
        box = ConnectionBox(self, eventLoop: eventLoop)
    }

    /// On the loop: the call's deadline (grpc-timeout), as frames' `timeout_ms`. Returns it in uptime nanoseconds.
    func start(timeoutMilliseconds: Int64?) -> UInt64 {
        eventLoop.preconditionInEventLoop()
        startedUptimeNanoseconds = uptimeNanoseconds()
        guard let timeoutMilliseconds, timeoutMilliseconds > 0 else { return .max }
        self.timeoutMilliseconds = timeoutMilliseconds
        deadlineUptimeNanoseconds = startedUptimeNanoseconds + UInt64(timeoutMilliseconds) * 1_000_000
        deadline = eventLoop.scheduleTask(in: .milliseconds(timeoutMilliseconds)) { [weak self] in
            self?.deadlineExpired()
        }
        return deadlineUptimeNanoseconds
    }

    private func deadlineExpired() {
        finish(callID: 0, response: .failure(WaybillStatusError(
            .deadlineExceeded,
            "deadline of \(timeoutMilliseconds) ms exceeded; a mutation may still commit: read back or retry with the same idempotency key")))
    }

    /// Any thread: the client cancelled (RST_STREAM, connection gone) or gRPC's own timer fired.
    /// Past the deadline it ends as the deadline does; otherwise as a frames cancel.
    func cancelledByClient() {
        eventLoop.execute {
            guard !self.ended else { return }
            if uptimeNanoseconds() >= self.deadlineUptimeNanoseconds {
                self.deadlineExpired()
            } else {
                self.end(.failure(WaybillStatusError(.cancelled, "cancelled by the client")), record: false)
            }
        }
    }

    // MARK: CallStreamTarget

    func finish(callID: UInt64, response: CallResponse) {
        end(response, record: true)
    }

    private func end(_ response: CallResponse, record: Bool) {
        eventLoop.preconditionInEventLoop()
        guard !ended else { return }
        ended = true
        deadline?.cancel()
        deadline = nil
        stream?.cancel()
        stream = nil
        let outcome = response.encoded(frameBytesMax: limits.frameBytesMax)
        let elapsed = uptimeNanoseconds() - startedUptimeNanoseconds
        switch outcome {
        case .success(let bytes):
            if record { metrics.completed(method: method, code: .ok, nanoseconds: elapsed) }
            output.yield(.message(bytes))
            output.yield(.end(nil))
        case .failure(let error):
            if record { metrics.completed(method: method, code: error.code, nanoseconds: elapsed) }
            output.yield(.end(error))
        }
        output.finish()
        onEnd(self)
    }

    func attachStream(callID: UInt64, _ stream: StreamCall) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard !ended else { return false }
        self.stream = stream
        return true
    }

    @discardableResult
    func streamFrame(callID: UInt64, payload: [UInt8]) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard !ended else { return false }
        outputBytesPending += payload.count
        output.yield(.message(payload))
        return true
    }

    var frameBytesMax: Int { limits.frameBytesMax }

    /// As a frames connection pauses at connectionOutboundBytesMax, a gRPC stream stops taking
    /// messages while that many bytes wait for HTTP/2 flow control.
    var isWritable: Bool { outputBytesPending < limits.connectionOutboundBytesMax }

    /// Any thread: the handler's task wrote a stream message of `bytes` to the HTTP/2 stream.
    func outputWritten(bytes: Int) {
        eventLoop.execute {
            let wasWritable = self.isWritable
            self.outputBytesPending -= bytes
            if !wasWritable && self.isWritable { self.stream?.writable() }
        }
    }
}
