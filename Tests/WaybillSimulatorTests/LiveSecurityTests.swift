// The live driver on a secured server: its embedded server speaks TLS only and refuses a call
// without a credential; a short run over TLS, with every actor calling as itself (channel,
// fulfillment, erp and admin credentials), passes every check with no call refused; and a
// --target run reaches a server given the credentials file that `--write-credentials` writes.

import Foundation
import Logging
import Synchronization
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillTLS
@testable import WaybillSimulator

@Suite struct LiveSecurityTests {
    /// The smoke scenario, a short stretch of it, fast: a few seconds of wall time.
    func shortLiveScenario() throws -> Scenario {
        var scenario = try smokeScenario()
        // Long enough for every actor to act, fulfillment steps included, on a loaded machine (a
        // half-hour run on a CI machine under the full suite saw captures but no fulfillment call yet).
        scenario.durationHours = 2
        scenario.drainHours = 1
        scenario.faults = []
        scenario.live.timeScale = 900
        return scenario
    }

    func expectEveryRoleCalledWithoutRefusal(_ report: Report) throws {
        for check in report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect(report.passed)
        #expect(report.orders.acknowledged > 50)
        let security = try #require(report.security)
        #expect(security.transport.hasPrefix("TLS"), "\(security.transport)")
        #expect(report.checks.contains { $0.name == "callers_authorized" && $0.passed })
        #expect(security.refusals == 0, "\(security.examples)")
        for role in Role.allCases {
            #expect((security.credentialsByRole[role.rawValue] ?? 0) > 0, "no \(role.rawValue) credential")
            #expect((security.callsByRole[role.rawValue] ?? 0) > 0, "no call as \(role.rawValue): \(security.callsByRole)")
        }
        #expect(security.callsByRole["none"] == nil)
    }

    @Test func embeddedServerRefusesAnonymousAndPlaintextCallsWhileEveryRolePassesOverTLS() async throws {
        let probes = Mutex<[String]>([])
        var options = SimulationOptions()
        options.driver = .live
        options.embeddedServerStarted = { address in
            // TLS without a credential: refused before anything is read.
            var anonymous = ClientConfiguration()
            anonymous.tls = address.tls
            anonymous.defaultTimeoutMilliseconds = 10_000
            let client = try await WaybillClient.connect(host: address.host, port: address.port, configuration: anonymous)
            do {
                _ = try await client.feedInfo()
                probes.withLock { $0.append("anonymous call answered") }
            } catch let status as WaybillStatusError {
                probes.withLock { $0.append("anonymous: " + status.code.name) }
            }
            await client.close()
            // Plaintext to the TLS port, even with a well-formed token: never served.
            var plaintext = ClientConfiguration()
            plaintext.token = AccessToken.generate()
            plaintext.defaultTimeoutMilliseconds = 10_000
            plaintext.connectTimeoutMilliseconds = 10_000
            do {
                let plain = try await WaybillClient.connect(host: address.host, port: address.port, configuration: plaintext)
                defer { Task { await plain.close() } }
                _ = try await plain.feedInfo()
                probes.withLock { $0.append("plaintext call answered") }
            } catch {
                probes.withLock { $0.append("plaintext: refused") }
            }
        }
        let outcome = try await Simulation.run(try shortLiveScenario(), options: options)
        #expect(probes.withLock { $0 } == ["anonymous: UNAUTHENTICATED", "plaintext: refused"])
        try expectEveryRoleCalledWithoutRefusal(outcome.report)
    }

    @Test func targetRunReachesATLSServerWithTheCredentialsFileItWrote() async throws {
        let scenario = try shortLiveScenario()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-sim-target-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // What an operator does: a credentials file for the scenario's actors, a server given it.
        let credentialsPath = directory.appendingPathComponent("sim-credentials.json").path
        let count = try Simulation.writeCredentials(for: scenario, options: SimulationOptions(), to: credentialsPath)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: credentialsPath)[.posixPermissions] as? Int)
        #expect(mode == 0o600, "the credentials file holds tokens: owner only")
        let seeds = try JSONDecoder().decode([CredentialSeed].self, from: Data(contentsOf: URL(fileURLWithPath: credentialsPath)))
        #expect(seeds.count == count)
        let tls = try LiveTLS.embedded(directory: directory)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("target.sqlite").path
        configuration.credentials = seeds
        configuration.tls = tls.server
        var logger = Logger(label: "sim-target-test")
        logger.logLevel = .warning
        let server = try await WaybillServer.start(configuration: configuration, logger: logger)
        var options = SimulationOptions()
        options.driver = .live
        options.target = "127.0.0.1:\(server.port)"
        options.credentialsFile = credentialsPath
        options.tlsCAFile = tls.caPath
        #expect(options.tlsCAFile != nil)
        let outcome: SimulationOutcome
        do {
            outcome = try await Simulation.run(scenario, options: options)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        try expectEveryRoleCalledWithoutRefusal(outcome.report)
    }

    @Test func credentialsFileWithoutAnActorsCredentialIsRefusedByName() throws {
        let scenario = try shortLiveScenario()
        let world = try Simulation.prepare(scenario, options: SimulationOptions()).1
        let complete = LiveCredentials.generate(world: world)
        let location = world.locations[3].locationID.rawValue
        let lacking = complete.seeds.filter { !$0.locations.contains(location) }
        do {
            _ = try LiveCredentials.match(lacking, world: world, channels: scenario.trafficChannels, source: "creds.json")
            Issue.record("a file without \(location)'s credential was accepted")
        } catch {
            #expect("\(error)".contains(location) && "\(error)".contains("--write-credentials"), "\(error)")
            for seed in complete.seeds { #expect(!"\(error)".contains(seed.token), "an error quoted a token") }
        }
        // A complete file gives every actor its own credential's token.
        let matched = try LiveCredentials.match(complete.seeds, world: world, channels: scenario.trafficChannels, source: "creds.json")
        for (index, location) in world.locations.enumerated() {
            let seed = try #require(complete.seeds.first { $0.locations == [location.locationID.rawValue] })
            #expect(matched.token(for: .location(Int32(index))) == seed.token)
        }
        for channel in scenario.trafficChannels {
            #expect(matched.token(for: .channel(channel)) == complete.seeds.first { $0.channels == [channel.name] }?.token)
        }
        #expect(matched.token(for: .fulfillmentFeed) == complete.seeds.first { $0.name == LiveCredentials.fulfillmentFeedName }?.token)
        #expect(matched.token(for: .erp) != matched.token(for: .fulfillmentFeed))
        #expect(matched.token(for: .unattributed) == nil)
    }
}
