// A raw-bytes gRPC client for Waybill's own tools (bench, tests): it sends the same serialized
// requests the frames client sends, by method name, and reads Waybill statuses back from gRPC's.

import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOPosix
import SwiftProtobuf
import WaybillProto
import WaybillTLS

public final class WaybillGRPCClient: Sendable {
    public let clientID: String
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, Never>

    /// Connects lazily to host:port over HTTP/2, plaintext or (with `tls`) TLS with the server's
    /// certificate verified; `token` is sent as `authorization: Bearer TOKEN` on every call;
    /// `close()` ends it.
    public init(host: String, port: Int, clientID: String = "waybill-grpc", token: String? = nil, tls: ClientTLSConfiguration? = nil,
                messageBytesMax: Int = 4 * 1024 * 1024,
                eventLoopGroup: MultiThreadedEventLoopGroup = .singletonMultiThreadedEventLoopGroup) throws {
        var config = HTTP2ClientTransport.Posix.Config.defaults
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if let tls {
            security = try Self.transportSecurity(tls)
            // The name to verify and send as SNI (an IP address target is checked against the
            // certificate's IP addresses when no name is given).
            if let serverName = tls.serverName { config.http2.authority = serverName }
        } else {
            security = .plaintext
        }
        let target: any ResolvableTarget
        if host.contains(":") {
            target = ResolvableTargets.IPv6.ipv6(address: host, port: port)
        } else if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            target = ResolvableTargets.IPv4.ipv4(address: host, port: port)
        } else {
            target = ResolvableTargets.DNS.dns(host: host, port: port)
        }
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security,
                                                      config: config, serviceConfig: ServiceConfig(), eventLoopGroup: eventLoopGroup)
        let client = GRPCClient(transport: transport)
        self.client = client
        self.clientID = clientID
        self.token = token
        self.messageBytesMax = messageBytesMax
        connections = Task { try? await client.runConnections() }
    }

    private let messageBytesMax: Int
    private let token: String?

    /// grpc-swift's TLS settings from Waybill's: the same trust roots, client certificate and key
    /// files (checked the same way: a key readable by others is refused), verification on.
    static func transportSecurity(_ tls: ClientTLSConfiguration) throws -> HTTP2ClientTransport.Posix.TransportSecurity {
        _ = try tls.tlsConfiguration()  // the files' checks, with errors that name them
        return .tls { settings in
            switch tls.trustRoots {
            case .system: settings.trustRoots = .systemDefault
            case .certificateAuthorityFile(let path): settings.trustRoots = .certificates([.file(path: path, format: .pem)])
            }
            if let chain = tls.certificateChainPath, let key = tls.privateKeyPath {
                settings.certificateChain = [.file(path: chain, format: .pem)]
                settings.privateKey = .file(path: key, format: .pem)
            }
            settings.serverCertificateVerification = .fullVerification
        }
    }

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
        if let token { metadata.addString("Bearer " + token, forKey: "authorization") }
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
