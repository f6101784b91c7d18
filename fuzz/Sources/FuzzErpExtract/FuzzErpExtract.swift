// Fuzz target "erp-extract": an ERP extract file through ProtoJSONInput, ErpExtract(proto:) and the comparison.
import WaybillFuzzEntryPoints

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzErpExtract(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.erpExtract($0) }
}

// SwiftPM links this executable with `--defsym main=FuzzErpExtract_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzErpExtractMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzErpExtract) }
}
