// The scenario fuzz target's entry point: the simulator's own Scenario.load and what every run
// reads from a loaded scenario first. Compiled here (FuzzScenarioCorpusTests replays the committed
// corpus) and in the fuzz package through a symlink (fuzz/Sources/WaybillFuzzEntryPoints).

import Foundation
import WaybillSimulator

public enum FuzzScenarioEntryPoint {
    /// Writes `bytes` as `directory`/scenario.json and loads it as `waybill sim FILE` does. True
    /// when the scenario is accepted; a ScenarioError is a clean refusal; anything else (a trap
    /// included) is a finding.
    public static func scenario(_ bytes: [UInt8], directory: String) throws -> Bool {
        let path = directory + "/scenario.json"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let scenario: Scenario
        do {
            scenario = try Scenario.load(path: path)
        } catch is ScenarioError {
            return false
        }
        // A run's clock and end: an accepted scenario must yield them.
        _ = scenario.startMilliseconds
        _ = scenario.durationMilliseconds
        _ = scenario.drainMilliseconds
        return true
    }
}
