// The admin HTTP listener (its own port, loopback by default): what operators' tools scrape.
//   GET /metrics  Prometheus text exposition of the registry the server fills
//   GET /healthz  200 while the process serves
//   GET /readyz   200 when the writer runs, its last commit succeeded and the server is not
//                 draining; 503 with the reason otherwise (load balancers stop sending writes)
// SwiftNIO's HTTP/1 codec parses; each connection gets one answer and is closed, so nothing per
// connection outlives a request, `adminConnectionsMax` bounds how many are open at once and a
// connection that sends no complete request within `adminIdleTimeoutMilliseconds` is closed.
// At shutdown the listener drains last (/readyz answers 503 while the protocol listener drains):
// ServerQuiescingHelper stops accepting and closes each connection once its answer is sent.

import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import Synchronization

/// Why the server is not ready, or nil when it is.
public typealias ReadinessCheck = @Sendable () -> String?

final class AdminListener: Sendable {
    let channel: any Channel
    /// Released before the event loops stop (its deinit completes a promise on one of them).
    private let quiescing: Mutex<ServerQuiescingHelper?>
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(host: String, port: Int, group: any EventLoopGroup, connectionsMax: Int, idleTimeoutMilliseconds: Int64,
                      metricsText: @escaping @Sendable () -> String, readiness: @escaping ReadinessCheck) async throws -> AdminListener {
        let open = Mutex(0)
        let quiescing = ServerQuiescingHelper(group: group)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelInitializer { channel in
                let admitted = open.withLock { count -> Bool in
                    guard count < connectionsMax else { return false }
                    count += 1
                    return true
                }
                guard admitted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in open.withLock { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .milliseconds(idleTimeoutMilliseconds)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(metricsText: metricsText, readiness: readiness))
                }
            }
            .bind(host: host, port: port).get()
        return AdminListener(channel: channel, quiescing: quiescing)
    }

    private init(channel: any Channel, quiescing: ServerQuiescingHelper) {
        self.channel = channel
        self.quiescing = Mutex(quiescing)
    }

    /// Stops accepting and waits until the open connections got their answers and closed, or
    /// until `deadline` (uptime nanoseconds); the event loops' shutdown closes what is left.
    func drain(until deadline: UInt64) async {
        guard let helper = quiescing.withLock({ $0 }) else { return }
        _ = await drainListener(helper, on: channel.eventLoop, until: deadline)
    }

    func releaseQuiescing() { quiescing.withLock { $0 = nil } }
}

/// Answers one request per connection from the routes above.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metricsText: @Sendable () -> String
    private let readiness: ReadinessCheck
    private var head: HTTPRequestHead?

    init(metricsText: @escaping @Sendable () -> String, readiness: @escaping ReadinessCheck) {
        self.metricsText = metricsText
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break  // no route takes a body; it is not buffered
        case .end:
            guard let request = head else { return }
            head = nil
            let (status, contentType, body) = answer(request)
            respond(context, status: status, contentType: contentType, body: request.method == .HEAD ? "" : body,
                    length: body.utf8.count)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else if event is ChannelShouldQuiesceEvent {
            // A request being received still gets its answer (which closes the connection).
            if head == nil { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func answer(_ request: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "only GET and HEAD\n")
        }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        switch path {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", metricsText())
        case "/healthz":
            return (.ok, "text/plain; charset=utf-8", "ok\n")
        case "/readyz":
            if let reason = readiness() { return (.serviceUnavailable, "text/plain; charset=utf-8", "not ready: \(reason)\n") }
            return (.ok, "text/plain; charset=utf-8", "ready\n")
        default:
            return (.notFound, "text/plain; charset=utf-8", "not found: GET /metrics, /healthz or /readyz\n")
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: String, length: Int) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(length))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
