// `waybill call ...`: one subcommand per common call, and `rpc` for any method with a JSON file.
// Answers print as protobuf JSON; failures print "CODE: message" on stderr and exit 1.

import ArgumentParser
import Foundation
import SwiftProtobuf
import WaybillClient
import WaybillProto
import WaybillWire

struct CallOptions: ParsableArguments {
    @Option(help: "Server address HOST:PORT.")
    var server = "127.0.0.1:7400"

    @Option(help: "Who is calling (recorded in order history).")
    var clientID = "waybill-cli"
}

/// Idempotency key option of lifecycle calls: a fresh one unless given (reuse it to retry safely).
struct RequestIDOption: ParsableArguments {
    @Option(help: "Idempotency key of this change (default: a new UUID, printed on stderr).")
    var requestID: String?

    var value: String {
        if let requestID { return requestID }
        let generated = UUID().uuidString.lowercased()
        FileHandle.standardError.write(Data("request-id: \(generated)\n".utf8))
        return generated
    }
}

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call", abstract: "Call a running Waybill server.",
        subcommands: [
            CaptureOrder.self, CaptureOrders.self, GetOrder.self, ListOrders.self, OrderHistory.self,
            HoldOrder.self, ReleaseHold.self, CancelOrder.self, CancelLines.self,
            ReleaseFulfillment.self, RejectFulfillment.self, ConfirmPick.self, ConfirmPack.self, ConfirmShipment.self,
            ConfirmDelivery.self, CreateReturn.self, ReceiveReturn.self,
            Availability.self, Receive.self, Adjust.self, Transfer.self, LoadNetwork.self, SetPolicy.self, GetPolicy.self,
            Subscribe.self, Acknowledge.self, FeedInfo.self, BridgeStatus.self, ServerInfo.self, Metrics.self, RPC.self,
        ])
}

/// Calls `method` with `request` and prints the JSON answer.
func invoke<Response: SwiftProtobuf.Message>(_ options: CallOptions, _ method: String, _ request: some SwiftProtobuf.Message,
                                             as type: Response.Type) async throws {
    let response: Response = try await withClient(options.server, clientID: options.clientID) { client in
        try await client.call(method, request, as: type)
    }
    printJSON(response)
}

/// "LINE=QTY" arguments.
func lineQuantities(_ arguments: [String]) throws -> [Waybill_V1_LineQuantity] {
    try arguments.map { argument in
        let parts = argument.split(separator: "=")
        guard parts.count == 2, let quantity = Int32(parts[1]) else { throw ValidationError("expected LINE=QUANTITY, got \(argument)") }
        var line = Waybill_V1_LineQuantity()
        line.lineID = String(parts[0])
        line.quantity = quantity
        return line
    }
}

func holdReason(_ name: String?) throws -> Waybill_V1_HoldReason {
    guard let name else { return .unspecified }
    switch name.lowercased() {
    case "payment": return .payment
    case "fraud": return .fraud
    case "address": return .address
    case "customer_request", "customer-request": return .customerRequest
    case "other": return .other
    default: throw ValidationError("unknown hold reason \(name): payment, fraud, address, customer_request or other")
    }
}

func channelValue(_ name: String?) throws -> Waybill_V1_Channel {
    guard let name else { return .unspecified }
    let normalized = name.lowercased().replacingOccurrences(of: "-", with: "_")
    for (value, label) in [(Waybill_V1_Channel.web, "web"), (.mobileApp, "mobile_app"), (.marketplace, "marketplace"),
                           (.storePos, "store_pos"), (.callCentre, "call_centre"), (.clickAndCollect, "click_and_collect")]
    where label == normalized || "channel_" + label == normalized {
        return value
    }
    throw ValidationError("unknown channel \(name): web, mobile_app, marketplace, store_pos, call_centre or click_and_collect")
}

// MARK: - Orders

struct CaptureOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture-order", abstract: "Capture an order (protobuf JSON of waybill.v1.Order; - for stdin).")
    @OptionGroup var options: CallOptions
    @Argument(help: "Order JSON file, or - for stdin.") var file: String
    func run() async throws {
        var request = Waybill_V1_CaptureOrderRequest()
        request.order = try readJSON(file)
        try await invoke(options, Method.OrderService.captureOrder, request, as: Waybill_V1_CaptureOrderResponse.self)
    }
}

struct CaptureOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture-orders", abstract: "Capture a batch (JSON of waybill.v1.CaptureOrdersRequest).")
    @OptionGroup var options: CallOptions
    @Argument var file: String
    func run() async throws {
        let request: Waybill_V1_CaptureOrdersRequest = try readJSON(file)
        try await invoke(options, Method.OrderService.captureOrders, request, as: Waybill_V1_CaptureOrdersResponse.self)
    }
}

struct GetOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-order", abstract: "Read an order by id, or by --channel and --external-id.")
    @OptionGroup var options: CallOptions
    @Argument var orderID: String?
    @Option var channel: String?
    @Option var externalID: String?
    func run() async throws {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = orderID ?? ""
        request.channel = try channelValue(channel)
        request.externalOrderID = externalID ?? ""
        try await invoke(options, Method.OrderService.getOrder, request, as: Waybill_V1_Order.self)
    }
}

struct ListOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-orders", abstract: "List orders (filters and cursor pagination).")
    @OptionGroup var options: CallOptions
    @Option(help: "Channel name, e.g. web.") var channel: String?
    @Option(help: "Status, e.g. ALLOCATED (repeatable).") var status: [String] = []
    @Option(help: "Captured at or after (Unix ms).") var from: Int64 = 0
    @Option(help: "Captured before (Unix ms).") var to: Int64 = 0
    @Option var pageSize: Int32 = 0
    @Option var pageToken = ""
    func run() async throws {
        var request = Waybill_V1_ListOrdersRequest()
        request.channel = try channelValue(channel)
        request.statuses = try status.map { name in
            guard let value = Waybill_V1_OrderStatus(rawValue: (try? Waybill_V1_OrderStatus(jsonName: "ORDER_STATUS_" + name.uppercased()))?.rawValue ?? -1),
                  value != .unspecified else {
                throw ValidationError("unknown status \(name)")
            }
            return value
        }
        request.capturedFromUnixMs = from
        request.capturedToUnixMs = to
        request.pageSize = pageSize
        request.pageToken = pageToken
        try await invoke(options, Method.OrderService.listOrders, request, as: Waybill_V1_ListOrdersResponse.self)
    }
}

extension Waybill_V1_OrderStatus {
    init(jsonName: String) throws {
        let message = try Waybill_V1_ListOrdersRequest(jsonString: "{\"statuses\":[\"\(jsonName)\"]}")
        self = message.statuses[0]
    }
}

struct OrderHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "order-history", abstract: "What happened to an order, when, why and by whom.")
    @OptionGroup var options: CallOptions
    @Argument var orderID: String
    func run() async throws {
        var request = Waybill_V1_GetOrderHistoryRequest()
        request.orderID = orderID
        try await invoke(options, Method.OrderService.getOrderHistory, request, as: Waybill_V1_GetOrderHistoryResponse.self)
    }
}

// MARK: - Lifecycle

struct HoldOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hold", abstract: "Put an order on hold.")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Option(help: "payment, fraud, address, customer_request or other.") var reason: String
    @Option var note = ""
    func run() async throws {
        var request = Waybill_V1_HoldOrderRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.reason = try holdReason(reason)
        request.note = note
        try await invoke(options, Method.OrderService.holdOrder, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct ReleaseHold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release-hold", abstract: "Release one hold (or all).")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Option(help: "The hold to release; all when omitted.") var reason: String?
    @Option var note = ""
    func run() async throws {
        var request = Waybill_V1_ReleaseHoldRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.reason = try holdReason(reason)
        request.note = note
        try await invoke(options, Method.OrderService.releaseHold, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct CancelOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel-order", abstract: "Cancel everything not yet shipped.")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Option var reason = ""
    func run() async throws {
        var request = Waybill_V1_CancelOrderRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.reason = reason
        try await invoke(options, Method.OrderService.cancelOrder, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct CancelLines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel-lines", abstract: "Cancel quantities of lines: LINE=QTY ...")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var lines: [String]
    @Option var reason = ""
    func run() async throws {
        var request = Waybill_V1_CancelLinesRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.lines = try lineQuantities(lines)
        request.reason = reason
        try await invoke(options, Method.OrderService.cancelLines, request, as: Waybill_V1_OrderResponse.self)
    }
}

/// ReleaseFulfillment, ConfirmPick, ConfirmPack, ConfirmDelivery share one request shape.
protocol FulfillmentStep: AsyncParsableCommand {
    static var method: String { get }
    var options: CallOptions { get }
    var requestID: RequestIDOption { get }
    var orderID: String { get }
    var fulfillmentID: String? { get }
}

extension FulfillmentStep {
    func run() async throws {
        var request = Waybill_V1_FulfillmentRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.fulfillmentID = fulfillmentID ?? ""
        try await invoke(options, Self.method, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct ReleaseFulfillment: FulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "release-fulfillment", abstract: "Release to the location (all CREATED ones when no id).")
    static let method = Method.OrderService.releaseFulfillment
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String?
}

struct ConfirmPick: FulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-pick", abstract: "The location picked a fulfillment.")
    static let method = Method.OrderService.confirmPick
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String?
}

struct ConfirmPack: FulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-pack", abstract: "The location packed a fulfillment.")
    static let method = Method.OrderService.confirmPack
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String?
}

struct ConfirmDelivery: FulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-delivery", abstract: "The carrier delivered (or the customer collected).")
    static let method = Method.OrderService.confirmDelivery
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String?
}

struct RejectFulfillment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reject-fulfillment", abstract: "The location cannot fulfil: re-route (or backorder).")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String
    @Option var reason = ""
    @Option(help: "LINE=QTY the location cannot serve (repeatable; default all).") var line: [String] = []
    @Flag(help: "The stock is physically missing: write it off the location's on hand.") var stockMissing = false
    func run() async throws {
        var request = Waybill_V1_RejectFulfillmentRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.fulfillmentID = fulfillmentID
        request.reason = reason
        request.lines = try lineQuantities(line)
        request.stockMissing = stockMissing
        try await invoke(options, Method.OrderService.rejectFulfillment, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct ConfirmShipment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "confirm-shipment", abstract: "The fulfillment shipped (carrier, tracking).")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var fulfillmentID: String
    @Option var carrier = ""
    @Option var tracking = ""
    func run() async throws {
        var request = Waybill_V1_ConfirmShipmentRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.fulfillmentID = fulfillmentID
        request.carrierID = carrier
        request.trackingNumber = tracking
        try await invoke(options, Method.OrderService.confirmShipment, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct CreateReturn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-return", abstract: "Request a return of shipped units: LINE=QTY ...")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var returnID: String
    @Argument var lines: [String]
    @Option var reason = ""
    func run() async throws {
        var request = Waybill_V1_CreateReturnRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.returnID = returnID
        request.lines = try lineQuantities(lines)
        request.reason = reason
        try await invoke(options, Method.OrderService.createReturn, request, as: Waybill_V1_OrderResponse.self)
    }
}

struct ReceiveReturn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "receive-return", abstract: "Receive a return: LINE=QTY:restock|dispose ...")
    @OptionGroup var options: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument var orderID: String
    @Argument var returnID: String
    @Option var location: String
    @Argument var lines: [String]
    func run() async throws {
        var request = Waybill_V1_ReceiveReturnRequest()
        request.requestID = requestID.value
        request.orderID = orderID
        request.returnID = returnID
        request.locationID = location
        request.lines = try lines.map { argument in
            let parts = argument.split(separator: ":")
            guard parts.count == 2, let quantity = try lineQuantities([String(parts[0])]).first else {
                throw ValidationError("expected LINE=QTY:restock|dispose, got \(argument)")
            }
            var line = Waybill_V1_ReturnLine()
            line.lineID = quantity.lineID
            line.quantity = quantity.quantity
            switch parts[1] {
            case "restock": line.disposition = .restock
            case "dispose": line.disposition = .dispose
            default: throw ValidationError("disposition must be restock or dispose")
            }
            return line
        }
        try await invoke(options, Method.OrderService.receiveReturn, request, as: Waybill_V1_OrderResponse.self)
    }
}

// MARK: - Inventory and network

struct Availability: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Available-to-promise per SKU × location (and per channel).")
    @OptionGroup var options: CallOptions
    @Argument var skus: [String]
    @Option(help: "Location (repeatable; default every location holding the SKU).") var location: [String] = []
    @Option(help: "Also report network availability for this channel.") var channel: String?
    @Flag var networkOnly = false
    func run() async throws {
        var request = Waybill_V1_GetAvailabilityRequest()
        request.skus = skus
        request.locationIds = location
        request.channel = try channelValue(channel)
        request.networkOnly = networkOnly
        try await invoke(options, Method.InventoryService.getAvailability, request, as: Waybill_V1_GetAvailabilityResponse.self)
    }
}

struct Receive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Receive stock: SKU LOCATION QUANTITY (idempotent by --change-id).")
    @OptionGroup var options: CallOptions
    @Argument var sku: String
    @Argument var location: String
    @Argument var quantity: Int32
    @Option var changeID: String?
    @Option var reason = ""
    func run() async throws {
        try await inventory(options, Method.InventoryService.receiveInventory, .receipt, sku, location, quantity, nil, changeID, reason)
    }
}

struct Adjust: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Adjust on hand: SKU LOCATION DELTA (idempotent by --change-id).")
    @OptionGroup var options: CallOptions
    @Argument var sku: String
    @Argument var location: String
    @Argument(parsing: .allUnrecognized) var delta: [String]
    @Option var changeID: String?
    @Option var reason = ""
    func run() async throws {
        guard delta.count == 1, let value = Int32(delta[0]) else { throw ValidationError("DELTA must be one integer") }
        try await inventory(options, Method.InventoryService.adjustInventory, .adjustment, sku, location, value, nil, changeID, reason)
    }
}

struct Transfer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Move stock: SKU FROM TO QUANTITY (idempotent by --change-id).")
    @OptionGroup var options: CallOptions
    @Argument var sku: String
    @Argument var from: String
    @Argument var to: String
    @Argument var quantity: Int32
    @Option var changeID: String?
    @Option var reason = ""
    func run() async throws {
        try await inventory(options, Method.InventoryService.adjustInventory, .transfer, sku, from, quantity, to, changeID, reason)
    }
}

func inventory(_ options: CallOptions, _ method: String, _ kind: Waybill_V1_InventoryChangeKind, _ sku: String, _ location: String,
               _ quantity: Int32, _ to: String?, _ changeID: String?, _ reason: String) async throws {
    var change = Waybill_V1_InventoryChange()
    change.changeID = changeID ?? {
        let generated = UUID().uuidString.lowercased()
        FileHandle.standardError.write(Data("change-id: \(generated)\n".utf8))
        return generated
    }()
    change.kind = kind
    change.sku = sku
    change.locationID = location
    change.quantity = quantity
    change.toLocationID = to ?? ""
    change.reason = reason
    var request = Waybill_V1_InventoryChangeRequest()
    request.changes = [change]
    let response: Waybill_V1_InventoryChangeResponse = try await withClient(options.server, clientID: options.clientID) { client in
        try await client.call(method, request)
    }
    printJSON(response)
    if let result = response.results.first, result.status.code != .ok { fail(WaybillStatusError(result.status)) }
}

struct LoadNetwork: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load-network", abstract: "Load locations, carriers, items, policy and opening stock (JSON of waybill.v1.NetworkModel).")
    @OptionGroup var options: CallOptions
    @Argument var file: String
    func run() async throws {
        let model: Waybill_V1_NetworkModel = try readJSON(file)
        try await invoke(options, Method.NetworkService.loadNetwork, model, as: Waybill_V1_LoadNetworkResponse.self)
    }
}

struct SetPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set-policy", abstract: "Replace the routing policy (JSON of waybill.v1.RoutingPolicy).")
    @OptionGroup var options: CallOptions
    @Argument var file: String
    func run() async throws {
        let policy: Waybill_V1_RoutingPolicy = try readJSON(file)
        try await invoke(options, Method.NetworkService.setRoutingPolicy, policy, as: Waybill_V1_RoutingPolicy.self)
    }
}

struct GetPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get-policy", abstract: "The current routing policy, or --version N.")
    @OptionGroup var options: CallOptions
    @Option var version: Int64 = 0
    func run() async throws {
        var request = Waybill_V1_GetRoutingPolicyRequest()
        request.version = version
        try await invoke(options, Method.NetworkService.getRoutingPolicy, request, as: Waybill_V1_RoutingPolicy.self)
    }
}

// MARK: - Change feed, ERP, system

struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow the change feed as a named consumer (acknowledging what it prints).")
    @OptionGroup var options: CallOptions
    @Argument var consumer: String
    @Option(help: "First offset (default: after the consumer's last acknowledged one).") var from: UInt64 = 0
    @Option(help: "Stop after this many events (0 = follow forever).") var count = 0
    @Flag(help: "Do not acknowledge.") var noAck = false
    func run() async throws {
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = consumer
        request.fromOffset = from
        try await withClient(options.server, clientID: options.clientID) { client in
            var seen = 0
            for try await frame in try client.subscribe(request) {
                for event in frame.events {
                    printJSON(event)
                    seen += 1
                    if count > 0 && seen >= count { break }
                }
                if !noAck, let last = frame.events.prefix(count > 0 ? max(0, count - (seen - frame.events.count)) : frame.events.count).last {
                    _ = try await client.acknowledge(consumer: consumer, offset: last.offset)
                }
                if count > 0 && seen >= count { break }
            }
        }
    }
}

struct Acknowledge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ack", abstract: "Store a consumer's offset.")
    @OptionGroup var options: CallOptions
    @Argument var consumer: String
    @Argument var offset: UInt64
    func run() async throws {
        var request = Waybill_V1_AcknowledgeRequest()
        request.consumer = consumer
        request.offset = offset
        try await invoke(options, Method.ChangeFeedService.acknowledge, request, as: Waybill_V1_AcknowledgeResponse.self)
    }
}

struct FeedInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "feed-info", abstract: "Feed offsets and every consumer's position and lag.")
    @OptionGroup var options: CallOptions
    func run() async throws {
        try await invoke(options, Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest(), as: Waybill_V1_FeedInfo.self)
    }
}

struct BridgeStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bridge-status", abstract: "ERP bridge progress: delivered, retrying, dead-lettered, lag.")
    @OptionGroup var options: CallOptions
    @Option var consumer = ""
    func run() async throws {
        var request = Waybill_V1_GetBridgeStatusRequest()
        request.consumer = consumer
        try await invoke(options, Method.ErpService.getBridgeStatus, request, as: Waybill_V1_BridgeStatusList.self)
    }
}

struct ServerInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server-info", abstract: "Version, protocol versions and every limit.")
    @OptionGroup var options: CallOptions
    func run() async throws {
        try await invoke(options, Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(), as: Waybill_V1_ServerInfo.self)
    }
}

struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The server's metrics (Prometheus text).")
    @OptionGroup var options: CallOptions
    func run() async throws {
        let text: Waybill_V1_MetricsText = try await withClient(options.server, clientID: options.clientID) { client in
            try await client.call(Method.SystemService.getMetrics, Waybill_V1_GetMetricsRequest())
        }
        print(text.text, terminator: "")
    }
}

/// Any unary method with a JSON request file.
struct RPC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc", abstract: "Call any unary method: rpc METHOD FILE (e.g. rpc ErpService/ApplyStockSnapshot snapshot.json).")
    @OptionGroup var options: CallOptions
    @Argument(help: "Service/Method, or the full /waybill.v1.Service/Method.") var method: String
    @Argument(help: "Request JSON file, or - for stdin.") var file: String

    func run() async throws {
        let full = method.hasPrefix("/") ? method : "/waybill.v1." + method
        guard let entry = rpcTable[full] else {
            throw ValidationError("unknown method \(full); known: " + rpcTable.keys.sorted().joined(separator: ", "))
        }
        try await entry(options, file)
    }
}

typealias RPCEntry = @Sendable (CallOptions, String) async throws -> Void

func entry<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(_ method: String, _ request: Request.Type,
                                                                          _ response: Response.Type) -> (String, RPCEntry) {
    (method, { options, file in
        let body: Request = try readJSON(file)
        try await invoke(options, method, body, as: Response.self)
    })
}

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
    entry(Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest.self, Waybill_V1_BridgeStatusList.self),
    entry(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest.self, Waybill_V1_ServerInfo.self),
])
