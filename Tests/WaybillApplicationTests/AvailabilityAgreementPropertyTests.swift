// For random networks (inactive locations, locations selling to some channels only, stock spread
// at random), the server's GetAvailability and the in-process simulator's availability agree for
// every SKU and channel. A failure prints the network and PropertyBased's seed; rerun it with
// `.fixedSeed("…")` on the test, or with one of the fixed seeds below.

import PropertyBased
import Testing
import WaybillClient
import WaybillCore

@Suite("Availability agreement on random networks")
struct AvailabilityAgreementPropertyTests {
    /// The disagreements of one network: (sku, channel, server, simulator).
    static func disagreements(_ network: AvailabilityNetwork, client: WaybillClient) async throws -> [String] {
        _ = try await client.loadNetwork(network.model)
        let gateway = try network.inProcessGateway()
        var found: [String] = []
        for channel in Channel.allCases {
            for sku in network.skus {
                let server = try await serverAvailable(client, [sku], channel)
                let simulator = try simulatorAvailable(gateway, [sku], channel)
                if server != simulator { found.append("\(sku) for \(channel.name): server \(server), simulator \(simulator)") }
            }
        }
        return found
    }

    @Test("random networks: the server and the simulator answer the same units for every SKU and channel")
    func randomNetworks() async throws {
        try await withEmbeddedServer { client in
            await propertyCheck(count: 40, input: AvailabilityNetwork.generator) { network in
                let found = try await Self.disagreements(network, client: client)
                #expect(found.isEmpty, "\(found.joined(separator: "\n"))\n\(network.testDescription)")
            }
        }
    }

    @Test("the same on fixed seeds", arguments: [UInt64(1), 42, 2026])
    func fixedSeeds(seed: UInt64) async throws {
        var rng = Xoshiro(seed: (seed, seed &* 0x9E37_79B9_7F4A_7C15, ~seed, seed ^ 0xBF58_476D_1CE4_E5B9))
        try await withEmbeddedServer { client in
            var inactive = 0
            for _ in 0..<15 {
                let network = AvailabilityNetwork.generator.run(using: &rng)
                inactive += network.locations.filter { !$0.active }.count
                let found = try await Self.disagreements(network, client: client)
                #expect(found.isEmpty, "\(found.joined(separator: "\n"))\n\(network.testDescription)")
            }
            #expect(inactive > 0, "the seed's networks include inactive locations")
        }
    }
}
