// Every method of the dispatch table served as standard gRPC: one RegistrableRPCService whose
// handlers pass the request's bytes to the same `Services.dispatch` the frames use and send back
// the same answer bytes (pass-through serializers: nothing is decoded twice).

import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WaybillApplication
import WaybillGRPC
import WaybillProto
import WaybillTLS
import WaybillWire

/// The methods answered by a server stream (the generated method table says which); every other is unary.
final class WaybillGRPCService: RegistrableRPCService {
    private let services: Services
    private let group: MultiThreadedEventLoopGroup
    private let batchers: [ObjectIdentifier: ReplyBatcher]
    private let draining: DrainingFlag
    /// Calls in flight, for shutdown (streams end UNAVAILABLE with retry_after_ms, as over frames).
    private let calls = Mutex<[ObjectIdentifier: GRPCCallSink]>([:])

    init(services: Services, group: MultiThreadedEventLoopGroup, batchers: [ObjectIdentifier: ReplyBatcher], draining: DrainingFlag) {
        self.services = services
        self.group = group
        self.batchers = batchers
        self.draining = draining
    }

    var callsInFlight: Int { calls.withLock { $0.count } }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        // Every RPC of the generated method table (the same table the frames dispatch through).
        for rpc in Method.all {
            guard let descriptor = MethodDescriptor(waybillMethod: rpc.path) else { continue }
            router.registerHandler(forMethod: descriptor, deserializer: GRPCBytesDeserializer(), serializer: GRPCBytesSerializer()) {
                [self] request, context in
                // Under mutual TLS, the transport hands over the verified client certificate.
                let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
                return try await handle(method: rpc.path, streaming: rpc.serverStreaming, request: request,
                                 peer: PeerAddress.key(ipAddress: Self.address(ofPeer: context.remotePeer)),
                                 certificateSubject: certificate.flatMap(TLSPeerIdentity.commonName(of:)))
            }
        }
    }

    /// Graceful shutdown: every stream ends with the frames' UNAVAILABLE and retry_after_ms.
    func endStreams() {
        let streams = calls.withLock { Array($0.values) }.filter { Method.byPath[$0.method]?.serverStreaming == true }
        var shuttingDown = ConnectionHandler.shuttingDown(services.configuration)
        shuttingDown.message = "server is shutting down; resubscribe elsewhere or later"
        let error = shuttingDown
        for sink in streams {
            sink.eventLoop.execute { sink.finish(callID: 0, response: .failure(error)) }
        }
    }

    /// "127.0.0.1" from grpc-swift's "ipv4:127.0.0.1:50123" (IPv6: "ipv6:[::1]:50123").
    static func address(ofPeer peer: String) -> String {
        var rest = Substring(peer)
        if let colon = rest.firstIndex(of: ":"), rest[..<colon].hasPrefix("ipv") { rest = rest[rest.index(after: colon)...] }
        if rest.hasPrefix("["), let end = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<end]) }
        if let colon = rest.lastIndex(of: ":") { return String(rest[..<colon]) }
        return String(rest)
    }

    private func handle(method: String, streaming: Bool, request: StreamingServerRequest<[UInt8]>, peer: String,
                        certificateSubject: String?) async throws
        -> StreamingServerResponse<[UInt8]> {
        let payload: [UInt8]
        switch try await GRPCRequestMessage.read(request.messages, method: method,
                                                 timeoutMilliseconds: services.transport.frameCompletionTimeoutMilliseconds) {
        case .success(let message): payload = message
        case .failure(let error): return StreamingServerResponse(error: error.rpcError)
        }
        let frameBytesMax = services.transport.frameBytesMax
        if payload.count > frameBytesMax {
            services.metrics.rejected(reason: "bad_frame")
            return StreamingServerResponse(error: WaybillStatusError.limit(
                .resourceExhausted, name: "frameBytesMax", value: frameBytesMax,
                "the request message (\(payload.count) bytes) exceeds the frame limit").rpcError)
        }
        if draining.isSet {
            services.metrics.rejected(reason: "shutting_down")
            return StreamingServerResponse(error: ConnectionHandler.shuttingDown(services.configuration).rpcError)
        }
        if let refusal = MetadataLimits.violation(request.metadata, limits: services.transport) {
            services.metrics.rejected(reason: "metadata")
            return StreamingServerResponse(error: refusal.rpcError)
        }
        let authorization = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        var memo = TokenMemo()
        let caller: Caller
        switch services.authenticate(authorization: authorization, certificateSubject: certificateSubject, peer: peer, memo: &memo) {
        case .success(let proven): caller = proven
        case .failure(let error):
            services.metrics.completed(method: method, code: error.code, nanoseconds: 0)
            return StreamingServerResponse(error: error.rpcError)
        }
        let timeout = grpcTimeoutMilliseconds(request.metadata)
        let loop = group.next()
        let batcher = batchers[ObjectIdentifier(loop)]!
        let (items, output) = AsyncStream<GRPCCallSink.Item>.makeStream()
        let sink = GRPCCallSink(method: method, eventLoop: loop, limits: services.transport, metrics: services.metrics, output: output) {
            [weak self] sink in _ = self?.calls.withLock { $0.removeValue(forKey: ObjectIdentifier(sink)) }
        }
        calls.withLock { $0[ObjectIdentifier(sink)] = sink }
        let services = self.services
        loop.execute {
            let deadline = sink.start(timeoutMilliseconds: timeout)
            let call = Call(callID: 1, method: method, payload: payload, caller: caller, deadlineUptimeNanoseconds: deadline,
                            responder: CallResponder(callID: 1, connection: sink.box, batcher: batcher))
            services.dispatch(call, stream: sink)
        }
        if !streaming {
            let outcome = await withRPCCancellationHandler {
                await Self.unaryOutcome(items)
            } onCancelRPC: {
                sink.cancelledByClient()
            }
            // Keeps the sink alive until its answer arrived (the box holds it weakly).
            withExtendedLifetime(sink) {}
            switch outcome {
            case .success(let bytes): return StreamingServerResponse(single: ServerResponse(message: bytes))
            case .failure(let error): return StreamingServerResponse(error: error.rpcError)
            }
        }
        return StreamingServerResponse { writer in
            try await withRPCCancellationHandler {
                for await item in items {
                    switch item {
                    case .message(let bytes):
                        do {
                            try await writer.write(bytes)
                        } catch {
                            sink.cancelledByClient()  // the stream is gone: the subscription stops
                            throw error
                        }
                        sink.outputWritten(bytes: bytes.count)
                    case .end(let error):
                        if let error { throw error.rpcError }
                        return [:]
                    }
                }
                return [:]
            } onCancelRPC: {
                sink.cancelledByClient()
            }
        }
    }

    static func unaryOutcome(_ items: AsyncStream<GRPCCallSink.Item>) async -> Result<[UInt8], WaybillStatusError> {
        var message: [UInt8] = []
        for await item in items {
            switch item {
            case .message(let bytes): message = bytes
            case .end(let error): return error.map { .failure($0) } ?? .success(message)
            }
        }
        return .failure(WaybillStatusError(.internal, "the call ended without an answer"))
    }
}
