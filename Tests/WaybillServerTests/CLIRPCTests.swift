// `waybill call rpc METHOD FILE`: any unary RPC of the generated method table, its JSON request read
// as the method's request type and the answer printed as its response type.

import Foundation
import Testing
import WaybillProto
import WaybillWire

@Suite("waybill call rpc", .timeLimit(.minutes(3)))
struct CLIRPCTests {
    @Test("every unary RPC is reachable by name; the request parses as its type and the answer prints as its response")
    func anyUnaryMethod() async throws {
        try await CLITests.withExampleServer { _, call in
            let folder = try TemporaryDirectory("rpc")
            let empty = folder.path("empty.json")
            try "{}".write(toFile: empty, atomically: true, encoding: .utf8)
            // A method the CLI has no subcommand for: the answer is its response type's JSON.
            let begin = try await call(["rpc", "ErpService/BeginReconciliation", empty])
            #expect(begin.status == 0, "\(begin.stderr)")
            #expect(begin.stdout.contains("\"sessionId\""), "\(begin.stdout)")
            // The full path works too; a field of another type is refused by the JSON parser, not sent.
            let bad = folder.path("bad.json")
            try #"{"orderId": 7}"#.write(toFile: bad, atomically: true, encoding: .utf8)
            let refused = try await call(["rpc", Method.OrderService.getOrder, bad])
            #expect(refused.status != 0)
            let missing = try await call(["rpc", "OrderService/GetOrder", empty])
            #expect(missing.status == 1 && missing.stderr.contains("INVALID_ARGUMENT"), "\(missing.stderr)")
            // Every unary method of the table is accepted by name (the server answers; never "unknown method").
            for method in Method.all where !method.serverStreaming {
                let result = try await call(["rpc", method.path, empty])
                #expect(!result.stderr.contains("unknown unary method") && !result.stderr.contains("UNIMPLEMENTED"), "\(method.path): \(result.stderr)")
            }
            // The stream is not a unary method: refused with the list of those that are.
            let stream = try await call(["rpc", "ChangeFeedService/Subscribe", empty])
            #expect(stream.status != 0 && stream.stderr.contains("unknown unary method"), "\(stream.stderr)")
        }
    }
}
