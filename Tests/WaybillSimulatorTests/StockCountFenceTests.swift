// The simulated ERP's stock count of a location against the calls that move its stock, in a live
// run (answers come later): the count is taken only when none is in flight, and a call made while
// the count is in flight is held until the count is answered. Without the second half a shipment
// sent just after the count was taken reached Waybill first, in the same millisecond as the count's
// as-of time, was taken as counted, and the count "corrected" a unit Waybill had right (found by the
// omnichannel day against a `waybill serve`: snapshot corrections +1, then -1 at the next count).

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

/// A live-like gateway: records each call and answers none until the test does.
private final class HeldAnswersGateway: Gateway {
    var sent: [(id: Int32, request: SimRequest)] = []
    var isLive: Bool { true }
    var timeoutPenaltyMilliseconds: Int64 { 0 }
    var pollFloorMilliseconds: Int64 { 0 }
    func send(_ id: Int32, _ request: SimRequest, as actor: SimActor, intendedAt virtualTime: Int64) -> SimReply? {
        sent.append((id, request))
        return nil
    }
    func drainFeed() -> [FeedEvent] { [] }
    func serverTime(_ virtualTime: Int64) -> Int64 { virtualTime }
}

@Suite struct StockCountFenceTests {
    @Test func callsMovingAStockBeingCountedWaitForTheCount() throws {
        let (scenario, world) = try Simulation.prepare(try shortScenario(), options: SimulationOptions())
        let gateway = HeldAnswersGateway()
        let model = SimulationModel(scenario: scenario, world: world, gateway: gateway, metrics: Metrics(), policy: nil, wallStart: 0)
        let location: Int32 = 0
        let orderID = OrderID(sequence: 1)
        func shipment(_ number: Int) -> SimRequest {
            .lifecycle(orderID, .confirmShipment("\(orderID.rawValue)-F1", carrierID: "GROUND", trackingNumber: "T\(number)"), requestID: "ship-\(number)")
        }

        // A stock call in flight: the count waits for it.
        model.issue(.feedAck, shipment(1), stockLocation: location)
        model.erpEnqueue(.snapshot(location: location, number: 1), after: 0)
        model.erpSend()
        #expect(gateway.sent.count == 1)
        model.complete(gateway.sent[0].id, .timedOut)
        // (A timed-out call is still in flight until it resolves: the count still waits.)
        model.erpSend()
        #expect(!gateway.sent.contains { if case .stockSnapshot = $0.request { true } else { false } })

        // Once nothing moves the location's stock, the count goes out...
        let fresh = SimulationModel(scenario: scenario, world: world, gateway: gateway, metrics: Metrics(), policy: nil, wallStart: 0)
        gateway.sent = []
        fresh.erpEnqueue(.snapshot(location: location, number: 2), after: 0)
        fresh.erpSend()
        let count = try #require(gateway.sent.first { if case .stockSnapshot = $0.request { true } else { false } })
        // ...and a shipment at that location made now is held; one elsewhere is not.
        fresh.issue(.feedAck, shipment(2), stockLocation: location)
        fresh.issue(.feedAck, shipment(3), stockLocation: location + 1)
        #expect(gateway.sent.count == 2)
        #expect(fresh.callsHeldForCount[Int(location)].count == 1)

        // The count is answered: the held shipment is sent.
        fresh.complete(count.id, .applied(replayed: false, corrections: 0))
        #expect(gateway.sent.count == 3)
        guard case .lifecycle(_, _, let requestID) = gateway.sent[2].request else {
            Issue.record("the held shipment was not sent after the count")
            return
        }
        #expect(requestID == "ship-2")
        #expect(!fresh.countInFlight[Int(location)])
    }
}
