// `waybill call ...`: one subcommand per common call, and `rpc` for any method with a JSON file.
// Every call subcommand has one shape: shared options (server, client id, output), a request
// built from its arguments, one invoke-and-print path. Answers print as protobuf JSON (or a
// table with --output table); failures print "CODE: message" on stderr and exit 1.

import ArgumentParser
import Foundation
import SwiftProtobuf
import WaybillClient
import WaybillProto
import WaybillWire

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call", abstract: "Call a running Waybill server.",
        discussion: """
            The server is --server, else $WAYBILL_SERVER, else 127.0.0.1:7400. Answers print as protobuf JSON \
            (zero values and empty lists included); --output table prints aligned columns with ISO-8601 UTC times. \
            Enum values are accepted as the proto name (ORDER_STATUS_ALLOCATED), the short name (ALLOCATED) or \
            lower/kebab case (allocated), and print as the proto name.
            """,
        // One line per subcommand: add yours here.
        subcommands: [
            CaptureOrder.self,
            CaptureOrders.self,
            GetOrder.self,
            ListOrders.self,
            SearchOrders.self,
            LocationQueue.self,
            OrderHistory.self,
            HoldOrder.self,
            ReleaseHold.self,
            CancelOrder.self,
            CancelLines.self,
            ReleaseFulfillment.self,
            RejectFulfillment.self,
            ConfirmPick.self,
            ConfirmPack.self,
            ConfirmShipment.self,
            ConfirmDelivery.self,
            CreateReturn.self,
            ReceiveReturn.self,
            EditOrder.self,
            Reallocate.self,
            FulfillmentOptions.self,
            ReserveCart.self,
            ExtendCart.self,
            ReleaseCart.self,
            GetCart.self,
            Availability.self,
            Receive.self,
            Adjust.self,
            Transfer.self,
            LoadNetwork.self,
            SetPolicy.self,
            GetPolicy.self,
            Subscribe.self,
            Acknowledge.self,
            FeedInfo.self,
            DeleteConsumer.self,
            BridgeStatus.self,
            ReplayDeadLetters.self,
            ReconciliationRuns.self,
            ReconciliationRun.self,
            ServerInfo.self,
            Metrics.self,
            RPC.self,
        ])
}

/// Where and how to call, shared by every call subcommand.
struct CallOptions: ParsableArguments {
    static let defaultServer = "127.0.0.1:7400"

    @Option(help: "Server address HOST:PORT (default: $WAYBILL_SERVER, else \(CallOptions.defaultServer)).")
    var server: String?

    @Option(help: "Who is calling (recorded in order history).")
    var clientID = "waybill-cli"

    @Option(help: "json (default, for scripts) or table (aligned columns, ISO-8601 UTC times, for people).")
    var output: OutputFormat = .json

    @OptionGroup(title: "Connection") var connection: ConnectionOptions

    var address: String { server ?? Self.defaultAddress }

    /// $WAYBILL_SERVER, else 127.0.0.1:7400: the default of every --server option.
    static var defaultAddress: String {
        if let environment = ProcessInfo.processInfo.environment["WAYBILL_SERVER"], !environment.isEmpty { return environment }
        return defaultServer
    }

    /// Calls `method` and returns the answer (failures exit through `fail`).
    func invoke<Response: SwiftProtobuf.Message>(_ method: String, _ request: some SwiftProtobuf.Message,
                                                 as type: Response.Type = Response.self) async throws -> Response {
        try await withClient(address, clientID: clientID, connection: connection) { client in
            try await client.call(method, request, as: type)
        }
    }

    func print(_ message: some SwiftProtobuf.Message) {
        CallOutput.print(message, as: output)
    }
}

/// Idempotency key option of lifecycle calls: a fresh one unless given (reuse it to retry safely).
struct RequestIDOption: ParsableArguments {
    @Option(help: "Idempotency key of this change (default: a new UUID, printed on stderr).")
    var requestID: String?

    /// The given key, or a new one (printed): read it once per request.
    var value: String { requestID ?? generatedKey("request-id") }
}

/// A fresh idempotency key, printed on stderr so the caller can retry with it.
func generatedKey(_ label: String) -> String {
    let generated = UUID().uuidString.lowercased()
    FileHandle.standardError.write(Data("\(label): \(generated)\n".utf8))
    return generated
}

/// A unary call subcommand: its request from its arguments, its answer printed.
protocol UnaryCallCommand: AsyncParsableCommand {
    associatedtype Request: SwiftProtobuf.Message
    associatedtype Response: SwiftProtobuf.Message
    static var method: String { get }
    var call: CallOptions { get }
    func request() throws -> Request
    func show(_ response: Response) throws
}

extension UnaryCallCommand {
    func run() async throws {
        let response: Response = try await call.invoke(Self.method, try request())
        try show(response)
    }

    func show(_ response: Response) throws { call.print(response) }
}

/// The order a lifecycle call changes and the idempotency key of the change.
struct OrderChange: ParsableArguments {
    @OptionGroup var call: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Argument(help: "The order id (e.g. W-00000001).") var orderID: String
}

/// A call that changes one order: prints the order as get-order does (a replay is noted on stderr).
protocol OrderChangeCommand: UnaryCallCommand where Response == Waybill_V1_OrderResponse {
    var change: OrderChange { get }
}

extension OrderChangeCommand {
    var call: CallOptions { change.call }
    func show(_ response: Response) throws { call.printOrder(response.order, replayed: response.replayed) }
}

extension CallOptions {
    /// capture-order, get-order and every lifecycle call print the order the same way.
    func printOrder(_ order: Waybill_V1_Order, replayed: Bool) {
        if replayed { FileHandle.standardError.write(Data("replayed: this change was already applied; nothing changed\n".utf8)) }
        print(order)
    }
}
