// The server: NIO listener, per-connection pipelines, the writer, the feed, and graceful
// shutdown with a bounded drain (swift-nio-extras' ServerQuiescingHelper on both listeners).
// `WaybillService` runs it inside a swift-service-lifecycle ServiceGroup (SIGTERM/SIGINT); under
// `waybill serve` the writer and the WAL checkpointer are services of the same group that stop
// after it (WriterService, WalCheckpointerService).

import Dispatch
import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillTLS
import WaybillWire

public final class WaybillServer: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger
    /// The port actually bound (differs from the configuration when it asked for 0).
    public let port: Int
    public let writer: StoreWriter
    public let reader: StoreReader
    public let database: WaybillDatabase
    private let serverChannel: any NIOCore.Channel
    /// Stops accepting and tells every open connection to finish its calls and close. Released
    /// before the event loops stop (its deinit completes a promise on one of them).
    private let quiescing: Mutex<ServerQuiescingHelper?>
    /// Whether shutdown also stops the writer, closes the database and stops the event loops
    /// (`start(configuration:logger:)`), or leaves them to the caller's services
    /// (`start(configuration:logger:storage:eventLoops:)`): the event loops must outlive the
    /// writer, whose last jobs still answer on them.
    private let ownsStorage: Bool
    let services: Services
    /// One per event loop: how answers made on other threads reach that loop (in-process calls use them too).
    let loopBatchers: [ObjectIdentifier: ReplyBatcher]
    private let registry: ConnectionRegistry
    private let pruning: Mutex<RepeatedTask?>
    private let cartSweeping: Mutex<RepeatedTask?>
    /// Retention in writer slices; its rounds run on `pruneIntervalMilliseconds`.
    let pruner: FeedPruner
    let draining: DrainingFlag
    let group: MultiThreadedEventLoopGroup
    private let admin: AdminListener?
    /// The admin listener's port, if it runs.
    public var adminPort: Int? { admin?.port }
    /// Released once drained, before the event loops stop (its transport's quiescing helper
    /// completes a promise on one of them when it goes).
    private let grpc: Mutex<GRPCListener?>
    /// The standard gRPC listener's port, if it runs (docs/GRPC.md).
    public let grpcPort: Int?
    /// Both listeners' TLS (nil = plaintext): reloaded on file change and SIGHUP (docs/SECURITY.md).
    public let tls: ServerTLSContextHolder?

    /// Opens the database, rebuilds state, starts the writer and the WAL checkpointer and listens;
    /// `shutdown()` stops them all.
    public static func start(configuration: ServerConfiguration, logger: Logger) async throws -> WaybillServer {
        let storage = try await ServerStorage.open(configuration: configuration, logger: logger, startsCheckpointer: true)
        do {
            return try await start(configuration: configuration, logger: logger, storage: storage, ownsStorage: true)
        } catch {
            _ = try? await offPool { storage.stopAndClose(logger: logger) }
            throw error
        }
    }

    /// Listens on storage and event loops the caller runs and stops (services ordered after this
    /// server: they stop after it): `shutdown()` drains the listeners and leaves them running.
    public static func start(configuration: ServerConfiguration, logger: Logger, storage: ServerStorage,
                             eventLoops: MultiThreadedEventLoopGroup) async throws -> WaybillServer {
        try await WaybillServer(configuration: configuration, logger: logger, storage: storage, ownsStorage: false, group: eventLoops)
    }

    private static func start(configuration: ServerConfiguration, logger: Logger, storage: ServerStorage,
                              ownsStorage: Bool) async throws -> WaybillServer {
        let group = makeEventLoops(configuration)
        do {
            return try await WaybillServer(configuration: configuration, logger: logger, storage: storage, ownsStorage: ownsStorage,
                                           group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// The NIO event loops a configuration asks for (`eventLoopThreads`, 0 = one per core).
    public static func makeEventLoops(_ configuration: ServerConfiguration) -> MultiThreadedEventLoopGroup {
        MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads > 0 ? configuration.eventLoopThreads : System.coreCount)
    }

    private init(configuration: ServerConfiguration, logger: Logger, storage: ServerStorage, ownsStorage: Bool,
                 group: MultiThreadedEventLoopGroup) async throws {
        self.configuration = configuration
        self.logger = logger
        let database = storage.database, writer = storage.writer, feedHead = storage.feedHead
        let reader = StoreReader(database: database)
        self.database = database
        self.writer = writer
        self.reader = reader
        self.ownsStorage = ownsStorage
        self.group = group
        let metrics = ServerMetrics()
        let registry = ConnectionRegistry(connectionsPerPeerMax: configuration.transport.connectionsPerPeerMax)
        self.registry = registry
        let feed = ChangeFeedHub(head: feedHead, memoryEventsMax: configuration.feedMemoryEventsMax, reader: reader)
        writer.setObserver(CommitObserver { events in feed.publish(events) })
        let portBox = Mutex(0)
        let draining = DrainingFlag()
        self.draining = draining
        // Every credential, from the store (seeds installed, first start done, kept current).
        let credentials = storage.credentials
        let services = Services(configuration: configuration, writer: writer, reader: reader, feed: feed, logger: logger,
                                metrics: metrics, credentials: credentials, connectionCount: { registry.count }, boundPort: { portBox.withLock { $0 } })
        self.services = services
        var batchers: [ObjectIdentifier: ReplyBatcher] = [:]
        for loop in group.makeIterator() { batchers[ObjectIdentifier(loop)] = ReplyBatcher(eventLoop: loop) }
        let loopBatchers = batchers
        self.loopBatchers = batchers
        let transport = configuration.transport
        let tls = try configuration.tls.map { try ServerTLSContextHolder(configuration: $0, logger: logger) }
        self.tls = tls
        let quiescing = ServerQuiescingHelper(group: group)
        self.quiescing = Mutex(quiescing)

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls { try FramesTLS.addHandlers(to: channel, holder: tls, logger: logger) }
                    guard registry.peers.admit(channel) else {
                        metrics.rejected(reason: "connections_per_peer")
                        try operations.addHandler(RejectConnectionHandler(error: registry.peers.refusal))
                        return
                    }
                    guard registry.add(channel, max: transport.connectionsMax) else {
                        metrics.rejected(reason: "connections")
                        try operations.addHandler(RejectConnectionHandler(error: WaybillStatusError.limit(
                            .resourceExhausted, name: "connectionsMax", value: transport.connectionsMax, "too many connections")))
                        return
                    }
                    metrics.connectionsChanged(registry.count)
                    let handler = ConnectionHandler(services: services, limits: transport,
                                                    batcher: loopBatchers[ObjectIdentifier(channel.eventLoop)]!,
                                                    logger: logger, metrics: metrics)
                    registry.attach(channel, handler)
                    channel.closeFuture.whenComplete { _ in
                        registry.remove(channel)
                        metrics.connectionsChanged(registry.count)
                    }
                    try operations.addHandler(IdleStateHandler(readTimeout: .milliseconds(transport.idleTimeoutMilliseconds)))
                    try operations.addHandler(FrameCompletionTimeout(limits: transport, metrics: metrics))
                    try operations.addHandler(ByteToMessageHandler(FrameDecoder(frameBytesMax: transport.frameBytesMax)))
                    try operations.addHandler(handler)
                }
            }
        try ExposurePolicy.check(configuration, activeCredentials: credentials.records.filter { $0.revokedAt == nil }.count, logger: logger)
        serverChannel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        let boundPort = serverChannel.localAddress?.port ?? configuration.port
        port = boundPort
        portBox.withLock { $0 = boundPort }
        if let adminPort = configuration.adminPort {
            let readiness: ReadinessCheck = {
                if draining.isSet { return "draining (shutting down)" }
                if !writer.isHealthy { return "the writer cannot commit (see waybill_writer_failed_batches_total and the log)" }
                if let problem = database.walCheckpointerProblem {
                    return "the WAL checkpointer \(problem) (see waybill_wal_checkpoint_failures_total and the log)"
                }
                return nil
            }
            do {
                admin = try await AdminListener.start(host: configuration.adminHost, port: adminPort, group: group,
                                                      connectionsMax: configuration.adminConnectionsMax,
                                                      idleTimeoutMilliseconds: configuration.adminIdleTimeoutMilliseconds,
                                                      metricsText: configuration.metricsText, readiness: readiness)
            } catch {
                try? await serverChannel.close()
                throw error
            }
        } else {
            admin = nil
        }
        if let grpcPort = configuration.grpcPort {
            let service = WaybillGRPCService(services: services, group: group, batchers: loopBatchers, draining: draining)
            do {
                let listener = try await GRPCListener.start(host: configuration.grpcHost, port: grpcPort, service: service, group: group, tls: tls,
                                                            limits: transport, registry: registry, metrics: metrics, logger: logger)
                grpc = Mutex(listener)
                self.grpcPort = listener.port
            } catch {
                if let admin {
                    await admin.drain(until: DispatchTime.now().uptimeNanoseconds)
                    admin.releaseQuiescing()
                }
                try? await serverChannel.close()
                throw error
            }
        } else {
            grpc = Mutex(nil)
            self.grpcPort = nil
        }
        let pruner = FeedPruner(writer: writer, configuration: configuration, logger: logger)
        self.pruner = pruner
        let pruneEvery = TimeAmount.milliseconds(configuration.pruneIntervalMilliseconds)
        pruning = Mutex(group.next().scheduleRepeatedTask(initialDelay: pruneEvery, delay: pruneEvery) { _ in
            pruner.runRound()
        })
        let cartEvery = TimeAmount.milliseconds(configuration.cartExpirySweepIntervalMilliseconds)
        let cartExpiry = services.cartExpiry
        cartSweeping = Mutex(group.next().scheduleRepeatedTask(initialDelay: cartEvery, delay: cartEvery) { _ in
            cartExpiry.tick()
        })
        tls?.startWatching()
        logger.info("waybill listening", metadata: ["address": "\(configuration.host):\(port)", "database": "\(configuration.databasePath)"])
        if let grpcPort {
            logger.info("gRPC listening", metadata: ["address": "\(configuration.grpcHost):\(grpcPort)"])
        }
        if let admin {
            logger.info("admin listening", metadata: ["address": "\(configuration.adminHost):\(admin.port)", "routes": "/metrics /healthz /readyz"])
        }
    }

    public var connectionCount: Int { registry.count }
    /// Back-pressure figures of the connections (answer bytes waiting, connections not read).
    public var outboundStatistics: ConnectionOutboundStatistics { services.outbound }

    /// Graceful shutdown, in order: /readyz answers 503 at once; the protocol listener stops
    /// accepting and every connection is told to quiesce (streams end UNAVAILABLE with
    /// retry_after_ms, new calls are refused the same way, calls in flight are answered, then the
    /// server ends its side of the connection); connections still open at `drainTimeoutMilliseconds`
    /// are closed; the admin listener drains the same way within the same bound; the event loops
    /// stop. A server that owns its storage then stops the writer (its queued jobs run and commit
    /// first), the WAL checkpointer, and closes the database with a complete checkpoint.
    public func shutdown() async {
        guard draining.set() else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(configuration.drainTimeoutMilliseconds) * 1_000_000
        logger.info("shutting down: /readyz answers 503, no new connections, draining calls in flight",
                    metadata: ["drainTimeoutMilliseconds": "\(configuration.drainTimeoutMilliseconds)"])
        pruning.withLock { $0?.cancel() }
        cartSweeping.withLock { $0?.cancel() }
        tls?.stop()
        grpc.withLock { $0 }?.beginShutdown()
        if await drainProtocolListener(until: deadline) {
            logger.info("protocol listener drained", metadata: ["elapsed_ms": "\(elapsedMilliseconds(since: started))"])
        } else {
            let open = registry.count, calls = await registry.callsInFlight()
            logger.warning("drain bound reached: closing the connections still open",
                           metadata: ["drainTimeoutMilliseconds": "\(configuration.drainTimeoutMilliseconds)",
                                      "connections": "\(open)", "calls_in_flight": "\(calls)"])
            await registry.closeAll()
        }
        if let grpc = grpc.withLock({ $0 }) {
            if await grpc.drain(until: deadline) {
                logger.info("gRPC listener drained", metadata: ["elapsed_ms": "\(elapsedMilliseconds(since: started))"])
            } else {
                logger.warning("drain bound reached: closing the gRPC connections still open",
                               metadata: ["calls_in_flight": "\(grpc.service.callsInFlight)"])
                await registry.closeAll()
                await grpc.awaitStopped(within: 1_000_000_000)
            }
        }
        grpc.withLock { $0 = nil }
        if let admin { await admin.drain(until: deadline) }
        quiescing.withLock { $0 = nil }
        admin?.releaseQuiescing()
        if ownsStorage {
            let storage = ServerStorage(database: database, writer: writer, feedHead: 0), logger = self.logger
            _ = try? await offPool { storage.stopAndClose(logger: logger) }
            try? await group.shutdownGracefully()
        }
        logger.info("protocol server stopped", metadata: ["elapsed_ms": "\(elapsedMilliseconds(since: started))"])
    }
}

extension WaybillServer {
    /// Quiesces the protocol listener within the bound (a function of its own: the helper is
    /// released when it returns, before the event loops stop).
    private func drainProtocolListener(until deadline: UInt64) async -> Bool {
        guard let helper = quiescing.withLock({ $0 }) else { return false }
        return await drainListener(helper, on: serverChannel.eventLoop, until: deadline)
    }
}

/// Set once when shutdown begins: the admin listener's /readyz turns false.
final class DrainingFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag; true for the caller that set it first.
    func set() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Runs blocking work (SQLite) on a dispatch thread and awaits it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs a WaybillServer until graceful shutdown (SIGTERM/SIGINT through the ServiceGroup).
public struct WaybillService: Service {
    public let configuration: ServerConfiguration
    public let logger: Logger
    public let onStarted: @Sendable (WaybillServer) -> Void
    /// Storage and event loops run by services ordered before this one (stopped after it); nil =
    /// the server opens and stops its own.
    public let shared: (storage: ServerStorage, eventLoops: MultiThreadedEventLoopGroup)?

    public init(configuration: ServerConfiguration, logger: Logger,
                shared: (storage: ServerStorage, eventLoops: MultiThreadedEventLoopGroup)? = nil,
                onStarted: @escaping @Sendable (WaybillServer) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.shared = shared
        self.onStarted = onStarted
    }

    public func run() async throws {
        let server = if let shared {
            try await WaybillServer.start(configuration: configuration, logger: logger, storage: shared.storage, eventLoops: shared.eventLoops)
        } else {
            try await WaybillServer.start(configuration: configuration, logger: logger)
        }
        onStarted(server)
        try? await gracefulShutdown()
        await server.shutdown()
    }
}

/// Open connections and their handlers, for the connection limit and for shutdown.
final class ConnectionRegistry: Sendable {
    /// connectionsPerPeerMax, on both listeners.
    let peers: PeerConnectionLimiter
    init(connectionsPerPeerMax: Int) { peers = PeerConnectionLimiter(connectionsPerPeerMax: connectionsPerPeerMax) }
    private let channels = Mutex<[ObjectIdentifier: (channel: any NIOCore.Channel, handler: NIOLoopBound<ConnectionHandler>?)]>([:])

    var count: Int { channels.withLock { $0.count } }

    func add(_ channel: any NIOCore.Channel, max: Int) -> Bool {
        channels.withLock { table in
            guard table.count < max else { return false }
            table[ObjectIdentifier(channel)] = (channel, nil)
            return true
        }
    }

    func attach(_ channel: any NIOCore.Channel, _ handler: ConnectionHandler) {
        let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        channels.withLock { $0[ObjectIdentifier(channel)]?.handler = bound }
    }

    func remove(_ channel: any NIOCore.Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    private var snapshot: [(channel: any NIOCore.Channel, handler: NIOLoopBound<ConnectionHandler>?)] { channels.withLock { Array($0.values) } }

    func callsInFlight() async -> Int {
        var total = 0
        for entry in snapshot {
            guard let handler = entry.handler else { continue }
            total += (try? await entry.channel.eventLoop.submit { handler.value.callsInFlight }.get()) ?? 0
        }
        return total
    }

    func closeAll() async {
        for entry in snapshot { try? await entry.channel.close() }
    }
}

/// Answers a connection over connectionsMax with a connection-level error, then closes it.
final class RejectConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let error: WaybillStatusError

    init(error: WaybillStatusError) { self.error = error }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { reject(context) }
    }

    func channelActive(context: ChannelHandlerContext) { reject(context) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func reject(_ context: ChannelHandlerContext) {
        var envelope = Waybill_V1_ResponseEnvelope()
        envelope.callID = 0
        envelope.status = error.status
        envelope.endOfStream = true
        envelope.protocolVersion = ProtocolVersions.current
        var buffer = context.channel.allocator.buffer(capacity: 128)
        try? buffer.writeFrame(envelope)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
