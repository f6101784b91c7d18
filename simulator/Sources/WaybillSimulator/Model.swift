// The simulation model: channels generating orders, customers changing their minds, payment
// holds, warehouses and stores working fulfillments they learn of from the change feed,
// carriers delivering, customers returning, the ERP consuming the feed, acknowledging,
// invoicing, replenishing and counting stock. Every random choice comes from the scenario's
// seed, one stream per component. The model talks to Waybill only through a Gateway.

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
        }
    }
}

enum OrderAction: UInt8, Sendable, CaseIterable {
    case releaseHold, declinePayment, customerCancel, release, pick, pack, ship, deliver, reject, createReturn, receiveReturn

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
        }
    }
}

enum OrderState: UInt8, Sendable {
    case submitted, acknowledged, rejected, lost
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
}

enum Purpose: Sendable {
    case capture(order: Int32)
    case captureReadBack(order: Int32)
    case availability
    case action(order: Int32, action: OrderAction, fulfillment: Int32, requestID: String)
    case actionReadBack(order: Int32, action: OrderAction, fulfillment: Int32, requestID: String)
    case erp(message: Int32)
    case feedAck
}

struct PendingCall: Sendable {
    var purpose: Purpose
    var request: SimRequest
    var attempt: Int32 = 0
    var readBackAttempts: Int32 = 0
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
    }

    // MARK: - Arrival processes

    /// Per channel, arrivals per millisecond for each minute of the arrival period: base rate ×
    /// diurnal profile (normalised to mean 1) × peaks × the channel's bursts.
    static func arrivalRates(_ scenario: Scenario) -> [[Double]] {
        let minutes = Int((scenario.durationMilliseconds + 59_999) / 60_000)
        let startHour = Int((scenario.startMilliseconds % 86_400_000) / 3_600_000)
        return scenario.channels.map { config in
            let channel = SimChannel.parse(config.channel)!
            let profile = config.diurnal.isEmpty ? defaultDiurnal(channel) : config.diurnal
            let mean = profile.reduce(0, +) / 24
            var rates = Array(repeating: 0.0, count: minutes)
            for minute in 0..<minutes {
                let offset = Int64(minute) * 60_000
                let hour = (startHour + minute / 60) % 24
                var rate = config.ordersPerHour / 3_600_000 * (mean > 0 ? profile[hour] / mean : 0)
                for peak in scenario.peaks where peak.contains(offset) { rate *= peak.multiplier }
                for burst in config.bursts where burst.contains(offset) { rate *= burst.multiplier }
                rates[minute] = Swift.max(0, rate)
            }
            return rates
        }
    }

    /// Hour-of-day weights (UTC) for US shoppers (local time ≈ UTC−5).
    static func defaultDiurnal(_ channel: Channel) -> [Double] {
        let local: [Double]
        switch channel {
        case .storePOS, .clickAndCollect:
            local = [0, 0, 0, 0, 0, 0, 0, 0, 0.2, 0.8, 1.1, 1.3, 1.5, 1.5, 1.4, 1.4, 1.5, 1.7, 1.8, 1.6, 1.2, 0.6, 0, 0]
        case .callCentre:
            local = [0, 0, 0, 0, 0, 0, 0, 0, 0.8, 1.3, 1.5, 1.5, 1.3, 1.4, 1.5, 1.4, 1.3, 1.2, 1.0, 0.8, 0.4, 0, 0, 0]
        default:
            local = [0.35, 0.22, 0.15, 0.1, 0.1, 0.15, 0.3, 0.55, 0.85, 1.05, 1.15, 1.25, 1.35, 1.3, 1.3, 1.3, 1.35, 1.45,
                     1.6, 1.8, 1.95, 1.75, 1.25, 0.7]
        }
        return (0..<24).map { local[($0 + 24 - 5) % 24] }
    }

    /// The next arrival of channel `index` after its clock: exact for a piecewise-constant rate.
    func nextArrival(_ index: Int) -> Int64? {
        let rates = self.rates[index]
        var need = -log(1 - arrivalRandom[index].uniform())
        var t = arrivalClock[index]
        while true {
            let minute = Int(t / 60_000)
            if minute >= rates.count { return nil }
            let segmentEnd = Double(minute + 1) * 60_000
            let rate = rates[minute]
            let capacity = rate * (segmentEnd - t)
            if rate > 0 && need <= capacity {
                t += need / rate
                arrivalClock[index] = t
                let time = startTime + Int64(t)
                return time < arrivalsEnd ? time : nil
            }
            need -= capacity
            t = segmentEnd
        }
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

    // MARK: - Orders arrive

    func arrive(_ channelIndex: Int) {
        if let next = nextArrival(channelIndex) { queue.schedule(at: next, priority: 4, .arrival(channel: Int32(channelIndex))) }
        let channel = channels[channelIndex]
        let config = channelConfigs[channelIndex]
        let city = world.customerCityTable.draw(&customerRandom)
        let pickup = channel == .clickAndCollect || channel == .storePOS || customerRandom.chance(config.pickupShare)
        // Basket: distinct SKUs by popularity; a store sells (and holds for pickup) its own assortment.
        let table = pickup && world.stores.count > 0 ? world.storePopularityTable : world.popularityTable
        let lineCount = Swift.min(config.basket.maxLines, table.count, 1 + basketRandom.poisson(mean: Swift.max(0, config.basket.meanLines - 1)))
        var lines: [SimLine] = []
        lines.reserveCapacity(lineCount)
        var tries = 0
        while lines.count < lineCount && tries < lineCount * 8 {
            tries += 1
            let sku = Int32(table.draw(&basketRandom))
            if lines.contains(where: { $0.sku == sku }) { continue }
            lines.append(SimLine(sku: sku, quantity: Int32(Swift.min(10, basketRandom.geometric(mean: config.basket.meanQuantity)))))
        }
        let paymentHold = channel != .storePOS && lifecycleRandom.chance(scenario.lifecycle.paymentHoldRate)
        let declines = paymentHold && lifecycleRandom.chance(scenario.lifecycle.paymentDeclineRate)
        let cancels = channel != .storePOS && lifecycleRandom.chance(scenario.lifecycle.customerCancelRate)
        let serviceLevel = serviceLevelTables[channelIndex].draw(&customerRandom)
        let checksAvailability = customerRandom.chance(config.availabilityCheckRate)
        // Every draw is made, and the traffic recorded, before the shelf is looked at: the random
        // streams do not depend on stock, and both drivers generate the same traffic.
        schedule.combine(now)
        schedule.combine(Int64(channel.rawValue))
        schedule.combine(Int64(city))
        for line in lines { schedule.combine(Int64(line.sku)); schedule.combine(Int64(line.quantity)) }

        var store: Int32 = -1
        if pickup, world.nearestStore[city] >= 0 {
            // The customer sees the store's shelf: at the till only what is there is bought (an
            // empty shelf is a walk-away); click-and-collect of what the store lacks ships instead.
            store = Int32(world.nearestStore[city])
            let count = world.locations.count
            let onShelf = lines.filter { book[Int($0.sku) * count + Int(store)] - unsentReceipts[Int($0.sku) * count + Int(store)] >= Int64($0.quantity) }
            if channel == .storePOS {
                if onShelf.isEmpty { walkaways += 1; return }
                lines = onShelf
            } else if onShelf.count < lines.count {
                store = -1
            }
        }
        var order = SimOrder(channel: channel, city: Int32(city), submittedAt: now, lines: lines)
        order.pickupStore = store
        order.paymentHold = paymentHold
        order.declines = declines
        order.cancels = cancels
        let index = Int32(orders.count)
        orders.append(order)
        for line in lines { unitsOrdered += Int64(line.quantity) }

        if checksAvailability {
            issue(.availability, .availability(lines.map { world.catalogue[Int($0.sku)].sku }, channel))
        }
        orders[Int(index)].scheduled += 1
        issue(.capture(order: index), .capture(draft(index, serviceLevel: serviceLevel)))
    }

    func externalID(_ index: Int32) -> String {
        orders[Int(index)].channel.name + "-" + String(index)
    }

    static func orderIndex(externalID: String) -> Int32? {
        guard let dash = externalID.lastIndex(of: "-") else { return nil }
        return Int32(externalID[externalID.index(after: dash)...])
    }

    func draft(_ index: Int32, serviceLevel: Int) -> OrderDraft {
        let order = orders[Int(index)]
        let city = world.customerCities[Int(order.city)]
        var draft = OrderDraft()
        draft.channel = order.channel
        draft.externalOrderID = externalID(index)
        draft.customer.customerID = "C\(city.geonameID)-\(index % 997)"
        draft.customer.name = "Customer \(index)"
        draft.shipTo.name = draft.customer.name
        draft.shipTo.city = city.name
        draft.shipTo.region = city.state
        draft.shipTo.country = "US"
        let zip = String(city.geonameID % 100_000)
        draft.shipTo.postalCode = String(repeating: "0", count: Swift.max(0, 5 - zip.count)) + zip
        // A deterministic spread around the place (±~5 km) from the index.
        let jitter = Double(Int(index) % 101 - 50) / 1000
        draft.shipTo.coordinates = Coordinates(latitude: city.coordinates.latitude + jitter,
                                               longitude: city.coordinates.longitude - jitter)
        draft.lines = order.lines.enumerated().map { position, line in
            let item = world.catalogue[Int(line.sku)]
            return DraftLine(lineID: String(position + 1), sku: item.sku, quantity: line.quantity,
                             unitPrice: Money(minorUnits: item.priceMinor, currency: world.currency))
        }
        if order.pickupStore >= 0 {
            draft.fulfillment = RequestedFulfillment(method: .pickup, pickupLocationID: world.locations[Int(order.pickupStore)].locationID)
        } else {
            draft.fulfillment.serviceLevel = [ServiceLevel.standard, .expedited, .nextDay][serviceLevel]
        }
        draft.createdAt = Timestamp(millisecondsSinceEpoch: gateway.serverTime(now))
        if order.paymentHold { draft.holds = [Hold(reason: .payment, note: "authorisation pending")] }
        return draft
    }

    // MARK: - Calls

    func issue(_ purpose: Purpose, _ request: SimRequest, stockLocation: Int32 = -1) {
        var call = PendingCall(purpose: purpose, request: request, intendedAt: now)
        call.stockLocation = stockLocation
        if stockLocation >= 0 { stockCalls[Int(stockLocation)] += 1 }
        let id: Int32
        if let free = freeCalls.popLast() {
            id = free
            calls[Int(id)] = call
        } else {
            id = Int32(calls.count)
            calls.append(call)
        }
        transmit(id)
    }

    func transmit(_ id: Int32) {
        guard let call = calls[Int(id)] else { return }
        callsInFlight += 1
        let intended = Swift.max(intendedTime, call.intendedAt)
        if let reply = gateway.send(id, call.request, intendedAt: gateway.isLive ? intended : now) { complete(id, reply) }
    }

    /// A call came back (at once in-process, later live).
    func complete(_ id: Int32, _ reply: SimReply) {
        guard var call = calls[Int(id)] else { return }
        callsInFlight -= 1
        trace.combine(UInt64(id))
        trace.combine(replyCode(reply))
        if case .timedOut = reply {
            timeouts += 1
            call.timedOut = true
            if call.attempt < Int32(scenario.clients.maxRetries) || isRetriedForever(call.purpose) {
                // Retry with the same idempotency key, as a channel does.
                call.attempt += 1
                retries += 1
                calls[Int(id)] = call
                queue.schedule(after: gateway.timeoutPenaltyMilliseconds + scenario.clients.retryBackoffMs * Int64(call.attempt), priority: 3, .send(call: id))
            } else if let readBack = readBackRequest(call) {
                // Out of retries: the outcome is unknown until we read back.
                call.readBackAttempts += 1
                if call.readBackAttempts > 200 {
                    unresolvedCalls.append(describe(call))
                    finishCall(id, call)
                } else {
                    // Keep reading back, backing off to once a minute, until Waybill answers.
                    call.purpose = readBack.0
                    call.request = readBack.1
                    calls[Int(id)] = call
                    let backoff = Swift.min(60_000, scenario.clients.retryBackoffMs << Int64(Swift.min(16, call.readBackAttempts)))
                    queue.schedule(after: gateway.timeoutPenaltyMilliseconds + backoff, priority: 3, .send(call: id))
                }
            } else if case .availability = call.purpose {
                // A read with no answer: the customer just goes on to order.
                finishCall(id, call)
            } else {
                unresolvedCalls.append(describe(call))
                finishCall(id, call)
            }
            drainFeed()
            return
        }
        if call.timedOut { timeoutsResolvedByReadBack += isReadBack(call.purpose) ? 1 : 0 }
        finishCall(id, call)
        handleReply(call, reply)
        drainFeed()
    }

    private func finishCall(_ id: Int32, _ call: PendingCall) {
        if call.stockLocation >= 0 { stockCalls[Int(call.stockLocation)] -= 1 }
        calls[Int(id)] = nil
        freeCalls.append(id)
    }

    func isRetriedForever(_ purpose: Purpose) -> Bool {
        switch purpose {
        case .erp, .feedAck: true
        default: false
        }
    }

    func isReadBack(_ purpose: Purpose) -> Bool {
        switch purpose {
        case .captureReadBack, .actionReadBack: true
        default: false
        }
    }

    func readBackRequest(_ call: PendingCall) -> (Purpose, SimRequest)? {
        switch call.purpose {
        case .capture(let order), .captureReadBack(let order):
            return (.captureReadBack(order: order), .getOrderByKey(orders[Int(order)].channel, externalID(order)))
        case .action(let order, let action, let fulfillment, let requestID), .actionReadBack(let order, let action, let fulfillment, let requestID):
            guard case .lifecycle(let orderID, _, _) = call.request else {
                if case .getOrder(let orderID) = call.request {
                    return (.actionReadBack(order: order, action: action, fulfillment: fulfillment, requestID: requestID), .getOrder(orderID))
                }
                return nil
            }
            return (.actionReadBack(order: order, action: action, fulfillment: fulfillment, requestID: requestID), .getOrder(orderID))
        default:
            return nil
        }
    }

    func describe(_ call: PendingCall) -> String {
        switch call.purpose {
        case .capture(let order), .captureReadBack(let order): "CaptureOrder of \(externalID(order))"
        case .action(let order, let action, _, let requestID), .actionReadBack(let order, let action, _, let requestID):
            "\(action.name) of \(externalID(order)) (request \(requestID))"
        case .availability: "GetAvailability"
        case .erp(let message): "ERP message \(message)"
        case .feedAck: "Acknowledge"
        }
    }

    func replyCode(_ reply: SimReply) -> UInt64 {
        switch reply {
        case .order(_, let replayed): replayed ? 11 : 10
        case .applied(let replayed, _): replayed ? 21 : 20
        case .available: 30
        case .notFound: 40
        case .failed: 50
        case .timedOut: 60
        }
    }

    func handleReply(_ call: PendingCall, _ reply: SimReply) {
        switch call.purpose {
        case .availability:
            break
        case .capture(let index):
            orders[Int(index)].scheduled -= 1
            switch reply {
            case .order(let order, _): captured(index, order)
            case .failed(let code, let message):
                if code == "FAILED_PRECONDITION" || code == "RESOURCE_EXHAUSTED" {
                    orders[Int(index)].state = .rejected
                    rejected += 1
                } else {
                    orders[Int(index)].state = .rejected
                    rejected += 1
                    violations.append(Violation(check: "calls_answered_as_expected", detail: "CaptureOrder of \(externalID(index)) failed: \(code): \(message)"))
                }
            default: break
            }
        case .captureReadBack(let index):
            orders[Int(index)].scheduled -= 1
            orders[Int(index)].readBack = true
            switch reply {
            case .order(let order, _): captured(index, order)
            case .notFound:
                // Read back: the capture never happened. Resolved, not assumed.
                orders[Int(index)].state = .lost
                lost += 1
            case .failed(let code, let message):
                unresolvedCalls.append("read-back of \(externalID(index)) failed: \(code): \(message)")
            default: break
            }
        case .action(let index, let action, let fulfillment, _):
            orders[Int(index)].scheduled -= 1
            switch reply {
            case .order(let order, _): actionSucceeded(index, action, fulfillment, order)
            case .failed(let code, let message): actionFailed(index, action, code: code, message: message)
            default: break
            }
        case .actionReadBack(let index, let action, let fulfillment, let requestID):
            orders[Int(index)].scheduled -= 1
            if requestID.hasPrefix("prepare:"), case .order(let order, _) = reply {
                prepared(index, action, fulfillment, String(requestID.dropFirst("prepare:".count)), order)
            } else if case .order(let order, _) = reply {
                if order.history.contains(where: { $0.requestID == requestID }) {
                    actionSucceeded(index, action, fulfillment, order)
                } else {
                    // Not applied: safe to send again (same key) — schedule the action anew.
                    scheduleAction(index, action, fulfillment, after: 0)
                }
            } else {
                unresolvedCalls.append("read-back of \(externalID(index)) for \(action.name) answered \(reply)")
            }
        case .erp(let message):
            erpInFlight -= 1
            erpMessageDone(message, reply)
            erpKick()
        case .feedAck:
            break
        }
    }

    // MARK: - Capture outcomes

    func captured(_ index: Int32, _ order: Order) {
        var sim = orders[Int(index)]
        if sim.state == .acknowledged {
            if sim.sequence != order.captureSequence { duplicates += 1 }
            return
        }
        if sim.sequence != 0 && sim.sequence != order.captureSequence {
            duplicates += 1
            violations.append(Violation(check: "no_duplicate_orders",
                                        detail: "\(externalID(index)) was answered as \(OrderID(sequence: sim.sequence)) and as \(order.orderID)"))
        }
        sim.state = .acknowledged
        sim.sequence = order.captureSequence
        sim.capturedDay = order.capturedAt.day
        sim.capturedVirtualDay = Timestamp(millisecondsSinceEpoch: now).day
        acknowledged += 1
        // KPIs at capture.
        var allocated: Int64 = 0
        var cost: Int64 = 0
        var shipments = 0
        for fulfillment in order.fulfillments where fulfillment.status != .cancelled && fulfillment.status != .rejected {
            allocated += Int64(fulfillment.units)
            shipments += 1
            if fulfillment.method == .ship { cost += fulfillment.shippingCostEstimate?.minorUnits ?? 0 }
        }
        unitsAllocatedAtCapture += allocated
        figures.captured(channel: sim.channel, unitsOrdered: sim.lines.reduce(0) { $0 + Int64($1.quantity) }, unitsAllocated: allocated)
        if shipments > 1 { ordersSplit += 1 }
        if shipments > 0 && order.requestedFulfillment.method == .ship {
            shippingCostMinor += cost
            ordersWithShipments += 1
        }
        if order.backorderedUnits > 0 { ordersBackordered += 1 }
        orders[Int(index)] = sim
        // The customer's and the payment provider's later moves.
        if sim.paymentHold {
            let delay = Int64(lifecycleRandom.exponential(mean: scenario.lifecycle.paymentHoldMinutes * 60_000)) + 1_000
            scheduleAction(index, sim.declines ? .declinePayment : .releaseHold, -1, after: delay)
        }
        if sim.cancels {
            let delay = Int64(lifecycleRandom.exponential(mean: scenario.lifecycle.cancelAfterMinutes * 60_000)) + 1_000
            scheduleAction(index, .customerCancel, -1, after: delay)
        }
    }

    // MARK: - The warehouses and stores (WMS): fulfillments from the change feed

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
                if let order = event.order { wmsObserve(order, event) }
            } else {
                erpBacklog.append(event)
            }
        }
    }

    func wmsObserve(_ order: Order, _ event: FeedEvent) {
        guard let index = Self.orderIndex(externalID: order.externalOrderID), Int(index) < orders.count else {
            violations.append(Violation(check: "no_duplicate_orders", detail: "feed carries \(order.orderID) with unknown external id \(order.externalOrderID)"))
            return
        }
        var sim = orders[Int(index)]
        if event.aggregateSequence != sim.lastFeedSequence + 1 {
            violations.append(Violation(check: "change_feed_complete",
                                        detail: "order \(order.orderID): sequence \(event.aggregateSequence) after \(sim.lastFeedSequence) at offset \(event.offset)"))
        }
        sim.lastFeedSequence = Swift.max(sim.lastFeedSequence, event.aggregateSequence)
        if sim.sequence == 0 { sim.sequence = order.captureSequence }
        else if sim.sequence != order.captureSequence {
            violations.append(Violation(check: "no_duplicate_orders",
                                        detail: "\(order.externalOrderID) exists as \(OrderID(sequence: sim.sequence)) and \(order.orderID)"))
        }
        orders[Int(index)] = sim
        if sim.state == .lost || sim.state == .rejected {
            violations.append(Violation(check: "timed_out_calls_resolved",
                                        detail: "\(order.externalOrderID) was resolved as \(sim.state) but exists as \(order.orderID)"))
        }
        let storePOS = sim.channel == .storePOS
        while orders[Int(index)].fulfillments.count < order.fulfillments.count { orders[Int(index)].fulfillments.append(FulfillmentTrack()) }
        let config = scenario.lifecycle
        for (position, fulfillment) in order.fulfillments.enumerated() {
            if orders[Int(index)].fulfillments[position].location < 0 {
                orders[Int(index)].fulfillments[position].location = locationIndex[fulfillment.locationID] ?? -1
            }
            let track = orders[Int(index)].fulfillments[position]
            if track.handled == fulfillment.status { continue }
            let minute = 60_000.0
            let f = Int32(position)
            switch fulfillment.status {
            case .created:
                if order.isOnHold { continue }
                scheduleAction(index, .release, f, after: storePOS ? 30_000 : Int64(wmsRandom.exponential(mean: config.releaseDelayMinutes * minute)))
            case .released:
                let location = world.locations[Int(locationIndex[fulfillment.locationID] ?? 0)]
                let delay = storePOS ? 60_000 : Int64(wmsRandom.exponential(mean: config.pickMinutes * minute))
                if location.type == .store && !storePOS && wmsRandom.chance(config.storeRejectionRate) {
                    orders[Int(index)].fulfillments[position].rejectPlanned = wmsRandom.chance(config.stockMissingShare)
                    scheduleAction(index, .reject, f, after: delay)
                } else {
                    scheduleAction(index, .pick, f, after: delay)
                }
            case .picked:
                scheduleAction(index, .pack, f, after: storePOS ? 30_000 : Int64(wmsRandom.exponential(mean: config.packMinutes * minute)))
            case .packed:
                scheduleAction(index, .ship, f, after: storePOS ? 30_000 : Int64(wmsRandom.exponential(mean: config.shipMinutes * minute)))
            case .shipped:
                figures.handedOver(channel: sim.channel, estimateMinor: fulfillment.shippingCostEstimate?.minorUnits ?? 0,
                                   processingMinor: world.locations[Int(locationIndex[fulfillment.locationID] ?? 0)].processingCost?.minorUnits ?? 0,
                                   firstOfOrder: !orders[Int(index)].handedOver)
                orders[Int(index)].handedOver = true
                let delay: Int64
                if fulfillment.method == .pickup {
                    delay = storePOS ? 60_000 : Int64(carrierRandom.exponential(mean: config.pickupCollectHours * 3_600_000)) + 600_000
                } else {
                    var days = Int64(Swift.max(1, fulfillment.transitDaysEstimate))
                    if carrierRandom.chance(config.lateDeliveryRate) { days += 1 + Int64(carrierRandom.below(3)) }
                    // The carrier's delivery day is set at handover: judge it against the promise now,
                    // in simulated days (processing day + transit days, as Waybill promised).
                    let promisedDay = sim.submittedAt / 86_400_000 + (fulfillment.processingDay - order.capturedAt.day)
                        + Int64(Swift.max(1, fulfillment.transitDaysEstimate))
                    shipmentsPlanned += 1
                    if now / 86_400_000 + days <= promisedDay { onTimeShipments += 1 }
                    // Delivered during the carrier's day on the last transit day.
                    let dayStart = (now / 86_400_000 + days) * 86_400_000
                    delay = dayStart + 13 * 3_600_000 + Int64(carrierRandom.below(8 * 3_600_000)) - now
                    figures.parcel(channel: sim.channel, orderedAt: sim.submittedAt, shippedAt: now, deliveredAt: now + delay, promisedDay: promisedDay)
                }
                scheduleAction(index, .deliver, f, after: delay)
            case .delivered:
                if !track.returnPlanned && !storePOS && carrierRandom.chance(config.returnRate) {
                    orders[Int(index)].fulfillments[position].returnPlanned = true
                    scheduleAction(index, .createReturn, f, after: Int64(carrierRandom.exponential(mean: config.returnAfterDays * 86_400_000)) + 3_600_000)
                }
            case .rejected, .cancelled:
                break
            }
            orders[Int(index)].fulfillments[position].handled = fulfillment.status
        }
    }

    func scheduleAction(_ index: Int32, _ action: OrderAction, _ fulfillment: Int32, after delay: Int64) {
        orders[Int(index)].scheduled += 1
        queue.schedule(after: Swift.max(0, delay), priority: 5, .action(order: index, action: action, fulfillment: fulfillment))
    }

    /// Sends a scheduled action. The command refers to the order as Waybill last showed it.
    func perform(_ index: Int32, _ action: OrderAction, _ fulfillmentIndex: Int32) {
        let sim = orders[Int(index)]
        guard sim.sequence != 0 else {
            // The capture has not been answered yet (live): try again shortly.
            if sim.state == .submitted { queue.schedule(after: 1_000, priority: 5, .action(order: index, action: action, fulfillment: fulfillmentIndex)) }
            else { orders[Int(index)].scheduled -= 1 }
            return
        }
        let orderID = OrderID(sequence: sim.sequence)
        let fulfillmentID = "\(orderID.rawValue)-F\(fulfillmentIndex + 1)"
        let command: OrderCommand
        switch action {
        case .releaseHold: command = .releaseHold(.payment, note: "authorised")
        case .declinePayment: command = .cancelOrder(reason: "payment declined")
        case .customerCancel: command = .cancelOrder(reason: "customer changed their mind")
        case .release: command = .releaseFulfillment(fulfillmentID)
        case .pick: command = .confirmPick(fulfillmentID)
        case .pack: command = .confirmPack(fulfillmentID)
        case .ship:
            let carrier = world.carriers.first?.carrierID ?? "parcelco"
            command = .confirmShipment(fulfillmentID, carrierID: carrier, trackingNumber: "TRK-" + fulfillmentID)
        case .deliver: command = .confirmDelivery(fulfillmentID)
        case .reject:
            rejectionsSent += 1
            command = .rejectFulfillment(fulfillmentID, lines: [], reason: sim.fulfillments[Int(fulfillmentIndex)].rejectPlanned ? "stock missing at pick" : "store too busy",
                                         stockMissing: sim.fulfillments[Int(fulfillmentIndex)].rejectPlanned)
        case .createReturn:
            command = .createReturn(returnID: "R\(fulfillmentIndex + 1)", lines: [], reason: "customer return")
        case .receiveReturn:
            command = .receiveReturn(returnID: "R\(fulfillmentIndex + 1)", locationID: LocationID(""), lines: [])
        }
        let requestID = externalID(index) + "-" + action.name + "-" + String(fulfillmentIndex + 1)
        issueAction(index, action, fulfillmentIndex, requestID, orderID, command)
    }

    /// Returns need the order's lines: read it first (in-process the read is free).
    func issueAction(_ index: Int32, _ action: OrderAction, _ fulfillment: Int32, _ requestID: String, _ orderID: OrderID, _ command: OrderCommand) {
        switch action {
        case .createReturn, .receiveReturn:
            issue(.actionReadBack(order: index, action: action, fulfillment: fulfillment, requestID: "prepare:" + requestID), .getOrder(orderID))
        default:
            let changesStock = action == .ship || action == .reject
            let location = changesStock && Int(fulfillment) < orders[Int(index)].fulfillments.count ? orders[Int(index)].fulfillments[Int(fulfillment)].location : -1
            issue(.action(order: index, action: action, fulfillment: fulfillment, requestID: requestID), .lifecycle(orderID, command, requestID: requestID),
                  stockLocation: location)
        }
    }

    func actionSucceeded(_ index: Int32, _ action: OrderAction, _ fulfillmentIndex: Int32, _ order: Order) {
        let f = Int(fulfillmentIndex)
        switch action {
        case .ship:
            guard f < order.fulfillments.count, !orders[Int(index)].fulfillments[f].booked else { return }
            orders[Int(index)].fulfillments[f].booked = true
            let fulfillment = order.fulfillments[f]
            for line in fulfillment.lines {
                bookChange(line.sku, fulfillment.locationID, -Int64(line.quantity))
                unitsShipped += Int64(line.quantity)
            }
        case .reject:
            guard f < order.fulfillments.count, !orders[Int(index)].fulfillments[f].booked else { return }
            orders[Int(index)].fulfillments[f].booked = true
            if orders[Int(index)].fulfillments[f].rejectPlanned {
                let fulfillment = order.fulfillments[f]
                for line in fulfillment.lines { bookChange(line.sku, fulfillment.locationID, -Int64(line.quantity)) }
            }
        case .deliver:
            guard f < order.fulfillments.count else { return }
            deliveries += 1
        case .createReturn:
            scheduleAction(index, .receiveReturn, fulfillmentIndex, after: Int64(scenario.lifecycle.returnTransitDays * 86_400_000))
        case .receiveReturn:
            returnsReceived += 1
            let returnID = "R\(fulfillmentIndex + 1)"
            guard let ret = order.returns.first(where: { $0.returnID == returnID }), let location = ret.receivedAtLocationID else { return }
            for line in ret.received where line.disposition == .restock && line.quantity > 0 {
                guard let lineIndex = order.lineIndex(line.lineID) else { continue }
                bookChange(order.lines[lineIndex].sku, location, Int64(line.quantity))
            }
        case .customerCancel, .declinePayment:
            cancellations += 1
        default:
            break
        }
    }

    /// A read-back that prepares a return: build the request from the order as it is now.
    func prepared(_ index: Int32, _ action: OrderAction, _ fulfillmentIndex: Int32, _ requestID: String, _ order: Order) {
        let f = Int(fulfillmentIndex)
        guard f < order.fulfillments.count else { return }
        let fulfillment = order.fulfillments[f]
        let returnID = "R\(fulfillmentIndex + 1)"
        let command: OrderCommand
        if action == .createReturn {
            if order.returns.contains(where: { $0.returnID == returnID }) { actionSucceeded(index, action, fulfillmentIndex, order); return }
            command = .createReturn(returnID: returnID, lines: fulfillment.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) },
                                    reason: "customer return")
        } else {
            guard let ret = order.returns.first(where: { $0.returnID == returnID }) else { return }
            if ret.status == .received { actionSucceeded(index, action, fulfillmentIndex, order); return }
            let lines = ret.lines.map { line in
                ReturnLine(lineID: line.lineID, quantity: line.quantity,
                           disposition: carrierRandom.chance(scenario.lifecycle.restockShare) ? .restock : .dispose)
            }
            command = .receiveReturn(returnID: returnID, locationID: fulfillment.locationID, lines: lines)
        }
        orders[Int(index)].scheduled += 1
        issue(.action(order: index, action: action, fulfillment: fulfillmentIndex, requestID: requestID),
              .lifecycle(order.orderID, command, requestID: requestID), stockLocation: action == .receiveReturn ? (locationIndex[fulfillment.locationID] ?? -1) : -1)
    }

    func actionFailed(_ index: Int32, _ action: OrderAction, code: String, message: String) {
        // Races the real world has too: a cancel after shipment, a pick of a fulfillment the customer
        // just cancelled. Anything else is a finding.
        if code == "FAILED_PRECONDITION" {
            expectedFailures[action.name + " " + code, default: 0] += 1
            return
        }
        violations.append(Violation(check: "calls_answered_as_expected", detail: "\(action.name) of \(externalID(index)) failed: \(code): \(message)"))
    }

    // MARK: - Stock book (the ERP's physical count)

    func position(_ sku: SKU, _ location: LocationID) -> Int? {
        guard let s = skuIndex[sku], let l = locationIndex[location] else { return nil }
        return Int(s) * world.locations.count + Int(l)
    }

    func bookChange(_ sku: SKU, _ location: LocationID, _ delta: Int64) {
        guard let position = position(sku, location) else {
            violations.append(Violation(check: "stock_conserved", detail: "stock moved at unknown position \(sku)@\(location)"))
            return
        }
        book[position] += delta
        if book[position] < 0 {
            violations.append(Violation(check: "no_oversell", detail: "\(sku)@\(location): shipped beyond physical stock (book \(book[position]))"))
        }
    }

    func replenishmentReview() {
        let interval = Int64(scenario.replenishment.reviewIntervalHours * 3_600_000)
        if now + interval < arrivalsEnd + interval { queue.schedule(after: interval, priority: 6, .replenishmentReview) }
        let lead = Int64(scenario.replenishment.leadTimeHours * 3_600_000)
        for position in book.indices where initialBook[position] > 0 && !onOrder[position] {
            let threshold = Int64((Double(initialBook[position]) * scenario.replenishment.reorderPointShare).rounded())
            if book[position] <= threshold {
                let units = initialBook[position] - book[position]
                guard units > 0 else { continue }
                onOrder[position] = true
                queue.schedule(after: lead + Int64(erpRandom.below(Int(Swift.max(1, lead / 4)))), priority: 6,
                               .receipt(position: Int32(position), units: Int32(clamping: units)))
            }
        }
    }

    func receiptArrived(_ position: Int32, _ units: Int32) {
        onOrder[Int(position)] = false
        book[Int(position)] += Int64(units)
        unitsReceived += Int64(units)
        receiptCount += 1
        unsentReceipts[Int(position)] += Int64(units)
        erpEnqueue(.receipt(position: position, units: units, number: receiptCount), after: 0)
    }

    func snapshotDue(_ location: Int32) {
        let interval = Int64(scenario.erp.snapshotIntervalHours * 3_600_000)
        if now + interval <= endTime { queue.schedule(after: interval, priority: 6, .snapshot(location: location)) }
        snapshotCount += 1
        erpEnqueue(.snapshot(location: location, number: snapshotCount), after: 0)
    }

    // MARK: - The ERP

    func erpEnqueue(_ message: ErpMessage, after delay: Int64) {
        let id = Int32(erpMessages.count)
        erpMessages.append(message)
        if delay <= 0 {
            erpOutbox.append(id)
            erpKick()
        } else {
            queue.schedule(after: delay, priority: 6, .erpReady(message: id))
        }
    }

    func erpKick() {
        if !erpSendScheduled {
            erpSendScheduled = true
            queue.schedule(after: 0, priority: 6, .erpSend)
        }
    }

    /// Sends what the ERP has ready, within its window; a snapshot waits for everything before it.
    func erpSend() {
        if let fault = erpFault() {
            if fault.mode == "down" { return }  // faultEdge kicks us at the end of the window
        }
        let window = gateway.isLive ? Swift.max(1, scenario.erp.windowMessages) : 1
        while erpOutboxHead < erpOutbox.count && erpInFlight < window {
            let id = erpOutbox[erpOutboxHead]
            guard let message = erpMessages[Int(id)] else { erpOutboxHead += 1; continue }
            if case .snapshot(let location, _) = message {
                if erpInFlight > 0 { return }
                if stockCalls[Int(location)] > 0 {
                    erpSendScheduled = true
                    queue.schedule(after: 50, priority: 6, .erpSend)
                    return
                }
            }
            erpOutboxHead += 1
            erpInFlight += 1
            erpMessagesSent += 1
            var stockLocation: Int32 = -1
            if case .receipt(let position, let units, _) = message {
                stockLocation = position % Int32(world.locations.count)
                unsentReceipts[Int(position)] -= Int64(units)
            }
            issue(.erp(message: id), erpRequest(message), stockLocation: stockLocation)
            if let fault = erpFault(), fault.mode == "slow" {
                if erpOutboxHead < erpOutbox.count {
                    erpSendScheduled = true
                    queue.schedule(after: Int64(fault.extraDelayMs), priority: 6, .erpSend)
                }
                break
            }
        }
        if erpOutboxHead > 4096 && erpOutboxHead * 2 > erpOutbox.count {
            erpOutbox.removeFirst(erpOutboxHead)
            erpOutboxHead = 0
        }
    }

    func erpRequest(_ message: ErpMessage) -> SimRequest {
        switch message {
        case .acknowledgement(let order):
            let sequence = orders[Int(order)].sequence
            return .erpAcknowledgement(OrderID(sequence: sequence), documentNumber: "SO-\(sequence)", messageID: "ack-\(sequence)")
        case .invoice(let order, let fulfillmentID, let amount):
            let document = ErpDocument(kind: "invoice", documentNumber: "INV-" + fulfillmentID, amount: Money(minorUnits: amount, currency: world.currency),
                                       postedAt: Timestamp(millisecondsSinceEpoch: gateway.serverTime(now)))
            return .erpDocument(OrderID(sequence: orders[Int(order)].sequence), document, messageID: "inv-" + fulfillmentID)
        case .creditNote(let order, let returnID, let amount):
            let orderID = OrderID(sequence: orders[Int(order)].sequence)
            let document = ErpDocument(kind: "credit_note", documentNumber: "CN-\(orderID.rawValue)-\(returnID)",
                                       amount: Money(minorUnits: amount, currency: world.currency),
                                       postedAt: Timestamp(millisecondsSinceEpoch: gateway.serverTime(now)))
            return .erpDocument(orderID, document, messageID: "cn-\(orderID.rawValue)-\(returnID)")
        case .receipt(let position, let units, let number):
            let sku = world.catalogue[Int(position) / world.locations.count].sku
            let location = world.locations[Int(position) % world.locations.count].locationID
            return .stockDeltas(messageID: "rcv-\(number)", [InventoryChange(changeID: "rcv-\(number)#0", kind: .receipt, sku: sku, locationID: location,
                                                                             quantity: units, reason: "replenishment")])
        case .snapshot(let location, let number):
            let count = world.locations.count
            let levels = world.catalogue.indices.compactMap { sku -> (SKU, Int64)? in
                let position = sku * count + Int(location)
                let counted = book[position] - unsentReceipts[position]
                return initialBook[position] > 0 || counted != 0 ? (world.catalogue[sku].sku, counted) : nil
            }
            return .stockSnapshot(messageID: "snap-\(number)", world.locations[Int(location)].locationID,
                                  asOf: Timestamp(millisecondsSinceEpoch: gateway.serverTime(now)), levels: levels)
        }
    }

    func erpMessageDone(_ id: Int32, _ reply: SimReply) {
        switch reply {
        case .applied(_, let corrections):
            if case .snapshot? = erpMessages[Int(id)] { snapshotCorrections += corrections }
        case .failed(let code, let message):
            violations.append(Violation(check: "calls_answered_as_expected", detail: "ERP message \(erpRequestName(id)) failed: \(code): \(message)"))
        default:
            break
        }
        erpMessages[Int(id)] = nil
    }

    func erpRequestName(_ id: Int32) -> String {
        guard let message = erpMessages[Int(id)] else { return "#\(id)" }
        switch message {
        case .acknowledgement(let order): return "ack of \(externalID(order))"
        case .invoice(_, let fulfillmentID, _): return "invoice of \(fulfillmentID)"
        case .creditNote(let order, let returnID, _): return "credit note of \(externalID(order)) \(returnID)"
        case .receipt(_, _, let number): return "receipt rcv-\(number)"
        case .snapshot(_, let number): return "snapshot snap-\(number)"
        }
    }

    /// The ERP reads what the feed delivered, updates its records, queues its answers, acknowledges.
    func erpPoll() {
        erpPollScheduled = false
        let fault = erpFault()
        if fault?.mode == "down" { return }  // the faultEdge at the window's end polls again
        let serverNow = gateway.serverTime(now)
        var processed = 0
        while erpBacklogHead < erpBacklog.count {
            let event = erpBacklog[erpBacklogHead]
            erpBacklogHead += 1
            processed += 1
            metrics.recordLag(milliseconds: Int64(Double(Swift.max(0, serverNow - event.occurredAt)) / gateway.serverClockScale))
            erpAcknowledgedOffset = Swift.max(erpAcknowledgedOffset, event.offset)
            guard let order = event.order, let index = Self.orderIndex(externalID: order.externalOrderID), Int(index) < orders.count else { continue }
            var sim = orders[Int(index)]
            let position = Int(index)
            while erpOrderSequences.count <= position { erpOrderSequences.append(0) }
            if event.aggregateSequence != erpOrderSequences[position] + 1 {
                violations.append(Violation(check: "change_feed_complete",
                                            detail: "sim-erp: order \(order.orderID) sequence \(event.aggregateSequence) after \(erpOrderSequences[position]) at offset \(event.offset)"))
            }
            erpOrderSequences[position] = Swift.max(erpOrderSequences[position], event.aggregateSequence)
            sim.erpStatus = SimulatedErp.statusName(order.status)  // its own mapping (SimulatedErp.swift), not Reconciler's
            switch event.type {
            case "order.captured", "order.cancelled", "order.lines_cancelled", "order.resynced":
                sim.erpLines = SimulatedErp.netLines(order)
            default: break
            }
            sim.erpUpdatedAt = event.occurredAt
            if sim.sequence == 0 { sim.sequence = order.captureSequence }
            switch event.type {
            case "order.captured":
                if !sim.erpDocument {
                    sim.erpDocument = true
                    erpEnqueue(.acknowledgement(order: index), after: Int64(erpRandom.exponential(mean: scenario.erp.ackDelayMs)))
                }
            case "order.fulfillment_shipped":
                if let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == event.fulfillmentID }) {
                    var amount: Int64 = 0
                    for line in fulfillment.lines {
                        if let lineIndex = order.lineIndex(line.lineID) { amount += Int64(line.quantity) * order.lines[lineIndex].unitPrice.minorUnits }
                    }
                    erpEnqueue(.invoice(order: index, fulfillmentID: fulfillment.fulfillmentID, amountMinor: amount),
                               after: Int64(erpRandom.exponential(mean: scenario.erp.invoiceDelayMs)))
                }
            case "order.return_received":
                if let ret = order.returns.first(where: { $0.returnID == event.returnID }) {
                    erpEnqueue(.creditNote(order: index, returnID: ret.returnID, amountMinor: ret.refund?.minorUnits ?? 0),
                               after: Int64(erpRandom.exponential(mean: scenario.erp.invoiceDelayMs)))
                }
            default: break
            }
            orders[Int(index)] = sim
        }
        if erpBacklogHead > 4096 && erpBacklogHead * 2 > erpBacklog.count {
            erpBacklog.removeFirst(erpBacklogHead)
            erpBacklogHead = 0
        }
        if processed > 0 && gateway.isLive {
            issue(.feedAck, .feedAcknowledge(consumer: consumerNames[1], offset: erpAcknowledgedOffset))
        }
        if !settling || gateway.isLive {
            erpPollScheduled = true
            let interval = Swift.max(scenario.erp.pollIntervalMs, gateway.pollFloorMilliseconds)
            queue.schedule(after: interval + Int64(fault.map { $0.mode == "slow" ? $0.extraDelayMs : 0 } ?? 0), priority: 7, .erpPoll)
        }
    }

    var erpBacklogCount: Int { erpBacklog.count - erpBacklogHead }
    var erpIdle: Bool { erpBacklogCount == 0 && erpOutboxHead >= erpOutbox.count && erpInFlight == 0 }

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
