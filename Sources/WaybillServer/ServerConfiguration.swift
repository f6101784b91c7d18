// Everything a server needs to start, with defaults.

import Foundation
import Logging
import WaybillApplication
import WaybillCore
import WaybillStore
import WaybillTLS
import WaybillWire

public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests, embedded simulations); the bound port is logged and reported.
    public var port = 7400
    /// The admin HTTP listener (GET /metrics, /healthz, /readyz) on its own port: nil = none
    /// (`waybill serve` opens it on 127.0.0.1:7401 unless told otherwise; 0 picks a free port).
    public var adminHost = "127.0.0.1"
    public var adminPort: Int?
    /// Admin connections open at once (each answers one request and closes); more are closed at once.
    public var adminConnectionsMax = 16
    /// An admin connection that has not sent a whole request by then is closed (a slow client
    /// cannot hold the admin slots).
    public var adminIdleTimeoutMilliseconds: Int64 = 10_000
    /// The standard gRPC listener (HTTP/2, plaintext) serving the same methods: nil = none
    /// (`waybill serve` opens it on 127.0.0.1:7402 unless told otherwise; 0 picks a free port). docs/GRPC.md.
    public var grpcHost = "127.0.0.1"
    public var grpcPort: Int?
    public var databasePath = "./waybill.sqlite"
    public var transport = TransportLimits()
    public var domain = DomainLimits()
    public var writer = WriterLimits()
    /// The order search index's indexer (SearchIndex): its hand-over queue and how far behind a search tolerates.
    public var searchIndex = SearchIndexLimits()
    public var routing = RoutingLimits()
    public var reconciliation = ReconciliationLimits()
    /// City centroids for ship-tos without coordinates (an empty gazetteer refuses them).
    public var gazetteer = Gazetteer.unitedStatesCities
    /// NIO event loop threads (0 = one per core).
    public var eventLoopThreads = 0
    /// SQLite reader connections.
    public var readers = 4
    /// WAL checkpoints run from a background thread this often (never inside a commit). Short
    /// intervals keep the WAL, and what each checkpoint copies, small: at 5,000 captures/s
    /// 20 ms gave about half the p99 of 100 ms at the same throughput (docs/PERFORMANCE.md).
    public var walCheckpointIntervalMilliseconds = 20
    /// How long a graceful shutdown (SIGTERM) waits for the calls in flight to be answered and the
    /// connections to close before closing the rest (`waybill serve --drain-seconds`).
    public var drainTimeoutMilliseconds: Int64 = 10_000
    /// retry_after_ms of the UNAVAILABLE that a draining server answers to a call it does not start
    /// and that ends change-feed streams at shutdown.
    public var shutdownRetryAfterMilliseconds: Int64 = 1_000
    /// Change-feed events kept in memory for subscribers (older ones are read from SQLite).
    public var feedMemoryEventsMax = 16_384
    /// Outbox events are pruned once every consumer acknowledged them and they are older than this.
    public var feedRetentionMilliseconds: Int64 = 24 * 3_600_000
    /// How often retention runs.
    public var pruneIntervalMilliseconds: Int64 = 60_000
    /// How often the writer is asked to expire carts past their deadline (only when one is due):
    /// with the writer's queueing delay, how long past its deadline a cart can still hold stock.
    public var cartExpirySweepIntervalMilliseconds: Int64 = 250
    /// Events deleted per pruning transaction: one slice of a pruning round, its own writer job
    /// (bounds how long pruning holds the writer; captures run between slices).
    public var pruneBatchMax = 2_000
    /// Stock levels of one ERP snapshot applied per writer job: a larger snapshot is applied in
    /// several jobs, each its own transaction, with other writes between them (StockSnapshotSlices.swift).
    public var snapshotLevelsPerWriterJobMax = 200
    /// Slices one pruning round may run (500,000 events by default); the rest waits for the next round.
    public var pruneSlicesPerRoundMax = 250
    /// Balance checkpoint rows one prune may write so that the events it deletes carry no
    /// sequence a row lacks (the rest wait for the next prune): bounds the prune's time on the writer.
    public var pruneCheckpointRowsMax = 512
    /// Injected time: the wall clock by default, a virtual clock in simulations.
    public var clock: @Sendable () -> Timestamp = { Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)) }
    /// Prometheus text for GetMetrics (set by the executable that bootstrapped metrics).
    public var metricsText: @Sendable () -> String = { "# metrics backend not bootstrapped\n" }
    /// An extension point around every writer job (WaybillStore's `WriteJobInterceptor`): nil, as
    /// `waybill serve` runs, and each job runs directly. Tests and benchmarks set one (e.g.
    /// WaybillFaultInjection's `WriteDelay`, a slower write path); no flag of the product does.
    public var writeJobInterceptor: (any WriteJobInterceptor)?
    public var version = "0.1.0"
    /// Credentials installed at start (stored hashed, by name): how embedded servers and tests give
    /// their callers tokens. docs/SECURITY.md.
    public var credentials: [CredentialSeed] = []
    /// TLS on the frames and gRPC ports (nil = plaintext). docs/SECURITY.md.
    public var tls: ServerTLSConfiguration?
    /// Credential limits (count, scopes, names, rotation grace) and how often credentials written by
    /// another process are picked up (docs/SECURITY.md, "Credentials").
    public var credentialLimits = CredentialLimits()
    /// Where a first start writes the token of the `admin` credential it creates when the database
    /// holds no credential and no seed is given (`waybill serve`: `<database>.admin-token`); nil =
    /// never (embedded servers give their callers seeds).
    public var firstStartAdminTokenPath: String?
    /// Whether every call must prove a credential (always, in the product). False only for the
    /// benchmark that measures what authentication costs: every call is then an admin. No flag of
    /// `waybill serve` sets it.
    public var authenticationRequired = true
    /// Allows listening on a non-loopback address without TLS or without any credential
    /// (`waybill serve --insecure`); refused at start otherwise (ExposurePolicy).
    public var insecure = false

    public init() {}
}
