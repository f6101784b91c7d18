// What a policy buys and what it costs, per run: delivery speed measured from the customer's order
// to the carrier's delivery (independent of the policy's own promise), fulfillment cost (shipping +
// processing) with its currency, and the same per channel. The model records into
// `FulfillmentRecorder` at capture and at carrier handover; `figures()` makes the report's values.

import WaybillCore

private let dayMilliseconds: Int64 = 86_400_000

/// Delivery speed of the parcels handed to the carrier during the run (ship-to-customer fulfillments;
/// pickups are collected at the customer's pace, not the policy's). The delivery time is the one the
/// simulated carrier fixes at handover (late with `late_delivery_rate`), so a parcel handed over near
/// the horizon counts even if its delivery falls after it. Days are simulated days; "calendar" days
/// are UTC day numbers (ordered on day d, delivered on day d + 1 = next day).
public struct DeliverySpeed: Codable, Sendable, Equatable {
    /// Parcels handed to the carrier.
    public var parcels: Int = 0
    /// Mean carrier handover → delivery, in days.
    public var meanTransitDays: Double = 0
    /// Mean customer's order → delivery, in days.
    public var meanOrderToDeliveryDays: Double = 0
    /// Share delivered on the order's calendar day or the next.
    public var nextDayShare: Double = 0
    /// Share delivered within two calendar days of the order.
    public var twoDayShare: Double = 0
    /// Mean promised calendar days from the order (the policy's promise).
    public var meanPromisedDays: Double = 0
    /// Mean actual calendar days from the order to delivery.
    public var meanActualDays: Double = 0
    /// Share delivered on or before the promised day (the policy measured against its own promise).
    public var onPromiseShare: Double = 0
    /// Parcels by calendar days from order to delivery: index k = k days, the last bucket = that many or more.
    public var deliveredByDay: [Int] = []
}

/// Fulfillment cost of the fulfillments handed over (shipped, or handed to the customer at a store):
/// the carrier's rate plus the location's processing cost, as Waybill estimated them when routing.
public struct FulfillmentCost: Codable, Sendable, Equatable {
    public var currency: String = "USD"
    public var shippingMinor: Int64 = 0
    public var processingMinor: Int64 = 0
    /// Shipping + processing.
    public var totalMinor: Int64 = 0
    public var fulfillments: Int = 0
    /// Orders with at least one fulfillment handed over.
    public var orders: Int = 0
    /// totalMinor / orders, in major units.
    public var perOrder: Double = 0
}

/// One channel's figures in one run.
public struct ChannelFigures: Codable, Sendable, Equatable {
    public var channel: String
    /// Acknowledged orders.
    public var orders: Double
    /// Units allocated at capture / units ordered, this channel's acknowledged orders.
    public var fillRate: Double
    public var parcels: Double
    /// Mean customer's order → delivery of this channel's parcels, in days.
    public var meanDeliveryDays: Double
    /// Fulfillment cost per order handed over, in major units.
    public var costPerOrder: Double
}

/// Parcels delivered k calendar days after the order, k = 0 ..< bucketCount - 1, the last bucket = more.
let deliveredByDayBuckets = 8

struct FulfillmentRecorder {
    struct ChannelTotals {
        var channel: Channel
        var orders = 0
        var unitsOrdered: Int64 = 0
        var unitsAllocated: Int64 = 0
        var parcels = 0
        var orderToDeliveryMilliseconds: Int64 = 0
        var costMinor: Int64 = 0
        var ordersHandedOver = 0
    }

    let currency: String
    var channels: [ChannelTotals] = []
    var parcels = 0
    var transitMilliseconds: Int64 = 0
    var orderToDeliveryMilliseconds: Int64 = 0
    var nextDay = 0
    var twoDay = 0
    var promisedDays: Int64 = 0
    var actualDays: Int64 = 0
    var onPromise = 0
    var byDay = Array(repeating: 0, count: deliveredByDayBuckets)
    var shippingMinor: Int64 = 0
    var processingMinor: Int64 = 0
    var fulfillments = 0
    var ordersHandedOver = 0

    init(currency: String) { self.currency = currency }

    /// The channel's totals, in order of first appearance (deterministic: the event order is).
    private mutating func slot(_ channel: Channel) -> Int {
        if let index = channels.firstIndex(where: { $0.channel == channel }) { return index }
        channels.append(ChannelTotals(channel: channel))
        return channels.count - 1
    }

    mutating func captured(channel: Channel, unitsOrdered: Int64, unitsAllocated: Int64) {
        let index = slot(channel)
        channels[index].orders += 1
        channels[index].unitsOrdered += unitsOrdered
        channels[index].unitsAllocated += unitsAllocated
    }

    /// A fulfillment handed over (to the carrier, or to the customer at a store).
    mutating func handedOver(channel: Channel, estimateMinor: Int64, processingMinor processing: Int64, firstOfOrder: Bool) {
        let index = slot(channel)
        // The estimate is shipping + processing (Engine.allocate); a pickup's shipping is zero.
        shippingMinor += Swift.max(0, estimateMinor - processing)
        processingMinor += processing
        fulfillments += 1
        channels[index].costMinor += Swift.max(estimateMinor, processing)
        if firstOfOrder { ordersHandedOver += 1; channels[index].ordersHandedOver += 1 }
    }

    /// A parcel handed to the carrier, with the delivery time the carrier fixed and the promised day.
    mutating func parcel(channel: Channel, orderedAt: Int64, shippedAt: Int64, deliveredAt: Int64, promisedDay: Int64) {
        let index = slot(channel)
        parcels += 1
        transitMilliseconds += deliveredAt - shippedAt
        orderToDeliveryMilliseconds += deliveredAt - orderedAt
        let orderDay = orderedAt / dayMilliseconds, deliveryDay = deliveredAt / dayMilliseconds
        let days = deliveryDay - orderDay
        if days <= 1 { nextDay += 1 }
        if days <= 2 { twoDay += 1 }
        promisedDays += promisedDay - orderDay
        actualDays += days
        if deliveryDay <= promisedDay { onPromise += 1 }
        byDay[Int(Swift.min(Swift.max(0, days), Int64(deliveredByDayBuckets - 1)))] += 1
        channels[index].parcels += 1
        channels[index].orderToDeliveryMilliseconds += deliveredAt - orderedAt
    }

    func figures() -> (speed: DeliverySpeed, cost: FulfillmentCost, channels: [ChannelFigures]) {
        func share(_ part: Int, _ whole: Int) -> Double { whole == 0 ? 0 : Double(part) / Double(whole) }
        func mean(_ total: Int64, _ count: Int, scale: Double = 1) -> Double { count == 0 ? 0 : Double(total) / scale / Double(count) }
        let day = Double(dayMilliseconds)
        let speed = DeliverySpeed(parcels: parcels, meanTransitDays: mean(transitMilliseconds, parcels, scale: day),
                                  meanOrderToDeliveryDays: mean(orderToDeliveryMilliseconds, parcels, scale: day),
                                  nextDayShare: share(nextDay, parcels), twoDayShare: share(twoDay, parcels),
                                  meanPromisedDays: mean(promisedDays, parcels), meanActualDays: mean(actualDays, parcels),
                                  onPromiseShare: share(onPromise, parcels), deliveredByDay: byDay)
        let total = shippingMinor + processingMinor
        let cost = FulfillmentCost(currency: currency, shippingMinor: shippingMinor, processingMinor: processingMinor, totalMinor: total,
                                   fulfillments: fulfillments, orders: ordersHandedOver, perOrder: mean(total, ordersHandedOver, scale: 100))
        let channels = channels.sorted { $0.channel.rawValue < $1.channel.rawValue }.map { totals in
            ChannelFigures(channel: totals.channel.name, orders: Double(totals.orders),
                           fillRate: totals.unitsOrdered == 0 ? 0 : Double(totals.unitsAllocated) / Double(totals.unitsOrdered),
                           parcels: Double(totals.parcels), meanDeliveryDays: mean(totals.orderToDeliveryMilliseconds, totals.parcels, scale: day),
                           costPerOrder: mean(totals.costMinor, totals.ordersHandedOver, scale: 100))
        }
        return (speed, cost, channels)
    }
}
