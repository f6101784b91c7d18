// The scenario's live.server section: three-days.json makes the embedded server prune many times
// within its run, the settings reach the server's configuration, and bad values are refused.

import Foundation
import Testing
import WaybillServer
@testable import WaybillSimulator

@Suite struct LiveServerConfigTests {
    @Test func threeDaysPrunesManyTimesWithinItsRun() throws {
        let scenario = try Scenario.load(path: simulatorDirectory.appendingPathComponent("scenarios/three-days.json").path)
        #expect(scenario.durationHours >= 72)
        let server = scenario.live.server
        let retention = try #require(server.feedRetentionMilliseconds)
        let interval = try #require(server.pruneIntervalMilliseconds)
        #expect(retention < scenario.durationMilliseconds / 4)
        // The prune timer runs on wall time: prunes after the retention has passed, at the scenario's compression.
        let wallMillisecondsAfterRetention = Double(scenario.durationMilliseconds - retention) / scenario.live.timeScale
        #expect(wallMillisecondsAfterRetention / Double(interval) >= 20)
        #expect(server.pruneCheckpointRowsMax == ServerConfiguration().pruneCheckpointRowsMax)
    }

    @Test func settingsReachTheServerConfigurationAndAbsentOnesKeepItsDefaults() throws {
        var configuration = ServerConfiguration()
        _ = try decode(#"{"feed_retention_milliseconds": 5000, "prune_checkpoint_rows_max": 1000000000}"#).prepare(&configuration)
        #expect(configuration.feedRetentionMilliseconds == 5_000)
        #expect(configuration.pruneCheckpointRowsMax == 1_000_000_000)
        #expect(configuration.pruneIntervalMilliseconds == ServerConfiguration().pruneIntervalMilliseconds)
        var untouched = ServerConfiguration()
        let logger = LiveServerConfig().prepare(&untouched)
        #expect(logger.logLevel == .warning)
        #expect(untouched.feedRetentionMilliseconds == ServerConfiguration().feedRetentionMilliseconds)
    }

    @Test(arguments: [
        (#"{"prune_interval_milliseconds": 0}"#, "prune_interval_milliseconds"),
        (#"{"prune_checkpoint_rows_max": 0}"#, "prune_checkpoint_rows_max"),
        (#"{"feed_retention_milliseconds": -1}"#, "feed_retention_milliseconds"),
        (#"{"slow_log_milliseconds": -5}"#, "slow_log_milliseconds"),
        (#"{"prune_every": 5}"#, "prune_every"),
    ])
    func badValuesAreRefusedByName(json: String, named: String) {
        do {
            _ = try decode(json)
            Issue.record("\(json) was accepted")
        } catch {
            #expect("\(error)".contains(named))
        }
    }

    private func decode(_ json: String) throws -> LiveServerConfig {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(LiveServerConfig.self, from: Data(json.utf8))
    }
}
