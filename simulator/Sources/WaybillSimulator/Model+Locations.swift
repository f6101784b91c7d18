// Locations and their WMS: fulfillments learnt from the change feed, released, picked, packed and
// shipped after a delay, or rejected by a store (busy, or stock missing).

import Foundation
import WaybillCore

extension SimulationModel {
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
                carrierTakes(fulfillment, of: order, index, f, sim)
            case .delivered:
                customerMayReturn(index, position, f, track, storePOS: storePOS)
            case .rejected, .cancelled:
                break
            }
            orders[Int(index)].fulfillments[position].handled = fulfillment.status
        }
    }
}
