// The calls the actors make to Waybill through the gateway: sent, retried with the same
// idempotency key after a timeout, read back when out of retries, answered.

import Foundation
import WaybillCore

extension SimulationModel {
    // MARK: - Calls

    func issue(_ purpose: Purpose, _ request: SimRequest, stockLocation: Int32 = -1) {
        if stockLocation >= 0 && countInFlight[Int(stockLocation)] {
            callsHeldForCount[Int(stockLocation)].append((purpose, request))
            return
        }
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
        if let reply = gateway.send(id, call.request, as: actor(of: call), intendedAt: gateway.isLive ? intended : now) { complete(id, reply) }
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
                    if call.original == nil { call.original = call.request }
                    call.purpose = readBack.0
                    call.request = readBack.1
                    calls[Int(id)] = call
                    let backoff = Swift.min(60_000, scenario.clients.retryBackoffMs << Int64(Swift.min(16, call.readBackAttempts)))
                    queue.schedule(after: gateway.timeoutPenaltyMilliseconds + backoff, priority: 3, .send(call: id))
                }
            } else if case .availability = call.purpose {
                // A read with no answer: the customer just goes on to order.
                finishCall(id, call)
            } else if case .options(let order) = call.purpose {
                // No options shown: the shopper goes on with the checkout without them.
                finishCall(id, call)
                optionsAnswered(order, nil, call)
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
        // Cart commands are safe to repeat: a reserve with the same content is replayed, a release
        // of a released cart too, an extend only moves the deadline again.
        case .cart: true
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
        case .options(let order): "GetFulfillmentOptions of \(externalID(order))"
        case .cart(let order, let step): "\(step.rpcName) of cart-\(order)"
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
        case .options(let quotes): 70 + UInt64(quotes.count)
        case .cart(let cart, let replayed): (replayed ? 90 : 80) + UInt64(cart.status.rawValue)
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
                // Not there *yet*: an attempt that timed out may still be on its way (live, the
                // server times a request from its arrival, so one held up in a socket can land
                // after this answer). What a channel does: send the capture again with the same
                // key, until Waybill answers it; the key makes it one order whichever lands first.
                if case .capture? = call.original {
                    orders[Int(index)].scheduled += 1
                    issue(.capture(order: index), call.original!)
                } else {
                    orders[Int(index)].state = .lost
                    lost += 1
                }
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
        case .options(let index):
            optionsAnswered(index, reply, call)
        case .cart(let index, let step):
            cartAnswered(index, step, reply, call)
        }
    }
}
