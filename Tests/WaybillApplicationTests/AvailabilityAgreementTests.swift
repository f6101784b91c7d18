// The channel availability rule answered by the server (GetAvailability) and by the in-process
// simulator must agree: the simulator's findings are only worth something if it runs the server's rules.

import Testing
import WaybillCore
import WaybillProto
@testable import WaybillSimulator

@Suite("Availability: server and in-process simulator agree")
struct AvailabilityAgreementTests {
    @Test("an inactive location's stock is available to no channel, in the server and in the simulator")
    func inactiveLocation() async throws {
        let network = AvailabilityNetwork(
            locations: [AvailabilityNetwork.location("DC-ACTIVE"), AvailabilityNetwork.location("DC-CLOSED", active: false)],
            skus: [SKU("SKU-A")], stock: [(0, 0, 5), (0, 1, 7)])
        let gateway = try network.inProcessGateway()
        try await withEmbeddedServer { client in
            _ = try await client.loadNetwork(network.model)
            let server = try await serverAvailable(client, network.skus, .web)
            #expect(server == 5, "the server counts the active location's 5 units only")
            #expect(try simulatorAvailable(gateway, network.skus, .web) == server)
        }
    }
}
