// Channels and customers: orders arriving per channel (diurnal profile, peaks, bursts), baskets,
// the store shelf, payment holds, cancellations and returns.

import Foundation
import WaybillCore

extension SimulationModel {
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
        if beginCheckout(index, serviceLevel: serviceLevel) { return }
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
        // What customer service looks an order up by (the console, SearchOrders): the same for
        // every order of a returning customer (same customer id).
        draft.customer.email = "c\(city.geonameID)-\(index % 997)@shoppers.example"
        draft.customer.phone = "+1 555 " + String((Int(city.geonameID) * 997 + Int(index % 997)) % 10_000_000)
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
        checkoutCaptured(index, order, readBack: sim.readBack)
        // The customer's and the payment provider's later moves.
        if sim.paymentHold {
            let delay = Int64(lifecycleRandom.exponential(mean: scenario.lifecycle.paymentHoldMinutes * 60_000)) + 1_000
            scheduleAction(index, sim.declines ? .declinePayment : .releaseHold, -1, after: delay)
        }
        if sim.cancels {
            let delay = Int64(lifecycleRandom.exponential(mean: scenario.lifecycle.cancelAfterMinutes * 60_000)) + 1_000
            scheduleAction(index, .customerCancel, -1, after: delay)
        }
        customerMayEdit(index, order)
    }

    /// After a delivery the customer may send it back (drawn from the carriers' stream, as it always was).
    func customerMayReturn(_ index: Int32, _ position: Int, _ f: Int32, _ track: FulfillmentTrack, storePOS: Bool) {
        let config = scenario.lifecycle
        if !track.returnPlanned && !storePOS && carrierRandom.chance(config.returnRate) {
            orders[Int(index)].fulfillments[position].returnPlanned = true
            scheduleAction(index, .createReturn, f, after: Int64(carrierRandom.exponential(mean: config.returnAfterDays * 86_400_000)) + 3_600_000)
        }
    }
}
