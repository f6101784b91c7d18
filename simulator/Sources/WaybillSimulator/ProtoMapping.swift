// The model's requests as protocol messages, and answers back into the model's terms.

import Foundation
import SwiftProtobuf
import WaybillCore
import WaybillProto
import WaybillWire

enum ProtoJSON {
    static func policy(_ data: Data, path: String) throws -> RoutingPolicy {
        do {
            let proto = try ProtoJSONInput.decode(data, as: Waybill_V1_RoutingPolicy.self, source: path)
            return try RoutingPolicy(proto: proto)
        } catch let error as DomainError {
            throw ScenarioError("\(path): \(error.message)")
        } catch let error as ProtoJSONInputError {
            throw ScenarioError(error.description)  // file:line:column, field path, valid names
        } catch {
            throw ScenarioError("\(path) is not a waybill.v1.RoutingPolicy in protobuf JSON: \(error)")
        }
    }
}

enum WireRequest {
    static func lineQuantities(_ lines: [LineQuantity]) -> [Waybill_V1_LineQuantity] {
        lines.map { line in
            var l = Waybill_V1_LineQuantity()
            l.lineID = line.lineID
            l.quantity = line.quantity
            return l
        }
    }

    /// Method and serialized request of a model request.
    static func encode(_ request: SimRequest) throws -> (String, [UInt8]) {
        switch request {
        case .capture(let draft):
            var message = Waybill_V1_CaptureOrderRequest()
            message.order = draft.proto  // WaybillProto's one encoding of an order
            return (Method.OrderService.captureOrder, try message.serializedBytes())
        case .getOrderByKey(let channel, let external):
            var message = Waybill_V1_GetOrderRequest()
            message.channel = channel.proto
            message.externalOrderID = external
            return (Method.OrderService.getOrder, try message.serializedBytes())
        case .getOrder(let id):
            var message = Waybill_V1_GetOrderRequest()
            message.orderID = id.rawValue
            return (Method.OrderService.getOrder, try message.serializedBytes())
        case .availability(let skus, let channel):
            var message = Waybill_V1_GetAvailabilityRequest()
            message.skus = skus.map(\.rawValue)
            message.channel = channel.proto
            message.networkOnly = true
            return (Method.InventoryService.getAvailability, try message.serializedBytes())
        case .lifecycle(let id, let command, let requestID):
            return try lifecycle(id.rawValue, command, requestID)
        case .erpAcknowledgement(let id, let document, let messageID):
            var message = Waybill_V1_ErpOrderAcknowledgement()
            message.messageID = messageID
            message.orderID = id.rawValue
            message.erpDocumentNumber = document
            message.postingStatus = .posted
            return (Method.ErpService.recordOrderAcknowledgement, try message.serializedBytes())
        case .erpDocument(let id, let document, let messageID):
            var message = Waybill_V1_ErpDocumentPosted()
            message.messageID = messageID
            message.orderID = id.rawValue
            message.document.kind = document.kind
            message.document.documentNumber = document.documentNumber
            if let amount = document.amount { message.document.amount = amount.proto }
            message.document.postedAtUnixMs = document.postedAt.millisecondsSinceEpoch
            return (Method.ErpService.recordDocumentPosted, try message.serializedBytes())
        case .stockDeltas(let messageID, let changes):
            var message = Waybill_V1_StockDeltaMessage()
            message.messageID = messageID
            message.changes = changes.map { change in
                var c = Waybill_V1_InventoryChange()
                c.changeID = change.changeID
                c.kind = change.kind == .receipt ? .receipt : change.kind == .adjustment ? .adjustment : .transfer
                c.sku = change.sku.rawValue
                c.locationID = change.locationID.rawValue
                c.quantity = change.quantity
                c.toLocationID = change.toLocationID?.rawValue ?? ""
                c.reason = change.reason
                return c
            }
            return (Method.ErpService.applyStockDeltas, try message.serializedBytes())
        case .stockSnapshot(let messageID, let location, let asOf, let levels):
            var message = Waybill_V1_StockSnapshotMessage()
            message.messageID = messageID
            message.locationID = location.rawValue
            message.asOfUnixMs = asOf.millisecondsSinceEpoch
            message.complete = true
            message.levels = levels.map { sku, onHand in
                var level = Waybill_V1_StockLevel()
                level.sku = sku.rawValue
                level.onHand = onHand
                return level
            }
            return (Method.ErpService.applyStockSnapshot, try message.serializedBytes())
        case .feedAcknowledge(let consumer, let offset):
            var message = Waybill_V1_AcknowledgeRequest()
            message.consumer = consumer
            message.offset = offset
            return (Method.ChangeFeedService.acknowledge, try message.serializedBytes())
        case .fulfillmentOptions(let ask):
            var query = Waybill_V1_FulfillmentOptionsQuery()
            query.queryID = ask.queryID
            query.channel = ask.channel.proto
            query.lines = ask.lines.map(orderLine)
            query.shipTo = ask.shipTo.proto
            query.pickupLocationIds = ask.pickupLocationIDs.map(\.rawValue)
            query.nearbyPickupStores = Int32(ask.nearbyPickupStores)
            var message = Waybill_V1_GetFulfillmentOptionsRequest()
            message.queries = [query]
            return (Method.CheckoutService.getFulfillmentOptions, try message.serializedBytes())
        case .reserveCart(let draft):
            var message = Waybill_V1_ReserveCartRequest()
            message.cartID = draft.key.cartID
            message.channel = draft.key.channel.proto
            message.lines = draft.lines.map(orderLine)
            if draft.shipTo != Address() { message.shipTo = draft.shipTo.proto }
            message.fulfillment.method = draft.fulfillment.method == .pickup ? .pickup : .ship
            message.fulfillment.pickupLocationID = draft.fulfillment.pickupLocationID?.rawValue ?? ""
            message.fulfillment.serviceLevel = Waybill_V1_ServiceLevel(rawValue: draft.fulfillment.serviceLevel.rawValue) ?? .standard
            message.ttlSeconds = Int32(draft.ttlMilliseconds / 1_000)
            return (Method.CheckoutService.reserveCart, try message.serializedBytes())
        case .extendCart(let key, let ttlSeconds):
            var message = Waybill_V1_ExtendCartRequest()
            message.cartID = key.cartID
            message.channel = key.channel.proto
            message.ttlSeconds = ttlSeconds
            return (Method.CheckoutService.extendCart, try message.serializedBytes())
        case .releaseCart(let key), .getCart(let key):
            var message = Waybill_V1_CartRequest()
            message.cartID = key.cartID
            message.channel = key.channel.proto
            if case .getCart = request { return (Method.CheckoutService.getCart, try message.serializedBytes()) }
            return (Method.CheckoutService.releaseCart, try message.serializedBytes())
        case .expectedReceipts(let messageID, let receipts):
            var message = Waybill_V1_ExpectedReceiptsMessage()
            message.messageID = messageID
            message.receipts = receipts.map(\.proto)
            return (Method.ErpService.applyExpectedReceipts, try message.serializedBytes())
        }
    }

    static func orderLine(_ line: DraftLine) -> Waybill_V1_OrderLine {
        var l = Waybill_V1_OrderLine()
        l.lineID = line.lineID
        l.sku = line.sku.rawValue
        l.quantity = line.quantity
        l.unitPrice = line.unitPrice.proto
        return l
    }

    static func lifecycle(_ orderID: String, _ command: OrderCommand, _ requestID: String) throws -> (String, [UInt8]) {
        func fulfillment(_ method: String, _ id: String?) throws -> (String, [UInt8]) {
            var message = Waybill_V1_FulfillmentRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.fulfillmentID = id ?? ""
            return (method, try message.serializedBytes())
        }
        switch command {
        case .hold(let reason, let note):
            var message = Waybill_V1_HoldOrderRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.reason = reason.proto
            message.note = note
            return (Method.OrderService.holdOrder, try message.serializedBytes())
        case .releaseHold(let reason, let note):
            var message = Waybill_V1_ReleaseHoldRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.reason = reason?.proto ?? .unspecified
            message.note = note
            return (Method.OrderService.releaseHold, try message.serializedBytes())
        case .cancelOrder(let reason):
            var message = Waybill_V1_CancelOrderRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.reason = reason
            return (Method.OrderService.cancelOrder, try message.serializedBytes())
        case .cancelLines(let lines, let reason):
            var message = Waybill_V1_CancelLinesRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.lines = lineQuantities(lines)
            message.reason = reason
            return (Method.OrderService.cancelLines, try message.serializedBytes())
        case .releaseFulfillment(let id): return try fulfillment(Method.OrderService.releaseFulfillment, id)
        case .confirmPick(let id): return try fulfillment(Method.OrderService.confirmPick, id)
        case .confirmPack(let id): return try fulfillment(Method.OrderService.confirmPack, id)
        case .confirmDelivery(let id): return try fulfillment(Method.OrderService.confirmDelivery, id)
        case .rejectFulfillment(let id, let lines, let reason, let stockMissing, _):
            var message = Waybill_V1_RejectFulfillmentRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.fulfillmentID = id
            message.lines = lineQuantities(lines)
            message.reason = reason
            message.stockMissing = stockMissing
            return (Method.OrderService.rejectFulfillment, try message.serializedBytes())
        case .confirmShipment(let id, let carrierID, let trackingNumber):
            var message = Waybill_V1_ConfirmShipmentRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.fulfillmentID = id
            message.carrierID = carrierID
            message.trackingNumber = trackingNumber
            return (Method.OrderService.confirmShipment, try message.serializedBytes())
        case .createReturn(let returnID, let lines, let reason, let exchange):
            var message = Waybill_V1_CreateReturnRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.returnID = returnID
            message.lines = lineQuantities(lines)
            message.reason = reason
            if let exchange { message.exchange = exchange.proto }
            return (Method.OrderService.createReturn, try message.serializedBytes())
        case .receiveReturn(let returnID, let location, let lines):
            var message = Waybill_V1_ReceiveReturnRequest()
            message.requestID = requestID
            message.orderID = orderID
            message.returnID = returnID
            message.locationID = location.rawValue
            message.lines = lines.map(\.proto)
            return (Method.OrderService.receiveReturn, try message.serializedBytes())
        case .edit(let edits, let reason):
            let message = Waybill_V1_EditOrderRequest(requestID: requestID, orderID: orderID, edits: edits, reason: reason)
            return (Method.OrderService.editOrder, try message.serializedBytes())
        }
    }

    /// The answer's payload as the model sees it (decoded on the event loop, off the model's thread).
    static func decode(_ request: SimRequest, _ bytes: [UInt8]) -> SimReply {
        do {
            switch request {
            case .capture:
                let response = try Waybill_V1_CaptureOrderResponse(serializedBytes: bytes)
                return .order(try Order(proto: response.order), replayed: response.replayed)
            case .lifecycle:
                let response = try Waybill_V1_OrderResponse(serializedBytes: bytes)
                return .order(try Order(proto: response.order), replayed: response.replayed)
            case .getOrder, .getOrderByKey:
                return .order(try Order(proto: try Waybill_V1_Order(serializedBytes: bytes)), replayed: false)
            case .availability:
                let response = try Waybill_V1_GetAvailabilityResponse(serializedBytes: bytes)
                return .available(response.network.reduce(0) { $0 + $1.available })
            case .erpAcknowledgement, .erpDocument, .stockDeltas, .stockSnapshot, .expectedReceipts:
                let response = try Waybill_V1_ErpMessageResult(serializedBytes: bytes)
                return .applied(replayed: response.replayed, corrections: response.positions.count)
            case .feedAcknowledge:
                return .applied(replayed: false, corrections: 0)
            case .fulfillmentOptions:
                let response = try Waybill_V1_GetFulfillmentOptionsResponse(serializedBytes: bytes)
                guard let result = response.results.first else { return .failed(code: "INTERNAL", message: "options answer without a result") }
                if result.status.code != .ok { return .failed(code: result.status.code.name, message: result.status.message) }
                return .options(result.options.map(OptionQuote.init(proto:)))
            case .reserveCart, .extendCart, .releaseCart, .getCart:
                let response = try Waybill_V1_CartResponse(serializedBytes: bytes)
                return .cart(try Cart(proto: response.cart), replayed: response.replayed)
            }
        } catch {
            return .failed(code: "INTERNAL", message: "answer does not decode: \(error)")
        }
    }

    static func reply(_ request: SimRequest, _ error: Error) -> SimReply {
        guard let status = error as? WaybillStatusError else { return .timedOut }
        switch status.code {
        case .deadlineExceeded, .unavailable, .cancelled:
            // No answer: the call may or may not have happened.
            return .timedOut
        case .notFound:
            switch request {
            case .getOrder, .getOrderByKey, .getCart: return .notFound
            default: return .failed(code: status.code.name, message: status.message)
            }
        default:
            return .failed(code: status.code.name, message: status.message)
        }
    }

    static func feedEvent(_ e: Waybill_V1_ChangeEvent) -> FeedEvent {
        FeedEvent(offset: e.offset, type: e.type, aggregateType: e.aggregateType, aggregateSequence: e.aggregateSequence,
                  occurredAt: e.occurredAtUnixMs, order: e.hasOrder ? try? Order(proto: e.order) : nil,
                  key: e.aggregateType == "inventory" ? InventoryKey(sku: SKU(e.sku), locationID: LocationID(e.locationID)) : nil,
                  fulfillmentID: e.fulfillmentID, returnID: e.returnID, cart: e.hasCart ? try? Cart(proto: e.cart) : nil)
    }
}
