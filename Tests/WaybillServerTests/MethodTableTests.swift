// The generated method table, the server's dispatch and the client's typed calls are one definition:
// every RPC of proto/ is served, and nothing else is.

import Testing
import WaybillClient
import WaybillProto
import WaybillWire
import SwiftProtobuf

@Suite("One definition per call")
struct MethodTableTests {
    @Test("every RPC of the generated table is dispatched: an empty request is answered, never UNIMPLEMENTED")
    func everyMethodIsServed() async throws {
        try await withServer { server in
            let client = try await server.client()
            for method in Method.all where !method.serverStreaming {
                do {
                    _ = try await client.call(method.path, method.request.init(), as: Google_Protobuf_Empty.self, timeoutMilliseconds: 10_000)
                } catch let error as WaybillStatusError {
                    #expect(error.code != .unimplemented, "\(method.path): \(error)")
                }
            }
            await client.close()
        }
    }

    @Test("a path outside the table is UNIMPLEMENTED and names the form of a method")
    func unknownMethodIsUnimplemented() async throws {
        try await withServer { server in
            let client = try await server.client()
            _ = await expectStatus(.unimplemented) {
                _ = try await client.call("/waybill.v1.OrderService/CaptureOrderz", Google_Protobuf_Empty(), as: Google_Protobuf_Empty.self)
            }
            await client.close()
        }
    }

    @Test("the table lists each service's RPCs once, with the paths the client calls")
    func tableIsConsistent() {
        let paths = Method.all.map(\.path)
        #expect(Set(paths).count == paths.count)
        #expect(Method.byPath[Method.OrderService.captureOrder]?.request == Waybill_V1_CaptureOrderRequest.self)
        #expect(Method.byPath[Method.OrderService.captureOrder]?.response == Waybill_V1_CaptureOrderResponse.self)
        #expect(Method.byPath[Method.OrderService.editOrder]?.request == Waybill_V1_EditOrderRequest.self)
        #expect(Method.all.count == 65, "the RPCs of proto/waybill/v1 (update when adding one)")
        #expect(Method.all.allSatisfy { $0.path == "/\($0.service)/\($0.name)" && $0.service.hasPrefix("waybill.v1.") })
    }
}
