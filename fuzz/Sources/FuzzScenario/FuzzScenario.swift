// Fuzz target "scenario": a simulator scenario file through Scenario.load.
import WaybillFuzzEntryPoints

let directory = FuzzHarness.scratchDirectory("scenario")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenario(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzScenarioEntryPoint.scenario($0, directory: directory) }
}

// SwiftPM links this executable with `--defsym main=FuzzScenario_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzScenarioMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzScenario) }
}
