// A client may reuse a call id once its call has ended. An answer still on its way for the old call
// (a cancelled or timed-out write that commits later) must not answer the new call.

import Foundation
import Testing
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Call ids reused after a call ended")
struct CallIDReuseTests {
    private static func capture(_ external: String) throws -> Waybill_V1_RequestEnvelope {
        var request = Waybill_V1_CaptureOrderRequest()
        request.order = Fixture.order(external)
        return try requestEnvelope(callID: 90, method: Method.OrderService.captureOrder, payload: request)
    }

    @Test("a cancelled write that commits later does not answer the next call with the same id")
    func lateAnswerDoesNotReachTheNewCall() async throws {
        try await withServer { server in
            try await server.client().loadFixtureNetwork()
            let raw = try await server.raw()
            let gate = WriterGate()
            await gate.close(server.server.writer)
            // Call 90 (order A) waits at the writer, is cancelled, and its id is sent again for order B.
            try await raw.send(try Self.capture("REUSED-A"))
            #expect(await eventually("A to reach the writer's queue") { server.server.writer.queueDepth >= 1 })
            var cancel = Waybill_V1_RequestEnvelope()
            cancel.cancel = true
            cancel.protocolVersion = .protocolVersion1
            cancel.callID = 90
            try await raw.send(cancel)
            #expect(try await raw.waitForAnswer(callID: 90).status.code == .cancelled)
            try await raw.send(try Self.capture("REUSED-B"))
            #expect(await eventually("B to reach the writer's queue behind A") { server.server.writer.queueDepth >= 2 })
            // A commits first; its answer has no call any more. B's answer is B's order.
            gate.open()
            #expect(await eventually("a second answer on call 90") { ((try? raw.envelopes) ?? []).filter { $0.callID == 90 }.count >= 2 })
            // A marker answered after both commits: nothing else arrived for call 90.
            let reader = try await server.client()
            #expect(await eventually("both orders committed") {
                let a = try? await reader.getOrder(channel: .web, externalOrderID: "REUSED-A")
                let b = try? await reader.getOrder(channel: .web, externalOrderID: "REUSED-B")
                return a != nil && b != nil
            })
            try await raw.send(try requestEnvelope(callID: 91, method: Method.SystemService.getServerInfo, payload: Waybill_V1_GetServerInfoRequest()))
            _ = try await raw.waitForAnswer(callID: 91)
            let answers = try raw.envelopes.filter { $0.callID == 90 }
            #expect(answers.count == 2, "CANCELLED, then B's answer only: \(answers.map(\.status.code))")
            let second = try Waybill_V1_CaptureOrderResponse(serializedBytes: answers[1].payload)
            #expect(answers[1].status.code == .ok && second.order.externalOrderID == "REUSED-B",
                    "the reused id is answered with its own order, not the cancelled call's: \(second.order.externalOrderID)")
            await raw.close()
        }
    }
}
