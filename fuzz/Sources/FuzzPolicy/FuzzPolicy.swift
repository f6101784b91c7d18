// Fuzz target "policy": a routing policy file through ProtoJSONInput and RoutingPolicy(proto:).
import WaybillFuzzEntryPoints

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.policy($0) }
}

// SwiftPM links this executable with `--defsym main=FuzzPolicy_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzPolicyMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzPolicy) }
}
