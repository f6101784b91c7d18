// `waybill call` subcommands that move an order through its lifecycle. Each takes the order id,
// an optional --request-id (idempotency key) and prints the order as get-order does.

import ArgumentParser
import WaybillProto
import WaybillWire

struct HoldOrder: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "hold", abstract: "Put an order on hold.")
    static let method = Method.OrderService.holdOrder
    @OptionGroup var change: OrderChange
    @Option(help: "Why: \(Waybill_V1_HoldReason.flagValues).", transform: Waybill_V1_HoldReason.parseFlag) var reason: Waybill_V1_HoldReason
    @Option(help: "Free text kept in the order's history.") var note = ""

    func request() throws -> Waybill_V1_HoldOrderRequest {
        .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.reason = reason; $0.note = note }
    }
}

struct ReleaseHold: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "release-hold", abstract: "Release one hold (or all).")
    static let method = Method.OrderService.releaseHold
    @OptionGroup var change: OrderChange
    @Option(help: "The hold to release (all when omitted): \(Waybill_V1_HoldReason.flagValues).", transform: Waybill_V1_HoldReason.parseFlag)
    var reason: Waybill_V1_HoldReason?
    @Option(help: "Free text kept in the order's history.") var note = ""

    func request() throws -> Waybill_V1_ReleaseHoldRequest {
        .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.reason = reason ?? .unspecified; $0.note = note }
    }
}

struct CancelOrder: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "cancel-order", abstract: "Cancel everything not yet shipped.")
    static let method = Method.OrderService.cancelOrder
    @OptionGroup var change: OrderChange
    @Option(help: "Why (kept in the order's history).") var reason = ""

    func request() throws -> Waybill_V1_CancelOrderRequest {
        .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.reason = reason }
    }
}

struct CancelLines: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "cancel-lines", abstract: "Cancel quantities of lines: ORDER LINE=QTY ...")
    static let method = Method.OrderService.cancelLines
    @OptionGroup var change: OrderChange
    @Argument(help: "LINE=QTY: units of a line to cancel (e.g. 1=2).") var lines: [String]
    @Option(help: "Why (kept in the order's history).") var reason = ""

    func request() throws -> Waybill_V1_CancelLinesRequest {
        let quantities = try lineQuantities(lines)
        return .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.lines = quantities; $0.reason = reason }
    }
}

/// ReleaseFulfillment, ConfirmPick, ConfirmPack and ConfirmDelivery: one request shape, told apart by method.
protocol FulfillmentStep: OrderChangeCommand where Request == Waybill_V1_FulfillmentRequest {
    var fulfillment: String? { get }
}

extension FulfillmentStep {
    func request() throws -> Waybill_V1_FulfillmentRequest {
        .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.fulfillmentID = fulfillment ?? "" }
    }
}

struct ReleaseFulfillment: FulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "release-fulfillment", abstract: "Release to the location (every CREATED one when no id is given).")
    static let method = Method.OrderService.releaseFulfillment
    @OptionGroup var change: OrderChange
    @Argument(help: "The fulfillment id (e.g. W-00000001-F1); all CREATED ones when omitted.") var fulfillmentID: String?
    var fulfillment: String? { fulfillmentID }
}

/// Pick, pack and delivery name one fulfillment: the id is required.
struct FulfillmentArgument: ParsableArguments {
    @Argument(help: "The fulfillment id (e.g. W-00000001-F1).") var fulfillmentID: String
}

/// What tells ConfirmPick, ConfirmPack and ConfirmDelivery apart: their name and method.
protocol NamedFulfillmentStep {
    static var configuration: CommandConfiguration { get }
    static var method: String { get }
}

/// One subcommand type for every step that names one fulfillment.
struct NamedFulfillmentStepCommand<Step: NamedFulfillmentStep>: FulfillmentStep {
    static var configuration: CommandConfiguration { Step.configuration }
    static var method: String { Step.method }
    @OptionGroup var change: OrderChange
    @OptionGroup var target: FulfillmentArgument
    var fulfillment: String? { target.fulfillmentID }
}

enum PickStep: NamedFulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-pick", abstract: "The location picked a fulfillment.")
    static let method = Method.OrderService.confirmPick
}

enum PackStep: NamedFulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-pack", abstract: "The location packed a fulfillment (picking may be skipped).")
    static let method = Method.OrderService.confirmPack
}

enum DeliveryStep: NamedFulfillmentStep {
    static let configuration = CommandConfiguration(commandName: "confirm-delivery", abstract: "The carrier delivered (or the customer collected).")
    static let method = Method.OrderService.confirmDelivery
}

typealias ConfirmPick = NamedFulfillmentStepCommand<PickStep>
typealias ConfirmPack = NamedFulfillmentStepCommand<PackStep>
typealias ConfirmDelivery = NamedFulfillmentStepCommand<DeliveryStep>

struct RejectFulfillment: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "reject-fulfillment", abstract: "The location cannot fulfil: re-route (or backorder).")
    static let method = Method.OrderService.rejectFulfillment
    @OptionGroup var change: OrderChange
    @OptionGroup var target: FulfillmentArgument
    @Option(help: "Why (kept in the order's history).") var reason = ""
    @Option(help: "LINE=QTY the location cannot serve (repeatable; default all).") var line: [String] = []
    @Flag(help: "The stock is physically missing: write it off the location's on hand.") var stockMissing = false

    func request() throws -> Waybill_V1_RejectFulfillmentRequest {
        let quantities = try lineQuantities(line)
        return .with {
            $0.requestID = change.requestID.value
            $0.orderID = change.orderID
            $0.fulfillmentID = target.fulfillmentID
            $0.reason = reason
            $0.lines = quantities
            $0.stockMissing = stockMissing
        }
    }
}

struct ConfirmShipment: OrderChangeCommand {
    static let configuration = CommandConfiguration(commandName: "confirm-shipment", abstract: "The fulfillment shipped (carrier and tracking required for parcels).")
    static let method = Method.OrderService.confirmShipment
    @OptionGroup var change: OrderChange
    @OptionGroup var target: FulfillmentArgument
    @Option(help: "Carrier id (e.g. UPX).") var carrier = ""
    @Option(help: "Tracking number.") var tracking = ""

    func request() throws -> Waybill_V1_ConfirmShipmentRequest {
        .with {
            $0.requestID = change.requestID.value
            $0.orderID = change.orderID
            $0.fulfillmentID = target.fulfillmentID
            $0.carrierID = carrier
            $0.trackingNumber = tracking
        }
    }
}

struct CreateReturn: OrderChangeCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-return", abstract: "Request a return of shipped units: ORDER RETURN-ID LINE=QTY ...",
        discussion: """
            With --exchange-line the return is an exchange: a replacement order for those lines is captured on the
            original's channel, at creation or at receipt (--reserve-at; default: the routing policy's).
            Example: waybill call create-return W-00000001 R1 1=2 2=1 --reason damaged
            Example: waybill call create-return W-00000001 R2 1=1 --exchange-line 1=MUG-L:1:1500:USD --reserve-at creation
            """)
    static let method = Method.OrderService.createReturn
    @OptionGroup var change: OrderChange
    @Argument(help: "Your id for this return (e.g. R1).") var returnID: String
    @Argument(help: "LINE=QTY: shipped units of a line to return.") var lines: [String]
    @Option(help: "Why (kept in the order's history).") var reason = ""
    @Option(name: .customLong("exchange-line"),
            help: "LINE=SKU:QTY:PRICE_MINOR_UNITS:CURRENCY, a line of the replacement order (repeatable), e.g. 1=MUG-L:1:1500:USD.")
    var exchangeLines: [String] = []
    @Option(name: .customLong("exchange-external-id"), help: "The replacement's external order id (default ORIGINAL/exchange/RETURN-ID).")
    var exchangeExternalID = ""
    @Option(name: .customLong("reserve-at"), help: "creation or receipt: when the replacement is captured (default: the routing policy's).")
    var reserveAt: String?

    func request() throws -> Waybill_V1_CreateReturnRequest {
        let quantities = try lineQuantities(lines)
        var request = Waybill_V1_CreateReturnRequest.with {
            $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.returnID = returnID; $0.lines = quantities; $0.reason = reason
        }
        if exchangeLines.isEmpty {
            if reserveAt != nil || !exchangeExternalID.isEmpty { throw ValidationError("--reserve-at and --exchange-external-id need --exchange-line") }
            return request
        }
        request.exchange = .with { $0.externalOrderID = exchangeExternalID }
        request.exchange.lines = try exchangeLines.map(parseOrderLine)
        switch reserveAt {
        case nil: break
        case "creation": request.exchange.reserveAt = .atCreation
        case "receipt": request.exchange.reserveAt = .atReceipt
        case let other?: throw ValidationError("--reserve-at must be creation or receipt, got \(other)")
        }
        return request
    }
}

/// "3=MUG:2:1200:USD" → an order line (EditOrder's --add-line, CreateReturn's --exchange-line).
func parseOrderLine(_ argument: String) throws -> Waybill_V1_OrderLine {
    let (lineID, fields) = try EditOrder.split(argument, "LINE=SKU:QTY:PRICE_MINOR_UNITS:CURRENCY")
    guard fields.count == 4, let quantity = Int32(fields[1]), let price = Int64(fields[2]) else {
        throw ValidationError("expected LINE=SKU:QTY:PRICE_MINOR_UNITS:CURRENCY, got \(argument)")
    }
    return .with {
        $0.lineID = lineID
        $0.sku = fields[0]
        $0.quantity = quantity
        $0.unitPrice = .with { $0.minorUnits = price; $0.currency = fields[3] }
    }
}

struct ReceiveReturn: OrderChangeCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive-return", abstract: "Receive a return: ORDER RETURN-ID --location LOC LINE=QTY:restock|dispose ...",
        discussion: "Example: waybill call receive-return W-00000001 R1 --location DC-NEWARK 1=2:restock 2=1:dispose")
    static let method = Method.OrderService.receiveReturn
    @OptionGroup var change: OrderChange
    @Argument(help: "The return id given to create-return.") var returnID: String
    @Option(help: "Where the units arrived.") var location: String
    @Argument(help: "LINE=QTY:restock or LINE=QTY:dispose (QTY may be 0).") var lines: [String]

    func request() throws -> Waybill_V1_ReceiveReturnRequest {
        let received = try returnLines(lines)
        return .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.returnID = returnID; $0.locationID = location; $0.lines = received }
    }
}

struct EditOrder: OrderChangeCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit-order",
        abstract: "Edit an order: ship-to, service level, line quantities, new lines, SKUs (all or nothing).",
        discussion: """
            The edits apply in this order: --ship-to, --service-level, each --quantity, each --add-line,
            each --replace-sku. Units not yet released to a location are re-routed; an edit needing units
            already released, picked or shipped is refused (FAILED_PRECONDITION naming the state).
            Example: waybill call edit-order W-00000042 --request-id edit-1 --quantity 1=3 --add-line 3=MUG:2:1200:USD
            """)
    static let method = Method.OrderService.editOrder
    @OptionGroup var change: OrderChange
    @Option(help: ArgumentHelp("New ship-to: waybill.v1.Address as protobuf JSON, inline or a file (\"-\" = stdin).",
                               discussion: "e.g. '{\"city\":\"Portland\",\"region\":\"OR\",\"postalCode\":\"97201\",\"country\":\"US\"}'"))
    var shipTo: String?
    @Option(help: "New service level: \(Waybill_V1_ServiceLevel.flagValues).", transform: Waybill_V1_ServiceLevel.parseFlag)
    var serviceLevel: Waybill_V1_ServiceLevel?
    @Option(name: .customLong("quantity"), help: "LINE=QTY: the units the line is now for, not counting cancelled ones (repeatable).")
    var quantities: [String] = []
    @Option(name: .customLong("add-line"), help: "LINE=SKU:QTY:PRICE_MINOR_UNITS:CURRENCY, a new line (repeatable), e.g. 3=MUG:2:1200:USD.")
    var addedLines: [String] = []
    @Option(name: .customLong("replace-sku"), help: "LINE=SKU[:PRICE_MINOR_UNITS:CURRENCY]: another SKU (and price) for a line (repeatable).")
    var replacements: [String] = []
    @Option(help: "Why (kept in the order's history).") var reason = ""

    func request() throws -> Waybill_V1_EditOrderRequest {
        var edits: [Waybill_V1_OrderEdit] = []
        if let shipTo {
            let address: Waybill_V1_Address = shipTo.hasPrefix("{")
                ? try decodeInlineJSON(shipTo, as: Waybill_V1_Address.self, source: "--ship-to")
                : try readJSON(shipTo)
            edits.append(.with { $0.changeShipTo = .with { $0.shipTo = address } })
        }
        if let serviceLevel { edits.append(.with { $0.changeServiceLevel = .with { $0.serviceLevel = serviceLevel } }) }
        for quantity in try lineQuantities(quantities) {
            edits.append(.with { $0.changeLineQuantity = .with { $0.lineID = quantity.lineID; $0.quantity = quantity.quantity } })
        }
        for argument in addedLines {
            let line = try parseOrderLine(argument)
            edits.append(.with { $0.addLine = .with { $0.line = line } })
        }
        for argument in replacements {
            let (lineID, fields) = try Self.split(argument, "LINE=SKU[:PRICE_MINOR_UNITS:CURRENCY]")
            guard fields.count == 1 || fields.count == 3 else {
                throw ValidationError("expected LINE=SKU[:PRICE_MINOR_UNITS:CURRENCY], got \(argument)")
            }
            var replace = Waybill_V1_ReplaceSku.with { $0.lineID = lineID; $0.sku = fields[0] }
            if fields.count == 3 {
                guard let price = Int64(fields[1]) else { throw ValidationError("price must be whole minor units, got \(fields[1])") }
                replace.unitPrice = .with { $0.minorUnits = price; $0.currency = fields[2] }
            }
            edits.append(.with { $0.replaceSku = replace })
        }
        if edits.isEmpty {
            throw ValidationError("nothing to edit: give --ship-to, --service-level, --quantity, --add-line or --replace-sku")
        }
        return .with { $0.requestID = change.requestID.value; $0.orderID = change.orderID; $0.edits = edits; $0.reason = reason }
    }

    /// "3=MUG:2:1200:USD" → ("3", ["MUG", "2", "1200", "USD"]).
    static func split(_ argument: String, _ shape: String) throws -> (String, [String]) {
        let parts = argument.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("expected \(shape), got \(argument)") }
        return (String(parts[0]), parts[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init))
    }
}
