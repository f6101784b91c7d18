// `waybill call` subcommands for stock and the network: availability, receipts, adjustments,
// transfers, the network model and the routing policy.

import ArgumentParser
import WaybillClient
import WaybillProto
import WaybillWire

struct Availability: UnaryCallCommand {
    static let configuration = CommandConfiguration(abstract: "Available-to-promise per SKU × location (and per channel).")
    static let method = Method.InventoryService.getAvailability
    typealias Response = Waybill_V1_GetAvailabilityResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "SKUs.") var skus: [String]
    @Option(help: "Location (repeatable; default every location holding the SKU).") var location: [String] = []
    @Option(help: "Also report network availability for this channel: \(Waybill_V1_Channel.flagValues).", transform: Waybill_V1_Channel.parseFlag)
    var channel: Waybill_V1_Channel?
    @Flag(help: "Only the network totals.") var networkOnly = false

    func request() throws -> Waybill_V1_GetAvailabilityRequest {
        .with { $0.skus = skus; $0.locationIds = location; $0.channel = channel ?? .unspecified; $0.networkOnly = networkOnly }
    }
}

/// One stock change (receipt, adjustment or transfer), idempotent by --change-id.
struct StockChange: ParsableArguments {
    @OptionGroup var call: CallOptions
    @Option(help: "Idempotency key of this change (default: a new UUID, printed on stderr).") var changeID: String?
    @Option(help: "Why (kept with the movement).") var reason = ""
}

/// receive, adjust and transfer: one InventoryChangeRequest with one change; a refused change fails the command.
protocol StockChangeCommand: UnaryCallCommand where Request == Waybill_V1_InventoryChangeRequest, Response == Waybill_V1_InventoryChangeResponse {
    var stock: StockChange { get }
    func change() throws -> Waybill_V1_InventoryChange
}

extension StockChangeCommand {
    var call: CallOptions { stock.call }

    func request() throws -> Waybill_V1_InventoryChangeRequest {
        var change = try change()
        change.changeID = stock.changeID ?? generatedKey("change-id")
        change.reason = stock.reason
        return .with { $0.changes = [change] }
    }

    func show(_ response: Waybill_V1_InventoryChangeResponse) throws {
        call.print(response)
        if let result = response.results.first, result.status.code != .ok { fail(WaybillStatusError(result.status)) }
    }
}

/// What tells receive and adjust apart: their name, method and kind of change.
protocol StockAtLocation {
    static var configuration: CommandConfiguration { get }
    static var method: String { get }
    static var kind: Waybill_V1_InventoryChangeKind { get }
}

/// SKU LOCATION QUANTITY: one subcommand type for receipts and adjustments.
struct StockAtLocationCommand<Change: StockAtLocation>: StockChangeCommand {
    static var configuration: CommandConfiguration { Change.configuration }
    static var method: String { Change.method }
    @OptionGroup var stock: StockChange
    @Argument(help: "The SKU.") var sku: String
    @Argument(help: "The location.") var location: String
    @OptionGroup var quantity: SignedQuantity

    func change() throws -> Waybill_V1_InventoryChange {
        let units = try quantity.value()
        return .with { $0.kind = Change.kind; $0.sku = sku; $0.locationID = location; $0.quantity = units }
    }
}

enum ReceiptChange: StockAtLocation {
    static let configuration = CommandConfiguration(
        commandName: "receive", abstract: "Receive stock: SKU LOCATION QUANTITY (idempotent by --change-id).",
        usage: "waybill call receive [<options>] <sku> <location> <quantity>")
    static let method = Method.InventoryService.receiveInventory
    static let kind = Waybill_V1_InventoryChangeKind.receipt
}

enum AdjustmentChange: StockAtLocation {
    static let configuration = CommandConfiguration(
        commandName: "adjust", abstract: "Adjust on hand: SKU LOCATION DELTA, e.g. -3 (idempotent by --change-id).",
        usage: "waybill call adjust [<options>] <sku> <location> <delta>   (a negative delta is a value: adjust SKU LOC -3)")
    static let method = Method.InventoryService.adjustInventory
    static let kind = Waybill_V1_InventoryChangeKind.adjustment
}

typealias Receive = StockAtLocationCommand<ReceiptChange>
typealias Adjust = StockAtLocationCommand<AdjustmentChange>

struct Transfer: StockChangeCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer", abstract: "Move stock: SKU FROM TO QUANTITY (idempotent by --change-id).",
        usage: "waybill call transfer [<options>] <sku> <from> <to> <quantity>")
    static let method = Method.InventoryService.adjustInventory
    @OptionGroup var stock: StockChange
    @Argument(help: "The SKU.") var sku: String
    @Argument(help: "From location.") var from: String
    @Argument(help: "To location.") var to: String
    @OptionGroup var quantity: SignedQuantity

    func change() throws -> Waybill_V1_InventoryChange {
        let units = try quantity.value()
        return .with { $0.kind = .transfer; $0.sku = sku; $0.locationID = from; $0.toLocationID = to; $0.quantity = units }
    }
}

/// A call whose whole request is a JSON file.
protocol JSONFileCall: UnaryCallCommand {
    var file: String { get }
}

extension JSONFileCall {
    func request() throws -> Request { try readJSON(file) }
}

struct LoadNetwork: JSONFileCall {
    static let configuration = CommandConfiguration(
        commandName: "load-network", abstract: "Load locations, carriers, items, policy and opening stock (JSON of waybill.v1.NetworkModel).")
    static let method = Method.NetworkService.loadNetwork
    typealias Request = Waybill_V1_NetworkModel
    typealias Response = Waybill_V1_LoadNetworkResponse
    @OptionGroup var call: CallOptions
    @Argument(help: "NetworkModel JSON file, or - for stdin.") var file: String
}

struct SetPolicy: JSONFileCall {
    static let configuration = CommandConfiguration(commandName: "set-policy", abstract: "Replace the routing policy (JSON of waybill.v1.RoutingPolicy).")
    static let method = Method.NetworkService.setRoutingPolicy
    typealias Request = Waybill_V1_RoutingPolicy
    typealias Response = Waybill_V1_RoutingPolicy
    @OptionGroup var call: CallOptions
    @Argument(help: "RoutingPolicy JSON file, or - for stdin.") var file: String
}

struct GetPolicy: UnaryCallCommand {
    static let configuration = CommandConfiguration(commandName: "get-policy", abstract: "The current routing policy, or --version N.")
    static let method = Method.NetworkService.getRoutingPolicy
    typealias Response = Waybill_V1_RoutingPolicy
    @OptionGroup var call: CallOptions
    @Option(help: "A past policy version (0 = the current one).") var version: Int64 = 0

    func request() throws -> Waybill_V1_GetRoutingPolicyRequest { .with { $0.version = version } }
}
