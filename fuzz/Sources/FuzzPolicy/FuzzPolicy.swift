// Fuzz target "policy": a routing policy file through ProtoJSONInput and RoutingPolicy(proto:).
import WaybillFuzzEntryPoints

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.policy($0) }
}
