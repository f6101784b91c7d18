// `waybill call` subcommands that capture and read orders.

import ArgumentParser
import Foundation
import WaybillProto
import WaybillWire

struct CaptureOrder: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture-order", abstract: "Capture an order (protobuf JSON of waybill.v1.Order; - for stdin); prints it as get-order does.")
    static let method = Method.OrderService.captureOrder
    @OptionGroup var call: CallOptions
    @Argument(help: "Order JSON file, or - for stdin.") var file: String

    func request() throws -> Waybill_V1_CaptureOrderRequest {
        var request = Waybill_V1_CaptureOrderRequest()
        request.order = try readJSON(file)
        return request
    }

    func show(_ response: Waybill_V1_CaptureOrderResponse) throws { call.printOrder(response.order, replayed: response.replayed) }
}

struct CaptureOrders: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "capture-orders", abstract: "Capture a batch (JSON of waybill.v1.CaptureOrdersRequest).")
    static let method = Method.OrderService.captureOrders
    typealias Response = Waybill_V1_CaptureOrdersResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "CaptureOrdersRequest JSON file, or - for stdin.") var file: String

    func request() throws -> Waybill_V1_CaptureOrdersRequest { try readJSON(file) }
}

struct GetOrder: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-order", abstract: "Read an order by id, or by --channel and --external-id.",
        usage: "waybill call get-order [<options>] <order-id>\nwaybill call get-order [<options>] --channel <channel> --external-id <external-id>")
    static let method = Method.OrderService.getOrder
    typealias Response = Waybill_V1_Order
    @OptionGroup var call: CallOptions
    @Argument(help: "The order id (or give --channel and --external-id instead).") var orderID: String?
    @Option(help: "Channel of --external-id: \(Waybill_V1_Channel.flagValues).", transform: Waybill_V1_Channel.parseFlag)
    var channel: Waybill_V1_Channel?
    @Option(help: "The channel's own order id.") var externalID: String?

    func validate() throws {
        if orderID == nil && (channel == nil || externalID == nil) {
            throw ValidationError("give an ORDER-ID, or --channel and --external-id")
        }
    }

    func request() throws -> Waybill_V1_GetOrderRequest {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = orderID ?? ""
        request.channel = channel ?? .unspecified
        request.externalOrderID = externalID ?? ""
        return request
    }
}

/// The filters and pages list-orders and search-orders share.
struct OrderListOptions: ParsableArguments {
    @Option(help: "Channel: \(Waybill_V1_Channel.flagValues).", transform: Waybill_V1_Channel.parseFlag)
    var channel: Waybill_V1_Channel?
    @Option(help: "Status (repeatable): \(Waybill_V1_OrderStatus.flagValues).", transform: Waybill_V1_OrderStatus.parseFlag)
    var status: [Waybill_V1_OrderStatus] = []
    @Option(help: "Captured at or after: Unix ms or ISO-8601 (2026-03-02T15:00:00Z).", transform: unixMilliseconds) var from: Int64 = 0
    @Option(help: "Captured before: Unix ms or ISO-8601.", transform: unixMilliseconds) var to: Int64 = 0
    @Option(help: "Orders per page (0 = the server's default).") var pageSize: Int32 = 0
    @Option(help: "nextPageToken of the previous page.") var pageToken = ""
}

struct ListOrders: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "list-orders", abstract: "List orders (filters and cursor pagination).")
    static let method = Method.OrderService.listOrders
    typealias Response = Waybill_V1_ListOrdersResponse
    @OptionGroup var call: CallOptions
    @OptionGroup var list: OrderListOptions

    func request() throws -> Waybill_V1_ListOrdersRequest {
        .with {
            $0.channel = list.channel ?? .unspecified
            $0.statuses = list.status
            ($0.capturedFromUnixMs, $0.capturedToUnixMs) = (list.from, list.to)
            ($0.pageSize, $0.pageToken) = (list.pageSize, list.pageToken)
        }
    }
}

struct SearchOrders: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-orders",
        abstract: "Search orders, newest first: free text and filters, all ANDed (docs/PROTOCOL.md, Searching orders).")
    static let method = Method.OrderService.searchOrders
    typealias Response = Waybill_V1_SearchOrdersResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "Free text: an order id, external order id, email, phone, name, SKU or tracking number.") var query: String?
    @Option(help: "Customer email (case-insensitive).") var email: String?
    @Option(help: "Customer or ship-to phone (compared by digits).") var phone: String?
    @Option(help: "Words of the customer's or ship-to's name (case-insensitive).") var name: String?
    @Option(help: "A line's SKU.") var sku: String?
    @Option(help: "A fulfillment's tracking number.") var tracking: String?
    @Option(help: "A fulfillment at this location.") var location: String?
    @Option(help: "The channel's own order id (with --channel).") var externalID: String?
    @OptionGroup var list: OrderListOptions

    func request() throws -> Waybill_V1_SearchOrdersRequest {
        .with {
            $0.query = query ?? ""
            ($0.customerEmail, $0.customerPhone, $0.customerName) = (email ?? "", phone ?? "", name ?? "")
            ($0.sku, $0.trackingNumber, $0.locationID) = (sku ?? "", tracking ?? "", location ?? "")
            ($0.channel, $0.externalOrderID) = (list.channel ?? .unspecified, externalID ?? "")
            $0.statuses = list.status
            ($0.capturedFromUnixMs, $0.capturedToUnixMs) = (list.from, list.to)
            ($0.pageSize, $0.pageToken) = (list.pageSize, list.pageToken)
        }
    }
}

struct LocationQueue: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "location-queue", abstract: "A location's open fulfillments, oldest first: to release, pick, pack, ship or hand over.")
    static let method = Method.OrderService.listLocationQueue
    typealias Response = Waybill_V1_ListLocationQueueResponse
    @OptionGroup var call: CallOptions
    @Option(help: "The location.") var location: String
    @Option(help: "Fulfillment status (repeatable; none = every open one): \(Waybill_V1_FulfillmentStatus.flagValues).",
            transform: Waybill_V1_FulfillmentStatus.parseFlag)
    var status: [Waybill_V1_FulfillmentStatus] = []
    @Option(help: "Entries per page (0 = the server's default).") var pageSize: Int32 = 0
    @Option(help: "nextPageToken of the previous page.") var pageToken = ""

    func request() throws -> Waybill_V1_ListLocationQueueRequest {
        .with {
            $0.locationID = location
            $0.statuses = status
            ($0.pageSize, $0.pageToken) = (pageSize, pageToken)
        }
    }
}

/// Unix milliseconds from "1772463600000" or "2026-03-02T15:00:00Z" (fractional seconds allowed).
func unixMilliseconds(_ text: String) throws -> Int64 {
    if let value = Int64(text) { return value }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let date = formatter.date(from: text) ?? {
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }()
    guard let date else { throw ValidationError("\"\(text)\" is neither Unix milliseconds nor an ISO-8601 time like 2026-03-02T15:00:00Z") }
    return Int64((date.timeIntervalSince1970 * 1000).rounded())
}

struct OrderHistory: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "order-history", abstract: "What happened to an order, when, why and by whom.")
    static let method = Method.OrderService.getOrderHistory
    typealias Response = Waybill_V1_GetOrderHistoryResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "The order id.") var orderID: String

    func request() throws -> Waybill_V1_GetOrderHistoryRequest {
        var request = Waybill_V1_GetOrderHistoryRequest()
        request.orderID = orderID
        return request
    }
}
