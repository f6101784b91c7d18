// The live driver: the model's schedule played against a real server (embedded on a loopback
// port with a temporary database, or --target) over many connections, open-loop, with virtual
// time compressed by the time scale. Latency is measured from each call's intended send time
// (its event's scheduled time), so a stalled server or a lagging client shows up in the
// numbers (coordinated omission corrected). The model runs on one dedicated thread; answers
// and feed frames come back through an inbox.

import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillStore
import WaybillWire

/// Replies and feed frames on their way to the model's thread.
final class Inbox: Sendable {
    enum Item: Sendable {
        case reply(call: Int32, reply: SimReply, rpc: RPC, latencyMicroseconds: Int64)
        /// `receivedAt`: the server's clock (Unix ms; virtual when the server runs on the run's
        /// clock) when the frame reached the driver, before it waits for the model's thread.
        case feed(FeedConsumer, [FeedEvent], receivedAt: Int64)
        case feedEnded(FeedConsumer, String)
    }
    private let items = Mutex<[Item]>([])
    private let signal = DispatchSemaphore(value: 0)

    func push(_ item: Item) {
        items.withLock { $0.append(item) }
        signal.signal()
    }
    func take() -> [Item] { items.withLock { items in defer { items.removeAll(keepingCapacity: true) }; return items } }
    func wait(milliseconds: Int64) { _ = signal.wait(timeout: .now() + .milliseconds(Int(max(0, min(milliseconds, 1_000))))) }
}

final class LiveGateway: Gateway {
    let connections: [LiveConnection]
    let inbox: Inbox
    /// Virtual time, compressed from the wall clock; started when the gateway is made.
    let clock: CompressedClock
    /// Whether the server runs on `clock` (an embedded one or a child); a `--target` server has its own.
    let serverOnClock: Bool
    /// Whether the drain may jump `clock` forward: only when the server reads this very clock (embedded).
    let clockJumps: Bool
    /// Wall clock (monotonic ns) at virtual start, and the server's clock (Unix ms) then.
    let wallStart: UInt64
    let serverStartMilliseconds: Int64
    let timeoutMilliseconds: UInt32
    /// Runs with server faults send a call again when its deadline passed (a paused server answers nothing).
    let resendsTimedOut: Bool
    let monitor: LiveFaultMonitor
    /// Every actor's token: each call carries its actor's (per call, on the shared connections).
    let credentials: LiveCredentials
    let security: LiveSecurityTally
    var next = 0
    /// The subscriptions' own connections: acknowledgements go there, which also keeps them from
    /// looking idle to the server (its idle timeout counts only what the client sends).
    var feedConnections: [LiveConnection] = []
    var consumerNames: [String] = []
    var isLive: Bool { true }
    var pollFloorMilliseconds: Int64 { Int64(50 * scale) }
    var timeoutPenaltyMilliseconds: Int64 { 0 }

    /// `startingAt`: the wall (monotonic) instant virtual time starts, when fixed beforehand (a
    /// child server's `--clock`); nil = now.
    init(connections: [LiveConnection], inbox: Inbox, clock: CompressedClock, serverOnClock: Bool, clockJumps: Bool,
         timeoutMilliseconds: Int64, resendsTimedOut: Bool, monitor: LiveFaultMonitor, credentials: LiveCredentials,
         security: LiveSecurityTally, startingAt: UInt64? = nil) {
        self.connections = connections
        self.credentials = credentials
        self.security = security
        self.inbox = inbox
        self.clock = clock
        self.serverOnClock = serverOnClock
        self.clockJumps = clockJumps
        self.resendsTimedOut = resendsTimedOut
        self.monitor = monitor
        let now = wallNanoseconds()
        wallStart = startingAt ?? now
        serverStartMilliseconds = Int64(Date().timeIntervalSince1970 * 1000) + (Int64(bitPattern: wallStart) - Int64(bitPattern: now)) / 1_000_000
        // Virtual time (and an embedded server's days) start now.
        clock.start(at: wallStart)
        self.timeoutMilliseconds = UInt32(clamping: timeoutMilliseconds)
    }

    var scale: Double { clock.scale }
    var virtualStart: Int64 { clock.virtualStart }
    /// Virtual time now, following the wall clock (and the drain's jumps).
    var virtualNow: Int64 { clock.now() }
    func wallDeadline(_ virtualTime: Int64) -> UInt64 {
        wallStart + UInt64(max(0, Double(virtualTime - virtualStart - clock.skippedMilliseconds) / scale * 1e6))
    }
    /// The server's clock now (not at the virtual time asked for: the model may lag the wall clock,
    /// and an ERP snapshot's as-of must not be earlier than the shipments already in its count).
    func serverTime(_ virtualTime: Int64) -> Int64 {
        if serverOnClock { return clock.now() }
        return serverStartMilliseconds + Int64((wallNanoseconds() - wallStart) / 1_000_000)
    }
    var serverClockScale: Double { serverOnClock ? scale : 1 }
    /// On the compressed clock Waybill's time is virtual time; a server on its own clock runs at
    /// wall speed, `scale` times slower than virtual time.
    func virtualTime(ofServerTime serverTime: Int64, now: Int64) -> Int64 {
        if serverOnClock { return serverTime }
        return now + Int64(Double(serverTime - self.serverTime(now)) * scale)
    }
    /// `serverTime` as a closure other threads may call (the feed subscriptions stamp arrivals with it).
    var serverClock: @Sendable () -> Int64 {
        let clock = clock, onClock = serverOnClock, start = serverStartMilliseconds, wallStart = wallStart
        return { onClock ? clock.now() : start + Int64((wallNanoseconds() - wallStart) / 1_000_000) }
    }
    func drainFeed() -> [FeedEvent] { [] }

    func send(_ id: Int32, _ request: SimRequest, as actor: SimActor, intendedAt virtualTime: Int64) -> SimReply? {
        let encoded: (String, [UInt8])
        do {
            encoded = try WireRequest.encode(request)
        } catch {
            return .failed(code: "INTERNAL", message: "request does not encode: \(error)")
        }
        var connection = connections[next % connections.count]
        next &+= 1
        if case .feedAcknowledge(let consumer, _) = request, let index = consumerNames.firstIndex(of: consumer), index < feedConnections.count {
            connection = feedConnections[index]
        }
        let intendedWall = wallDeadline(virtualTime)
        let inbox = self.inbox
        let rpc = request.rpc
        let security = self.security
        security.sent(as: actor)
        LiveCall(connection: connection, method: encoded.0, payload: encoded.1, token: credentials.token(for: actor),
                 timeoutMilliseconds: timeoutMilliseconds, resendsTimedOut: resendsTimedOut, monitor: monitor) { result in
            security.answered(request, as: actor, result)
            let done = wallNanoseconds()
            let latency = Int64(done > intendedWall ? (done - intendedWall) / 1000 : 0)
            let reply: SimReply
            switch result {
            case .success(let bytes): reply = WireRequest.decode(request, bytes)
            case .failure(let error): reply = WireRequest.reply(request, error)
            }
            inbox.push(.reply(call: id, reply: reply, rpc: rpc, latencyMicroseconds: latency))
        }.start()
        return nil
    }

    /// The feed's head offset, read on the model's thread (nil when the server does not answer).
    func readHead() -> UInt64? {
        let connection = connections[0]
        guard let client = connection.client else {
            Task { await connection.reconnect(replacing: nil) }
            return nil
        }
        security.sent(as: .admin)
        do {
            let bytes = try client.send(method: Method.ChangeFeedService.getFeedInfo, payload: [], token: credentials.token(for: .admin)).wait()
            return try Waybill_V1_FeedInfo(serializedBytes: bytes).headOffset
        } catch {
            if case .unanswered(connectionLost: true) = LiveCall.outcome(.failure(error)) {
                Task { await connection.reconnect(replacing: client) }
            }
            return nil
        }
    }
}

enum LiveDriver {
    /// A child server's clock starts this long after it is launched, so that the network is
    /// loaded before simulated time moves (an embedded server's clock simply waits for the run).
    static let childClockStartDelayMilliseconds: Int64 = 3_000

    static func run(_ scenario: Scenario, world: World, policy: RoutingPolicy?, options: SimulationOptions) async throws -> SimulationOutcome {
        let wallStart = wallNanoseconds()
        var server: WaybillServer?
        var child: LiveServerProcess?
        var clockStart: UInt64?
        var directory: URL?
        let address: (String, Int)
        let serverFaults = scenario.faults.filter(\.isServerFault)
        // Virtual time for the model, and for an embedded server (the gateway starts it).
        let clock = CompressedClock(virtualStart: scenario.startMilliseconds, scale: max(1e-6, scenario.live.timeScale))
        // Every actor calls with its own credential; every connection is TLS where the server speaks it.
        let credentials: LiveCredentials
        let tls: LiveTLS
        if let target = options.target {
            if !serverFaults.isEmpty {
                throw ScenarioError("server faults kill and restart the server the simulator starts: run them without --target")
            }
            if options.writeJobInterceptor != nil {
                throw ScenarioError("a write-job interceptor (e.g. --inject-write-delay-microseconds) applies to an embedded server only, not --target")
            }
            guard let file = options.credentialsFile else {
                throw ScenarioError("--target needs --credentials FILE: the credentials of the run's actors, which the server was given "
                                    + "(`waybill sim SCENARIO --write-credentials FILE`, then `waybill serve --credentials-file FILE`)")
            }
            address = try WaybillClient.parseAddress(target)
            credentials = try LiveCredentials.load(path: file, world: world, channels: scenario.trafficChannels)
            tls = try options.tlsCAFile.map(LiveTLS.trusting(caFile:)) ?? .plaintext
        } else {
            if options.credentialsFile != nil || options.tlsCAFile != nil {
                throw ScenarioError("--credentials and --tls-ca are for a --target server: an embedded one gets fresh credentials and a throwaway CA")
            }
            let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-sim-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
            directory = temporary
            credentials = LiveCredentials.generate(world: world)
            do {
                tls = try LiveTLS.embedded(directory: temporary)
            } catch {
                try? FileManager.default.removeItem(at: temporary)
                throw error
            }
            if !serverFaults.isEmpty {
                if options.writeJobInterceptor != nil {
                    throw ScenarioError("a write-job interceptor (e.g. --inject-write-delay-microseconds) applies to an embedded server only, "
                                        + "and server faults run `waybill serve` as a child: run them without it")
                }
                // A kill -9 needs the server in a process of its own: `waybill serve` on the
                // simulation's clock, which starts a few seconds from now (see `--clock`).
                let executable = try LiveServerProcess.locateExecutable(options.serverExecutable)
                let startUnixMilliseconds = Int64(Date().timeIntervalSince1970 * 1000) + childClockStartDelayMilliseconds
                clockStart = wallNanoseconds() + UInt64(childClockStartDelayMilliseconds) * 1_000_000
                // live.server's retention and prune interval have serve flags; its checkpoint
                // slice and slow log apply to an embedded server only.
                var extra: [String] = []
                // The same credentials and TLS as an embedded server: through files (tokens never
                // go on a command line; the credentials file is mode 0600).
                let credentialsPath = temporary.appendingPathComponent("credentials.json").path
                try credentials.write(to: credentialsPath)
                extra += ["--credentials-file", credentialsPath]
                if let server = tls.server { extra += ["--tls-cert", server.certificateChainPath, "--tls-key", server.privateKeyPath] }
                if let milliseconds = scenario.live.server.feedRetentionMilliseconds { extra += ["--feed-retention-ms", "\(milliseconds)"] }
                if let milliseconds = scenario.live.server.pruneIntervalMilliseconds { extra += ["--prune-interval-ms", "\(milliseconds)"] }
                let process = LiveServerProcess(executable: executable, directory: temporary,
                                                clock: "\(scenario.startMilliseconds)@\(startUnixMilliseconds)x\(clock.scale)", extraArguments: extra)
                child = process
                do {
                    try await process.start()
                } catch {
                    try? FileManager.default.removeItem(at: temporary)
                    throw error
                }
                address = ("127.0.0.1", process.port)
            } else {
                var configuration = ServerConfiguration()
                configuration.port = 0
                configuration.databasePath = temporary.appendingPathComponent("sim.sqlite").path
                configuration.writeJobInterceptor = options.writeJobInterceptor
                // The embedded server lives in simulated time (compressed), so its days are the
                // simulated days: cut-offs, promised dates and daily capacity follow the scenario.
                configuration.clock = { Timestamp(millisecondsSinceEpoch: clock.now()) }
                configuration.credentials = credentials.seeds
                tls.configure(&configuration)
                let logger = scenario.live.server.prepare(&configuration)  // the scenario's server settings (live.server)
                server = try await WaybillServer.start(configuration: configuration, logger: logger)
                address = ("127.0.0.1", server!.port)
                if let started = options.embeddedServerStarted {
                    do {
                        try await started(EmbeddedServerAddress(host: address.0, port: address.1, tls: tls.client))
                    } catch {
                        await server?.shutdown()
                        try? FileManager.default.removeItem(at: temporary)
                        throw error
                    }
                }
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var connections: [LiveConnection] = []
        var setupClient: WaybillClient?
        func shutDown() async {
            if scenario.live.server.slowLogMilliseconds > 0 && server != nil { SlowSampleLog.noteServerLatency() }
            await setupClient?.close()
            for connection in connections { await connection.close() }
            try? await group.shutdownGracefully()
            if let server { await server.shutdown() }
            if let child { await child.stop() }
            if let directory { try? FileManager.default.removeItem(at: directory) }
        }
        do {
            // The actors' calls share these connections, each call with its actor's token.
            var configuration = ClientConfiguration()
            configuration.clientID = "waybill-sim"
            configuration.defaultTimeoutMilliseconds = UInt32(clamping: scenario.clients.timeoutMs)
            tls.configure(&configuration)
            for _ in 0..<max(1, scenario.live.connections) {
                connections.append(try await LiveConnection.connect(host: address.0, port: address.1, configuration: configuration, group: group))
            }
            var setupConfiguration = configuration
            setupConfiguration.defaultTimeoutMilliseconds = 60_000
            setupConfiguration.token = credentials.token(for: .admin)
            let setup = try await WaybillClient.connect(host: address.0, port: address.1, configuration: setupConfiguration, group: group)
            setupClient = setup
            let outcome = try await play(scenario, world: world, policy: policy, options: options, connections: connections,
                                         setup: setup, group: group, address: address, wallStart: wallStart, target: options.target,
                                         clock: clock, clockStart: clockStart, child: child, credentials: credentials, tls: tls)
            await shutDown()
            return outcome
        } catch {
            await shutDown()
            throw error
        }
    }

    static func loadNetwork(_ world: World, policy: RoutingPolicy?, client: WaybillClient, consumerSuffix: String) async throws {
        var model = Waybill_V1_NetworkModel()
        model.locations = world.locations.map(\.proto)
        model.carriers = world.carriers.map(\.proto)
        model.items = world.items.map(\.proto)
        if let policy { model.routingPolicy = policy.proto }
        _ = try await client.loadNetwork(model)
        var changes: [Waybill_V1_InventoryChange] = []
        for (number, entry) in world.initialStock.enumerated() {
            var change = Waybill_V1_InventoryChange()
            change.changeID = "init-\(consumerSuffix)-\(number)"
            change.kind = .receipt
            change.sku = world.catalogue[entry.sku].sku.rawValue
            change.locationID = world.locations[entry.location].locationID.rawValue
            change.quantity = Int32(entry.units)
            change.reason = "initial stock"
            changes.append(change)
            if changes.count == 5_000 {
                _ = try await client.receive(changes)
                changes.removeAll()
            }
        }
        if !changes.isEmpty { _ = try await client.receive(changes) }
    }

    static func play(_ scenario: Scenario, world: World, policy: RoutingPolicy?, options: SimulationOptions, connections: [LiveConnection],
                     setup: WaybillClient, group: MultiThreadedEventLoopGroup, address: (String, Int), wallStart: UInt64,
                     target: String?, clock: CompressedClock, clockStart: UInt64?, child: LiveServerProcess?,
                     credentials: LiveCredentials, tls: LiveTLS) async throws -> SimulationOutcome {
        // Against a shared server the run starts from whatever the feed already holds.
        let before = try await setup.feedInfo()
        if target != nil && before.headOffset > 0 {
            throw ScenarioError("--target \(address.0):\(address.1) already holds \(before.headOffset) change-feed events: the live checks need a fresh server (an empty database)")
        }
        let runID = String(UInt32(truncatingIfNeeded: wallStart), radix: 36)
        try await loadNetwork(world, policy: policy, client: setup, consumerSuffix: runID)
        let inbox = Inbox()
        let metrics = Metrics()
        let monitor = LiveFaultMonitor()
        let security = LiveSecurityTally()
        let serverFaults = scenario.faults.filter(\.isServerFault)
        if let clockStart, clockStart > wallNanoseconds() {
            // A child server's clock starts at a fixed instant: so does the model's.
            try await Task.sleep(for: .nanoseconds(Int64(clockStart - wallNanoseconds())))
        }
        let gateway = LiveGateway(connections: connections, inbox: inbox, clock: clock, serverOnClock: target == nil,
                                  clockJumps: target == nil && child == nil, timeoutMilliseconds: scenario.clients.timeoutMs,
                                  resendsTimedOut: !serverFaults.isEmpty, monitor: monitor, credentials: credentials, security: security,
                                  startingAt: clockStart)
        let schedule = child.map { LiveFaultSchedule(faults: serverFaults, server: $0, clock: clock, scenarioStart: scenario.startMilliseconds) }
        let model = SimulationModel(scenario: scenario, world: world, gateway: gateway, metrics: metrics, policy: policy,
                                    recordTrace: options.traceLines, wallStart: wallStart)
        // Subscriptions, each on a connection of its own; with server faults they subscribe again
        // after the server comes back.
        var feedConnections: [LiveConnection] = []
        var tasks: [Task<Void, Never>] = []
        model.consumerNames = [FeedConsumer.wms.name + "-" + runID, FeedConsumer.erp.name + "-" + runID]
        for consumer in [FeedConsumer.wms, .erp] {
            // A consumer belongs to the credential that made it: its acknowledgements carry the same token.
            var configuration = ClientConfiguration()
            configuration.clientID = consumer.name
            configuration.token = credentials.token(for: consumer == .wms ? .fulfillmentFeed : .erp)
            tls.configure(&configuration)
            let connection = try await LiveConnection.connect(host: address.0, port: address.1, configuration: configuration, group: group)
            feedConnections.append(connection)
            tasks.append(LiveFeed.follow(consumer, consumerName: model.consumerNames[consumer.rawValue], connection: connection, inbox: inbox,
                                         windowEvents: consumer == .wms ? 65_536 : 16_384, resubscribes: !serverFaults.isEmpty,
                                         serverNow: gateway.serverClock))
        }
        gateway.feedConnections = feedConnections
        gateway.consumerNames = model.consumerNames
        // Faults start once every connection is made (a late start may find the first one due at once).
        schedule?.start()

        // The model's own thread: it blocks while waiting for the wall clock.
        let progress = options.progress
        let finished: Void = await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // The model and gateway belong to this thread alone from here until it finishes.
            let owned = Unchecked((model, gateway))
            let thread = Thread {
                runLoop(owned.value.0, gateway: owned.value.1, inbox: inbox, progress: progress)
                continuation.resume()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        _ = finished
        await schedule?.finish()
        for task in tasks { task.cancel() }
        for connection in feedConnections { await connection.close() }
        // The setup connection has been idle all run (the server may have closed it): read back on a new one.
        // Read back as an admin (every read); the ERP reconciles as itself.
        var readConfiguration = ClientConfiguration()
        readConfiguration.clientID = "waybill-sim-check"
        readConfiguration.defaultTimeoutMilliseconds = 120_000
        readConfiguration.token = credentials.token(for: .admin)
        tls.configure(&readConfiguration)
        let reader = try await WaybillClient.connect(host: address.0, port: address.1, configuration: readConfiguration, group: group)
        defer { Task { await reader.close() } }
        let setup = reader
        var erpConfiguration = readConfiguration
        erpConfiguration.clientID = "waybill-sim-erp"
        erpConfiguration.token = credentials.token(for: .erp)
        let erpClient = try await WaybillClient.connect(host: address.0, port: address.1, configuration: erpConfiguration, group: group)
        defer { Task { await erpClient.close() } }

        // Read Waybill back.
        let orders = try await readOrders(setup)
        let balances = try await readBalances(setup, world: world)
        let head = try await setup.feedInfo().headOffset
        var waybill = WaybillState(orders: orders, balances: balances, ledger: nil, feedHead: head)
        // Carts: the latest version of each the change feed showed (both consumers reached its head).
        waybill.carts = model.checkoutTally.cartsOnFeed.values.sorted { $0.key < $1.key }
        waybill.clock = gateway.serverTime(model.now)
        var record = model.record()
        let extract = model.erpExtract(asOf: gateway.serverTime(model.now))
        do {
            // Always through Waybill: the extract goes in chunks through a reconciliation session
            // (any size; a busy hour's extract is larger than one frame).
            let report = try await erpClient.reconcile(extract: extract.proto,
                                                   discrepanciesMax: Int32(ReconciliationLimits().discrepanciesListedMax))
            record.reconciliationMethod = "ErpService reconciliation session (\(extract.orders.count) orders, \(extract.stock.count) stock records in chunks)"
            record.reconciliationDiscrepanciesTotal = Int(report.discrepanciesTotal)
            record.reconciliation = report.discrepancies.map { d in
                Discrepancy(kind: DiscrepancyKind(proto: d.kind) ?? .quantityMismatch, orderID: d.orderID.isEmpty ? nil : OrderID(d.orderID),
                            key: d.sku.isEmpty ? nil : InventoryKey(sku: SKU(d.sku), locationID: LocationID(d.locationID)),
                            waybillValue: d.waybillValue, erpValue: d.erpValue, detail: d.detail, repairAction: d.repairAction)
            }
        } catch {
            record.reconciliationError = "\(error)"
        }
        var report = model.report(driver: .live, policyName: policy?.name ?? "server default", record: record, waybill: waybill,
                                  wallSeconds: Double(wallNanoseconds() - wallStart) / 1e9, stateDigest: "n/a (live)")
        let securityReport = security.report(transport: tls.description, credentials: credentials.seeds)
        report.security = securityReport
        report.checks.append(securityReport.check)
        report.passed = report.passed && securityReport.check.passed
        if let schedule, let child {
            let audit = try await auditFeed(setup, consumerName: "sim-audit-" + runID)
            let counts = FaultReport.count(record, waybill)
            let faults = FaultReport(injected: schedule.report(monitor: monitor), serverStarts: child.starts,
                                     reconnects: (connections + feedConnections).reduce(0) { $0 + $1.reconnects },
                                     resentCalls: monitor.resent, lost: counts.lost, duplicated: counts.duplicated, oversold: counts.oversold,
                                     feedGapFree: audit.gapFree, feedEventsRead: audit.eventsRead, feedHead: audit.head, feedDetail: audit.detail)
            report.faults = faults
            report.checks.append(CheckResult(name: "survived_server_faults", passed: faults.passed,
                                             detail: "\(faults.lost) lost, \(faults.duplicated) duplicated, \(faults.oversold) oversold; feed: \(faults.feedDetail); "
                                                 + faults.injected.map { $0.injected ? String(format: "%@ outage %.2f s", $0.kind, $0.outageSeconds) : "\($0.kind) not injected" }
                                                     .joined(separator: ", ")))
            report.passed = report.passed && faults.passed
        }
        return SimulationOutcome(report: report, traceLines: model.traceLines ?? [], record: record, waybill: waybill)
    }

    /// Reads the whole feed back, within LiveFeed.auditTimeoutMilliseconds.
    static func auditFeed(_ client: WaybillClient, consumerName: String) async throws -> LiveFeed.Audit {
        try await withThrowingTaskGroup(of: LiveFeed.Audit?.self) { group in
            group.addTask { try await LiveFeed.audit(client, consumerName: consumerName) }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(LiveFeed.auditTimeoutMilliseconds)))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? LiveFeed.Audit(gapFree: false, eventsRead: 0, head: 0,
                                           detail: "the feed was not read back within \(LiveFeed.auditTimeoutMilliseconds / 1000) s")
        }
    }

    static func runLoop(_ model: SimulationModel, gateway: LiveGateway, inbox: Inbox, progress: (@Sendable (String) -> Void)?) {
        model.start()
        // The setup's events (network, initial stock: at most this offset) are not the day's sync.
        let setupHead = gateway.readHead() ?? 0
        var lastProgress = wallNanoseconds()
        var progressOrders = 0
        // Answers and feed frames delivered so far (the drain re-reads the feed head only after one).
        var deliveredItems = 0
        func deliver() {
            for item in inbox.take() {
                deliveredItems += 1
                model.queue.advance(to: gateway.virtualNow)
                switch item {
                case .reply(let call, let reply, let rpc, let latency):
                    model.metrics.record(rpc, microseconds: latency)
                    model.metrics.recordProgress(microseconds: latency)
                    model.intendedTime = model.now
                    model.complete(call, reply)
                case .feed(let consumer, let events, let receivedAt):
                    if consumer == .erp {
                        // Waybill's part of the sync: the event's commit to its arrival at the ERP's consumer.
                        for event in events where event.offset > setupHead {
                            model.metrics.recordDeliveryLag(microseconds: Int64(Double(Swift.max(0, receivedAt - event.occurredAt)) * 1000 / gateway.serverClockScale))
                        }
                    }
                    model.intendedTime = model.now
                    model.observe(consumer, events)
                    if consumer == .wms, let last = events.last {
                        model.issue(.feedAck, .feedAcknowledge(consumer: model.consumerNames[0], offset: last.offset))
                    }
                case .feedEnded(let consumer, let reason):
                    if !model.settling || !model.feedClosing {
                        model.violations.append(Violation(check: "change_feed_complete", detail: "\(consumer.name) subscription ended: \(reason)"))
                    }
                }
            }
        }
        func report() {
            let now = wallNanoseconds()
            guard let progress, now - lastProgress >= 1_000_000_000 else { return }
            let seconds = Double(now - lastProgress) / 1e9
            let rate = Double(model.acknowledged - progressOrders) / seconds
            let hours = Double(model.now - model.startTime) / 3_600_000
            let p99 = model.metrics.progressP99Milliseconds()
            var line = String(format: "sim %6.2f h | orders %d submitted, %d acknowledged | %.0f orders/s | p99 %.1f ms | in flight %d | erp backlog %d",
                              hours, model.orders.count, model.acknowledged, rate, p99, model.callsInFlight, model.erpBacklogCount)
            if model.now >= model.arrivalsEnd && !model.settling {
                line += String(format: " | drain: %.2f h skipped idle", Double(gateway.clock.skippedMilliseconds) / 3_600_000)
                if let waitingFor = drainWaitingFor { line += ", waiting for " + waitingFor }
            }
            progress(line)
            lastProgress = now
            progressOrders = model.acknowledged
        }
        // What the drain (no more arrivals) waits for before it may skip simulated time; nil = nothing.
        var drainWaitingFor: String?
        // `deliveredItems` when the consumers were last seen at the feed's head: with nothing
        // delivered since (and nothing in flight), the head has not moved.
        var caughtUpAtDelivered = -1
        func whatTheDrainWaitsFor() -> String? {
            guard gateway.clockJumps else {
                return "the time scale (the server keeps its own clock: " + (gateway.serverOnClock ? "a child process's --clock" : "a --target server") + ")"
            }
            // The ERP's backlog and outbox wait for its own queued events (polls, sends): only
            // answers and feed events can make something happen before the next queued event.
            if model.callsInFlight > 0 { return "\(model.callsInFlight) calls in flight" }
            // A cart past its deadline is the server's sweep to release: wait for it on the feed
            // (skipping time now would make the release look late).
            let pastDeadline = model.cartsPastDeadline(serverNow: gateway.serverTime(model.now))
            if pastDeadline > 0 { return "\(pastDeadline) carts past their deadline (the server's sweep)" }
            if caughtUpAtDelivered == deliveredItems { return nil }
            guard let head = gateway.readHead() else { return "the server (the feed head could not be read)" }
            if model.feedLastOffset[0] < head || model.feedLastOffset[1] < head {
                return "the change feed (consumers at \(model.feedLastOffset[0]) and \(model.feedLastOffset[1]) of \(head))"
            }
            caughtUpAtDelivered = deliveredItems
            return nil
        }
        // Main phase: events as their (compressed) time comes; in the drain, idle time is skipped.
        while true {
            deliver()
            let now = gateway.virtualNow
            var processed = 0
            while let time = model.queue.nextTime, time <= now, time <= model.endTime, processed < 2_000 {
                let event = model.queue.pop()!
                model.intendedTime = event.time
                model.handle(event)
                processed += 1
            }
            report()
            if now > model.endTime && (model.queue.nextTime ?? .max) > model.endTime { break }
            if processed >= 2_000 { continue }
            let nextTime = min(model.queue.nextTime ?? model.endTime, model.endTime + 1)
            let waitMilliseconds = Int64(Double(gateway.wallDeadline(nextTime) &- min(gateway.wallDeadline(nextTime), wallNanoseconds())) / 1e6)
            if waitMilliseconds > 0 && now >= model.arrivalsEnd {
                // No more arrivals: with no call in flight and the feed delivered, nothing can
                // happen before the next scheduled event, so the clock (the server's too) jumps there.
                drainWaitingFor = whatTheDrainWaitsFor()
                if drainWaitingFor == nil {
                    gateway.clock.jump(to: nextTime)
                    continue
                }
            }
            if waitMilliseconds > 0 { inbox.wait(milliseconds: waitMilliseconds) }
        }
        // Settle: faults are over; the ERP catches up; calls in flight finish; both consumers reach the head.
        model.settling = true
        let deadline = wallNanoseconds() + 120_000_000_000
        var head: UInt64 = 0
        var lastHeadCheck: UInt64 = 0
        func readHead() -> UInt64? { gateway.readHead() }
        while wallNanoseconds() < deadline {
            deliver()
            // Only what is queued now: a handler may queue more (an ERP snapshot waiting for a
            // stock call re-polls), and those must wait for the replies delivered next round,
            // or this loop would spin without ever delivering them.
            var due = model.queue.count
            while due > 0, let event = model.queue.pop() {
                due -= 1
                model.intendedTime = max(event.time, model.now)
                switch event.payload {
                case .send, .erpReady, .erpSend, .faultEdge: model.handle(event)
                case .erpPoll: break
                default: model.leftovers.append(event.payload)
                }
            }
            model.intendedTime = model.now
            model.erpPoll()
            model.erpPollScheduled = false
            if model.callsInFlight == 0 && model.erpIdle && model.erpBacklogCount == 0 {
                // The head is polled at most every 100 ms, so it can predate calls that completed
                // since; the consumers having reached it only counts once a fresh read agrees.
                let now = wallNanoseconds()
                let caughtUp = { model.feedLastOffset[0] >= head && model.feedLastOffset[1] >= head }
                if now - lastHeadCheck > 100_000_000 || caughtUp() {
                    lastHeadCheck = now
                    guard let fresh = readHead() else { report(); inbox.wait(milliseconds: 20); continue }
                    head = fresh
                    if caughtUp() { break }
                }
            }
            report()
            inbox.wait(milliseconds: 20)
        }
        model.feedClosing = true
        if !(model.callsInFlight == 0 && model.erpIdle) {
            model.violations.append(Violation(check: "timed_out_calls_resolved",
                                              detail: "the run did not settle within 120 s: \(model.callsInFlight) calls in flight, ERP backlog \(model.erpBacklogCount)"))
        }
    }

    static func readOrders(_ client: WaybillClient) async throws -> [Order] {
        var orders: [Order] = []
        var token = ""
        repeat {
            var request = Waybill_V1_ListOrdersRequest()
            request.pageSize = 1_000
            request.pageToken = token
            let page = try await client.listOrders(request)
            for order in page.orders { orders.append(try Order(proto: order)) }
            token = page.nextPageToken
        } while !token.isEmpty
        return orders
    }

    static func readBalances(_ client: WaybillClient, world: World) async throws -> [InventoryKey: Balance] {
        var balances: [InventoryKey: Balance] = [:]
        var start = 0
        let skus = world.catalogue.map(\.sku.rawValue)
        let chunk = max(1, min(1_000, 90_000 / max(1, world.locations.count)))
        while start < skus.count {
            let response = try await client.availability(skus: Array(skus[start..<min(skus.count, start + chunk)]))
            for position in response.positions {
                var balance = Balance(onHand: position.onHand, reserved: position.reserved, safetyStock: position.safetyStock)
                balance.incoming = []
                balances[InventoryKey(sku: SKU(position.sku), locationID: LocationID(position.locationID))] = balance
            }
            start += chunk
        }
        return balances
    }
}

/// Hands a value to one other thread that then owns it alone.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
