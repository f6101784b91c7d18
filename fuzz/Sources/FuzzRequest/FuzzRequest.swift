// Fuzz target "request": the first byte picks a method of the method table, the rest is its request
// payload, sent over a real connection to an in-process server holding the example network and
// orders. Any answer is fine but INTERNAL/UNKNOWN or a broken connection; a trap in the server
// (a precondition, an overflow) ends the process and libFuzzer keeps the input.
// WAYBILL_FUZZ_WRITE_SEEDS=DIR writes a seed per method to DIR (the committed corpus) and exits.
import Foundation
import WaybillFuzzEntryPoints

let server: RequestFuzzServer = {
    do {
        let directory = FuzzHarness.scratchDirectory("request")
        return try FuzzHarness.blockingWait { try await RequestFuzzServer.start(directory: directory, repositoryRoot: FuzzHarness.repositoryRoot) }
    } catch {
        fatalError("the request fuzz target cannot start its server (run from the repository root or set WAYBILL_ROOT): \(error)")
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initializeRequestFuzzing(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if let directory = ProcessInfo.processInfo.environment["WAYBILL_FUZZ_WRITE_SEEDS"] {
        do {
            try RequestSeeds.write(to: directory, orderIDs: server.orderIDs)
        } catch {
            fatalError("cannot write seeds: \(error)")
        }
        exit(0)
    }
    _ = server
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { input in
        let (method, answer) = server.send(input)
        let result = Result { try answer.wait() }
        try FuzzEntryPoints.check(result, method: method)
    }
}

// SwiftPM links this executable with `--defsym main=FuzzRequest_main`: @main defines that symbol, and it
// hands the process to libFuzzer's driver (flags, corpus, mutation loop) with the callback above.
@main
enum FuzzRequestMain {
    static func main() { FuzzHarness.runLibFuzzer(fuzzRequest) }
}
