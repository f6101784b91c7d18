// What a server stores through: the SQLite file and its one writer, opened before the server
// listens. `waybill serve` opens it, runs the writer and the WAL checkpointer as their own
// lifecycle services (WriterService, WalCheckpointerService) and closes it after they stopped.

import Logging
import WaybillApplication
import WaybillStore

public struct ServerStorage: Sendable {
    public let database: WaybillDatabase
    public let writer: StoreWriter
    /// The change feed's next offset when the storage was opened.
    let feedHead: UInt64
    /// Every credential, loaded before the server listens (seeds installed, first start done):
    /// what each call is authenticated against. Replaced after each credential write commits, and
    /// by `credentialPoller` when another process changed the file.
    public var credentials = CredentialDirectory()
    /// Re-reads credentials written by another process; stops with the writer.
    var credentialPoller: CredentialPoller?

    /// Opens (creating and migrating) the database, rebuilds the engine and starts the writer.
    /// The WAL checkpointer starts here when `startsCheckpointer`, else with `WalCheckpointerService`.
    public static func open(configuration: ServerConfiguration, logger: Logger, startsCheckpointer: Bool) async throws -> ServerStorage {
        // Opening, migrating and rebuilding state are SQLite work: on a dispatch thread, not Swift's pool.
        try await offPool {
            let database = try WaybillDatabase(path: configuration.databasePath, readers: configuration.readers,
                                               checkpointIntervalMilliseconds: configuration.walCheckpointIntervalMilliseconds,
                                               startsCheckpointer: startsCheckpointer, searchIndexLimits: configuration.searchIndex,
                                               logger: logger)
            let writer: StoreWriter
            do {
                writer = try StoreWriter(database: database, limits: configuration.writer, domainLimits: configuration.domain,
                                         routingLimits: configuration.routing, gazetteer: configuration.gazetteer,
                                         clock: configuration.clock, logger: logger, interceptor: configuration.writeJobInterceptor)
            } catch {
                database.stopCheckpointer()
                throw error
            }
            do {
                let credentials = try CredentialStartup.prepare(configuration: configuration, database: database, writer: writer, logger: logger)
                let poller = CredentialPoller(database: database, writer: writer, directory: credentials,
                                              intervalMilliseconds: configuration.credentialLimits.credentialsRefreshIntervalMilliseconds,
                                              logger: logger)
                return ServerStorage(database: database, writer: writer, feedHead: try StoreReader(database: database).feedBounds().head,
                                     credentials: credentials, credentialPoller: poller)
            } catch {
                writer.stop()
                database.stopCheckpointer()
                throw error
            }
        }
    }

    /// The end of `waybill serve`, once the writer and checkpointer services stopped: a complete
    /// checkpoint (the `-wal` file left empty, nothing to recover at the next start), then the
    /// connections closed.
    public func closeDatabase(logger: Logger) async {
        credentialPoller?.stop()
        let database = self.database
        _ = try? await offPool { database.closeCleanly(logger: logger) }
    }

    /// Stops the writer (it runs its queued jobs and checkpoints balances first), then the WAL
    /// checkpointer, then closes the file cleanly (empty WAL). Blocking: call off the cooperative pool.
    func stopAndClose(logger: Logger) {
        credentialPoller?.stop()
        writer.stop()
        database.closeCleanly(logger: logger)
    }
}
