// `waybill call reallocate` and a capture without coordinates, as a user runs them (the built
// executable against a real server with the example network).

import Foundation
import Testing
import WaybillProto

@Suite("Reallocate and approximate destinations from the command line", .timeLimit(.minutes(3)))
struct ReallocateCLITests {
    @Test("a web order to Seattle without coordinates prints its approximated routing decision")
    func captureWithoutCoordinates() async throws {
        try await CLITests.withExampleServer { _, call in
            let folder = try TemporaryDirectory("cli-seattle")
            var order = try Waybill_V1_Order(jsonUTF8Data: Data(contentsOf: URL(fileURLWithPath: CLITests.webOrder)))
            order.shipTo.clearCoordinates()
            (order.shipTo.city, order.shipTo.region, order.shipTo.postalCode) = ("Seattle", "WA", "98101")
            let path = folder.path("seattle.json")
            try order.jsonUTF8Data().write(to: URL(fileURLWithPath: path))
            let captured = try await call(["capture-order", path])
            #expect(captured.status == 0, "\(captured.stderr)")
            #expect(captured.stdout.contains("\"destinationApproximation\" : \"destination approximated from city centroid Seattle, WA\""),
                    "\(captured.stdout)")
        }
    }

    @Test("reallocate: all backorders or named orders, idempotent by --request-id; neither is a usage error")
    func reallocate() async throws {
        try await CLITests.withExampleServer { _, call in
            let first = try await call(["reallocate", "--all-backorders", "--request-id", "fix-1"])
            #expect(first.status == 0, "\(first.stderr)")
            let answer = try Waybill_V1_ReallocateOrdersResponse(jsonString: first.stdout)
            #expect(!answer.replayed && answer.results.isEmpty)
            let again = try await call(["reallocate", "--all-backorders", "--request-id", "fix-1"])
            #expect(try Waybill_V1_ReallocateOrdersResponse(jsonString: again.stdout).replayed)
            let named = try await call(["reallocate", "W-00000404", "--request-id", "fix-2"])
            #expect(try Waybill_V1_ReallocateOrdersResponse(jsonString: named.stdout).results.first?.status.code == .notFound)
            let neither = try await call(["reallocate"])
            #expect(neither.status != 0)
            #expect(neither.stderr.contains("name orders or pass --all-backorders"), "\(neither.stderr)")
        }
    }
}
