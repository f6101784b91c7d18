// The ERP: its stock book (the physical count), replenishment, receipts and counts sent to
// Waybill, and the change feed read back into its records (acknowledgements, invoices, credit notes).

import Foundation
import WaybillCore

extension SimulationModel {
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
            // A receipt's RECEIVED goes after its OPEN has been answered (the window could reorder them).
            if case .expectedReceipt(true, _) = message, erpInFlight > 0 { return }
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
            if let location = dropReceiptSending(message) { stockLocation = location }
            // A count holds its location's stock calls until erpMessageDone (at once in-process).
            if case .snapshot(let location, _) = message { countInFlight[Int(location)] = true }
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
        case .expectedReceipt(let received, let units):
            return dropReceiptRequest(received: received, units: units)
        }
    }

    func erpMessageDone(_ id: Int32, _ reply: SimReply) {
        if case .snapshot(let location, _)? = erpMessages[Int(id)], countInFlight[Int(location)] {
            // The count is in: the stock calls held for it go now, in the order they were made.
            countInFlight[Int(location)] = false
            let held = callsHeldForCount[Int(location)]
            callsHeldForCount[Int(location)] = []
            for (purpose, request) in held { issue(purpose, request, stockLocation: location) }
        }
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
        case .expectedReceipt(let received, _): return "expected receipt \(received ? "RECEIVED" : "OPEN")"
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
            case "order.captured", "order.cancelled", "order.lines_cancelled", "order.edited", "order.resynced":
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
}
