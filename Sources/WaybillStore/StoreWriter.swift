// The single writer: one thread owns the Engine and the SQLite write connection, drains the
// queue of write jobs into one transaction (group commit), fsyncs, publishes what committed,
// and only then lets each job reply. Nothing here runs on a NIO event loop or Swift's
// cooperative pool.

import Foundation
import GRDB
import Logging
import Metrics
import Synchronization
import WaybillCore

/// What a job sees while it runs inside the writer's transaction.
public final class WriteContext {
    public var engine: Engine
    /// The batch's time: one clock reading per batch, never earlier than the previous batch's.
    public internal(set) var now: Timestamp
    let storage: SQLiteStorage
    /// Set by jobs that change locations, carriers or items, so readers get the new network.
    public var networkChanged = false

    init(engine: Engine, now: Timestamp, storage: SQLiteStorage) {
        self.engine = engine
        self.now = now
        self.storage = storage
    }

    /// The storage to hand to Engine calls.
    public var engineStorage: some EngineStorage { storage }
    var db: Database { storage.db }

    /// Runs `body` all-or-nothing: a DomainError rolls back its writes (a savepoint) and its
    /// changes to the engine (restored from a copy), then rethrows. For multi-record requests.
    public func atomically<T>(_ body: () throws -> T) throws -> T {
        let backup = engine
        let backupNetworkChanged = networkChanged
        var result: T?
        do {
            try storage.db.inSavepoint {
                result = try body()
                return .commit
            }
        } catch let error as DomainError {
            engine = backup
            networkChanged = backupNetworkChanged
            throw error
        }
        return result!
    }

    /// The serialized waybill.v1.Order just written for `order`, saving a second encoding for the answer.
    public func storedBytes(of order: Order) -> [UInt8]? { storage.cachedBytes(of: order) }

    /// The current transaction's database, for the store's own extra operations.
    public func withDatabase<T>(_ body: (Database) throws -> T) rethrows -> T { try body(storage.db) }
}

/// A unit of work for the writer. `run` executes inside the batch transaction; `finish` is called
/// exactly once, after the commit (or with the error that aborted the batch).
public protocol WriteJob: AnyObject, Sendable {
    /// Uptime nanoseconds after which the caller no longer waits: the job is skipped.
    var deadlineUptimeNanoseconds: UInt64 { get }
    /// What the job is, for the writer's per-kind time (`waybill_writer_job_seconds{kind}`) and its
    /// slow-job log: the RPC's name for a client's write, or the internal task ("prune", ...).
    /// A small fixed set: never built from client input.
    var kind: String { get }
    func run(_ context: WriteContext) throws
    func finish(_ outcome: Result<Void, Error>)
}

/// A job from a closure. DomainErrors thrown by the body are the job's answer (the batch goes on);
/// any other error is a storage failure that aborts the batch.
public final class Job<Output: Sendable>: WriteJob, @unchecked Sendable {
    public let deadlineUptimeNanoseconds: UInt64
    public let kind: String
    private let body: (WriteContext) throws -> Output
    private let reply: @Sendable (Result<Output, Error>) -> Void
    private var result: Result<Output, Error>?

    public init(kind: String = "internal", deadlineUptimeNanoseconds: UInt64 = .max, _ body: @escaping (WriteContext) throws -> Output,
                reply: @escaping @Sendable (Result<Output, Error>) -> Void) {
        self.kind = kind
        self.deadlineUptimeNanoseconds = deadlineUptimeNanoseconds
        self.body = body
        self.reply = reply
    }

    public func run(_ context: WriteContext) throws {
        do {
            result = .success(try body(context))
        } catch let error as DomainError {
            result = .failure(error)
        }
    }

    public func finish(_ outcome: Result<Void, Error>) {
        switch outcome {
        case .success: reply(result ?? .failure(WriterError.skipped))
        case .failure(let error): reply(.failure(error))
        }
    }
}

public enum WriterError: Error, CustomStringConvertible {
    /// The write queue is full (writeQueueDepthMax).
    case queueFull(depth: Int)
    /// Writes have waited longer than writeQueueDelayTargetMilliseconds for a whole interval: new
    /// client writes are refused until the queue is short again (nothing was done).
    case overloaded(targetMilliseconds: Int64, retryAfterMilliseconds: Int64)
    /// The writer is stopping or stopped.
    case stopped
    /// The caller's deadline passed before the writer reached the job: nothing was done.
    case deadlineExceeded
    /// The batch's commit failed; nothing of the batch was applied.
    case commitFailed(String)
    case skipped

    public var description: String {
        switch self {
        case .queueFull(let depth): "the write queue is full (writeQueueDepthMax = \(depth))"
        case .overloaded(let target, _):
            "the server is overloaded: writes wait longer than writeQueueDelayTargetMilliseconds (\(target)); nothing was done, retry later"
        case .stopped: "the writer is stopped"
        case .deadlineExceeded: "deadline exceeded before the write started: nothing was done"
        case .commitFailed(let message): "storage failure, nothing was applied: \(message)"
        case .skipped: "job did not run"
        }
    }
}

public struct WriterLimits: Hashable, Sendable {
    /// Jobs waiting for the writer; beyond it submissions fail fast with RESOURCE_EXHAUSTED.
    public var writeQueueDepthMax = 65_536
    /// Admission by queueing time (see WriteAdmissionLimits): client writes are refused while
    /// the queue holds more than the target's worth of waiting.
    public var admission = WriteAdmissionLimits()
    /// Jobs per transaction (group commit).
    public var writeBatchMax = 1_000
    /// Movements the checkpoint watermark may lag behind the ledger (bounds start-up replay).
    public var checkpointMovementsInterval = 200_000
    /// Balances allowed to be newer than their checkpoint row; beyond it batches checkpoint the
    /// oldest. (A balance changed again before it is written is written once.)
    public var checkpointDirtyBalancesMax = 20_000
    /// Balance rows a batch checkpoints, at least, when over either limit above — in each
    /// batch, a few at a time, so no batch pauses for a big checkpoint.
    public var checkpointRowsPerBatch = 256
    /// A job that runs longer than this on the writer is logged (warning) with its kind: the jobs
    /// that make the tail. 0 = never.
    public var slowJobLogMilliseconds = 50
    public init() {}
}

/// An extension point around every job the writer runs: `intercept` is called on the writer's
/// thread, inside the batch's transaction, in place of the job's `run`, and runs the job by calling
/// `proceed` (once; throwing what it throws). A wrapper may add work before or after the job (a
/// delay, a trace) or throw instead of running it (a storage failure: the batch aborts). The
/// product installs none (`StoreWriter`'s `interceptor` is nil and each job runs directly); tests
/// and benchmarks do, e.g. WaybillFaultInjection's `WriteDelay`. Its time counts as the job's
/// (`waybill_writer_job_seconds`, `waybill_writer_run_seconds`).
public protocol WriteJobInterceptor: Sendable {
    func intercept(_ job: any WriteJob, proceed: () throws -> Void) throws
}

/// Hooks the server installs to learn what committed.
public struct CommitObserver: Sendable {
    public var eventsCommitted: @Sendable ([CommittedEvent]) -> Void
    public init(eventsCommitted: @escaping @Sendable ([CommittedEvent]) -> Void) {
        self.eventsCommitted = eventsCommitted
    }
}

/// Cumulative writer figures: batches, jobs, and time spent per phase. Each is also exported as a
/// metric (WriterMetrics, docs/OPERATIONS.md); benchmarks read this snapshot for per-run deltas.
public struct WriterStatistics: Sendable {
    public var batches = 0
    public var jobs = 0
    /// Running the jobs inside the transaction (engine + SQL statements).
    public var runNanoseconds: UInt64 = 0
    /// COMMIT, including the fsync.
    public var commitNanoseconds: UInt64 = 0
    /// Publishing committed state and answering the jobs.
    public var publishNanoseconds: UInt64 = 0
    /// CPU time of the writer thread (all phases): what a batch costs, whatever else the machine runs.
    public var cpuNanoseconds: UInt64 = 0
    /// The slowest commit (fsync, WAL checkpoints) and the slowest whole batch.
    public var commitNanosecondsMax: UInt64 = 0
    public var batchNanosecondsMax: UInt64 = 0
    public var runNanosecondsMax: UInt64 = 0
    /// Balance checkpoints written inside batches, their rows, total time and slowest one.
    public var checkpoints = 0
    public var checkpointRows = 0
    public var checkpointNanoseconds: UInt64 = 0
    public var checkpointNanosecondsMax: UInt64 = 0
    public init() {}
    public var busyNanoseconds: UInt64 { runNanoseconds + commitNanoseconds + publishNanoseconds }
}

public final class StoreWriter: Sendable {
    public let database: WaybillDatabase
    public let limits: WriterLimits
    /// Committed balances and network, readable without waiting for the writer.
    public let committed: CommittedState
    /// The earliest deadline of the carts loaded on start (nil: none active), for the expiry sweep.
    public let cartDeadlineAtStart: Timestamp?
    private let queue: Mutex<Queue>
    private let clock: @Sendable () -> Timestamp
    private let logger: Logger
    private let thread: WriterThread

    struct Queued {
        let job: any WriteJob
        /// Uptime nanoseconds when the job was queued (its queueing delay starts here).
        let enqueuedAt: UInt64
    }

    struct Queue {
        var jobs: [Queued] = []
        var stopping = false
        var stopped = false
        var admission: WriteAdmissionControl
    }

    /// Rebuilds the engine from the database and starts the writer thread.
    public init(database: WaybillDatabase, limits: WriterLimits = WriterLimits(), domainLimits: DomainLimits = .default,
                routingLimits: RoutingLimits = RoutingLimits(), gazetteer: Gazetteer = Gazetteer(),
                clock: @escaping @Sendable () -> Timestamp,
                logger: Logger, observer: CommitObserver? = nil, interceptor: (any WriteJobInterceptor)? = nil) throws {
        self.database = database
        self.limits = limits
        queue = Mutex(Queue(admission: WriteAdmissionControl(limits: limits.admission)))
        self.clock = clock
        self.logger = logger
        let now = clock()
        let loaded = try database.loadState(now: now, limits: domainLimits)
        let engine = Engine(state: loaded.state, limits: domainLimits, routingLimits: routingLimits, gazetteer: gazetteer)
        committed = CommittedState(engine: engine)
        cartDeadlineAtStart = engine.nextCartDeadline
        thread = WriterThread(engine: engine, nextOffset: loaded.nextOffset, searchIndex: database.searchIndex, now: now, checkpoints: loaded.checkpoints,
                              slowJobMilliseconds: limits.slowJobLogMilliseconds, interceptor: interceptor)
        thread.observer = observer
        thread.start(owner: self)
        logger.info("writer started", metadata: [
            "orders.next": "\(engine.state.nextOrderSequence)", "feed.next_offset": "\(loaded.nextOffset)",
            "inventory.skus": "\(engine.inventory.skuCount)", "backorders": "\(engine.state.backorders.count)",
            "policy.version": "\(engine.policy.version)",
        ])
    }

    /// Installs the commit observer (before any job is submitted).
    public func setObserver(_ observer: CommitObserver) { thread.observer = observer }

    /// Queues a job. Fails at once with `queueFull` beyond writeQueueDepthMax, or `stopped`; a
    /// `sheddable` job (a client's request, which can retry) also with `overloaded` while writes
    /// wait longer than the admission target.
    public func submit(_ job: any WriteJob, sheddable: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        let accepted: WriterError? = queue.withLock { queue in
            if queue.stopping { return .stopped }
            if queue.jobs.count >= limits.writeQueueDepthMax { return .queueFull(depth: limits.writeQueueDepthMax) }
            if sheddable && !queue.admission.admits(queueDepth: queue.jobs.count) {
                return .overloaded(targetMilliseconds: limits.admission.writeQueueDelayTargetMilliseconds,
                                   retryAfterMilliseconds: queue.admission.retryAfterMilliseconds)
            }
            queue.jobs.append(Queued(job: job, enqueuedAt: now))
            return nil
        }
        if case .overloaded = accepted {
            shedCounter.increment()
            shed.add(1, ordering: .relaxed)
        }
        if let error = accepted {
            job.finish(.failure(error))
        } else {
            thread.signal()
        }
    }

    public var queueDepth: Int { queue.withLock { $0.jobs.count } }
    /// Whether `stop()` was called: background tasks reading beside the writer end with it.
    public var isStopping: Bool { queue.withLock { $0.stopping } }
    private let shedCounter = Counter(label: "waybill_writer_shed_jobs_total")
    private let shed = Atomic<Int>(0)
    /// Client writes refused for queueing time (`overloaded`) since start.
    public var shedJobs: Int { shed.load(ordering: .relaxed) }
    /// Whether client writes are being refused for queueing time now.
    public var isShedding: Bool { queue.withLock { $0.admission.shedding } }

    private let stats = Mutex(WriterStatistics())
    private let metrics = WriterMetrics()
    private let health = Mutex((running: true, failing: false))
    public var statistics: WriterStatistics { stats.withLock { $0 } }
    /// Starts a new window for the maxima (benchmarks).
    public func resetMaxima() {
        stats.withLock { stats in
            stats.commitNanosecondsMax = 0
            stats.batchNanosecondsMax = 0
            stats.runNanosecondsMax = 0
            stats.checkpointNanosecondsMax = 0
        }
    }

    fileprivate func record(jobs: Int, run: UInt64, commit: UInt64, publish: UInt64, cpu: UInt64,
                            checkpoint: (rows: Int, nanoseconds: UInt64)?, backlog: Int) {
        metrics.batchJobs.record(jobs)
        metrics.committedJobs.increment(by: jobs)
        metrics.runTime.recordNanoseconds(Int64(clamping: run))
        metrics.commitTime.recordNanoseconds(Int64(clamping: commit))
        metrics.publishTime.recordNanoseconds(Int64(clamping: publish))
        metrics.batchTime.recordNanoseconds(Int64(clamping: run + commit + publish))
        metrics.batchCPUTime.recordNanoseconds(Int64(clamping: cpu))
        metrics.checkpointBacklog.record(backlog)
        if let checkpoint {
            metrics.checkpointRows.increment(by: checkpoint.rows)
            metrics.checkpointTime.recordNanoseconds(Int64(clamping: checkpoint.nanoseconds))
        }
        stats.withLock { stats in
            if let checkpoint {
                stats.checkpoints += 1
                stats.checkpointRows += checkpoint.rows
                stats.checkpointNanoseconds += checkpoint.nanoseconds
                stats.checkpointNanosecondsMax = max(stats.checkpointNanosecondsMax, checkpoint.nanoseconds)
            }
            stats.cpuNanoseconds += cpu
            stats.commitNanosecondsMax = max(stats.commitNanosecondsMax, commit)
            stats.batchNanosecondsMax = max(stats.batchNanosecondsMax, run + commit + publish)
            stats.runNanosecondsMax = max(stats.runNanosecondsMax, run)
            stats.batches += 1
            stats.jobs += jobs
            stats.runNanoseconds += run
            stats.commitNanoseconds += commit
            stats.publishNanoseconds += publish
        }
    }

    /// Runs a job and waits for its outcome (tests, tools, start-up tasks; never on an event loop).
    public func perform<Output: Sendable>(_ body: @escaping (WriteContext) throws -> Output) throws -> Output {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<Output, Error>?>(nil)
        submit(Job(body) { result in
            box.withLock { $0 = result }
            done.signal()
        })
        done.wait()
        return try box.withLock { $0! }.get()
    }

    /// Stops accepting jobs, finishes the queued ones, checkpoints balances and joins the thread.
    public func stop() {
        let alreadyStopping = queue.withLock { queue -> Bool in
            defer { queue.stopping = true }
            return queue.stopping
        }
        thread.signal()
        if !alreadyStopping { thread.join() }
    }

    fileprivate func takeBatch() -> (jobs: [any WriteJob], stopping: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        let (batch, stopping, waiting) = queue.withLock { queue in
            let count = min(queue.jobs.count, limits.writeBatchMax)
            // The oldest job's wait: how long the queue stands.
            if let oldest = queue.jobs.first {
                queue.admission.batchStarted(delayNanoseconds: now &- oldest.enqueuedAt, now: now)
            }
            let batch = queue.jobs.prefix(count).map(\.job)
            queue.jobs.removeFirst(count)
            return (batch, queue.stopping, queue.jobs.count)
        }
        if !batch.isEmpty { metrics.queueDepth.record(waiting) }
        return (batch, stopping)
    }

    /// Whether the writer is running and its last transaction committed (or none failed yet).
    /// False after a failed commit (disk full, I/O error) until a later one succeeds, and once
    /// the writer stops: what `/readyz` reports.
    public var isHealthy: Bool { health.withLock { $0.running && !$0.failing } }

    fileprivate func recordOutcome(failed: Bool) {
        let changed = health.withLock { health -> Bool in
            defer { health.failing = failed }
            return health.failing != failed
        }
        if failed { metrics.failedBatches.increment() }
        if changed { metrics.healthy.record(failed ? 0 : 1) }
    }

    fileprivate func recordStopped() {
        health.withLock { $0.running = false }
        metrics.healthy.record(0)
    }

    fileprivate func now() -> Timestamp { clock() }
    fileprivate var log: Logger { logger }
}

/// CPU time consumed by the calling thread.
public func threadCPUTimeNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// The writer's thread and everything only it touches.
private final class WriterThread: @unchecked Sendable {
    /// Moved into the batch's WriteContext while a batch runs (a copy would make every mutation
    /// copy the whole state), and moved back after the commit.
    private var engine: Engine
    private let domainLimits: DomainLimits
    private let routingLimits: RoutingLimits
    private let gazetteer: Gazetteer
    private let storage: SQLiteStorage
    private var lastNow: Timestamp
    private let condition = NSCondition()
    private var signalled = false
    private let finished = DispatchSemaphore(value: 0)
    var observer: CommitObserver?
    /// Set when a failed batch left memory unknown and the reload from disk failed too.
    private var needsRecovery = false
    /// Each job's time by kind (only this thread records).
    private var jobTimes: WriterJobTimes
    /// Wraps every job when set (tests, benchmarks); nil in the product.
    private let interceptor: (any WriteJobInterceptor)?

    init(engine: Engine, nextOffset: UInt64, searchIndex: SearchIndex, now: Timestamp, checkpoints: WaybillDatabase.CheckpointPosition, slowJobMilliseconds: Int,
         interceptor: (any WriteJobInterceptor)?) {
        self.engine = engine
        domainLimits = engine.limits
        routingLimits = engine.router.limits
        gazetteer = engine.router.gazetteer
        storage = SQLiteStorage(nextOffset: nextOffset, searchIndex: searchIndex)
        storage.follow(checkpoints)
        lastNow = now
        jobTimes = WriterJobTimes(slowMilliseconds: slowJobMilliseconds)
        self.interceptor = interceptor
    }

    func start(owner: StoreWriter) {
        let thread = Thread { [self] in
            self.loop(owner)
            self.finished.signal()
        }
        thread.name = "waybill-writer"
        thread.qualityOfService = .userInitiated
        thread.start()
    }

    func signal() {
        condition.lock()
        signalled = true
        condition.signal()
        condition.unlock()
    }

    func join() { finished.wait() }

    private func loop(_ owner: StoreWriter) {
        while true {
            let (batch, stopping) = owner.takeBatch()
            if batch.isEmpty {
                if stopping { break }
                condition.lock()
                while !signalled { condition.wait() }
                signalled = false
                condition.unlock()
                continue
            }
            runBatch(batch, owner: owner, checkpointNow: false)
        }
        runBatch([], owner: owner, checkpointNow: true)
        owner.recordStopped()
        owner.log.info("writer stopped")
    }

    private func runBatch(_ batch: [any WriteJob], owner: StoreWriter, checkpointNow: Bool) {
        let uptime = DispatchTime.now().uptimeNanoseconds
        var live: [any WriteJob] = []
        live.reserveCapacity(batch.count)
        for job in batch {
            if job.deadlineUptimeNanoseconds < uptime {
                job.finish(.failure(WriterError.deadlineExceeded))
            } else {
                live.append(job)
            }
        }
        if live.isEmpty && !checkpointNow { return }
        if needsRecovery {
            recover(owner, offsetBefore: storage.nextOffset)
            if needsRecovery {
                for job in live { job.finish(.failure(WriterError.commitFailed("the database cannot be read; see the server log"))) }
                return
            }
        }
        let now = max(lastNow, owner.now())
        lastNow = now
        let context = WriteContext(engine: engine, now: now, storage: storage)
        engine = Engine(limits: domainLimits, routingLimits: routingLimits, gazetteer: gazetteer)
        let offsetBefore = storage.nextOffset
        let startedAt = DispatchTime.now().uptimeNanoseconds
        let cpuAtStart = threadCPUTimeNanoseconds()
        var ranAt = startedAt
        var checkpoint: (rows: Int, nanoseconds: UInt64)?
        storage.batchMovements = 0
        storage.batchEvents.removeAll(keepingCapacity: true)
        storage.batchOrders.removeAll(keepingCapacity: true)
        do {
            try owner.database.pool.writeWithoutTransaction { db in
                storage.db = db
                defer { storage.db = nil }
                try db.beginTransaction(.immediate)
                do {
                    for job in live {
                        let jobStartedAt = DispatchTime.now().uptimeNanoseconds
                        if let interceptor {
                            try interceptor.intercept(job) { try job.run(context) }
                        } else {
                            try job.run(context)
                        }
                        jobTimes.record(kind: job.kind, nanoseconds: DispatchTime.now().uptimeNanoseconds - jobStartedAt, logger: owner.log)
                    }
                    if let rowsMax = checkpointRows(owner.limits, final: checkpointNow) {
                        let before = DispatchTime.now().uptimeNanoseconds
                        let rows = try storage.checkpoint(context.engine.inventory, rowsMax: rowsMax)
                        checkpoint = (rows, DispatchTime.now().uptimeNanoseconds - before)
                    }
                    ranAt = DispatchTime.now().uptimeNanoseconds
                    try db.commit()
                } catch {
                    try? db.rollback()
                    throw error
                }
            }
        } catch {
            // Nothing of the batch is on disk: fail every job and rebuild memory from the database.
            owner.log.error("batch of \(live.count) aborted: \(error)")
            // Health first: whoever hears of the failure finds /readyz already false.
            owner.recordOutcome(failed: true)
            for job in live { job.finish(.failure(WriterError.commitFailed(String(describing: error)))) }
            recover(owner, offsetBefore: offsetBefore)
            return
        }
        let committedAt = DispatchTime.now().uptimeNanoseconds
        engine = context.engine
        let changed = engine.drainChangedInventorySKUs()
        owner.committed.publish(changedSKUs: changed, changedWaiting: engine.drainChangedWaitingSKUs(), from: engine,
                                networkChanged: context.networkChanged)
        if !storage.batchEvents.isEmpty { observer?.eventsCommitted(storage.batchEvents) }
        storage.searchIndex.committed(storage.batchOrders, through: Int64(storage.nextOffset) - 1)
        // Health before the answers: a caller told "committed" finds the writer healthy again.
        owner.recordOutcome(failed: false)
        for job in live { job.finish(.success(())) }
        owner.record(jobs: live.count, run: ranAt - startedAt, commit: committedAt - ranAt,
                     publish: DispatchTime.now().uptimeNanoseconds - committedAt, cpu: threadCPUTimeNanoseconds() - cpuAtStart,
                     checkpoint: checkpoint, backlog: storage.dirty.count)
    }

    /// How many balance rows this batch checkpoints, if any: none while fewer than
    /// `checkpointDirtyBalancesMax` balances are behind their rows and the watermark is within
    /// `checkpointMovementsInterval` movements; otherwise the oldest, at least
    /// `checkpointRowsPerBatch` and at least one more than the batch's own movements (each
    /// movement changes one balance, so checkpoints keep up with any rate); all at shutdown.
    private func checkpointRows(_ limits: WriterLimits, final: Bool) -> Int? {
        if final { return .max }
        let behind = storage.dirty.count > limits.checkpointDirtyBalancesMax
            || storage.lastMovementID - storage.watermark > Int64(limits.checkpointMovementsInterval)
        return behind ? max(limits.checkpointRowsPerBatch, storage.batchMovements + 1) : nil
    }

    private func recover(_ owner: StoreWriter, offsetBefore: UInt64) {
        do {
            let loaded = try owner.database.loadState(now: lastNow, limits: domainLimits)
            engine = Engine(state: loaded.state, limits: domainLimits, routingLimits: routingLimits, gazetteer: gazetteer)
            storage.nextOffset = loaded.nextOffset
            storage.follow(loaded.checkpoints)
            owner.committed.reload(from: engine)
            needsRecovery = false
        } catch {
            needsRecovery = true
            // The database cannot even be read: keep the old offsets so nothing is reused, and go on
            // failing batches until it recovers.
            storage.nextOffset = offsetBefore
            owner.log.critical("could not reload state after a failed batch: \(error)")
        }
    }
}
