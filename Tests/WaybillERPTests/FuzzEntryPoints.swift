// What each fuzz target feeds its input to: the product's own entry points, never copies.
// This one file is compiled twice: here, so the ordinary test suite replays the committed corpus
// (FuzzCorpusTests), and in the fuzz package (fuzz/Sources/WaybillFuzzEntryPoints is a symlink to
// it), where libFuzzer drives it under AddressSanitizer. Only public product API is used.

import Foundation
import Logging
import NIOCore
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillServer
import WaybillWire

/// An input an entry point must never produce: the fuzz targets trap on it, the corpus tests fail.
public struct FuzzFinding: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum FuzzEntryPoints {
    // MARK: frame — the frame decoder and the envelopes

    /// Splits `bytes` into frames with the server's and client's FrameDecoder (at the default
    /// frameBytesMax) and decodes each payload as a request and as a response envelope, as the
    /// server's connection handler and the client do. Returns the number of whole frames; a
    /// FrameError or a decoding error is a clean refusal. A frame decoder that consumes nothing and
    /// yet returns a frame, or reads past its buffer, is a finding.
    public static func frames(_ bytes: [UInt8]) throws -> Int {
        var buffer = ByteBuffer(bytes: bytes)
        var frames = 0
        let frameBytesMax = TransportLimits().frameBytesMax
        do {
            while true {
                let before = buffer.readerIndex
                guard let payload = try FrameDecoder.nextFrame(&buffer, frameBytesMax: frameBytesMax) else { break }
                if buffer.readerIndex != before + Framing.headerBytes + payload.readableBytes {
                    throw FuzzFinding("nextFrame consumed \(buffer.readerIndex - before) bytes for a payload of \(payload.readableBytes)")
                }
                frames += 1
                let body = [UInt8](payload.readableBytesView)
                if let request = try? Waybill_V1_RequestEnvelope(serializedBytes: body) {
                    _ = request.metadata["client-id"]
                    _ = [UInt8](request.payload)
                }
                if let response = try? Waybill_V1_ResponseEnvelope(serializedBytes: body), response.hasStatus {
                    _ = WaybillStatusError(response.status).description
                }
            }
        } catch is FrameError {
            // Refused as the server refuses it: the connection is answered and closed.
        }
        return frames
    }

    // MARK: erp-drop — ERP messages (JSON-lines drop files, webhook bodies) and dead letters

    /// Each line as an ErpMessage (a JSON-lines drop file, one webhook body per line), which must
    /// survive its own JSON and CSV encodings; then the whole input as a dead-letter file read by
    /// the bridge's DeadLetterStore from `stateDirectory`. Returns the messages decoded.
    public static func erpDrop(_ bytes: [UInt8], stateDirectory: String) throws -> Int {
        var decoded = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let message = try? ErpMessage.decode(Data(line)) else { continue }
            decoded += 1
            _ = message.csvRow
            _ = message.orderingKey
            let json = try message.json()
            let again: ErpMessage
            do {
                again = try ErpMessage.decode(json)
            } catch {
                throw FuzzFinding("an ErpMessage's own JSON does not decode: \(error)")
            }
            if again != message { throw FuzzFinding("an ErpMessage changed through its own JSON") }
        }
        let store = try DeadLetterStore(stateDirectory: stateDirectory)
        let path = "\(stateDirectory)/dead-letters/\(Self.deadLetterFileName)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            decoded += try store.list().count
        } catch let error as BridgeError {
            if case .io = error {} else { throw error }
        }
        return decoded
    }

    /// The name DeadLetterStore gives offset 1's letter (a file it lists).
    static let deadLetterFileName = "dl-00000000000000000001.json"

    // MARK: erp-extract — `waybill reconcile --erp-extract FILE`

    /// The extract file as `waybill reconcile` reads it (protobuf JSON through ProtoJSONInput),
    /// mapped as the server maps an extract (ErpExtract(proto:)) and compared with a small
    /// Waybill state (the comparison the server's reconciliation runs). Returns the discrepancies.
    public static func erpExtract(_ bytes: [UInt8]) throws -> Int {
        let proto: Waybill_V1_ErpExtract
        do {
            proto = try ProtoJSONInput.decode(Data(bytes), as: Waybill_V1_ErpExtract.self, source: "extract.json")
        } catch is ProtoJSONInputError {
            return 0
        }
        let extract: ErpExtract
        do {
            extract = try ErpExtract(proto: proto)
        } catch is DomainError {
            return 0
        }
        let onHand: [InventoryKey: Int64] = [
            InventoryKey(sku: SKU("TSHIRT-BLK-M"), locationID: LocationID("DC-NEWARK")): 40,
            InventoryKey(sku: SKU("MUG-CERAMIC"), locationID: LocationID("DC-DALLAS")): 7,
        ]
        return Reconciler.compare(orders: [], onHand: onHand, extract: extract).count
    }

    // MARK: policy — routing policy JSON (`waybill call set-policy FILE`, sim --compare, scenarios)

    /// The policy file as the CLI and the simulator read it, validated as the server validates a
    /// SetRoutingPolicy (RoutingPolicy(proto:)). True when the policy is accepted.
    public static func policy(_ bytes: [UInt8]) throws -> Bool {
        let proto: Waybill_V1_RoutingPolicy
        do {
            proto = try ProtoJSONInput.decode(Data(bytes), as: Waybill_V1_RoutingPolicy.self, source: "policy.json")
        } catch is ProtoJSONInputError {
            return false
        }
        do {
            let policy = try RoutingPolicy(proto: proto)
            // What GetRoutingPolicy answers must be accepted again.
            _ = try RoutingPolicy(proto: policy.proto)
            return true
        } catch {
            // RoutingPolicy(proto:) throws only DomainError: a clean refusal.
            _ = error.message
            return false
        }
    }

    // MARK: request — every request message through the server's decoding, mapping and validation

    /// Every method of Sources/WaybillWire/Methods.swift but Subscribe (a server stream: its
    /// answer never ends, so it cannot be one call among many on the fuzzing connection).
    public static let requestMethods: [String] = [
        Method.OrderService.captureOrder, Method.OrderService.captureOrders, Method.OrderService.getOrder,
        Method.OrderService.listOrders, Method.OrderService.holdOrder, Method.OrderService.releaseHold,
        Method.OrderService.cancelOrder, Method.OrderService.cancelLines, Method.OrderService.releaseFulfillment,
        Method.OrderService.rejectFulfillment, Method.OrderService.confirmPick, Method.OrderService.confirmPack,
        Method.OrderService.confirmShipment, Method.OrderService.confirmDelivery, Method.OrderService.createReturn,
        Method.OrderService.receiveReturn, Method.OrderService.getOrderHistory, Method.OrderService.reallocateOrders,
        Method.InventoryService.getAvailability, Method.InventoryService.adjustInventory, Method.InventoryService.receiveInventory,
        Method.InventoryService.updateInventorySettings, Method.InventoryService.listMovements,
        Method.NetworkService.upsertLocations, Method.NetworkService.listLocations, Method.NetworkService.upsertCarriers,
        Method.NetworkService.listCarriers, Method.NetworkService.upsertItems, Method.NetworkService.listItems,
        Method.NetworkService.setRoutingPolicy, Method.NetworkService.getRoutingPolicy, Method.NetworkService.loadNetwork,
        Method.ChangeFeedService.acknowledge, Method.ChangeFeedService.getFeedInfo, Method.ChangeFeedService.deleteConsumer,
        Method.ErpService.applyItemMaster, Method.ErpService.applyStockSnapshot, Method.ErpService.applyStockDeltas,
        Method.ErpService.recordOrderAcknowledgement, Method.ErpService.recordDocumentPosted, Method.ErpService.reconcile,
        Method.ErpService.beginReconciliation, Method.ErpService.addExtractChunk, Method.ErpService.finishReconciliation,
        Method.ErpService.reportBridgeStatus, Method.ErpService.getBridgeStatus,
        Method.SystemService.getServerInfo, Method.SystemService.getMetrics,
        // Appended, so the committed corpus keeps reaching the methods it was made for.
        Method.CredentialService.createCredential, Method.CredentialService.listCredentials,
        Method.CredentialService.revokeCredential, Method.CredentialService.rotateCredential,
        Method.CheckoutService.getFulfillmentOptions, Method.CheckoutService.reserveCart, Method.CheckoutService.extendCart,
        Method.CheckoutService.releaseCart, Method.CheckoutService.getCart,
        Method.OrderService.editOrder, Method.ErpService.applyExpectedReceipts,
        Method.OrderService.searchOrders, Method.OrderService.listLocationQueue,
        Method.ErpService.requestDeadLetterReplay,
        Method.ErpService.listReconciliationRuns, Method.ErpService.getReconciliationRun,
    ]

    /// A request input: its first byte picks the method (modulo the table), the rest is the payload.
    public static func request(_ bytes: [UInt8]) -> (method: String, payload: [UInt8]) {
        guard let first = bytes.first else { return (requestMethods[0], []) }
        return (requestMethods[Int(first) % requestMethods.count], Array(bytes.dropFirst()))
    }

    /// The input that sends `payload` to `method` (seeds).
    public static func requestInput(_ method: String, _ payload: [UInt8]) -> [UInt8] {
        guard let index = requestMethods.firstIndex(of: method) else { preconditionFailure("\(method) is not in requestMethods") }
        return [UInt8(index)] + payload
    }

    /// What an answer to a fuzzed request may be: any payload, or a refusal a client can act on.
    /// INTERNAL, UNKNOWN or a broken connection means the server met something it did not expect.
    public static func check(_ answer: Result<[UInt8], Error>, method: String) throws {
        switch answer {
        case .success: return
        case .failure(let error as WaybillStatusError):
            switch error.code {
            case .internal, .unknown, .UNRECOGNIZED:
                throw FuzzFinding("\(method) answered \(error.code): \(error.message)")
            default: return
            }
        case .failure(let error):
            throw FuzzFinding("\(method): the call failed outside the protocol: \(error)")
        }
    }
}

/// An in-process Waybill server (a real SQLite database in `directory`) holding a small network and
/// the example orders of every channel, so that fuzzed requests meet real state: orders to hold,
/// ship or return, stock to adjust, a policy to replace. One client connection carries the calls.
public final class RequestFuzzServer: Sendable {
    public let server: WaybillServer
    public let client: WaybillClient
    /// The example orders' ids after capture (seeds name them).
    public let orderIDs: [String]

    /// The fuzzing client's admin token (fixed: "wbt_" + base64url of 32 bytes 0xF0).
    static let adminToken = "wbt_8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PA"

    /// Fixed server time (2026-03-02 15:00 UTC): an input answers the same way in every run.
    public static let clockMilliseconds: Int64 = 1_772_463_600_000

    private init(server: WaybillServer, client: WaybillClient, orderIDs: [String]) {
        self.server = server
        self.client = client
        self.orderIDs = orderIDs
    }

    /// Starts the server on loopback and loads `examples/` of `repositoryRoot` through its own calls.
    public static func start(directory: String, repositoryRoot: String) async throws -> RequestFuzzServer {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.databasePath = directory + "/waybill.sqlite"
        configuration.eventLoopThreads = 1
        configuration.readers = 1
        configuration.pruneIntervalMilliseconds = 3_600_000
        configuration.clock = { Timestamp(millisecondsSinceEpoch: clockMilliseconds) }
        // Fuzzed requests come from an admin: every request reaches its handler (authentication has its own tests).
        configuration.credentials = [.init(name: "fuzz-admin", role: .admin, token: adminToken)]
        let logger = Logger(label: "waybill-fuzz") { _ in SwiftLogNoOpLogHandler() }
        let server = try await WaybillServer.start(configuration: configuration, logger: logger)
        do {
            var clientConfiguration = ClientConfiguration()
            clientConfiguration.clientID = "fuzz"
            clientConfiguration.token = adminToken
            clientConfiguration.defaultTimeoutMilliseconds = 20_000
            let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: clientConfiguration)
            let examples = repositoryRoot + "/examples"
            let network = try ProtoJSONInput.decode(try Data(contentsOf: URL(fileURLWithPath: examples + "/network.json")),
                                                    as: Waybill_V1_NetworkModel.self, source: "network.json")
            _ = try await client.send(method: Method.NetworkService.loadNetwork, payload: try network.serializedBytes()).get()
            var orderIDs: [String] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: examples + "/orders").sorted() where name.hasSuffix(".json") {
                var request = Waybill_V1_CaptureOrderRequest()
                request.order = try ProtoJSONInput.decode(try Data(contentsOf: URL(fileURLWithPath: examples + "/orders/" + name)),
                                                          as: Waybill_V1_Order.self, source: name)
                let answer = try await client.send(method: Method.OrderService.captureOrder, payload: try request.serializedBytes()).get()
                orderIDs.append(try Waybill_V1_CaptureOrderResponse(serializedBytes: answer).order.orderID)
            }
            return RequestFuzzServer(server: server, client: client, orderIDs: orderIDs)
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Sends one request input; the answer is for `FuzzEntryPoints.check`.
    public func send(_ input: [UInt8]) -> (method: String, answer: EventLoopFuture<[UInt8]>) {
        let (method, payload) = FuzzEntryPoints.request(input)
        return (method, client.send(method: method, payload: payload))
    }

    public func stop() async {
        await client.close()
        await server.shutdown()
    }
}
