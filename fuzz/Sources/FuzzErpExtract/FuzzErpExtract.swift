// Fuzz target "erp-extract": an ERP extract file through ProtoJSONInput, ErpExtract(proto:) and the comparison.
import WaybillFuzzEntryPoints

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzErpExtract(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.erpExtract($0) }
}
