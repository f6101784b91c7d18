// One call on a connection, and how its answers get back to the connection's event loop.

import Dispatch
import NIOCore
import Synchronization
import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// What a handler answers: a message, bytes already serialized (a stored order), or a status.
public enum CallResponse: Sendable {
    case message(any SwiftProtobuf.Message & Sendable)
    case bytes([UInt8])
    case failure(WaybillStatusError)

    static func from(_ error: Error) -> CallResponse {
        .failure(statusError(error))
    }
}

extension CallResponse {
    /// The answer's payload bytes, or the status to answer instead: a message that does not serialize
    /// is INTERNAL, and an answer that would not fit in `frameBytesMax` (with its envelope) is
    /// RESOURCE_EXHAUSTED for this call only: frameBytesMax holds in both directions (a client would
    /// refuse a larger frame and drop the connection), on both transports.
    func encoded(frameBytesMax: Int) -> Result<[UInt8], WaybillStatusError> {
        var outcome: Result<[UInt8], WaybillStatusError>
        switch self {
        case .message(let message):
            do {
                outcome = .success(try message.serializedBytes())
            } catch {
                outcome = .failure(WaybillStatusError(.internal, "response does not serialize: \(error)"))
            }
        case .bytes(let bytes): outcome = .success(bytes)
        case .failure(let error): outcome = .failure(error)
        }
        if case .success(let bytes) = outcome, bytes.count + ConnectionHandler.envelopeOverheadMax > frameBytesMax {
            outcome = .failure(WaybillStatusError.limit(.resourceExhausted, name: "frameBytesMax", value: frameBytesMax,
                                                        "the answer (\(bytes.count) bytes) would exceed the frame limit; ask for less (a smaller page)"))
        }
        return outcome
    }
}

/// `retry_after_ms` of the UNAVAILABLE answer to a batch whose commit failed (disk full, I/O error).
let storageFailureRetryAfterMilliseconds: UInt32 = 1_000

/// Maps any error a service can meet onto a gRPC status.
func statusError(_ error: Error) -> WaybillStatusError {
    switch error {
    case let error as WaybillStatusError: return error
    case let error as DomainError: return WaybillStatusError(error)
    case let error as WriterError:
        switch error {
        case .queueFull(let depth):
            var details = Waybill_V1_StatusDetails()
            details.limitName = "writeQueueDepthMax"
            details.limitValue = Int64(depth)
            details.retryAfterMs = 50
            return WaybillStatusError(.resourceExhausted, error.description, details: details)
        case .overloaded(let target, let retryAfter):
            var details = Waybill_V1_StatusDetails()
            details.limitName = "writeQueueDelayTargetMilliseconds"
            details.limitValue = target
            details.retryAfterMs = UInt32(clamping: retryAfter)
            return WaybillStatusError(.resourceExhausted, error.description, details: details)
        case .stopped:
            var details = Waybill_V1_StatusDetails()
            details.retryAfterMs = 1_000
            return WaybillStatusError(.unavailable, "server is shutting down; retry on another instance or later", details: details)
        case .deadlineExceeded: return WaybillStatusError(.deadlineExceeded, error.description)
        case .commitFailed:
            // Disk full or an I/O error: nothing of the batch was applied and the writer retries with the
            // next batch, so the same request (same idempotency key) can come back after a pause.
            var details = Waybill_V1_StatusDetails()
            details.retryAfterMs = storageFailureRetryAfterMilliseconds
            return WaybillStatusError(.unavailable, error.description + "; the request can be retried", details: details)
        case .skipped: return WaybillStatusError(.internal, error.description)
        }
    case let error as SearchIndexBehind:
        var details = Waybill_V1_StatusDetails()
        details.limitName = "searchIndexLagEventsMax"
        details.limitValue = Int64(error.lagEventsMax)
        details.retryAfterMs = 1_000
        return WaybillStatusError(.unavailable, error.description, details: details)
    case let error as BinaryDecodingError:
        return WaybillStatusError(.invalidArgument, "request payload does not parse: \(error)")
    default:
        return WaybillStatusError(.internal, "internal error: \(error)")
    }
}

/// Where a call's answers go: a Waybill frames connection (`ConnectionHandler`, one for all its
/// calls) or one standard gRPC call (`GRPCCallSink`). Loop-bound: used only on the box's event loop.
protocol CallStreamTarget: AnyObject {
    /// Ends a call with its answer; a second answer (after a deadline fired) is dropped.
    func finish(callID: UInt64, response: CallResponse)
    /// Registers a server stream for `callID` (already in flight); false when the call is gone.
    func attachStream(callID: UInt64, _ stream: StreamCall) -> Bool
    /// One message of a server stream; false when the call is gone.
    @discardableResult
    func streamFrame(callID: UInt64, payload: [UInt8]) -> Bool
    /// The largest message this call may send (stream messages are cut to fit).
    var frameBytesMax: Int { get }
    /// Whether more stream messages may be sent now (flow control); `StreamCall.writable()` follows when not.
    var isWritable: Bool { get }
}

/// Sends a call's answers. Thread-safe: any thread may answer; delivery hops to the target's
/// event loop through that loop's ReplyBatcher, which coalesces wake-ups and flushes.
public struct CallResponder: Sendable {
    let callID: UInt64
    let connection: ConnectionBox
    let batcher: ReplyBatcher

    /// The single answer of a unary call (ignored if the call already ended, e.g. by deadline).
    public func respond(_ response: CallResponse) {
        let connection = self.connection, callID = self.callID
        batcher.enqueue { connection.finish(callID: callID, response: response) }
    }

    /// Builds the answer on the event loop (keeps serialization off the writer thread).
    public func respond(lazy build: @escaping @Sendable () -> CallResponse) {
        let connection = self.connection, callID = self.callID
        batcher.enqueue { connection.finish(callID: callID, response: build()) }
    }

    public func respond(_ result: Result<any SwiftProtobuf.Message & Sendable, Error>) {
        switch result {
        case .success(let message): respond(.message(message))
        case .failure(let error): respond(.from(error))
        }
    }

    /// The connection or gRPC call, for server streams (loop-bound).
    var connectionBox: ConnectionBox { connection }
}

/// A weak, loop-bound reference to where a call's answers go: a frames connection's handler, or
/// one gRPC call. The frames handler is held by its concrete type, so the frames path makes no
/// dynamic call.
final class ConnectionBox: @unchecked Sendable {
    let eventLoop: any EventLoop
    private weak var handler: ConnectionHandler?
    private weak var grpcCall: GRPCCallSink?

    init(_ handler: ConnectionHandler, eventLoop: any EventLoop) {
        self.handler = handler
        self.eventLoop = eventLoop
    }

    init(_ call: GRPCCallSink, eventLoop: any EventLoop) {
        grpcCall = call
        self.eventLoop = eventLoop
    }

    /// Only on the event loop.
    var value: (any CallStreamTarget)? {
        eventLoop.preconditionInEventLoop()
        if let handler { return handler }
        return grpcCall
    }

    /// The frames connection's handler, if this box holds one. Only on the event loop.
    var connectionHandler: ConnectionHandler? {
        eventLoop.preconditionInEventLoop()
        return handler
    }

    /// Ends a call with its answer. Only on the event loop.
    func finish(callID: UInt64, response: CallResponse) {
        eventLoop.preconditionInEventLoop()
        if let handler {
            handler.finish(callID: callID, response: response)
        } else {
            grpcCall?.finish(callID: callID, response: response)
        }
    }
}

/// Per event loop: collects answers from other threads and runs them in one task, then flushes
/// each connection once. One writer batch of 1000 answers costs one wake-up, not 1000.
public final class ReplyBatcher: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let pending = Mutex<(items: [@Sendable () -> Void], scheduled: Bool)>(([], false))
    // Confined to `eventLoop` (touched only by drain and by handlers running on it).
    private var toFlush: [ConnectionHandler] = []
    private var draining = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ item: @escaping @Sendable () -> Void) {
        let schedule = pending.withLock { state -> Bool in
            state.items.append(item)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule { eventLoop.execute { self.drain() } }
    }

    /// On the loop: a connection wrote without flushing. Inside a drain the flush waits for the
    /// drain's end (one flush per connection per drain); elsewhere (timers) it happens now.
    func needsFlush(_ handler: ConnectionHandler) {
        eventLoop.assertInEventLoop()
        guard draining else {
            handler.flushNow()
            return
        }
        if !handler.queuedForFlush {
            handler.queuedForFlush = true
            toFlush.append(handler)
        }
    }

    private func drain() {
        let items = pending.withLock { state -> [@Sendable () -> Void] in
            state.scheduled = false
            defer { state.items.removeAll(keepingCapacity: true) }
            return state.items
        }
        draining = true
        for item in items { item() }
        draining = false
        let handlers = toFlush
        toFlush.removeAll(keepingCapacity: true)
        for handler in handlers {
            handler.queuedForFlush = false
            handler.flushNow()
        }
    }
}

/// One request, parsed from its envelope.
public struct Call: Sendable {
    /// The server's key of this call on its connection: never reused there (the client's call id
    /// may be, once a call ends), so a late answer cannot reach a newer call. Answers and streams
    /// name the call by it.
    public let callID: UInt64
    public let method: String
    public let payload: [UInt8]
    /// Who calls: proven by a credential before the call was dispatched.
    public let caller: Caller
    /// Uptime nanoseconds after which nobody waits for the answer (.max = no deadline).
    public let deadlineUptimeNanoseconds: UInt64
    public let responder: CallResponder

    /// "CaptureOrder" for "/waybill.v1.OrderService/CaptureOrder": the writer's job kind.
    var methodName: String {
        guard let slash = method.lastIndex(of: "/") else { return method }
        return String(method[method.index(after: slash)...])
    }

    /// Parses the payload as `M`, or answers INVALID_ARGUMENT and returns nil.
    func parse<M: SwiftProtobuf.Message>(_ type: M.Type) -> M? {
        do {
            return try M(serializedBytes: payload)
        } catch {
            responder.respond(.failure(WaybillStatusError(.invalidArgument, "\(M.protoMessageName) payload does not parse: \(error)")))
            return nil
        }
    }
}

/// Monotonic nanoseconds (deadlines and latency; never the wall clock).
func uptimeNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
