// A server process's whole life, as `waybill serve` runs it (and the test-only `waybill-harness
// serve`, so the shutdown tests exercise this very code): storage opened before listening, the
// lifecycle services run until SIGTERM/SIGINT and stopped in reverse, the file closed last.

import Logging
import ServiceLifecycle

extension WaybillServer {
    /// Opens the storage, serves until SIGTERM or SIGINT, drains and stops. Services start in this
    /// order and stop in reverse: SIGTERM drains the protocol server first, then the writer stops
    /// after its last commit, then the WAL checkpointer, then the event loops; the file is closed
    /// with a complete checkpoint (an empty WAL) after the group. Rethrows what stopped the group
    /// (or what failed to open, e.g. a damaged file: see `DatabaseCheck.damage(in:)`).
    public static func runUntilSignalled(configuration: ServerConfiguration, logger: Logger) async throws {
        let storage = try await ServerStorage.open(configuration: configuration, logger: logger, startsCheckpointer: false)
        let eventLoops = makeEventLoops(configuration)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: EventLoopGroupService(group: eventLoops)),
                .init(service: WalCheckpointerService(database: storage.database, logger: logger)),
                .init(service: WriterService(writer: storage.writer, logger: logger)),
                .init(service: WaybillService(configuration: configuration, logger: logger, shared: (storage, eventLoops)),
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        await storage.closeDatabase(logger: logger)
        logger.info("stopped")
        if let failure { throw failure }
    }
}
