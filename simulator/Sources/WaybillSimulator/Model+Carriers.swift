// Carriers: handover, the delivery day (late with the scenario's rate), delivery; pickups collected.

import Foundation
import WaybillCore

extension SimulationModel {
    /// A shipped fulfillment leaves its location: a carrier delivers it on a day judged against the
    /// promise at handover, or the customer collects it at the store.
    func carrierTakes(_ fulfillment: Fulfillment, of order: Order, _ index: Int32, _ f: Int32, _ sim: SimOrder) {
        let storePOS = sim.channel == .storePOS
        let config = scenario.lifecycle
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
    }
}
