// Lifecycle actions any actor schedules (the WMS's steps, the carrier's delivery, the customer's
// cancel and return, the payment provider's decision): sent to Waybill, read back, booked.

import Foundation
import WaybillCore

extension SimulationModel {
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
        case .customerEdit: command = customerEdit(index)
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
        case .customerEdit:
            editsApplied += 1
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
            if action == .customerEdit { editsRefused += 1 }
            expectedFailures[action.name + " " + code, default: 0] += 1
            return
        }
        violations.append(Violation(check: "calls_answered_as_expected", detail: "\(action.name) of \(externalID(index)) failed: \(code): \(message)"))
    }
}
