// The WAL checkpointer as a swift-service-lifecycle service: it starts the database's background
// checkpointer and stops it at graceful shutdown. Listed first in the ServiceGroup, it stops last,
// after the writer's final commit, so its last checkpoint sees every frame the writer wrote.

import Logging
import ServiceLifecycle
import WaybillStore

public struct WalCheckpointerService: Service {
    public let database: WaybillDatabase
    public let logger: Logger

    public init(database: WaybillDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        database.startCheckpointer()
        try? await gracefulShutdown()
        let database = self.database
        // Joining the checkpointer's thread blocks: off the cooperative pool.
        _ = try? await offPool { database.stopCheckpointer() }
        logger.info("WAL checkpointer service stopped")
    }
}
