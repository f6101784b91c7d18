// Calls made inside the process (the operator console): the same dispatch, authorization, scope,
// limits, idempotency, metrics and deadlines as a call over the frames or gRPC, without a socket.
// The console signs its user in with a credential token and then calls as that credential, so a
// page can never show or do more than the same credential could over the protocol.

import NIOCore
import SwiftProtobuf
import WaybillApplication
import WaybillProto
import WaybillWire

extension WaybillServer {
    /// The credential a bearer token proves, as a protocol call would be authenticated (the same
    /// throttle per `peer` after failures, the same log line naming the reason, never the token).
    /// A server that does not require authentication (`--insecure-no-auth` measurement runs) proves
    /// nobody: a console on it would make every visitor an administrator.
    public func authenticate(token: String, peer: String) -> Result<Caller, WaybillStatusError> {
        guard configuration.authenticationRequired else {
            return .failure(WaybillStatusError(.unauthenticated, "this server does not authenticate callers; the console needs credentials"))
        }
        var memo = TokenMemo()
        return services.authenticate(authorization: "Bearer " + token, certificateSubject: nil, peer: peer, memo: &memo)
    }

    /// One unary call as `caller`: the answer's bytes, or its status.
    public func callInProcess(_ method: String, bytes payload: [UInt8], as caller: Caller,
                              timeoutMilliseconds: Int64 = 30_000) async -> Result<[UInt8], WaybillStatusError> {
        guard let rpc = Method.byPath[method], !rpc.serverStreaming else {
            return .failure(WaybillStatusError(.unimplemented, "\(method) is not a unary method of this server"))
        }
        if draining.isSet { return .failure(ConnectionHandler.shuttingDown(configuration)) }
        let loop = group.next()
        guard let batcher = loopBatchers[ObjectIdentifier(loop)] else {
            return .failure(WaybillStatusError(.internal, "no reply batcher for an event loop"))
        }
        let (items, output) = AsyncStream<GRPCCallSink.Item>.makeStream()
        let sink = GRPCCallSink(method: method, eventLoop: loop, limits: services.transport, metrics: services.metrics, output: output) { _ in }
        let services = self.services
        loop.execute {
            let deadline = sink.start(timeoutMilliseconds: timeoutMilliseconds)
            let call = Call(callID: 1, method: method, payload: payload, caller: caller, deadlineUptimeNanoseconds: deadline,
                            responder: CallResponder(callID: 1, connection: sink.box, batcher: batcher))
            services.dispatch(call, stream: sink)
        }
        let outcome = await WaybillGRPCService.unaryOutcome(items)
        withExtendedLifetime(sink) {}  // the box holds it weakly until the answer came
        return outcome
    }

    /// A typed in-process call: the decoded answer, or the status thrown.
    public func callInProcess<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, as caller: Caller, answer: Response.Type = Response.self,
        timeoutMilliseconds: Int64 = 30_000) async throws -> Response {
        let payload: [UInt8] = try request.serializedBytes()
        switch await callInProcess(method, bytes: payload, as: caller, timeoutMilliseconds: timeoutMilliseconds) {
        case .success(let bytes): return try Response(serializedBytes: bytes)
        case .failure(let error): throw error
        }
    }
}
