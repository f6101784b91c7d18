// waybill.v1.OrderService: capture, reads and the lifecycle.

import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// An order and, when the writer just stored it, its serialized bytes.
struct OrderOutcome: Sendable {
    var order: Order
    var replayed: Bool
    var bytes: [UInt8]?

    /// `{order, replayed}` (CaptureOrderResponse and OrderResponse share this shape).
    var responseBytes: [UInt8] {
        var output: [UInt8] = []
        appendLengthDelimitedField(1, bytes ?? ((try? order.proto.serializedBytes()) ?? []), to: &output)
        if replayed { output += [0x10, 0x01] }
        return output
    }
}

extension Services {
    func captureOrder(_ request: Waybill_V1_CaptureOrderRequest, call: Call) {
        // Validated and routed ahead here, on the event loop, in parallel with the writer (which
        // does not check the draft again and only checks the plan is still valid).
        let prepared: PreparedCapture
        do {
            try Self.checkCaptureScope(call.caller, request.order.channel, field: "order.channel")
            prepared = try CapturePreparation.prepare(OrderDraft(proto: request.order), limits: self.configuration.domain,
                                                      now: self.configuration.clock(), against: self.writer.committed)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        self.write(call, { context in
            let result = try context.engine.capture(prepared.draft, context: self.context(call, context), storage: context.engineStorage,
                                                    plannedAhead: prepared.plan)
            return OrderOutcome(order: result.order, replayed: result.replayed,
                                bytes: result.replayed ? nil : context.storedBytes(of: result.order))
        }, respond: { .bytes($0.responseBytes) })
    }

    func captureOrders(_ request: Waybill_V1_CaptureOrdersRequest, call: Call) {
        guard self.within(call, request.orders.count, "ordersPerBatchMax", self.transport.ordersPerBatchMax, "orders") else {
            return
        }
        let now = self.configuration.clock()
        let prepared: [Result<PreparedCapture, WaybillStatusError>] = request.orders.enumerated().map { index, order in
            do {
                try Self.checkCaptureScope(call.caller, order.channel, field: "orders[\(index)].channel")
                let draft = try OrderDraft(proto: order, field: "orders[\(index)]")
                return .success(try CapturePreparation.prepare(draft, limits: self.configuration.domain, field: "orders[\(index)]",
                                                               now: now, against: self.writer.committed))
            } catch {
                return .failure(statusError(error))
            }
        }
        self.write(call, { context in
            var results: [Result<OrderOutcome, WaybillStatusError>] = []
            for (index, draft) in prepared.enumerated() {
                switch draft {
                case .failure(let error): results.append(.failure(error))
                case .success(let capture):
                    // Each order succeeds or fails on its own; a storage error still aborts the batch.
                    do {
                        let result = try context.engine.capture(capture.draft, context: self.context(call, context),
                                                                storage: context.engineStorage, plannedAhead: capture.plan)
                        results.append(.success(OrderOutcome(order: result.order, replayed: result.replayed,
                                                             bytes: result.replayed ? nil : context.storedBytes(of: result.order))))
                    } catch let error as DomainError {
                        // The engine names fields of a single capture ("order.…"); here it is "orders[i].…".
                        results.append(.failure(WaybillStatusError(error.movingField(from: "order", to: "orders[\(index)]"))))
                    }
                }
            }
            return results
        }, respond: { results in
            var output: [UInt8] = []
            for result in results {
                var item: [UInt8] = []
                switch result {
                case .success(let outcome):
                    appendLengthDelimitedField(1, (try? WaybillStatusError(.ok, "").status.serializedBytes()) ?? [], to: &item)
                    appendLengthDelimitedField(2, outcome.responseBytes, to: &item)
                case .failure(let error):
                    appendLengthDelimitedField(1, (try? error.status.serializedBytes()) ?? [], to: &item)
                }
                appendLengthDelimitedField(1, item, to: &output)
            }
            return .bytes(output)
        })
    }

    func getOrder(_ request: Waybill_V1_GetOrderRequest, call: Call) {
        let completion: @Sendable (Result<[UInt8]?, Error>) -> Void = { result in
            self.answer(call, result) { bytes in
                guard let bytes, OrderScope.mayRead(call.caller, bytes) else {
                    let key = request.orderID.isEmpty ? "\(request.channel) order \"\(request.externalOrderID)\"" : request.orderID
                    return .failure(WaybillStatusError(.notFound, "order \(key) not found"))
                }
                return .bytes(bytes)
            }
        }
        if !request.orderID.isEmpty {
            self.reader.orderBytes(id: request.orderID, completion: completion)
        } else if let channel = Channel(proto: request.channel), !request.externalOrderID.isEmpty {
            self.reader.orderBytes(channel: channel, externalOrderID: request.externalOrderID, completion: completion)
        } else {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "order_id, or channel and external_order_id, is required")))
        }
    }

    func listOrders(_ request: Waybill_V1_ListOrdersRequest, call: Call) {
        guard let pageSize = self.pageSize(call, request.pageSize) else { return }
        var filter = OrderListFilter(pageSize: pageSize)
        if request.channel != .unspecified {
            guard let channel = Channel(proto: request.channel) else {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "channel: unknown value")))
                return
            }
            filter.channel = channel
        }
        for (index, status) in request.statuses.enumerated() {
            guard status != .unspecified, let value = OrderStatus(rawValue: status.rawValue) else {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "statuses[\(index)]: unknown status")))
                return
            }
            filter.statuses.append(value)
        }
        if request.capturedFromUnixMs > 0 { filter.capturedFrom = Timestamp(millisecondsSinceEpoch: request.capturedFromUnixMs) }
        if request.capturedToUnixMs > 0 { filter.capturedTo = Timestamp(millisecondsSinceEpoch: request.capturedToUnixMs) }
        if !request.pageToken.isEmpty {
            guard request.pageToken.hasPrefix("after:"), let sequence = Int64(request.pageToken.dropFirst(6)), sequence >= 0 else {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous ListOrders answer")))
                return
            }
            filter.afterSequence = sequence
        }
        let caller = call.caller
        switch caller.role {
        case .admin, .erp: break
        case .channel:
            // Only the caller's channels: a channel filter outside them lists nothing.
            let mine = Channel.allCases.filter { caller.channels.contains($0.name) }
            filter.channels = filter.channel.map { mine.contains($0) ? [$0] : [] } ?? mine
        case .fulfillment:
            filter.include = { bytes in OrderScope.mayRead(caller, bytes) }
        }
        self.reader.listOrders(filter) { result in
            self.answer(call, result) { page in
                var output = repeatedField(1, page.rows.map(\.1))
                if let next = page.nextAfterSequence { output += stringField(2, "after:\(next)") }
                return .bytes(output)
            }
        }
    }

    func getOrderHistory(_ request: Waybill_V1_GetOrderHistoryRequest, call: Call) {
        self.reader.orderBytes(id: request.orderID) { result in
            self.answer(call, result) { bytes in
                guard let bytes, let order = try? Waybill_V1_Order(serializedBytes: bytes), call.caller.role == .admin || call.caller.maySee(order) else {
                    return .failure(WaybillStatusError(.notFound, "order \(request.orderID) not found"))
                }
                var response = Waybill_V1_GetOrderHistoryResponse()
                response.orderID = order.orderID
                response.entries = order.history
                response.routingDecisions = order.routingDecisions
                return .message(response)
            }
        }
    }

    // MARK: - Lifecycle

    func holdOrder(_ request: Waybill_V1_HoldOrderRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .hold(try HoldReason(proto: request.reason, field: "reason"), note: request.note)
        }
    }
    func releaseHold(_ request: Waybill_V1_ReleaseHoldRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .releaseHold(request.reason == .unspecified ? nil : try HoldReason(proto: request.reason, field: "reason"), note: request.note)
        }
    }
    func cancelOrder(_ request: Waybill_V1_CancelOrderRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .cancelOrder(reason: request.reason)
        }
    }
    func cancelLines(_ request: Waybill_V1_CancelLinesRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .cancelLines(request.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) }, reason: request.reason)
        }
    }
    func releaseFulfillment(_ request: Waybill_V1_FulfillmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .releaseFulfillment(request.fulfillmentID.isEmpty ? nil : request.fulfillmentID)
        }
    }
    func rejectFulfillment(_ request: Waybill_V1_RejectFulfillmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .rejectFulfillment(try required(request.fulfillmentID, "fulfillment_id"),
                               lines: request.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) },
                               reason: request.reason, stockMissing: request.stockMissing)
        }
    }
    func confirmPick(_ request: Waybill_V1_FulfillmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .confirmPick(try required(request.fulfillmentID, "fulfillment_id"))
        }
    }
    func confirmPack(_ request: Waybill_V1_FulfillmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .confirmPack(try required(request.fulfillmentID, "fulfillment_id"))
        }
    }
    func confirmShipment(_ request: Waybill_V1_ConfirmShipmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .confirmShipment(try required(request.fulfillmentID, "fulfillment_id"), carrierID: request.carrierID,
                             trackingNumber: request.trackingNumber)
        }
    }
    func confirmDelivery(_ request: Waybill_V1_FulfillmentRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .confirmDelivery(try required(request.fulfillmentID, "fulfillment_id"))
        }
    }
    func createReturn(_ request: Waybill_V1_CreateReturnRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .createReturn(returnID: request.returnID, lines: request.lines.map { LineQuantity(lineID: $0.lineID, quantity: $0.quantity) },
                          reason: request.reason, exchange: request.hasExchange ? try ExchangeRequest(proto: request.exchange) : nil)
        }
    }
    func receiveReturn(_ request: Waybill_V1_ReceiveReturnRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .receiveReturn(returnID: try required(request.returnID, "return_id"), locationID: LocationID(try required(request.locationID, "location_id")),
                           lines: request.lines.map(ReturnLine.init(proto:)))
        }
    }

    func editOrder(_ request: Waybill_V1_EditOrderRequest, call: Call) {
        lifecycle(call, request, \.requestID, \.orderID) { request in
            .edit(try request.coreEdits(), reason: request.reason)
        }
    }

    /// ReallocateOrders: backordered units routed again by the writer, idempotent by request id.
    func reallocateOrders(_ request: Waybill_V1_ReallocateOrdersRequest, call: Call) {
        if request.requestID.isEmpty {
            call.responder.respond(.from(DomainError.invalid("request_id", "is required (the idempotency key of this call)")))
            return
        }
        let print = RequestFingerprint.of(request, method: Method.OrderService.reallocateOrders)
        self.write(call, { context in
            let result = try context.engine.reallocate(
                orderIDs: request.orderIds.map(OrderID.init), allBackorders: request.allBackorders,
                context: self.context(call, context, requestID: request.requestID, fingerprint: print), storage: context.engineStorage)
            var response = Waybill_V1_ReallocateOrdersResponse()
            response.replayed = result.replayed
            response.backordersNotExamined = Int32(clamping: result.backordersNotExamined)
            response.results = result.outcomes.map { outcome in
                var entry = Waybill_V1_ReallocationResult()
                entry.orderID = outcome.orderID.rawValue
                if let order = outcome.order {
                    entry.status = WaybillStatusError(.ok, "").status
                    entry.unitsAllocated = outcome.unitsAllocated
                    entry.unitsStillBackordered = order.backorderedUnits
                    entry.order = order.proto
                } else {
                    entry.status = WaybillStatusError(DomainError.notFound("order \(outcome.orderID)")).status
                }
                return entry
            }
            return response
        }, respond: { .message($0) })
    }

    /// A channel credential captures only for its channels (PERMISSION_DENIED: the request is the
    /// caller's own, nothing is revealed).
    static func checkCaptureScope(_ caller: Caller, _ channel: Waybill_V1_Channel, field: String) throws {
        // No channel at all: validation refuses the order (INVALID_ARGUMENT names the field).
        guard caller.role == .channel, let name = Channel(proto: channel)?.name else { return }
        guard caller.mayCapture(channel: name) else {
            throw WaybillStatusError(.permissionDenied, "\(field): credential \"\(caller.name)\" may capture only for channels "
                                         + caller.channels.sorted().joined(separator: ","))
        }
    }

    private func required(_ value: String, _ field: String) throws(DomainError) -> String {
        if value.isEmpty { throw DomainError.invalid(field, "is required") }
        return value
    }

    /// A lifecycle method: idempotent by request id, answering the order after the change.
    private func lifecycle<Request: SwiftProtobuf.Message>(
        _ call: Call, _ request: Request,
        _ requestID: KeyPath<Request, String>, _ orderID: KeyPath<Request, String>,
        _ makeCommand: (Request) throws -> OrderCommand
    ) {
        let id = request[keyPath: orderID]
        let command: OrderCommand
        do {
            if id.isEmpty { throw DomainError.invalid("order_id", "is required") }
            if request[keyPath: requestID].isEmpty { throw DomainError.invalid("request_id", "is required (the idempotency key of this change)") }
            command = try makeCommand(request)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let requestKey = request[keyPath: requestID]
        let print = RequestFingerprint.of(request, method: call.method)
        let caller = call.caller, rule = AccessPolicy.byMethod[call.method]?.scope
        self.write(call, { context in
            if caller.role != .admin {
                try OrderScope.check(caller, rule, command: command, orderID: OrderID(id),
                                     order: try context.engineStorage.loadOrder(OrderID(id)))
            }
            let result = try context.engine.apply(command, to: OrderID(id),
                                                  context: self.context(call, context, requestID: requestKey, fingerprint: print),
                                                  storage: context.engineStorage)
            return OrderOutcome(order: result.order, replayed: result.replayed,
                                bytes: result.replayed ? nil : context.storedBytes(of: result.order))
        }, respond: { .bytes($0.responseBytes) })
    }
}
