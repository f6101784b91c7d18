// The simulation model: channels generating orders, customers changing their minds, payment
// holds, warehouses and stores working fulfillments they learn of from the change feed,
// carriers delivering, customers returning, the ERP consuming the feed, acknowledging,
// invoicing, replenishing and counting stock. Every random choice comes from the scenario's
// seed, one stream per component. The model talks to Waybill only through a Gateway.
//
// The actors, one file each: Model+Channels.swift (channels and customers), Model+Locations.swift
// (locations and their WMS), Model+Carriers.swift, Model+Erp.swift (the ERP and its stock book);
// Model+Actions.swift (the lifecycle actions they send), Model+Calls.swift (calls: retries and
// read-backs). This file: the model's tables and state, the event loop, faults, the feed, sampling.

import Foundation
import WaybillCore

/// Events of the model's queue. Small payloads: indices into the model's tables.
enum SimEvent: Sendable {
    case arrival(channel: Int32)
    /// (Re)send pending call `call`.
    case send(call: Int32)
    case action(order: Int32, action: OrderAction, fulfillment: Int32)
    case erpPoll
    case erpReady(message: Int32)
    case erpSend
    case replenishmentReview
    case receipt(position: Int32, units: Int32)
    case snapshot(location: Int32)
    case sample
    case faultEdge
    /// A shopper's next checkout step after thinking (Model+Checkout.swift).
    case checkout(order: Int32, step: CheckoutStep)
    /// A cart's deadline plus the server's sweep interval: in-process, the sweep releases it.
    case cartDeadline(order: Int32)
    /// The product drop's shoppers, the ERP's announcement and the receipt's arrival (Model+ProductDrop.swift).
    case productDrop(ProductDropStep)

    var code: UInt64 {
        switch self {
        case .arrival: 1
        case .send: 2
        case .action: 3
        case .erpPoll: 4
        case .erpReady: 5
        case .erpSend: 6
        case .replenishmentReview: 7
        case .receipt: 8
        case .snapshot: 9
        case .sample: 10
        case .faultEdge: 11
        case .checkout: 12
        case .cartDeadline: 13
        case .productDrop(let step): 14 + UInt64(step.rawValue) << 8
        }
    }
}

enum OrderAction: UInt8, Sendable, CaseIterable {
    case releaseHold, declinePayment, customerCancel, release, pick, pack, ship, deliver, reject, createReturn, receiveReturn
    case customerEdit

    var name: String {
        switch self {
        case .releaseHold: "release-hold"
        case .declinePayment: "decline"
        case .customerCancel: "cancel"
        case .release: "release"
        case .pick: "pick"
        case .pack: "pack"
        case .ship: "ship"
        case .deliver: "deliver"
        case .reject: "reject"
        case .createReturn: "return"
        case .receiveReturn: "receive"
        case .customerEdit: "edit"
        }
    }
}

enum OrderState: UInt8, Sendable {
    /// `abandoned`: the shopper reserved a cart and left without buying (no order).
    case submitted, acknowledged, rejected, lost, abandoned
}

struct SimLine: Sendable {
    var sku: Int32
    var quantity: Int32
}

struct FulfillmentTrack: Sendable {
    /// The status whose next step has been scheduled.
    var handled: FulfillmentStatus?
    var booked = false
    /// Index of its location in the world.
    var location: Int32 = -1
    var returnPlanned = false
    var rejectPlanned = false
}

struct SimOrder: Sendable {
    var channel: Channel
    var state: OrderState = .submitted
    var pickupStore: Int32 = -1
    var city: Int32
    var submittedAt: Int64
    var sequence: Int64 = 0
    var lines: [SimLine]
    var fulfillments: [FulfillmentTrack] = []
    /// Queued events and calls in flight that concern this order.
    var scheduled: Int32 = 0
    var lastFeedSequence: Int64 = 0
    var capturedDay: Int64 = 0
    var capturedVirtualDay: Int64 = 0
    var paymentHold = false
    var declines = false
    var cancels = false
    var captureAttempts: Int32 = 0
    var readBack = false
    /// The ERP's record.
    var erpDocument = false
    var erpStatus = ""
    var erpLines: [SKU: Int32] = [:]
    var erpUpdatedAt: Int64 = 0
    var finalStatus: OrderStatus?
    /// A fulfillment of it was handed over (counted once in the cost per order).
    var handedOver = false
    /// Its checkout, when the shopper went through one (Model+Checkout.swift).
    var checkout: CheckoutTrack?
}

enum Purpose: Sendable {
    case capture(order: Int32)
    case captureReadBack(order: Int32)
    case availability
    case action(order: Int32, action: OrderAction, fulfillment: Int32, requestID: String)
    case actionReadBack(order: Int32, action: OrderAction, fulfillment: Int32, requestID: String)
    case erp(message: Int32)
    case feedAck
    case options(order: Int32)
    case cart(order: Int32, step: CheckoutStep)
}

struct PendingCall: Sendable {
    var purpose: Purpose
    var request: SimRequest
    var attempt: Int32 = 0
    var readBackAttempts: Int32 = 0
    /// The request a read-back stands in for (sent again if the read-back finds nothing yet).
    var original: SimRequest?
    var intendedAt: Int64
    var timedOut = false
    /// The location whose stock the call changes (-1: none).
    var stockLocation: Int32 = -1
}

enum ErpMessage: Sendable {
    case acknowledgement(order: Int32)
    case invoice(order: Int32, fulfillmentID: String, amountMinor: Int64)
    case creditNote(order: Int32, returnID: String, amountMinor: Int64)
    case receipt(position: Int32, units: Int32, number: Int32)
    case snapshot(location: Int32, number: Int32)
    /// The product drop's expected receipt: OPEN (announced) or RECEIVED with the units that arrived.
    case expectedReceipt(received: Bool, units: Int64)
}

/// A violation found while the run went on (the checks add the end-of-run ones).
struct Violation: Sendable {
    var check: String
    var detail: String
}

final class SimulationModel {
    let scenario: Scenario
    let world: World
    let gateway: Gateway
    let metrics: Metrics
    var queue: EventQueue<SimEvent>
    let startTime: Int64
    let arrivalsEnd: Int64
    let endTime: Int64
    let policy: RoutingPolicy?

    // Random streams, one per component.
    var arrivalRandom: [SimRandom]
    var basketRandom: SimRandom
    var customerRandom: SimRandom
    var lifecycleRandom: SimRandom
    var wmsRandom: SimRandom
    var carrierRandom: SimRandom
    var erpRandom: SimRandom

    // Channels.
    let channels: [Channel]
    let channelConfigs: [ChannelConfig]
    /// Arrivals per millisecond, per channel and minute of the horizon.
    let rates: [[Double]]
    var arrivalClock: [Double]
    let serviceLevelTables: [AliasTable]

    // Orders.
    var orders: [SimOrder] = []
    var submittedOrders: Int { orders.count }
    var acknowledged = 0
    var rejected = 0
    var duplicates = 0
    var lost = 0

    // Calls.
    var calls: [PendingCall?] = []
    var freeCalls: [Int32] = []
    var callsInFlight = 0
    var timeouts = 0
    var timeoutsResolvedByReadBack = 0
    var unresolvedCalls: [String] = []
    var expectedFailures: [String: Int] = [:]
    var violations: [Violation] = []
    var retries = 0

    // Stock: the ERP's book (physical units) per SKU × location.
    let skuIndex: [SKU: Int32]
    let locationIndex: [LocationID: Int32]
    var book: [Int64]
    var initialBook: [Int64]
    var onOrder: [Bool]
    /// Received units whose stock delta the ERP has not sent yet: a snapshot sent before the delta
    /// must not count them, or Waybill would add them twice.
    var unsentReceipts: [Int64]
    var receiptCount: Int32 = 0
    var snapshotCount: Int32 = 0
    var snapshotCorrections = 0
    var unitsShipped: Int64 = 0
    var unitsReceived: Int64 = 0

    // ERP.
    var erpBacklog: [FeedEvent] = []
    var erpBacklogHead = 0
    var erpMessages: [ErpMessage?] = []
    var erpOutbox: [Int32] = []
    var erpOutboxHead = 0
    var erpInFlight = 0
    var erpAcknowledgedOffset: UInt64 = 0
    var erpPollScheduled = false
    var erpSendScheduled = false
    var erpMessagesSent = 0

    // Feed observation per consumer: the last offset seen and per-aggregate sequences.
    var feedLastOffset: [UInt64] = [0, 0]
    var feedEventsSeen: [Int] = [0, 0]
    var inventorySequences: [[InventoryKey: Int64]] = [[:], [:]]
    var erpOrderSequences: [Int64] = []

    // KPIs.
    var unitsOrdered: Int64 = 0
    var unitsAllocatedAtCapture: Int64 = 0
    var ordersSplit = 0
    var ordersBackordered = 0
    var shippingCostMinor: Int64 = 0
    var ordersWithShipments = 0
    var deliveries = 0
    var shipmentsPlanned = 0
    var onTimeShipments = 0
    var cancellations = 0
    /// EditOrder requests the customers made that Waybill applied / refused (Model+Edits.swift).
    var editsApplied = 0, editsRefused = 0
    /// Checkouts: options, carts, what became of them (Model+Checkout.swift).
    var checkoutTally = CheckoutTally()
    var returnsReceived = 0
    var rejectionsSent = 0
    /// Store customers who found the shelf empty and bought nothing.
    var walkaways = 0
    /// Delivery speed, fulfillment cost and per-channel figures (FulfillmentFigures.swift).
    lazy var figures = FulfillmentRecorder(currency: world.currency)

    // Trace.
    var trace = StableHasher()
    var schedule = StableHasher()
    var traceLines: [String]?
    let traceLinesMax: Int
    var settling = false
    /// Live: subscriptions are being closed on purpose.
    var feedClosing = false
    /// Events left queued after the horizon (they explain orders still under way).
    var leftovers: [SimEvent] = []
    /// The scheduled time of what is being handled: calls are "intended" then (coordinated omission).
    var intendedTime: Int64 = 0
    /// Change-feed consumer names on the server (live runs add a run id).
    var consumerNames = [FeedConsumer.wms.name, FeedConsumer.erp.name]
    /// Stock-changing calls in flight per location (the ERP counts a location only when none is).
    var stockCalls: [Int32] = []
    /// Per location, whether the ERP's count of it is in flight, and the stock-changing calls held
    /// until it is answered: a call sent after the count was taken could otherwise reach Waybill
    /// first, in the same millisecond as the count's as-of time, and be taken as counted.
    var countInFlight: [Bool] = []
    var callsHeldForCount: [[(Purpose, SimRequest)]] = []
    /// The product drop's campaign and what was seen of it (nil: the scenario has none).
    var drop: ProductDropState?

    // Wall clock (measurement only).
    let wallStart: UInt64
    let sampleInterval: Int64
    let topSkus: Int

    init(scenario: Scenario, world: World, gateway: Gateway, metrics: Metrics, policy: RoutingPolicy?, recordTrace: Int = 0,
         wallStart: UInt64) {
        self.scenario = scenario
        self.metrics = metrics
        self.world = world
        self.gateway = gateway
        self.policy = policy
        self.wallStart = wallStart
        startTime = scenario.startMilliseconds
        arrivalsEnd = startTime + scenario.durationMilliseconds
        endTime = arrivalsEnd + scenario.drainMilliseconds
        queue = EventQueue(start: startTime, reserve: 1 << 16)
        let seed = scenario.seed
        channelConfigs = scenario.channels
        channels = scenario.channels.map { SimChannel.parse($0.channel)! }
        arrivalRandom = scenario.channels.indices.map { SimRandom(seed: seed, stream: "arrivals/\($0)/\(scenario.channels[$0].channel)") }
        basketRandom = SimRandom(seed: seed, stream: "basket")
        customerRandom = SimRandom(seed: seed, stream: "customers")
        lifecycleRandom = SimRandom(seed: seed, stream: "lifecycle")
        wmsRandom = SimRandom(seed: seed, stream: "wms")
        carrierRandom = SimRandom(seed: seed, stream: "carriers")
        erpRandom = SimRandom(seed: seed, stream: "erp")
        serviceLevelTables = scenario.channels.map { AliasTable(weights: $0.serviceLevels.map { Swift.max(0, $0) }.reduce(0, +) > 0 ? $0.serviceLevels : [1, 0, 0]) }
        rates = Self.arrivalRates(scenario)
        arrivalClock = Array(repeating: 0, count: scenario.channels.count)
        var skus: [SKU: Int32] = [:]
        for (index, item) in world.catalogue.enumerated() { skus[item.sku] = Int32(index) }
        skuIndex = skus
        var locations: [LocationID: Int32] = [:]
        for (index, location) in world.locations.enumerated() { locations[location.locationID] = Int32(index) }
        locationIndex = locations
        let positions = world.catalogue.count * world.locations.count
        book = Array(repeating: 0, count: positions)
        for entry in world.initialStock { book[entry.sku * world.locations.count + entry.location] = entry.units }
        initialBook = book
        onOrder = Array(repeating: false, count: positions)
        unsentReceipts = Array(repeating: 0, count: positions)
        traceLinesMax = recordTrace
        traceLines = recordTrace > 0 ? [] : nil
        let span = scenario.durationMilliseconds + scenario.drainMilliseconds
        sampleInterval = Swift.max(60_000, span / 240 / 60_000 * 60_000)
        topSkus = Swift.min(5, world.catalogue.count)
        stockCalls = Array(repeating: 0, count: world.locations.count)
        countInFlight = Array(repeating: false, count: world.locations.count)
        callsHeldForCount = Array(repeating: [], count: world.locations.count)
        drop = scenario.productDrop.map { ProductDropState(config: $0, world: world, seed: seed) }
    }

    // MARK: - Running

    func start() {
        for index in channels.indices {
            if let time = nextArrival(index) { queue.schedule(at: time, priority: 4, .arrival(channel: Int32(index))) }
        }
        queue.schedule(at: startTime + Int64(scenario.replenishment.reviewIntervalHours * 3_600_000), priority: 6, .replenishmentReview)
        if scenario.erp.snapshotIntervalHours > 0 {
            let interval = Int64(scenario.erp.snapshotIntervalHours * 3_600_000)
            for location in world.locations.indices {
                // Staggered so the locations are not all counted in the same instant.
                let offset = interval * Int64(location + 1) / Int64(world.locations.count + 1)
                queue.schedule(at: startTime + offset, priority: 6, .snapshot(location: Int32(location)))
            }
        }
        for fault in scenario.faults {
            queue.schedule(at: startTime + fault.startMilliseconds, priority: 1, .faultEdge)
            queue.schedule(at: startTime + fault.endMilliseconds, priority: 1, .faultEdge)
        }
        queue.schedule(at: startTime, priority: 7, .erpPoll)
        erpPollScheduled = true
        queue.schedule(at: startTime + sampleInterval, priority: 9, .sample)
        scheduleProductDrop()
    }

    /// Processes every event up to `limit` (in-process: the whole run at once).
    func runUntil(_ limit: Int64) {
        while let time = queue.nextTime, time <= limit {
            let event = queue.pop()!
            handle(event)
        }
    }

    func handle(_ event: ScheduledEvent<SimEvent>) {
        intendedTime = event.time
        trace.combine(event.time)
        trace.combine(event.payload.code)
        if traceLines != nil, traceLines!.count < traceLinesMax { traceLines!.append("\(event.time - startTime) \(event.payload)") }
        switch event.payload {
        case .arrival(let channel): arrive(Int(channel))
        case .send(let call): transmit(call)
        case .action(let order, let action, let fulfillment): perform(order, action, fulfillment)
        case .erpPoll: erpPoll()
        case .erpReady(let message): erpOutbox.append(message); erpKick()
        case .erpSend: erpSendScheduled = false; erpSend()
        case .replenishmentReview: replenishmentReview()
        case .receipt(let position, let units): receiptArrived(position, units)
        case .snapshot(let location): snapshotDue(location)
        case .sample: sample()
        case .faultEdge: erpKick(); if !erpPollScheduled { erpPollScheduled = true; queue.schedule(after: 0, priority: 7, .erpPoll) }
        case .checkout(let order, let step): checkoutStep(order, step)
        case .cartDeadline(let order): cartDeadlinePassed(order)
        case .productDrop(let step): productDropEvent(step)
        }
    }

    var now: Int64 { queue.now }
    var offset: Int64 { queue.now - startTime }

    // MARK: - Faults

    func erpFault() -> FaultConfig? {
        if settling { return nil }
        let offset = self.offset
        return scenario.faults.first { $0.target == "erp" && offset >= $0.startMilliseconds && offset < $0.endMilliseconds }
    }

    func networkTimeoutRate() -> Double {
        if settling { return 0 }
        let offset = self.offset
        var rate = gateway.isLive ? 0 : scenario.clients.timeoutRate
        for fault in scenario.faults where fault.target == "network" && offset >= fault.startMilliseconds && offset < fault.endMilliseconds {
            rate = Swift.max(rate, fault.mode == "down" ? 1 : fault.timeoutRate)
        }
        return rate
    }

    // MARK: - The change feed, as the WMS and the ERP consume it

    func drainFeed() {
        let events = gateway.drainFeed()
        if !events.isEmpty {
            observe(.wms, events)
            observe(.erp, events)
        }
    }

    /// Events delivered to a consumer: checked for order and gaps, then acted on.
    func observe(_ consumer: FeedConsumer, _ events: [FeedEvent]) {
        let c = consumer.rawValue
        for event in events {
            if event.offset != feedLastOffset[c] + 1 {
                violations.append(Violation(check: "change_feed_complete",
                                            detail: "\(consumer.name) received offset \(event.offset) after \(feedLastOffset[c]) (\(event.type) \(event.order?.orderID.rawValue ?? event.key.map { "\($0.sku)@\($0.locationID)" } ?? ""))"))
            }
            feedLastOffset[c] = Swift.max(feedLastOffset[c], event.offset)
            feedEventsSeen[c] += 1
            if let key = event.key, event.aggregateType == "inventory" {
                let last = inventorySequences[c][key] ?? 0
                if event.aggregateSequence != last + 1 {
                    violations.append(Violation(check: "change_feed_complete",
                                                detail: "\(consumer.name): \(key.sku)@\(key.locationID) sequence \(event.aggregateSequence) after \(last) at offset \(event.offset)"))
                }
                inventorySequences[c][key] = event.aggregateSequence
            }
            if consumer == .wms {
                if let order = event.order {
                    productDropObserve(order)
                    wmsObserve(order, event)
                }
                if let cart = event.cart { cartObserved(cart, event) }
            } else {
                erpBacklog.append(event)
            }
        }
    }

    // MARK: - Sampling

    func sample() {
        if now + sampleInterval <= endTime { queue.schedule(after: sampleInterval, priority: 9, .sample) }
        let wall = Double(wallNanoseconds() - wallStart) / 1e9
        let submitted = orders.count
        let wallDelta = Swift.max(1e-9, wall - metrics.lastSampleWall)
        let virtualDelta = Double(now - metrics.lastSampleVirtual) / 3_600_000
        var stock: [Int64] = []
        let count = world.locations.count
        for sku in 0..<topSkus {
            var total: Int64 = 0
            for location in 0..<count { total += book[sku * count + location] }
            stock.append(total)
        }
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 100).rounded() / 100 }
        metrics.series.append(SeriesPoint(
            simulatedHours: Double(now - startTime) / 3_600_000, wallSeconds: (wall * 1000).rounded() / 1000,
            ordersSubmitted: submitted, ordersAcknowledged: acknowledged,
            ordersPerWallSecond: (Double(acknowledged - metrics.lastSampleAcknowledged) / wallDelta).rounded(),
            ordersPerSimulatedHour: virtualDelta > 0 ? (Double(submitted - metrics.lastSampleSubmitted) / virtualDelta).rounded() : 0,
            latencyP50Ms: metrics.interval.totalCount == 0 ? 0 : ms(metrics.interval.valueAtPercentile(50)),
            latencyP99Ms: metrics.interval.totalCount == 0 ? 0 : ms(metrics.interval.valueAtPercentile(99)),
            syncLagP99Ms: metrics.intervalLag.totalCount == 0 ? 0 : ms(metrics.intervalLag.valueAtPercentile(99)),
            erpBacklogEvents: erpBacklogCount, topSkuStock: stock))
        metrics.interval.reset()
        metrics.intervalLag.reset()
        metrics.lastSampleWall = wall
        metrics.lastSampleSubmitted = submitted
        metrics.lastSampleAcknowledged = acknowledged
        metrics.lastSampleVirtual = now
    }
}

/// Monotonic wall clock for measurements only.
func wallNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
