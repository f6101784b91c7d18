// Fuzz target "frame": bytes off the socket through the FrameDecoder and the envelopes.
import WaybillFuzzEntryPoints

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrame(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { _ = try FuzzEntryPoints.frames($0) }
}

// SwiftPM links this executable with `--defsym main=FuzzFrame_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzFrameMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzFrame) }
}
