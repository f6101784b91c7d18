// A raw-bytes gRPC client for Waybill's own tools (bench, tests): it sends the same serialized
// requests the frames client sends, by method name, and reads Waybill statuses back from gRPC's.

import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOPosix
import SwiftProtobuf
import WaybillProto

public final class WaybillGRPCClient: Sendable {
    public let clientID: String
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, Never>

    /// Connects lazily to host:port over plaintext HTTP/2; `close()` ends it.
    public init(host: String, port: Int, clientID: String = "waybill-grpc", messageBytesMax: Int = 4 * 1024 * 1024,
                eventLoopGroup: MultiThreadedEventLoopGroup = .singletonMultiThreadedEventLoopGroup) throws {
        let config = HTTP2ClientTransport.Posix.Config.defaults
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: host, port: port), transportSecurity: .plaintext,
                                                      config: config, serviceConfig: ServiceConfig(), eventLoopGroup: eventLoopGroup)
        let client = GRPCClient(transport: transport)
        self.client = client
        self.clientID = clientID
        self.messageBytesMax = messageBytesMax
        connections = Task { try? await client.runConnections() }
    }

    private let messageBytesMax: Int

    private func options(timeoutMilliseconds: Int64?) -> CallOptions {
        var options = CallOptions.defaults
        if let timeoutMilliseconds { options.timeout = .milliseconds(timeoutMilliseconds) }
        options.maxResponseMessageBytes = messageBytesMax
        options.maxRequestMessageBytes = messageBytesMax
        return options
    }

    private func request(_ payload: [UInt8]) -> ClientRequest<[UInt8]> {
        var metadata = Metadata()
        metadata.addString(clientID, forKey: WaybillGRPCMetadata.clientID)
        return ClientRequest(message: payload, metadata: metadata)
    }

    /// One unary call: the response's bytes, or a thrown `WaybillStatusError`.
    public func call(_ method: String, _ payload: [UInt8], timeoutMilliseconds: Int64? = nil) async throws -> [UInt8] {
        guard let descriptor = MethodDescriptor(waybillMethod: method) else {
            throw WaybillStatusError(.invalidArgument, "not a method name: \(method)")
        }
        do {
            return try await client.unary(request: request(payload), descriptor: descriptor, serializer: GRPCBytesSerializer(),
                                          deserializer: GRPCBytesDeserializer(), options: options(timeoutMilliseconds: timeoutMilliseconds)) {
                try $0.message
            }
        } catch let error as RPCError {
            throw WaybillStatusError(error)
        }
    }

    /// A typed unary call.
    public func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, as: Response.Type, timeoutMilliseconds: Int64? = nil) async throws -> Response {
        let bytes = try await call(method, try request.serializedBytes(), timeoutMilliseconds: timeoutMilliseconds)
        return try Response(serializedBytes: bytes)
    }

    /// A server-streaming call: `onMessage` sees each message and returns false to stop reading
    /// (the call is then cancelled). Throws the stream's failure as a `WaybillStatusError`.
    public func stream(_ method: String, _ payload: [UInt8], timeoutMilliseconds: Int64? = nil,
                       onMessage: @escaping @Sendable ([UInt8]) async throws -> Bool) async throws {
        guard let descriptor = MethodDescriptor(waybillMethod: method) else {
            throw WaybillStatusError(.invalidArgument, "not a method name: \(method)")
        }
        do {
            try await client.serverStreaming(request: request(payload), descriptor: descriptor, serializer: GRPCBytesSerializer(),
                                             deserializer: GRPCBytesDeserializer(),
                                             options: options(timeoutMilliseconds: timeoutMilliseconds)) { response in
                for try await message in response.messages {
                    if try await !onMessage(message) { return }
                }
            }
        } catch let error as RPCError {
            throw WaybillStatusError(error)
        }
    }

    /// Ends the connections once calls in flight finish.
    public func close() async {
        client.beginGracefulShutdown()
        await connections.value
    }
}
