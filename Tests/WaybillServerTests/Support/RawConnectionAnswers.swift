// Waiting for one call's answer on a raw connection (tests that rely on the order of frames).

import WaybillProto

extension RawConnection {
    /// Waits for the final frame (end_of_stream) of `callID` and returns it.
    func waitForAnswer(callID: UInt64, timeout: Duration = .seconds(15)) async throws -> Waybill_V1_ResponseEnvelope {
        func answer() throws -> Waybill_V1_ResponseEnvelope? { try envelopes.first { $0.callID == callID && $0.endOfStream } }
        guard try await eventually("the answer to call \(callID)", timeout: timeout, { try answer() != nil }), let found = try answer() else {
            throw TimedOut(what: "the answer to call \(callID) (received \(try envelopes.map(\.callID)))")
        }
        return found
    }
}
