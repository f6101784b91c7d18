// Method dispatch and the shared plumbing of every service: writer jobs, reader queries,
// validation of limits.

import Dispatch
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// What a server-streaming handler sends its messages on: a frames connection or a gRPC call.
typealias CallStream = any CallStreamTarget

/// One entry of the generated dispatch table (Generated/RPCHandlers.swift): parses the request and
/// calls the handler the RPC's requirement names.
struct RPCDispatch<Handlers: RPCHandlers>: Sendable {
    let run: @Sendable (Handlers, Call, CallStream) -> Void
    init(_ run: @escaping @Sendable (Handlers, Call, CallStream) -> Void) { self.run = run }
}

/// The server's handlers: one method per RPC, in one file per service (OrderService.swift, ...),
/// reached through the dispatch table generated from proto/.
final class Services: RPCHandlers {

    let configuration: ServerConfiguration
    let writer: StoreWriter
    let reader: StoreReader
    let feed: ChangeFeedHub
    let logger: Logger
    let metrics: ServerMetrics
    let startedAt: Timestamp
    let connectionCount: @Sendable () -> Int
    let boundPort: @Sendable () -> Int
    /// Back-pressure figures of every connection (tests, operators).
    let outbound = ConnectionOutboundStatistics()
    /// Open ERP reconciliation sessions (ErpService.BeginReconciliation … FinishReconciliation).
    let reconciliationSessions = ReconciliationSessions()
    /// Every credential: each call is authenticated against it (CallAuthentication.swift).
    let credentials: CredentialDirectory
    /// Failed authentications per peer address (AuthenticationThrottle.swift).
    let authenticationThrottle: AuthenticationThrottle
    /// Releases carts at their deadline (CartExpiry.swift); cart writes tell it their deadlines.
    let cartExpiry: CartExpiry
    private let handlers: [String: RPCDispatch<Services>] = Services.dispatchTable

    init(configuration: ServerConfiguration, writer: StoreWriter, reader: StoreReader, feed: ChangeFeedHub, logger: Logger,
         metrics: ServerMetrics, credentials: CredentialDirectory, connectionCount: @escaping @Sendable () -> Int, boundPort: @escaping @Sendable () -> Int) {
        self.configuration = configuration
        self.writer = writer
        self.reader = reader
        self.feed = feed
        self.logger = logger
        self.metrics = metrics
        self.credentials = credentials
        authenticationThrottle = AuthenticationThrottle(limits: configuration.transport)
        cartExpiry = CartExpiry(writer: writer, clock: configuration.clock, logger: logger)
        self.connectionCount = connectionCount
        self.boundPort = boundPort
        startedAt = configuration.clock()
    }

    var transport: TransportLimits { configuration.transport }

    func dispatch(_ call: Call, stream: CallStream) {
        guard let handler = handlers[call.method] else {
            call.responder.respond(.failure(WaybillStatusError(.unimplemented, "unknown method \"\(call.method)\"; methods look like /waybill.v1.OrderService/CaptureOrder")))
            return
        }
        switch AccessPolicy.decide(call.caller, method: call.method) {
        case .allowed: handler.run(self, call, stream)
        case .denied(let reason):
            metrics.rejected(reason: "permission_denied")
            call.responder.respond(.failure(WaybillStatusError(.permissionDenied, "credential \"\(call.caller.name)\": \(reason)")))
        }
    }

    /// Runs `body` in the writer's next batch and answers with its result after the commit.
    /// `body` runs on the writer thread; `respond` builds the answer on the event loop.
    func write<Output: Sendable>(_ call: Call, _ body: @escaping (WriteContext) throws -> Output,
                                 respond: @escaping @Sendable (Output) -> CallResponse) {
        let responder = call.responder
        // A client's write may be refused for queueing time (overload): it can retry.
        writer.submit(Job(kind: call.methodName, deadlineUptimeNanoseconds: call.deadlineUptimeNanoseconds, body) { result in
            switch result {
            case .success(let output): responder.respond(lazy: { respond(output) })
            case .failure(let error): responder.respond(.from(error))
            }
        }, sheddable: true)
    }

    /// Answers a reader query's result.
    func answer<T: Sendable>(_ call: Call, _ result: Result<T, Error>, _ respond: @escaping @Sendable (T) -> CallResponse) {
        switch result {
        case .success(let value): call.responder.respond(lazy: { respond(value) })
        case .failure(let error): call.responder.respond(.from(error))
        }
    }

    func context(_ call: Call, _ write: WriteContext, requestID: String = "", fingerprint: Fingerprint = .none) -> CommandContext {
        CommandContext(now: write.now, clientID: call.caller.name, requestID: requestID, fingerprint: fingerprint)
    }

    /// Fails the call when `count` exceeds a named limit; true when within it.
    func within(_ call: Call, _ count: Int, _ name: String, _ limit: Int, _ what: String) -> Bool {
        if count <= limit { return true }
        metrics.rejected(reason: name)
        call.responder.respond(.failure(WaybillStatusError.limit(.invalidArgument, name: name, value: limit, "\(count) \(what)")))
        return false
    }

    /// Page size from a request: 0 = default, above the maximum = INVALID_ARGUMENT naming the limit
    /// (listPageSizeMax unless another is given).
    func pageSize(_ call: Call, _ requested: Int32, limit: (name: String, max: Int, default: Int)? = nil) -> Int? {
        let limit = limit ?? ("listPageSizeMax", transport.listPageSizeMax, transport.listPageSizeDefault)
        if requested < 0 {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_size: must not be negative")))
            return nil
        }
        if requested == 0 { return limit.default }
        guard within(call, Int(requested), limit.name, limit.max, "page_size") else { return nil }
        return Int(requested)
    }
}

/// Concatenates length-delimited fields: builds a repeated-message response from stored bytes.
func repeatedField(_ number: Int, _ items: [[UInt8]]) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(items.reduce(0) { $0 + $1.count + 6 })
    for item in items { appendLengthDelimitedField(number, item, to: &output) }
    return output
}

func stringField(_ number: Int, _ value: String) -> [UInt8] {
    guard !value.isEmpty else { return [] }
    var output: [UInt8] = []
    appendLengthDelimitedField(number, Array(value.utf8), to: &output)
    return output
}
