// Convenience calls that build a request from a few arguments. Every unary RPC also has a typed
// call taking its request message, generated from proto/ (Generated/TypedCalls.swift).

import SwiftProtobuf
import WaybillProto
import WaybillWire

extension WaybillClient {
    // MARK: orders

    public func captureOrder(_ order: Waybill_V1_Order, timeoutMilliseconds: UInt32? = nil) async throws -> Waybill_V1_CaptureOrderResponse {
        var request = Waybill_V1_CaptureOrderRequest()
        request.order = order
        return try await call(Method.OrderService.captureOrder, request, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func captureOrders(_ orders: [Waybill_V1_Order]) async throws -> Waybill_V1_CaptureOrdersResponse {
        var request = Waybill_V1_CaptureOrdersRequest()
        request.orders = orders
        return try await call(Method.OrderService.captureOrders, request)
    }

    public func getOrder(_ orderID: String) async throws -> Waybill_V1_Order {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = orderID
        return try await call(Method.OrderService.getOrder, request)
    }

    public func getOrder(channel: Waybill_V1_Channel, externalOrderID: String) async throws -> Waybill_V1_Order {
        var request = Waybill_V1_GetOrderRequest()
        request.channel = channel
        request.externalOrderID = externalOrderID
        return try await call(Method.OrderService.getOrder, request)
    }

    public func orderHistory(_ orderID: String) async throws -> Waybill_V1_GetOrderHistoryResponse {
        var request = Waybill_V1_GetOrderHistoryRequest()
        request.orderID = orderID
        return try await call(Method.OrderService.getOrderHistory, request)
    }

    /// ReallocateOrders: routes the backordered units of `orderIDs` again (or of every backordered
    /// order, oldest first, with `allBackorders`); `requestID` makes a retry safe.
    public func reallocateOrders(_ orderIDs: [String], allBackorders: Bool = false,
                                 requestID: String) async throws -> Waybill_V1_ReallocateOrdersResponse {
        var request = Waybill_V1_ReallocateOrdersRequest()
        request.orderIds = orderIDs
        request.allBackorders = allBackorders
        request.requestID = requestID
        return try await call(Method.OrderService.reallocateOrders, request)
    }

    /// Any lifecycle call (HoldOrder, ConfirmShipment, ...): answers the order after the change.
    public func lifecycle(_ method: String, _ request: some SwiftProtobuf.Message,
                          timeoutMilliseconds: UInt32? = nil) async throws -> Waybill_V1_OrderResponse {
        try await call(method, request, timeoutMilliseconds: timeoutMilliseconds)
    }

    // MARK: inventory and network

    public func availability(skus: [String], locations: [String] = [], channel: Waybill_V1_Channel = .unspecified,
                             networkOnly: Bool = false) async throws -> Waybill_V1_GetAvailabilityResponse {
        var request = Waybill_V1_GetAvailabilityRequest()
        request.skus = skus
        request.locationIds = locations
        request.channel = channel
        request.networkOnly = networkOnly
        return try await call(Method.InventoryService.getAvailability, request)
    }

    public func receive(_ changes: [Waybill_V1_InventoryChange]) async throws -> Waybill_V1_InventoryChangeResponse {
        var request = Waybill_V1_InventoryChangeRequest()
        request.changes = changes
        return try await call(Method.InventoryService.receiveInventory, request)
    }

    public func adjust(_ changes: [Waybill_V1_InventoryChange]) async throws -> Waybill_V1_InventoryChangeResponse {
        var request = Waybill_V1_InventoryChangeRequest()
        request.changes = changes
        return try await call(Method.InventoryService.adjustInventory, request)
    }

    public func loadNetwork(_ model: Waybill_V1_NetworkModel) async throws -> Waybill_V1_LoadNetworkResponse {
        try await call(Method.NetworkService.loadNetwork, model)
    }

    public func setRoutingPolicy(_ policy: Waybill_V1_RoutingPolicy) async throws -> Waybill_V1_RoutingPolicy {
        try await call(Method.NetworkService.setRoutingPolicy, policy)
    }

    // MARK: change feed

    /// Streams SubscribeResponse frames; acknowledge to keep the window open.
    public func subscribe(_ request: Waybill_V1_SubscribeRequest) throws -> AsyncThrowingMapSequence<AsyncThrowingStream<[UInt8], Error>, Waybill_V1_SubscribeResponse> {
        let payload: [UInt8] = try request.serializedBytes()
        return stream(method: Method.ChangeFeedService.subscribe, payload: payload).map { bytes in
            try Waybill_V1_SubscribeResponse(serializedBytes: bytes)
        }
    }

    public func acknowledge(consumer: String, offset: UInt64) async throws -> Waybill_V1_AcknowledgeResponse {
        var request = Waybill_V1_AcknowledgeRequest()
        request.consumer = consumer
        request.offset = offset
        return try await call(Method.ChangeFeedService.acknowledge, request)
    }

    public func feedInfo() async throws -> Waybill_V1_FeedInfo {
        try await call(Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest())
    }

    // MARK: system

    public func serverInfo() async throws -> Waybill_V1_ServerInfo {
        try await call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest())
    }
}
