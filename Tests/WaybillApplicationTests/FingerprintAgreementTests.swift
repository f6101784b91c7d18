// Idempotency fingerprints: a lifecycle request id reused with other content is refused by the
// server; the in-process simulator must refuse it alike (it fingerprints the request the live
// driver would send, as the server does), and replay an identical retry alike.

import NIOCore
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire
@testable import WaybillSimulator

@Suite("Fingerprints: server and in-process simulator agree")
struct FingerprintAgreementTests {
    static let network = AvailabilityNetwork(locations: [AvailabilityNetwork.location("DC-1")], skus: [SKU("SKU-A")], stock: [(0, 0, 10)])

    static var draft: OrderDraft {
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = "FP-1"
        draft.shipTo.country = "US"
        draft.shipTo.postalCode = "10001"
        draft.shipTo.city = "New York"
        draft.shipTo.coordinates = Coordinates(latitude: 40.7, longitude: -74.0)
        draft.createdAt = Timestamp(millisecondsSinceEpoch: 1_772_463_600_000)
        draft.lines = [DraftLine(lineID: "1", sku: SKU("SKU-A"), quantity: 1, unitPrice: Money(minorUnits: 1_000, currency: "USD"))]
        return draft
    }

    /// The outcome's status name and whether it was a replay.
    struct Outcome: Equatable, CustomStringConvertible {
        var code: String
        var replayed: Bool
        var description: String { "\(code)\(replayed ? " (replayed)" : "")" }
    }

    static func simulator(_ gateway: InProcessGateway, _ id: OrderID, _ command: OrderCommand, _ requestID: String) -> Outcome {
        switch gateway.execute(.lifecycle(id, command, requestID: requestID), now: 1_772_463_600_000) {
        case .order(_, let replayed): Outcome(code: "OK", replayed: replayed)
        case .failed(let code, _): Outcome(code: code, replayed: false)
        default: Outcome(code: "UNEXPECTED", replayed: false)
        }
    }

    static func server(_ client: WaybillClient, _ id: OrderID, _ command: OrderCommand, _ requestID: String) async -> Outcome {
        do {
            let (method, bytes) = try WireRequest.lifecycle(id.rawValue, command, requestID)
            let response = try Waybill_V1_OrderResponse(serializedBytes: try await client.send(method: method, payload: bytes).get())
            return Outcome(code: "OK", replayed: response.replayed)
        } catch let error as WaybillStatusError {
            return Outcome(code: error.code.name, replayed: false)
        } catch {
            return Outcome(code: "UNEXPECTED \(error)", replayed: false)
        }
    }

    @Test("the same request id: identical content replays, other content is refused, in both")
    func reusedRequestID() async throws {
        let gateway = try Self.network.inProcessGateway()
        let reply = gateway.execute(.capture(Self.draft), now: 1_772_463_600_000)
        guard case .order(let simulated, _) = reply else {
            Issue.record("the simulator did not capture: \(reply)")
            return
        }
        try await withEmbeddedServer { client in
            _ = try await client.loadNetwork(Self.network.model)
            let captured = try Order(proto: try await client.captureOrder(Self.draft.proto).order)
            let steps: [(OrderCommand, String)] = [
                (.hold(.payment, note: "check"), "req-1"),
                (.hold(.payment, note: "check"), "req-1"),
                (.hold(.payment, note: "another note"), "req-1"),
                (.releaseHold(nil, note: "paid"), "req-1"),
            ]
            var outcomes: [(Outcome, Outcome)] = []
            for (command, requestID) in steps {
                outcomes.append((await Self.server(client, captured.orderID, command, requestID),
                                 Self.simulator(gateway, simulated.orderID, command, requestID)))
            }
            #expect(outcomes.map(\.0) == [Outcome(code: "OK", replayed: false), Outcome(code: "OK", replayed: true),
                                          Outcome(code: "ALREADY_EXISTS", replayed: false), Outcome(code: "ALREADY_EXISTS", replayed: false)])
            #expect(outcomes.map(\.1) == outcomes.map(\.0), "simulator \(outcomes.map(\.1)) vs server \(outcomes.map(\.0))")
        }
    }
}
