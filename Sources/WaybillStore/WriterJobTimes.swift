// How long each kind of job holds the writer: the attribution of the tail. Every job's run time
// goes to `waybill_writer_job_seconds{kind}`; a job slower than `slowJobLogMilliseconds` is also
// logged with its kind, so a stall names what caused it (an ERP snapshot, a repair slice, a prune
// slice, a capture). Kinds are the writer's own names and the server's method names: a small set.

import Logging
import Metrics

struct WriterJobTimes {
    private var timers: [String: Timer] = [:]
    private let slowNanoseconds: UInt64

    init(slowMilliseconds: Int) {
        slowNanoseconds = slowMilliseconds > 0 ? UInt64(slowMilliseconds) * 1_000_000 : .max
    }

    mutating func record(kind: String, nanoseconds: UInt64, logger: Logger) {
        let timer: Timer
        if let known = timers[kind] {
            timer = known
        } else {
            timer = Timer(label: "waybill_writer_job_seconds", dimensions: [("kind", kind)])
            timers[kind] = timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
        if nanoseconds >= slowNanoseconds {
            logger.warning("slow writer job", metadata: ["kind": "\(kind)", "ms": "\(nanoseconds / 1_000_000)"])
        }
    }
}
