// The store's writer as a swift-service-lifecycle service. Its thread starts with the StoreWriter
// (ServerStorage.open); the service is its lifetime in the ServiceGroup: listed before the
// protocol server, it is told to stop only after the server drained, so every call the server
// answered was committed and nothing new arrives while the writer runs its last jobs.

import Logging
import ServiceLifecycle
import WaybillStore

public struct WriterService: Service {
    public let writer: StoreWriter
    public let logger: Logger

    public init(writer: StoreWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    public func run() async throws {
        // Cancellation (not graceful shutdown) also ends up here: the writer is stopped either way.
        try? await gracefulShutdown()
        let writer = self.writer
        // Stopping runs the queued jobs, checkpoints the balances and joins the writer's thread:
        // blocking work, off the cooperative pool.
        _ = try? await offPool { writer.stop() }
        logger.info("writer service stopped", metadata: ["queue_depth": "\(writer.queueDepth)"])
    }
}
