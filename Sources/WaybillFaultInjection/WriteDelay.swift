// A slower write path on demand, for tests and benchmarks only: not part of any product. It wraps
// each writer job (WaybillStore's WriteJobInterceptor extension point) with a fixed delay, which
// proves that load-regression checks catch a slower writer and makes deadlines expire and drains
// last in tests (`waybill bench capture` / `waybill sim --inject-write-delay-microseconds`,
// `waybill-harness serve --inject-write-delay-microseconds`, in-process test servers).

import Dispatch
import WaybillStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Delays every writer job by `microseconds` before it runs (inside the batch's transaction, on the
/// writer's thread, so the whole write path is that much slower).
public struct WriteDelay: WriteJobInterceptor {
    public let microseconds: Int
    /// Below this a delay spins: sleeping is coarser than a write (tens of microseconds).
    public static let spinMicrosecondsMax = 1_000

    /// `microseconds` must be positive: no delay means no interceptor.
    public init(microseconds: Int) {
        precondition(microseconds > 0, "a WriteDelay of \(microseconds) µs: install none instead")
        self.microseconds = microseconds
    }

    /// The delay for a `--inject-write-delay-microseconds` value: none for 0.
    public static func forOption(_ microseconds: Int) -> WriteDelay? {
        microseconds > 0 ? WriteDelay(microseconds: microseconds) : nil
    }

    public func intercept(_ job: any WriteJob, proceed: () throws -> Void) throws {
        Self.wait(microseconds: microseconds)
        try proceed()
    }

    static func wait(microseconds: Int) {
        if microseconds >= spinMicrosecondsMax {
            usleep(UInt32(clamping: microseconds))
            return
        }
        let until = DispatchTime.now().uptimeNanoseconds + UInt64(microseconds) * 1_000
        while DispatchTime.now().uptimeNanoseconds < until {}
    }
}
