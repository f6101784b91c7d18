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
import WaybillWire

/// Replies and feed frames on their way to the model's thread.
final class Inbox: Sendable {
    enum Item: Sendable {
        case reply(call: Int32, reply: SimReply, rpc: RPC, latencyMicroseconds: Int64)
        case feed(FeedConsumer, [FeedEvent])
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
    let clients: [WaybillClient]
    let inbox: Inbox
    /// Virtual time, compressed from the wall clock; started when the gateway is made.
    let clock: CompressedClock
    /// Whether the server runs on `clock` (an embedded one); a `--target` server has its own.
    let serverOnClock: Bool
    /// Wall clock (monotonic ns) at virtual start, and the server's clock (Unix ms) then.
    let wallStart: UInt64
    let serverStartMilliseconds: Int64
    let timeoutMilliseconds: UInt32
    var next = 0
    /// The subscriptions' own connections: acknowledgements go there, which also keeps them from
    /// looking idle to the server (its idle timeout counts only what the client sends).
    var feedClients: [WaybillClient] = []
    var consumerNames: [String] = []
    var isLive: Bool { true }
    var pollFloorMilliseconds: Int64 { Int64(50 * scale) }
    var timeoutPenaltyMilliseconds: Int64 { 0 }

    init(clients: [WaybillClient], inbox: Inbox, clock: CompressedClock, serverOnClock: Bool, timeoutMilliseconds: Int64) {
        self.clients = clients
        self.inbox = inbox
        self.clock = clock
        self.serverOnClock = serverOnClock
        wallStart = wallNanoseconds()
        serverStartMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        // Virtual time (and an embedded server's days) start now.
        clock.start(at: wallStart)
        self.timeoutMilliseconds = UInt32(clamping: timeoutMilliseconds)
    }

    var scale: Double { clock.scale }
    var virtualStart: Int64 { clock.virtualStart }
    /// Virtual time now, following the wall clock.
    var virtualNow: Int64 { clock.now() }
    func wallDeadline(_ virtualTime: Int64) -> UInt64 {
        wallStart + UInt64(max(0, Double(virtualTime - virtualStart) / scale * 1e6))
    }
    /// The server's clock now (not at the virtual time asked for: the model may lag the wall clock,
    /// and an ERP snapshot's as-of must not be earlier than the shipments already in its count).
    func serverTime(_ virtualTime: Int64) -> Int64 {
        if serverOnClock { return clock.now() }
        return serverStartMilliseconds + Int64((wallNanoseconds() - wallStart) / 1_000_000)
    }
    var serverClockScale: Double { serverOnClock ? scale : 1 }
    func drainFeed() -> [FeedEvent] { [] }

    func send(_ id: Int32, _ request: SimRequest, intendedAt virtualTime: Int64) -> SimReply? {
        let encoded: (String, [UInt8])
        do {
            encoded = try WireRequest.encode(request)
        } catch {
            return .failed(code: "INTERNAL", message: "request does not encode: \(error)")
        }
        var client = clients[next % clients.count]
        next &+= 1
        if case .feedAcknowledge(let consumer, _) = request, let index = consumerNames.firstIndex(of: consumer), index < feedClients.count {
            client = feedClients[index]
        }
        let intendedWall = wallDeadline(virtualTime)
        let inbox = self.inbox
        let rpc = request.rpc
        Self.sendRetryingRefusals(client, method: encoded.0, payload: encoded.1, timeoutMilliseconds: timeoutMilliseconds,
                                  retriesLeft: Self.refusalRetriesMax) { result in
            let done = wallNanoseconds()
            let latency = Int64(done > intendedWall ? (done - intendedWall) / 1000 : 0)
            let reply: SimReply
            switch result {
            case .success(let bytes): reply = WireRequest.decode(request, bytes)
            case .failure(let error): reply = WireRequest.reply(request, error)
            }
            inbox.push(.reply(call: id, reply: reply, rpc: rpc, latencyMicroseconds: latency))
        }
        return nil
    }

    /// How often one call is sent again after a refusal that did nothing and named a wait
    /// (overload shedding, a storage failure): what a well-behaved channel client does. The
    /// latency still counts from the intended send time, so the waits show in the report.
    static let refusalRetriesMax = 50

    static func sendRetryingRefusals(_ client: WaybillClient, method: String, payload: [UInt8], timeoutMilliseconds: UInt32,
                                     retriesLeft: Int, completion: @escaping @Sendable (Result<[UInt8], any Error>) -> Void) {
        client.send(method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds).whenComplete { result in
            if case .failure(let error as WaybillStatusError) = result, retriesLeft > 0, error.details.retryAfterMs > 0,
               error.code == .resourceExhausted || error.code == .unavailable {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(error.details.retryAfterMs))) {
                    sendRetryingRefusals(client, method: method, payload: payload, timeoutMilliseconds: timeoutMilliseconds,
                                         retriesLeft: retriesLeft - 1, completion: completion)
                }
                return
            }
            completion(result)
        }
    }
}

enum LiveDriver {
    static func run(_ scenario: Scenario, world: World, policy: RoutingPolicy?, options: SimulationOptions) async throws -> SimulationOutcome {
        let wallStart = wallNanoseconds()
        var server: WaybillServer?
        var directory: URL?
        let address: (String, Int)
        // Virtual time for the model, and for an embedded server (the gateway starts it).
        let clock = CompressedClock(virtualStart: scenario.startMilliseconds, scale: max(1e-6, scenario.live.timeScale))
        if let target = options.target {
            address = try WaybillClient.parseAddress(target)
        } else {
            let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-sim-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
            directory = temporary
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.databasePath = temporary.appendingPathComponent("sim.sqlite").path
            configuration.injectedWriteDelayMicroseconds = options.injectedWriteDelayMicroseconds
            // The embedded server lives in simulated time (compressed), so its days are the
            // simulated days: cut-offs, promised dates and daily capacity follow the scenario.
            configuration.clock = { Timestamp(millisecondsSinceEpoch: clock.now()) }
            let logger = scenario.live.server.prepare(&configuration)  // the scenario's server settings (live.server)
            server = try await WaybillServer.start(configuration: configuration, logger: logger)
            address = ("127.0.0.1", server!.port)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var clients: [WaybillClient] = []
        do {
            var configuration = ClientConfiguration()
            configuration.clientID = "waybill-sim"
            configuration.defaultTimeoutMilliseconds = UInt32(clamping: scenario.clients.timeoutMs)
            for _ in 0..<max(1, scenario.live.connections) {
                clients.append(try await WaybillClient.connect(host: address.0, port: address.1, configuration: configuration, group: group))
            }
            var feedConfiguration = configuration
            feedConfiguration.defaultTimeoutMilliseconds = 60_000
            let setup = try await WaybillClient.connect(host: address.0, port: address.1, configuration: feedConfiguration, group: group)
            clients.append(setup)
            let outcome = try await play(scenario, world: world, policy: policy, options: options, clients: Array(clients.dropLast()),
                                         setup: setup, group: group, address: address, wallStart: wallStart, target: options.target,
                                         clock: clock)
            for client in clients { await client.close() }
            try? await group.shutdownGracefully()
            if let server { await server.shutdown() }
            if let directory { try? FileManager.default.removeItem(at: directory) }
            return outcome
        } catch {
            for client in clients { await client.close() }
            try? await group.shutdownGracefully()
            if let server { await server.shutdown() }
            if let directory { try? FileManager.default.removeItem(at: directory) }
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

    static func play(_ scenario: Scenario, world: World, policy: RoutingPolicy?, options: SimulationOptions, clients: [WaybillClient],
                     setup: WaybillClient, group: MultiThreadedEventLoopGroup, address: (String, Int), wallStart: UInt64,
                     target: String?, clock: CompressedClock) async throws -> SimulationOutcome {
        // Against a shared server the run starts from whatever the feed already holds.
        let before = try await setup.feedInfo()
        if target != nil && before.headOffset > 0 {
            throw ScenarioError("--target \(address.0):\(address.1) already holds \(before.headOffset) change-feed events: the live checks need a fresh server (an empty database)")
        }
        let runID = String(UInt32(truncatingIfNeeded: wallStart), radix: 36)
        try await loadNetwork(world, policy: policy, client: setup, consumerSuffix: runID)
        let inbox = Inbox()
        let metrics = Metrics()
        let gateway = LiveGateway(clients: clients, inbox: inbox, clock: clock, serverOnClock: target == nil,
                                  timeoutMilliseconds: scenario.clients.timeoutMs)
        let model = SimulationModel(scenario: scenario, world: world, gateway: gateway, metrics: metrics, policy: policy,
                                    recordTrace: options.traceLines, wallStart: wallStart)
        // Subscriptions, each on a connection of its own.
        var feedClients: [WaybillClient] = []
        var tasks: [Task<Void, Never>] = []
        for consumer in [FeedConsumer.wms, .erp] {
            var configuration = ClientConfiguration()
            configuration.clientID = consumer.name
            let client = try await WaybillClient.connect(host: address.0, port: address.1, configuration: configuration, group: group)
            feedClients.append(client)
            var request = Waybill_V1_SubscribeRequest()
            request.consumer = consumer.name + "-" + runID
            request.fromOffset = 1
            request.windowEvents = consumer == .wms ? 65_536 : 16_384
            request.maxEventsPerFrame = 512
            let stream = try client.subscribe(request)
            tasks.append(Task.detached {
                do {
                    for try await response in stream {
                        inbox.push(.feed(consumer, response.events.map(WireRequest.feedEvent)))
                    }
                    inbox.push(.feedEnded(consumer, "stream ended"))
                } catch {
                    inbox.push(.feedEnded(consumer, "\(error)"))
                }
            })
        }
        model.consumerNames = [FeedConsumer.wms.name + "-" + runID, FeedConsumer.erp.name + "-" + runID]
        gateway.feedClients = feedClients
        gateway.consumerNames = model.consumerNames

        // The model's own thread: it blocks while waiting for the wall clock.
        let progress = options.progress
        let finished: Void = await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // The model and gateway belong to this thread alone from here until it finishes.
            let owned = Unchecked((model, gateway))
            let thread = Thread {
                runLoop(owned.value.0, gateway: owned.value.1, inbox: inbox, setup: clients[0], progress: progress)
                continuation.resume()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        _ = finished
        for task in tasks { task.cancel() }
        for client in feedClients { await client.close() }
        // The setup connection has been idle all run (the server may have closed it): read back on a new one.
        var readConfiguration = ClientConfiguration()
        readConfiguration.clientID = "waybill-sim-check"
        readConfiguration.defaultTimeoutMilliseconds = 120_000
        let reader = try await WaybillClient.connect(host: address.0, port: address.1, configuration: readConfiguration, group: group)
        defer { Task { await reader.close() } }
        let setup = reader

        // Read Waybill back.
        let orders = try await readOrders(setup)
        let balances = try await readBalances(setup, world: world)
        let head = try await setup.feedInfo().headOffset
        let waybill = WaybillState(orders: orders, balances: balances, ledger: nil, feedHead: head)
        var record = model.record()
        let extract = model.erpExtract(asOf: gateway.serverTime(model.now))
        do {
            // Always through Waybill: the extract goes in chunks through a reconciliation session
            // (any size; a busy hour's extract is larger than one frame).
            let report = try await setup.reconcile(extract: extract.proto,
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
        let report = model.report(driver: .live, policyName: policy?.name ?? "server default", record: record, waybill: waybill,
                                  wallSeconds: Double(wallNanoseconds() - wallStart) / 1e9, stateDigest: "n/a (live)")
        return SimulationOutcome(report: report, traceLines: model.traceLines ?? [], record: record, waybill: waybill)
    }

    static func runLoop(_ model: SimulationModel, gateway: LiveGateway, inbox: Inbox, setup: WaybillClient,
                        progress: (@Sendable (String) -> Void)?) {
        model.start()
        var lastProgress = wallNanoseconds()
        var progressOrders = 0
        func deliver() {
            for item in inbox.take() {
                model.queue.advance(to: gateway.virtualNow)
                switch item {
                case .reply(let call, let reply, let rpc, let latency):
                    model.metrics.record(rpc, microseconds: latency)
                    model.metrics.recordProgress(microseconds: latency)
                    model.intendedTime = model.now
                    model.complete(call, reply)
                case .feed(let consumer, let events):
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
            progress(String(format: "sim %6.2f h | orders %d submitted, %d acknowledged | %.0f orders/s | p99 %.1f ms | in flight %d | erp backlog %d",
                            hours, model.orders.count, model.acknowledged, rate, p99, model.callsInFlight, model.erpBacklogCount))
            lastProgress = now
            progressOrders = model.acknowledged
        }
        // Main phase: events as their (compressed) time comes.
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
            if waitMilliseconds > 0 { inbox.wait(milliseconds: waitMilliseconds) }
        }
        // Settle: faults are over; the ERP catches up; calls in flight finish; both consumers reach the head.
        model.settling = true
        let deadline = wallNanoseconds() + 120_000_000_000
        var head: UInt64 = 0
        var lastHeadCheck: UInt64 = 0
        func readHead() -> UInt64? {
            (try? setup.send(method: Method.ChangeFeedService.getFeedInfo, payload: []).wait())
                .flatMap { try? Waybill_V1_FeedInfo(serializedBytes: $0) }?.headOffset
        }
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
