// `waybill call` subcommands for the change feed, the ERP bridge and the server itself, and `rpc`
// for any unary method with a JSON request file.

import ArgumentParser
import SwiftProtobuf
import WaybillProto
import WaybillWire

struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow the change feed as a named consumer (acknowledging what it prints).")
    @OptionGroup var call: CallOptions
    @Argument(help: "The consumer name (its position is kept by the server).") var consumer: String
    @Option(help: "First offset (default: after the consumer's last acknowledged one).") var from: UInt64 = 0
    @Option(help: "Stop after this many events (0 = follow forever).") var count = 0
    @Flag(help: "Do not acknowledge.") var noAck = false

    func run() async throws {
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = consumer
        request.fromOffset = from
        try await withClient(call.address, clientID: call.clientID) { client in
            var seen = 0
            for try await frame in try client.subscribe(request) {
                let wanted = count > 0 ? Array(frame.events.prefix(count - seen)) : frame.events
                for event in wanted { call.print(event) }
                seen += wanted.count
                if !noAck, let last = wanted.last { _ = try await client.acknowledge(consumer: consumer, offset: last.offset) }
                if count > 0 && seen >= count { break }
            }
        }
    }
}

struct Acknowledge: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "ack", abstract: "Store a consumer's offset.")
    static let method = Method.ChangeFeedService.acknowledge
    typealias Response = Waybill_V1_AcknowledgeResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "The consumer name.") var consumer: String
    @Argument(help: "The last offset it has processed.") var offset: UInt64

    func request() throws -> Waybill_V1_AcknowledgeRequest { .with { $0.consumer = consumer; $0.offset = offset } }
}

/// A call whose request has no fields.
protocol ParameterlessCall: UnaryCallCommand {}

extension ParameterlessCall {
    func request() throws -> Request { Request() }
}

struct FeedInfo: ParameterlessCall {
    static let configuration = CommandConfiguration(commandName: "feed-info", abstract: "Feed offsets and every consumer's position and lag.")
    static let method = Method.ChangeFeedService.getFeedInfo
    typealias Request = Waybill_V1_GetFeedInfoRequest
    typealias Response = Waybill_V1_FeedInfo
    @OptionGroup var call: CallOptions
}

struct DeleteConsumer: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-consumer", abstract: "Forget a consumer's position (it stops holding back feed retention); prints the feed info after.")
    static let method = Method.ChangeFeedService.deleteConsumer
    typealias Response = Waybill_V1_FeedInfo
    @OptionGroup var call: CallOptions
    @Argument(help: "The consumer name.") var consumer: String

    func request() throws -> Waybill_V1_DeleteConsumerRequest { .with { $0.consumer = consumer } }
}

struct BridgeStatus: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "bridge-status", abstract: "ERP bridge progress: delivered, retrying, dead-lettered, lag.")
    static let method = Method.ErpService.getBridgeStatus
    typealias Response = Waybill_V1_BridgeStatusList
    @OptionGroup var call: CallOptions
    @Option(help: "One bridge's consumer name (default: every bridge).") var consumer = ""

    func request() throws -> Waybill_V1_GetBridgeStatusRequest { .with { $0.consumer = consumer } }
}

struct ServerInfo: ParameterlessCall {
    static let configuration = CommandConfiguration(commandName: "server-info", abstract: "Version, protocol versions and every limit.")
    static let method = Method.SystemService.getServerInfo
    typealias Request = Waybill_V1_GetServerInfoRequest
    typealias Response = Waybill_V1_ServerInfo
    @OptionGroup var call: CallOptions
}

struct Metrics: ParameterlessCall {
    static let configuration = CommandConfiguration(abstract: "The server's metrics (Prometheus text).")
    static let method = Method.SystemService.getMetrics
    typealias Request = Waybill_V1_GetMetricsRequest
    typealias Response = Waybill_V1_MetricsText
    @OptionGroup var call: CallOptions

    func show(_ response: Waybill_V1_MetricsText) throws { print(response.text, terminator: "") }
}

/// Any unary method with a JSON request file.
struct RPC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc", abstract: "Call any unary method: rpc METHOD FILE (e.g. rpc ErpService/ApplyStockSnapshot snapshot.json).")
    @OptionGroup var call: CallOptions
    @Argument(help: "Service/Method, or the full /waybill.v1.Service/Method.") var method: String
    @Argument(help: "Request JSON file, or - for stdin.") var file: String

    func run() async throws {
        let full = method.hasPrefix("/") ? method : "/waybill.v1." + method
        guard let entry = rpcTable[full] else {
            throw ValidationError("unknown method \(full); known: " + rpcTable.keys.sorted().joined(separator: ", "))
        }
        try await entry(call, file)
    }
}

typealias RPCEntry = @Sendable (CallOptions, String) async throws -> Void

/// One method of `rpc`: its request and response types.
func entry<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(_ method: String, _ request: Request.Type,
                                                                          _ response: Response.Type) -> (String, RPCEntry) {
    (method, { options, file in
        let body: Request = try readJSON(file)
        options.print(try await options.invoke(method, body, as: Response.self))
    })
}

/// Every unary method by its full name. Add a line when a method is added to Methods.swift.
let rpcTable: [String: RPCEntry] = Dictionary(uniqueKeysWithValues: [
    entry(Method.OrderService.captureOrder, Waybill_V1_CaptureOrderRequest.self, Waybill_V1_CaptureOrderResponse.self),
    entry(Method.OrderService.captureOrders, Waybill_V1_CaptureOrdersRequest.self, Waybill_V1_CaptureOrdersResponse.self),
    entry(Method.OrderService.getOrder, Waybill_V1_GetOrderRequest.self, Waybill_V1_Order.self),
    entry(Method.OrderService.listOrders, Waybill_V1_ListOrdersRequest.self, Waybill_V1_ListOrdersResponse.self),
    entry(Method.OrderService.holdOrder, Waybill_V1_HoldOrderRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.releaseHold, Waybill_V1_ReleaseHoldRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.cancelOrder, Waybill_V1_CancelOrderRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.cancelLines, Waybill_V1_CancelLinesRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.releaseFulfillment, Waybill_V1_FulfillmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.rejectFulfillment, Waybill_V1_RejectFulfillmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.confirmPick, Waybill_V1_FulfillmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.confirmPack, Waybill_V1_FulfillmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.confirmShipment, Waybill_V1_ConfirmShipmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.confirmDelivery, Waybill_V1_FulfillmentRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.createReturn, Waybill_V1_CreateReturnRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.receiveReturn, Waybill_V1_ReceiveReturnRequest.self, Waybill_V1_OrderResponse.self),
    entry(Method.OrderService.getOrderHistory, Waybill_V1_GetOrderHistoryRequest.self, Waybill_V1_GetOrderHistoryResponse.self),
    entry(Method.InventoryService.getAvailability, Waybill_V1_GetAvailabilityRequest.self, Waybill_V1_GetAvailabilityResponse.self),
    entry(Method.InventoryService.adjustInventory, Waybill_V1_InventoryChangeRequest.self, Waybill_V1_InventoryChangeResponse.self),
    entry(Method.InventoryService.receiveInventory, Waybill_V1_InventoryChangeRequest.self, Waybill_V1_InventoryChangeResponse.self),
    entry(Method.InventoryService.updateInventorySettings, Waybill_V1_UpdateInventorySettingsRequest.self, Waybill_V1_UpdateInventorySettingsResponse.self),
    entry(Method.InventoryService.listMovements, Waybill_V1_ListMovementsRequest.self, Waybill_V1_ListMovementsResponse.self),
    entry(Method.NetworkService.upsertLocations, Waybill_V1_UpsertLocationsRequest.self, Waybill_V1_LocationsResponse.self),
    entry(Method.NetworkService.listLocations, Waybill_V1_ListRequest.self, Waybill_V1_LocationsResponse.self),
    entry(Method.NetworkService.upsertCarriers, Waybill_V1_UpsertCarriersRequest.self, Waybill_V1_CarriersResponse.self),
    entry(Method.NetworkService.listCarriers, Waybill_V1_ListRequest.self, Waybill_V1_CarriersResponse.self),
    entry(Method.NetworkService.upsertItems, Waybill_V1_UpsertItemsRequest.self, Waybill_V1_ItemsResponse.self),
    entry(Method.NetworkService.listItems, Waybill_V1_ListRequest.self, Waybill_V1_ItemsResponse.self),
    entry(Method.NetworkService.setRoutingPolicy, Waybill_V1_RoutingPolicy.self, Waybill_V1_RoutingPolicy.self),
    entry(Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest.self, Waybill_V1_RoutingPolicy.self),
    entry(Method.NetworkService.loadNetwork, Waybill_V1_NetworkModel.self, Waybill_V1_LoadNetworkResponse.self),
    entry(Method.ChangeFeedService.acknowledge, Waybill_V1_AcknowledgeRequest.self, Waybill_V1_AcknowledgeResponse.self),
    entry(Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest.self, Waybill_V1_FeedInfo.self),
    entry(Method.ChangeFeedService.deleteConsumer, Waybill_V1_DeleteConsumerRequest.self, Waybill_V1_FeedInfo.self),
    entry(Method.ErpService.applyItemMaster, Waybill_V1_ItemMasterMessage.self, Waybill_V1_ErpMessageResult.self),
    entry(Method.ErpService.applyStockSnapshot, Waybill_V1_StockSnapshotMessage.self, Waybill_V1_ErpMessageResult.self),
    entry(Method.ErpService.applyStockDeltas, Waybill_V1_StockDeltaMessage.self, Waybill_V1_ErpMessageResult.self),
    entry(Method.ErpService.recordOrderAcknowledgement, Waybill_V1_ErpOrderAcknowledgement.self, Waybill_V1_ErpMessageResult.self),
    entry(Method.ErpService.recordDocumentPosted, Waybill_V1_ErpDocumentPosted.self, Waybill_V1_ErpMessageResult.self),
    entry(Method.ErpService.reconcile, Waybill_V1_ReconcileRequest.self, Waybill_V1_ReconcileReport.self),
    entry(Method.ErpService.reportBridgeStatus, Waybill_V1_BridgeStatus.self, Waybill_V1_BridgeStatus.self),
    entry(Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest.self, Waybill_V1_BridgeStatusList.self),
    entry(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest.self, Waybill_V1_ServerInfo.self),
])
