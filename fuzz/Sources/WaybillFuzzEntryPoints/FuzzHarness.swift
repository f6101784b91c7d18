// What every fuzz target shares: turning libFuzzer's buffer into bytes, trapping on a finding (so
// libFuzzer keeps the input), a scratch directory, the repository root, and a bridge from the
// synchronous fuzz callback (libFuzzer's own thread, never a Swift concurrency thread) to async setup.

import CLibFuzzerDriver
import Dispatch
import Foundation
import Synchronization

public enum FuzzHarness {
    /// libFuzzer's callback: LLVMFuzzerTestOneInput's C signature.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Every target's main: runs libFuzzer's driver on the process's arguments (libFuzzer's own flags,
    /// corpus directories or files to replay) with `testOneInput`, and exits with its status.
    /// LLVMFuzzerInitialize, when a target defines it, is called by the driver first.
    public static func runLibFuzzer(_ testOneInput: TestOneInput) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }

    /// Runs `body` on one input. An error that escapes an entry point is a finding: trap.
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: ([UInt8]) throws -> Void) -> CInt {
        let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        do {
            try body(bytes)
        } catch {
            fatalError("fuzz finding: \(error)")
        }
        return 0
    }

    /// The repository (for examples/): $WAYBILL_ROOT, else the working directory (scripts/fuzz.sh runs there).
    public static var repositoryRoot: String {
        ProcessInfo.processInfo.environment["WAYBILL_ROOT"] ?? FileManager.default.currentDirectoryPath
    }

    /// A fresh directory for this process (on /dev/shm when there is one: fsyncs cost nothing there),
    /// removed when the process exits normally.
    public static func scratchDirectory(_ label: String) -> String {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(base)/waybill-fuzz-\(label)-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot create the fuzz scratch directory \(path): \(error)")
        }
        scratchDirectories.withLock { $0.append(path) }
        if !cleanupRegistered.exchange(true, ordering: .relaxed) {
            atexit {
                for path in FuzzHarness.scratchDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
            }
        }
        return path
    }

    static let scratchDirectories = Mutex<[String]>([])
    static let cleanupRegistered = Atomic(false)

    /// Waits for async work from libFuzzer's thread (setup only: starting a server).
    public static func blockingWait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value: Result<T, Error>
            do { value = .success(try await body()) } catch { value = .failure(error) }
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
