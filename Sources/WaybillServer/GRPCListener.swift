// The standard gRPC listener beside the frames: HTTP/2 (plaintext, or TLS with the frames' port
// certificate) on its own port, on the server's event loops, with the frames' limits (docs/GRPC.md).

import Dispatch
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WaybillProto
import WaybillTLS
import WaybillWire

final class GRPCListener: Sendable {
    let port: Int
    let service: WaybillGRPCService
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let serving: Task<Void, Never>
    private let stopped: DrainCompletion

    private init(port: Int, service: WaybillGRPCService, server: GRPCServer<HTTP2ServerTransport.Posix>, serving: Task<Void, Never>,
                 stopped: DrainCompletion) {
        self.port = port
        self.service = service
        self.server = server
        self.serving = serving
        self.stopped = stopped
    }

    /// The transport's settings from the frames' limits: message size ≤ 2 × frameBytesMax, concurrent
    /// streams per connection = callsInFlightPerConnectionMax, idle connections closed after
    /// idleTimeoutMilliseconds, and connections counted with the frames' against connectionsMax.
    static func transportConfig(_ limits: TransportLimits, registry: ConnectionRegistry, metrics: ServerMetrics)
        -> HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        // The service refuses a message over frameBytesMax with the frames' status and details;
        // the transport resets a stream whose message exceeds twice that without reading it.
        config.rpc.maxRequestPayloadSize = limits.frameBytesMax * 2
        config.http2.maxConcurrentStreams = limits.callsInFlightPerConnectionMax
        config.connection.maxIdleTime = .milliseconds(limits.idleTimeoutMilliseconds)
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            guard registry.peers.admit(channel) else {
                metrics.rejected(reason: "connections_per_peer")
                return channel.close().flatMapThrowing { throw GRPCConnectionRefused() }
            }
            guard registry.add(channel, max: limits.connectionsMax) else {
                metrics.rejected(reason: "connections")
                return channel.close().flatMapThrowing { throw GRPCConnectionRefused() }
            }
            metrics.connectionsChanged(registry.count)
            channel.closeFuture.whenComplete { _ in
                registry.remove(channel)
                metrics.connectionsChanged(registry.count)
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        return config
    }

    /// TLS from the server's holder: each handshake asks it for the current certificate and key
    /// (reloads reach gRPC too); the client CA bundle of mutual TLS is the one read at start
    /// (grpc-swift-nio-transport builds its context once: a new client CA needs a restart).
    /// ALPN h2 / grpc-exp, TLS 1.2 minimum (the transport's settings).
    static func transportSecurity(_ tls: ServerTLSContextHolder?) -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let tls else { return .plaintext }
        let pem = tls.startingPEM
        var settings = HTTP2ServerTransport.Posix.TransportSecurity.TLS.defaults(
            certificateChain: [.bytes(pem.certificateChain, format: .pem)], privateKey: .bytes(pem.privateKey, format: .pem))
        settings.certificateReloader = tls
        if let authorities = pem.clientCertificateAuthorities {
            settings.clientCertificateVerification = .noHostnameVerification
            settings.trustRoots = .certificates([.bytes(authorities, format: .pem)])
        }
        return .tls(settings)
    }

    static func start(host: String, port: Int, service: WaybillGRPCService, group: MultiThreadedEventLoopGroup, tls: ServerTLSContextHolder?,
                      limits: TransportLimits, registry: ConnectionRegistry, metrics: ServerMetrics, logger: Logger) async throws -> GRPCListener {
        let address: GRPCNIOTransportCore.SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        let transport = HTTP2ServerTransport.Posix(address: address, transportSecurity: transportSecurity(tls),
                                                   config: transportConfig(limits, registry: registry, metrics: metrics),
                                                   eventLoopGroup: group)
        let server = GRPCServer(transport: transport, services: [service])
        let stopped = DrainCompletion()
        let serving = Task {
            do {
                try await server.serve()
            } catch {
                logger.error("gRPC listener failed", metadata: ["error": "\(error)"])
            }
            stopped.set()
        }
        do {
            let listening = try await transport.listeningAddress
            guard let bound = listening.ipv4?.port ?? listening.ipv6?.port else {
                throw GRPCListenerError(message: "the gRPC listener on \(host):\(port) bound no IP address")
            }
            return GRPCListener(port: bound, service: service, server: server, serving: serving, stopped: stopped)
        } catch {
            server.beginGracefulShutdown()
            await serving.value
            throw error
        }
    }

    /// Streams end UNAVAILABLE (retry_after_ms), new connections and streams are refused
    /// (GOAWAY), calls in flight are answered.
    func beginShutdown() {
        service.endStreams()
        server.beginGracefulShutdown()
    }

    /// Waits until every gRPC connection closed, or `deadline` (uptime nanoseconds): false.
    func drain(until deadline: UInt64) async -> Bool {
        while !stopped.isSet {
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return true
    }

    /// After the connections were closed: the serving task ends (bounded: it is only waited for a while).
    func awaitStopped(within nanoseconds: UInt64) async {
        let deadline = DispatchTime.now().uptimeNanoseconds + nanoseconds
        _ = await drain(until: deadline)
    }
}

struct GRPCConnectionRefused: Error, CustomStringConvertible {
    var description: String { "connectionsMax reached: gRPC connection closed" }
}

struct GRPCListenerError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
