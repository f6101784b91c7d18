// The one request message of a gRPC call, read within frameCompletionTimeoutMilliseconds: the
// gRPC transport closes idle connections (maxIdleTime) but has no bound on how long a request
// takes to arrive, so a client could open streams and never finish their messages, holding a
// stream slot and its buffers each. The frames listener bounds the same with
// FrameCompletionTimeout.

import GRPCCore
import WaybillProto

enum GRPCRequestMessage {
    /// The request's single message, or the refusal to answer: more than one message, none, or not
    /// whole within `timeoutMilliseconds` (RESOURCE_EXHAUSTED naming frameCompletionTimeoutMilliseconds).
    static func read(_ messages: RPCAsyncSequence<[UInt8], any Error>, method: String, timeoutMilliseconds: Int64) async throws
        -> Result<[UInt8], WaybillStatusError> {
        try await withThrowingTaskGroup(of: Result<[UInt8], WaybillStatusError>?.self) { group in
            group.addTask {
                var payload: [UInt8]?
                for try await message in messages {
                    guard payload == nil else {
                        return .failure(WaybillStatusError(.invalidArgument, "\(method) takes one request message"))
                    }
                    payload = message
                }
                guard let payload else { return .failure(WaybillStatusError(.invalidArgument, "\(method): no request message")) }
                return .success(payload)
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeoutMilliseconds))
                if Task.isCancelled { return nil }
                return .failure(WaybillStatusError.limit(.resourceExhausted, name: "frameCompletionTimeoutMilliseconds",
                                                         value: Int(timeoutMilliseconds), "the request message was not complete in time"))
            }
            defer { group.cancelAll() }
            while let outcome = try await group.next() {
                if let outcome { return outcome }
            }
            return .failure(WaybillStatusError(.cancelled, "the call was cancelled"))
        }
    }
}
