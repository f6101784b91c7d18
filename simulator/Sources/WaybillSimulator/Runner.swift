// Running a scenario: build the world, drive it in-process or live, settle, read Waybill back,
// reconcile with the simulated ERP, check, report.

import Foundation
import WaybillCore
import WaybillStore
import WaybillTLS

public enum Driver: String, Sendable, CaseIterable {
    case live
    case inProcess = "in-process"
}

public struct SimulationOptions: Sendable {
    public var driver: Driver = .live
    public var seed: UInt64?
    public var timeScale: Double?
    /// Override the scenario's arrival period and drain (e.g. only a peak's first hours).
    public var durationHours: Double?
    public var drainHours: Double?
    /// HOST:PORT of a running server; nil = start an embedded one.
    public var target: String?
    /// --target: the CA bundle (PEM) its TLS certificate is verified against; nil = plaintext.
    public var tlsCAFile: String?
    /// --target: the credentials of the run's actors, a JSON array of credential seeds (the file
    /// `waybill serve --credentials-file` reads; `credentialsFile(for:)` writes a complete set).
    public var credentialsFile: String?
    /// Live runs with server faults: the `waybill` executable run as the server's child process
    /// (nil: this process, when it is `waybill`).
    public var serverExecutable: String?
    /// Embedded server only: wraps every writer job (the server's `writeJobInterceptor`), e.g. the
    /// write delay that proves load-regression checks are not blind. Not for a child or --target server.
    public var writeJobInterceptor: (any WriteJobInterceptor)?
    /// Routing policy file (protobuf JSON); overrides the scenario's.
    public var policyFile: String?
    /// Keep the first N trace lines (tests).
    public var traceLines = 0
    /// Live progress lines (simulated time, orders, throughput, p99), once a second.
    public var progress: (@Sendable (String) -> Void)?
    /// Record in-process engine service times (two clock reads per call).
    public var measureLatency = true
    /// Tests: called once a live run's embedded server listens, before the run starts, with what
    /// a client needs to reach it (not its credentials).
    public var embeddedServerStarted: (@Sendable (EmbeddedServerAddress) async throws -> Void)?
    public init() {}
}

/// Where a live run's embedded server listens, and the TLS settings that reach it.
public struct EmbeddedServerAddress: Sendable {
    public var host: String
    public var port: Int
    public var tls: ClientTLSConfiguration?
}

public struct SimulationOutcome: Sendable {
    public var report: Report
    public var traceLines: [String]
    public var record: SimulationRecord
    public var waybill: WaybillState
}

public enum Simulation {
    public static func run(_ scenario: Scenario, options: SimulationOptions) async throws -> SimulationOutcome {
        let (scenario, world) = try prepare(scenario, options: options)
        let policyPath = options.policyFile ?? (scenario.policyFile.isEmpty ? nil : scenario.resolve(scenario.policyFile))
        let policy = try policyPath.map(PolicyFile.load)
        switch options.driver {
        case .inProcess: return try runInProcess(scenario, world: world, policy: policy, options: options)
        case .live: return try await LiveDriver.run(scenario, world: world, policy: policy, options: options)
        }
    }

    /// The scenario with the options' overrides, validated, and its world.
    static func prepare(_ scenario: Scenario, options: SimulationOptions) throws -> (Scenario, World) {
        var scenario = scenario
        if let seed = options.seed { scenario.seed = seed }
        if let scale = options.timeScale { scenario.live.timeScale = scale }
        if let hours = options.durationHours { scenario.durationHours = hours }
        if let hours = options.drainHours { scenario.drainHours = hours }
        try scenario.validate()
        let cities = try World.load(cities: scenario.resolve(scenario.geography.citiesFile))
        return (scenario, try World(scenario: scenario, cities: cities))
    }

    /// Writes to `path` (created, mode 0600) a credential for every actor of `scenario`'s live run,
    /// with fresh tokens: give it to `waybill serve --credentials-file` and to the run's
    /// `--credentials` against that server. Returns how many credentials it holds.
    public static func writeCredentials(for scenario: Scenario, options: SimulationOptions, to path: String) throws -> Int {
        let (_, world) = try prepare(scenario, options: options)
        let credentials = LiveCredentials.generate(world: world)
        try credentials.write(to: path)
        return credentials.seeds.count
    }

    // MARK: - In-process

    static func runInProcess(_ scenario: Scenario, world: World, policy: RoutingPolicy?, options: SimulationOptions) throws -> SimulationOutcome {
        let wallStart = wallNanoseconds()
        let metrics = Metrics()
        let storage = SimulationStorage()
        var engine = Engine(gazetteer: .serverDefault)
        let context = CommandContext(now: Timestamp(millisecondsSinceEpoch: scenario.startMilliseconds), clientID: "simulator")
        for location in world.locations { try engine.upsert(location: location, context: context, storage: storage) }
        for carrier in world.carriers { try engine.upsert(carrier: carrier, context: context, storage: storage) }
        for item in world.items { try engine.upsert(item: item, context: context, storage: storage) }
        if let policy { _ = try engine.setPolicy(policy, context: context, storage: storage) }
        for (number, entry) in world.initialStock.enumerated() {
            let change = InventoryChange(changeID: "init-\(number)", kind: .receipt, sku: world.catalogue[entry.sku].sku,
                                         locationID: world.locations[entry.location].locationID, quantity: Int32(entry.units), reason: "initial stock")
            _ = try engine.applyInventoryChange(change, context: context, storage: storage)
        }
        let gateway = InProcessGateway(engine: engine, storage: storage, metrics: metrics, seed: scenario.seed,
                                       timeoutMilliseconds: scenario.clients.timeoutMs, measures: options.measureLatency)
        let model = SimulationModel(scenario: scenario, world: world, gateway: gateway, metrics: metrics, policy: policy,
                                    recordTrace: options.traceLines, wallStart: wallStart)
        gateway.timeoutRate = { [unowned model] in model.networkTimeoutRate() }
        model.drainFeed()
        model.start()
        model.runUntil(model.endTime)
        settle(model)

        var waybill = WaybillState(orders: storage.allOrders, balances: Dictionary(uniqueKeysWithValues: gateway.engine.inventory.allBalances),
                                   ledger: storage.ledger, feedHead: storage.eventCount)
        waybill.carts = storage.carts.values.sorted { $0.key < $1.key }
        waybill.clock = model.now
        var record = model.record()
        let extract = model.erpExtract(asOf: model.now)
        record.reconciliation = Reconciler.compare(orders: waybill.orders, onHand: waybill.balances.mapValues(\.onHand), extract: extract)
        record.reconciliationMethod = "Reconciler.compare, in-process"
        let state = stateDigest(waybill)
        let report = model.report(driver: .inProcess, policyName: policy?.name ?? gateway.engine.policy.name, record: record, waybill: waybill,
                                  wallSeconds: Double(wallNanoseconds() - wallStart) / 1e9, stateDigest: state)
        return SimulationOutcome(report: report, traceLines: model.traceLines ?? [], record: record, waybill: waybill)
    }

    /// After the horizon: faults are over; the ERP catches up on the feed and its outbox, calls in
    /// flight finish. Other events stay queued: they explain orders still under way.
    static func settle(_ model: SimulationModel) {
        model.settling = true
        var rounds = 0
        repeat {
            model.erpPoll()
            while let event = model.queue.pop() {
                switch event.payload {
                case .send, .erpReady, .erpSend, .faultEdge, .erpPoll, .cartDeadline: model.handle(event)
                default: model.leftovers.append(event.payload)
                }
            }
            rounds += 1
        } while !(model.erpIdle && model.callsInFlight == 0) && rounds < 10_000
    }

    /// Waybill's final orders and balances: equal across runs of the same scenario and seed.
    public static func stateDigest(_ waybill: WaybillState) -> String {
        var hasher = StableHasher()
        for order in waybill.orders.sorted(by: { $0.captureSequence < $1.captureSequence }) {
            hasher.combine(order.orderID.rawValue)
            hasher.combine(order.externalOrderID)
            hasher.combine(Int64(order.status.rawValue))
            hasher.combine(order.version)
            for line in order.lines {
                let q = line.quantities
                for value in [q.cancelled, q.backordered, q.allocated, q.released, q.picked, q.packed, q.shipped, q.delivered, q.returned] {
                    hasher.combine(value)
                }
            }
            for fulfillment in order.fulfillments {
                hasher.combine(fulfillment.fulfillmentID)
                hasher.combine(fulfillment.locationID.rawValue)
                hasher.combine(Int64(fulfillment.status.rawValue))
                for line in fulfillment.lines { hasher.combine(line.lineID); hasher.combine(line.quantity) }
            }
        }
        for key in waybill.balances.keys.sorted() {
            let balance = waybill.balances[key]!
            hasher.combine(key.sku.rawValue)
            hasher.combine(key.locationID.rawValue)
            hasher.combine(balance.onHand)
            hasher.combine(balance.reserved)
        }
        hasher.combine(waybill.feedHead)
        return hasher.hex
    }
}

/// Routing policies for --compare and scenarios: protobuf JSON of waybill.v1.RoutingPolicy.
public enum PolicyFile {
    public static func load(_ path: String) throws -> RoutingPolicy {
        guard let data = FileManager.default.contents(atPath: path) else { throw ScenarioError("cannot read policy \(path)") }
        return try ProtoJSON.policy(data, path: path)
    }
}

extension SimulationModel {
    func record() -> SimulationRecord {
        let count = world.locations.count
        var book: [InventoryKey: Int64] = [:]
        for position in self.book.indices where initialBook[position] > 0 || self.book[position] != 0 || onOrder[position] {
            book[InventoryKey(sku: world.catalogue[position / count].sku, locationID: world.locations[position % count].locationID)] = self.book[position]
        }
        let submitted = orders.indices.filter { orders[$0].state != .abandoned }.map { index -> SimulationRecord.SubmittedOrder in
            let order = orders[index]
            let state: String
            switch order.state {
            // A shopper still choosing when the run ended sent no capture: nothing to resolve.
            case .submitted: state = order.checkout.map { $0.captureAt == 0 } ?? false ? "in_checkout" : "submitted"
            case .acknowledged: state = "acknowledged"
            case .rejected: state = "rejected"
            case .lost: state = "lost"
            case .abandoned: state = "abandoned"
            }
            return SimulationRecord.SubmittedOrder(externalID: externalID(Int32(index)), channel: order.channel,
                                                   lines: order.lines.map { (world.catalogue[Int($0.sku)].sku, $0.quantity) },
                                                   state: state, sequence: order.sequence, pending: order.scheduled > 0)
        }
        var record = SimulationRecord(orders: submitted, book: book, snapshotCorrections: snapshotCorrections, unresolvedCalls: unresolvedCalls,
                                      violations: violations.map { ($0.check, $0.detail) },
                                      feedConsumers: [(FeedConsumer.wms.name, feedLastOffset[0], feedEventsSeen[0]),
                                                      (FeedConsumer.erp.name, feedLastOffset[1], feedEventsSeen[1])],
                                      reconciliation: nil, reconciliationError: nil)
        record.cartExpiries = checkoutTally.expiries
        // Live, the tolerance is wall time: an embedded server's sweep interval passes in wall
        // time while its clock runs scaled.
        record.cartExpiryToleranceMilliseconds = gateway.isLive
            ? Int64((Double(scenario.checkout.liveExpiryToleranceMs) * gateway.serverClockScale).rounded())
            : scenario.checkout.expiryToleranceMs
        record.promiseComparisons = checkoutTally.comparisons
        record.productDrop = productDropRecord()
        return record
    }

    /// What the simulated ERP believes: its order records (from the feed) and its physical count.
    func erpExtract(asOf: Int64) -> ErpExtract {
        var records: [ErpOrderRecord] = []
        for order in orders where order.erpDocument && order.sequence > 0 {
            records.append(ErpOrderRecord(orderID: OrderID(sequence: order.sequence), documentNumber: "SO-\(order.sequence)",
                                          status: order.erpStatus, lines: order.erpLines))
        }
        let count = world.locations.count
        var stock: [ErpStockRecord] = []
        for position in book.indices where initialBook[position] > 0 || book[position] != 0 {
            stock.append(ErpStockRecord(key: InventoryKey(sku: world.catalogue[position / count].sku, locationID: world.locations[position % count].locationID),
                                        onHand: book[position]))
        }
        return ErpExtract(asOf: Timestamp(millisecondsSinceEpoch: asOf), orders: records, stock: stock, includeOrdersAfterAsOf: true)
    }

    func report(driver: Driver, policyName: String, record: SimulationRecord, waybill: WaybillState, wallSeconds: Double, stateDigest: String) -> Report {
        let checks = Checks.run(record, waybill)
        let latency = Dictionary(uniqueKeysWithValues: metrics.summaries.map { ($0.0.name, $0.1) })
        let lag = LagSummary(p50: metrics.lag.totalCount == 0 ? 0 : (Double(metrics.lag.valueAtPercentile(50)) / 1000).rounded(),
                             p99: metrics.lag.totalCount == 0 ? 0 : (Double(metrics.lag.valueAtPercentile(99)) / 1000).rounded())
        let callCount = metrics.latency.reduce(UInt64(0)) { $0 + $1.totalCount }
        let wall = Swift.max(wallSeconds, 1e-9)
        let kpis = KPIs(
            fillRate: round4(unitsOrdered == 0 ? 0 : Double(unitsAllocatedAtCapture) / Double(Swift.max(1, acknowledgedUnits))),
            splitRate: round4(acknowledged == 0 ? 0 : Double(ordersSplit) / Double(acknowledged)),
            averageShippingCost: (ordersWithShipments == 0 ? 0 : Double(shippingCostMinor) / Double(ordersWithShipments) / 100 * 100).rounded() / 100,
            onTimeRate: round4(shipmentsPlanned == 0 ? 0 : Double(onTimeShipments) / Double(shipmentsPlanned)),
            backorderRate: round4(acknowledged == 0 ? 0 : Double(ordersBackordered) / Double(acknowledged)),
            cancellations: cancellations, returns: returnsReceived, storeRejections: rejectionsSent, deliveries: deliveries,
            storeWalkaways: walkaways, edits: EditCounts(applied: editsApplied, refused: editsRefused), checkout: checkoutFigures)
        let passed = checks.allSatisfy(\.passed)
        var report = Report(
            scenario: scenario.name, seed: scenario.seed, driver: driver.rawValue, policy: policyName, passed: passed,
            simulatedHours: Double(endTime - startTime) / 3_600_000, events: queue.processed,
            orders: OrderCounts(submitted: orders.count - checkoutTally.shoppersAbandoned, acknowledged: acknowledged, rejected: rejected, duplicates: duplicates, lost: lost),
            checks: checks, latencyMs: latency,
            throughput: Throughput(ordersPerSecond: (Double(acknowledged) / wall).rounded(), eventsPerSecond: (Double(queue.processed) / wall).rounded(),
                                   callsPerSecond: (Double(callCount) / wall).rounded(), wallSeconds: (wallSeconds * 1000).rounded() / 1000,
                                   simulatedOrdersPerHour: (Double(orders.count) / Swift.max(1e-9, scenario.durationHours)).rounded()),
            kpis: kpis,
            sync: SyncSummary(lagMs: lag, deliveryLagMs: metrics.deliveryLag.totalCount == 0 ? nil : LatencySummary(metrics.deliveryLag),
                              reconciliationDiscrepancies: record.reconciliation?.count ?? -1, erpMessages: erpMessagesSent,
                              snapshotCorrections: snapshotCorrections),
            calls: CallStats(timeouts: timeouts, retries: retries, resolvedByReadBack: timeoutsResolvedByReadBack, expectedFailures: expectedFailures),
            digests: Digests(trace: trace.hex, schedule: schedule.hex, state: stateDigest),
            series: metrics.series, comparison: nil)
        (report.delivery, report.cost, report.channels) = figures.figures()
        report.productDrop = record.productDrop.map { ProductDropFigures($0, orders: waybill.orders) }
        return report
    }

    var acknowledgedUnits: Int64 {
        var units: Int64 = 0
        for order in orders where order.state == .acknowledged { for line in order.lines { units += Int64(line.quantity) } }
        return units
    }
}
