// Fuzz target "erp-drop": JSON-lines ERP messages and dead-letter files.
import WaybillFuzzEntryPoints

let stateDirectory = FuzzHarness.scratchDirectory("erp-drop")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzErpDrop(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.erpDrop($0, stateDirectory: stateDirectory) }
}
