// `waybill call` subcommands of checkout: fulfillment options for a cart.

import ArgumentParser
import Foundation
import WaybillProto
import WaybillWire

struct FulfillmentOptions: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "Fulfillment options for a cart: an order JSON (its channel, lines and ship_to; - for stdin), reserving nothing.",
        discussion: "Ship options at every service level (or --service-level), pickup at --pickup stores and the --nearby pickup stores nearest to ship_to.")
    static let method = Method.CheckoutService.getFulfillmentOptions
    typealias Response = Waybill_V1_GetFulfillmentOptionsResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "Order JSON file (waybill.v1.Order) whose channel, lines and ship_to make the cart, or - for stdin.") var file: String
    @Option(help: "Service level (repeatable; default: every level): \(Waybill_V1_ServiceLevel.flagValues).",
            transform: Waybill_V1_ServiceLevel.parseFlag)
    var serviceLevel: [Waybill_V1_ServiceLevel] = []
    @Option(help: "A pickup store to quote (repeatable).") var pickup: [String] = []
    @Option(help: "Also quote this many pickup stores nearest to ship_to.") var nearby: Int32 = 0
    @Flag(help: "Pickup options only (ship_to then only locates the --nearby stores).") var noShip = false

    func request() throws -> Waybill_V1_GetFulfillmentOptionsRequest {
        let order: Waybill_V1_Order = try readJSON(file)
        var query = Waybill_V1_FulfillmentOptionsQuery()
        query.queryID = order.externalOrderID
        query.channel = order.channel
        query.lines = order.lines
        if order.hasShipTo { query.shipTo = order.shipTo }
        query.serviceLevels = serviceLevel
        query.pickupLocationIds = pickup
        query.nearbyPickupStores = nearby
        query.pickupOnly = noShip
        return Waybill_V1_GetFulfillmentOptionsRequest.with { $0.queries = [query] }
    }
}
