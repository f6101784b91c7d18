// Fuzz target "erp-drop": JSON-lines ERP messages and dead-letter files.
import WaybillFuzzEntryPoints

let stateDirectory = FuzzHarness.scratchDirectory("erp-drop")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzErpDrop(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.erpDrop($0, stateDirectory: stateDirectory) }
}

// SwiftPM links this executable with `--defsym main=FuzzErpDrop_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzErpDropMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzErpDrop) }
}
