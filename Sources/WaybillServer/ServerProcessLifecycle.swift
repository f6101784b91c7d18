// A server process's whole life, as `waybill serve` runs it (and the test-only `waybill-harness
// serve`, so the shutdown tests exercise this very code): storage opened before listening, the
// lifecycle services run until SIGTERM/SIGINT and stopped in reverse, the file closed last.

import Logging
import ServiceLifecycle
import Synchronization

extension WaybillServer {
    /// Opens the storage, serves until SIGTERM or SIGINT, drains and stops. Services start in this
    /// order and stop in reverse: SIGTERM drains the protocol server first, then the writer stops
    /// after its last commit, then the WAL checkpointer, then the event loops; the file is closed
    /// with a complete checkpoint (an empty WAL) after the group. Rethrows what stopped the group
    /// (or what failed to open, e.g. a damaged file: see `DatabaseCheck.damage(in:)`).
    /// `companions` run after the server and stop before it (the operator console): they get the
    /// running server from the `StartedServer` handed to them.
    public static func runUntilSignalled(configuration: ServerConfiguration, logger: Logger,
                                         companions: (StartedServer) -> [any Service] = { _ in [] }) async throws {
        let started = StartedServer()
        let storage = try await ServerStorage.open(configuration: configuration, logger: logger, startsCheckpointer: false)
        let eventLoops = makeEventLoops(configuration)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: EventLoopGroupService(group: eventLoops)),
                .init(service: WalCheckpointerService(database: storage.database, logger: logger)),
                .init(service: WriterService(writer: storage.writer, logger: logger)),
                .init(service: WaybillService(configuration: configuration, logger: logger, shared: (storage, eventLoops),
                                              onStarted: { started.set($0) }),
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ] + companions(started).map { .init(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        started.set(nil)
        await storage.closeDatabase(logger: logger)
        logger.info("stopped")
        if let failure { throw failure }
    }
}

/// The server once it listens, for services that run beside it; nil when it never started (or
/// stopped before they asked).
public final class StartedServer: Sendable {
    private let state = Mutex<(server: WaybillServer?, settled: Bool, waiting: [CheckedContinuation<WaybillServer?, Never>])>((nil, false, []))

    public init() {}

    func set(_ server: WaybillServer?) {
        let waiting = state.withLock { state -> [CheckedContinuation<WaybillServer?, Never>] in
            guard !state.settled else { return [] }
            state.server = server
            state.settled = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume(returning: server) }
    }

    /// Waits until the server listens (or never will); nil at once when the waiting task is
    /// cancelled (a group shutting down before the server started).
    public func server() async -> WaybillServer? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let settled = state.withLock { state -> WaybillServer?? in
                    if state.settled { return .some(state.server) }
                    state.waiting.append(continuation)
                    return .none
                }
                if let settled { continuation.resume(returning: settled) }
            }
        } onCancel: {
            set(nil)
        }
    }
}
