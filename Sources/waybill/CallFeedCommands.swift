// `waybill call` subcommands for the change feed, the ERP bridge and the server itself, and `rpc`
// for any unary method with a JSON request file.

import ArgumentParser
import Foundation
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
        try await withClient(call.address, clientID: call.clientID, connection: call.connection) { client in
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
    static let configuration = CommandConfiguration(
        commandName: "bridge-status",
        abstract: "ERP bridge progress: delivered, retrying, dead-lettered, lag; its oldest dead letters with their reason; replay requests.")
    static let method = Method.ErpService.getBridgeStatus
    typealias Response = Waybill_V1_BridgeStatusList
    @OptionGroup var call: CallOptions
    @Option(help: "One bridge's consumer name (default: every bridge).") var consumer = ""

    func request() throws -> Waybill_V1_GetBridgeStatusRequest { .with { $0.consumer = consumer } }

    /// A table per bridge, so that its dead letters and replay requests are listed, not counted.
    func show(_ response: Waybill_V1_BridgeStatusList) throws {
        guard call.output == .table else { return call.print(response) }
        if response.bridges.isEmpty { print("no bridge has reported\(consumer.isEmpty ? "" : " as \(consumer)")") }
        for bridge in response.bridges { call.print(bridge) }
    }
}

struct ReplayDeadLetters: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-dead-letters",
        abstract: "Ask an ERP bridge to replay dead letters (by event id with the events parked behind it, or --all) on its next status report.",
        discussion: """
            The server records the request (RequestDeadLetterReplay); the bridge of --consumer receives it with the answer to its \
            next status report, replays as `waybill erp-bridge replay` does, and reports the outcome: `waybill call bridge-status` \
            shows the request pending, then done with what was replayed, what still fails and which ids the store did not hold. \
            The same --request-id again answers the recorded request. docs/ERP.md.
            """)
    static let method = Method.ErpService.requestDeadLetterReplay
    typealias Response = Waybill_V1_DeadLetterReplay
    @OptionGroup var call: CallOptions
    @OptionGroup var requestID: RequestIDOption
    @Option(help: "The bridge's consumer name (as in bridge-status).") var consumer: String
    @Flag(help: "Replay every dead letter of that bridge.") var all = false
    @Argument(help: "Event ids of the dead letters to replay (evt-123 ...).") var eventIDs: [String] = []

    func validate() throws {
        if all == !eventIDs.isEmpty { throw ValidationError("give dead-letter event ids or --all (not both)") }
    }

    func request() throws -> Waybill_V1_DeadLetterReplayRequest {
        .with {
            $0.consumer = consumer
            $0.all = all
            $0.eventIds = eventIDs
            $0.requestID = requestID.value
        }
    }

    func show(_ response: Waybill_V1_DeadLetterReplay) throws {
        if response.alreadyRequested {
            FileHandle.standardError.write(Data("request \(response.requestID) was already recorded: nothing new was requested\n".utf8))
        }
        call.print(response)
    }
}

struct ReconciliationRuns: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciliation-runs",
        abstract: "Recorded reconciliation runs, newest first: when, by whom, scope, repair, what was compared and counts per kind.",
        discussion: """
            Every finished reconciliation (`waybill reconcile`, Reconcile or a session's FinishReconciliation) is recorded by the \
            server; the latest reconciliationRunsKeptMax are kept. `reconciliation-run RUN_ID` shows one with its discrepancies. \
            docs/ERP.md.
            """)
    static let method = Method.ErpService.listReconciliationRuns
    typealias Response = Waybill_V1_ReconciliationRunList
    @OptionGroup var call: CallOptions
    @Option(help: "Runs per page (0 = the server's default).") var pageSize: Int32 = 0
    @Option(help: "nextPageToken of the previous page.") var pageToken = ""

    func request() throws -> Waybill_V1_ListReconciliationRunsRequest {
        .with { ($0.pageSize, $0.pageToken) = (pageSize, pageToken) }
    }
}

struct ReconciliationRun: UnaryCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciliation-run", abstract: "One recorded reconciliation run with the discrepancies it kept.")
    static let method = Method.ErpService.getReconciliationRun
    typealias Response = Waybill_V1_ReconciliationRun
    @OptionGroup var call: CallOptions
    @Argument(help: "The run id (run-00000042), as reconciliation-runs lists it.") var runID: String

    func request() throws -> Waybill_V1_GetReconciliationRunRequest { .with { $0.runID = runID } }
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
        guard let entry = Method.byPath[full], !entry.serverStreaming else {
            let known = Method.all.filter { !$0.serverStreaming }.map(\.path)
            throw ValidationError("unknown unary method \(full); known: " + known.joined(separator: ", "))
        }
        try await invoke(full, entry.request, entry.response)
    }

    /// The request read as JSON of the method's request type, the answer printed as its response type
    /// (both from the generated method table).
    private func invoke<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String, _ request: Request.Type, _ response: Response.Type) async throws {
        let body: Request = try readJSON(file)
        call.print(try await call.invoke(path, body, as: Response.self))
    }
}
