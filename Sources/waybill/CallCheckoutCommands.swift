// `waybill call` subcommands of checkout: fulfillment options for a cart, and carts that hold stock.

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

/// The channel and cart id every cart call names.
struct CartIdentity: ParsableArguments {
    @Option(help: "The cart id (the checkout's own).") var cartId: String
    @Option(help: "The cart's channel: \(Waybill_V1_Channel.flagValues).", transform: Waybill_V1_Channel.parseFlag)
    var channel: Waybill_V1_Channel = .web
}

struct ReserveCart: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve-cart",
        abstract: "Hold stock for a checkout: an order JSON (its channel, lines, ship_to and fulfillment; - for stdin) as cart --cart-id for --ttl seconds.",
        discussion: "Reserving the same cart id again replaces its content (or replays it unchanged); a capture naming the cart (Order.cart_id) converts its reservations.")
    static let method = Method.CheckoutService.reserveCart
    typealias Response = Waybill_V1_CartResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "Order JSON file (waybill.v1.Order) whose channel, lines, ship_to and fulfillment make the cart, or - for stdin.") var file: String
    @Option(help: "The cart id.") var cartId: String
    @Option(help: "Seconds the cart holds its stock (at most cartTtlSecondsMax).") var ttl: Int32 = 900

    func request() throws -> Waybill_V1_ReserveCartRequest {
        let order: Waybill_V1_Order = try readJSON(file)
        return Waybill_V1_ReserveCartRequest.with {
            $0.cartID = cartId
            $0.channel = order.channel
            $0.lines = order.lines
            if order.hasShipTo { $0.shipTo = order.shipTo }
            if order.hasFulfillment { $0.fulfillment = order.fulfillment }
            $0.ttlSeconds = ttl
        }
    }
}

struct ExtendCart: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "extend-cart", abstract: "Hold an active cart's stock --ttl seconds from now.")
    static let method = Method.CheckoutService.extendCart
    typealias Response = Waybill_V1_CartResponse
    @OptionGroup var call: CallOptions
    @OptionGroup var cart: CartIdentity
    @Option(help: "Seconds from now (at most cartTtlSecondsMax).") var ttl: Int32

    func request() throws -> Waybill_V1_ExtendCartRequest {
        Waybill_V1_ExtendCartRequest.with { $0.cartID = cart.cartId; $0.channel = cart.channel; $0.ttlSeconds = ttl }
    }
}

struct ReleaseCart: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "release-cart", abstract: "Give an active cart's stock back (the shopper left).")
    static let method = Method.CheckoutService.releaseCart
    typealias Response = Waybill_V1_CartResponse
    @OptionGroup var call: CallOptions
    @OptionGroup var cart: CartIdentity

    func request() throws -> Waybill_V1_CartRequest {
        Waybill_V1_CartRequest.with { $0.cartID = cart.cartId; $0.channel = cart.channel }
    }
}

struct GetCart: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "get-cart", abstract: "A cart: its status, reservations, promise and deadline.")
    static let method = Method.CheckoutService.getCart
    typealias Response = Waybill_V1_CartResponse
    @OptionGroup var call: CallOptions
    @OptionGroup var cart: CartIdentity

    func request() throws -> Waybill_V1_CartRequest {
        Waybill_V1_CartRequest.with { $0.cartID = cart.cartId; $0.channel = cart.channel }
    }
}
