// Every read and action of the console, as an in-process call through the server's dispatch, as
// the signed-in credential: the same authorization, channel and location scope, validation,
// idempotency (each form carries its own request id) and limits as the protocol.

import SwiftProtobuf
import WaybillApplication
import WaybillProto
import WaybillServer
import WaybillWire

struct ConsoleBackend: Sendable {
    let server: WaybillServer
    let caller: Caller

    func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, answer: Response.Type = Response.self) async throws -> Response {
        try await server.callInProcess(method, request, as: caller, answer: answer)
    }

    func order(_ id: String) async throws -> Waybill_V1_Order {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = id
        return try await call(Method.OrderService.getOrder, request)
    }

    func history(_ id: String) async throws -> [Waybill_V1_HistoryEntry] {
        var request = Waybill_V1_GetOrderHistoryRequest()
        request.orderID = id
        let response: Waybill_V1_GetOrderHistoryResponse = try await call(Method.OrderService.getOrderHistory, request)
        return response.entries
    }
}

extension ConsoleBackend {
    struct OrderPage {
        var orders: [Waybill_V1_Order]
        var nextPageToken: String
        /// The server stopped at searchCandidatesScannedMax before the page was full.
        var candidatesLimitReached: Bool
    }

    /// One page of orders matching the search form, newest first (SearchOrders: server-side,
    /// indexed, scoped to what the credential may see).
    func searchOrders(_ filter: OrderFilter, pageSize: Int, pageToken: String) async throws -> OrderPage {
        var request = Waybill_V1_SearchOrdersRequest()
        request.query = filter.query
        request.customerEmail = filter.email
        request.customerPhone = filter.phone
        request.customerName = filter.name
        request.sku = filter.sku
        request.trackingNumber = filter.tracking
        request.locationID = filter.location
        if filter.channel != 0 { request.channel = Waybill_V1_Channel(rawValue: filter.channel) ?? .unspecified }
        request.statuses = filter.statuses.compactMap(Waybill_V1_OrderStatus.init(rawValue:))
        request.capturedFromUnixMs = ConsoleFormat.day(filter.from) ?? 0
        request.capturedToUnixMs = ConsoleFormat.day(filter.to).map { $0 + 86_400_000 } ?? 0
        request.pageSize = Int32(pageSize)
        request.pageToken = pageToken
        let response: Waybill_V1_SearchOrdersResponse = try await call(Method.OrderService.searchOrders, request)
        return OrderPage(orders: response.orders, nextPageToken: response.nextPageToken,
                         candidatesLimitReached: response.candidatesLimitReached)
    }

    /// An action of the order page, the bulk form or a queue, by name; the answer is what the
    /// console says was done. Unknown names are refused.
    func act(_ action: String, orderID: String, requestID: String, reason: Int, note: String,
             fulfillmentID: String, lineID: String, quantity: Int32) async throws -> String {
        func fulfillment() -> Waybill_V1_FulfillmentRequest {
            var request = Waybill_V1_FulfillmentRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.fulfillmentID = fulfillmentID
            return request
        }
        func lines() -> [Waybill_V1_LineQuantity] {
            guard !lineID.isEmpty else { return [] }
            var line = Waybill_V1_LineQuantity()
            line.lineID = lineID
            line.quantity = quantity
            return [line]
        }
        switch action {
        case "hold":
            var request = Waybill_V1_HoldOrderRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.reason = Waybill_V1_HoldReason(rawValue: reason) ?? .other
            request.note = note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.holdOrder, request)
            return "Held \(orderID) (\(ConsoleFormat.words(request.reason)))."
        case "release":
            var request = Waybill_V1_ReleaseHoldRequest()
            request.requestID = requestID
            request.orderID = orderID
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.releaseHold, request)
            return "Released every hold of \(orderID)."
        case "cancel":
            var request = Waybill_V1_CancelOrderRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.reason = note.isEmpty ? "cancelled in the console" : note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.cancelOrder, request)
            return "Cancelled \(orderID)."
        case "cancel-line":
            var request = Waybill_V1_CancelLinesRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.lines = lines()
            request.reason = note.isEmpty ? "cancelled in the console" : note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.cancelLines, request)
            return "Cancelled \(quantity) of line \(lineID)."
        case "reject":
            var request = Waybill_V1_RejectFulfillmentRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.fulfillmentID = fulfillmentID
            request.reason = note.isEmpty ? "rejected in the console" : note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.rejectFulfillment, request)
            return "Rejected \(fulfillmentID); its lines were routed again."
        case "reallocate":
            var request = Waybill_V1_ReallocateOrdersRequest()
            request.requestID = requestID
            request.orderIds = [orderID]
            let response: Waybill_V1_ReallocateOrdersResponse = try await call(Method.OrderService.reallocateOrders, request)
            let still = response.results.first?.unitsStillBackordered ?? 0
            return still == 0 ? "Reallocated \(orderID): nothing left backordered." : "Reallocated \(orderID): \(still) units still backordered."
        case "return":
            var request = Waybill_V1_CreateReturnRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.returnID = "R-" + requestID.prefix(12)
            request.lines = lines()
            request.reason = note.isEmpty ? "return created in the console" : note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.createReturn, request)
            return "Return \(request.returnID) created for \(quantity) of line \(lineID)."
        case "release-fulfillment":
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.releaseFulfillment, fulfillment())
            return "Released \(fulfillmentID) to its location."
        case "pick":
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.confirmPick, fulfillment())
            return "Picked \(fulfillmentID)."
        case "pack":
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.confirmPack, fulfillment())
            return "Packed \(fulfillmentID)."
        case "ship", "hand-over":
            var request = Waybill_V1_ConfirmShipmentRequest()
            request.requestID = requestID
            request.orderID = orderID
            request.fulfillmentID = fulfillmentID
            request.trackingNumber = note
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.confirmShipment, request)
            return action == "ship" ? "Shipped \(fulfillmentID)." : "Handed over \(fulfillmentID) at the counter."
        case "collected":
            let _: Waybill_V1_OrderResponse = try await call(Method.OrderService.confirmDelivery, fulfillment())
            return "\(fulfillmentID) collected by the customer."
        default:
            throw ConsoleRefusal(status: .badRequest, message: "Unknown action \(action).")
        }
    }
}

extension ConsoleBackend {
    func locations() async throws -> [Waybill_V1_Location] {
        var all: [Waybill_V1_Location] = []
        var request = Waybill_V1_ListRequest()
        request.pageSize = 500
        repeat {
            let page: Waybill_V1_LocationsResponse = try await call(Method.NetworkService.listLocations, request)
            all += page.locations
            request.pageToken = page.nextPageToken
        } while !request.pageToken.isEmpty
        return all
    }

    /// One page of the fulfillments waiting at `location`, oldest first (ListLocationQueue).
    func locationQueue(_ location: String, pageSize: Int, pageToken: String) async throws -> Waybill_V1_ListLocationQueueResponse {
        var request = Waybill_V1_ListLocationQueueRequest()
        request.locationID = location
        request.pageSize = Int32(pageSize)
        request.pageToken = pageToken
        return try await call(Method.OrderService.listLocationQueue, request)
    }
}
