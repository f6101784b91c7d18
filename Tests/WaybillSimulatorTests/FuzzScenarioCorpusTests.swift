// The scenario fuzz target's committed corpus (fuzz/corpus/scenario, fuzz/regressions/scenario)
// replayed through its entry point on every test run, without libFuzzer.

import Foundation
import Testing

@Suite struct FuzzScenarioCorpusTests {
    @Test func scenarioCorpusLoadsOrIsRefused() throws {
        let root = simulatorDirectory.deletingLastPathComponent()
        var inputs: [(String, [UInt8])] = []
        for folder in ["fuzz/corpus/scenario", "fuzz/regressions/scenario"] {
            let directory = root.appendingPathComponent(folder)
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted() where !name.hasPrefix(".") {
                inputs.append(("\(folder)/\(name)", [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))))
            }
        }
        #expect(inputs.count >= 5)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-fuzz-scenario-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var accepted = 0
        for (name, bytes) in inputs {
            do {
                if try FuzzScenarioEntryPoint.scenario(bytes, directory: directory) { accepted += 1 }
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
        #expect(accepted >= 5, "simulator/scenarios are accepted")
    }
}
