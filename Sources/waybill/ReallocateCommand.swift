// `waybill call reallocate`: routes backordered units again (after a policy or network fix).

import ArgumentParser
import WaybillProto
import WaybillWire

struct Reallocate: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "reallocate",
        abstract: "Route the backordered units of orders again, against the current network, policy and stock.",
        discussion: "Name orders, or pass --all-backorders for every backordered order, oldest first (up to the server's "
            + "reallocateOrdersPerCallMax per call; call again while backordersNotExamined > 0).")
    typealias Response = Waybill_V1_ReallocateOrdersResponse
    static let method = Method.OrderService.reallocateOrders
    @OptionGroup var call: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument(help: ArgumentHelp("Order ids (e.g. W-00000042).", valueName: "order-id")) var orderIDs: [String] = []
    @Flag(help: "Every backordered order instead of named ones.") var allBackorders = false

    func validate() throws {
        if orderIDs.isEmpty == !allBackorders { throw ValidationError("name orders or pass --all-backorders (one of the two)") }
    }

    func request() throws -> Waybill_V1_ReallocateOrdersRequest {
        var request = Waybill_V1_ReallocateOrdersRequest()
        request.requestID = requestID.value
        request.orderIds = orderIDs
        request.allBackorders = allBackorders
        return request
    }
}
