// Admission to the write queue by queueing time (CoDel-style), not by count: a queue of 65,536
// jobs never fills from a few connections, yet at twice the writer's capacity it holds seconds of
// work. The writer reports how long each batch's oldest job waited; once that delay has stayed
// above the target for a whole interval, new client writes are refused at once (with a retry
// hint) until a batch starts with a delay under the target (an empty queue admits). Jobs already
// admitted always run. Pure decision logic: the caller passes the monotonic time.

public struct WriteAdmissionLimits: Hashable, Sendable {
    /// Queueing delay (enqueue → batch start) a write may see before the queue counts as standing.
    public var writeQueueDelayTargetMilliseconds: Int64 = 50
    /// How long the delay must stay above the target before new writes are refused; and, once
    /// refusals stopped, how soon a delay above the target refuses again at once (still overloaded).
    public var writeQueueDelayIntervalMilliseconds: Int64 = 100

    public init() {}
}

public struct WriteAdmissionControl: Sendable {
    public let limits: WriteAdmissionLimits
    /// Whether new (sheddable) writes are refused now.
    public private(set) var shedding = false
    /// When the delay went above the target and has stayed there since (nil: it is under).
    private var aboveSince: UInt64?
    /// When shedding last stopped: a standing queue again soon after is the same overload.
    private var stoppedSheddingAt: UInt64?

    public init(limits: WriteAdmissionLimits) {
        self.limits = limits
    }

    private var targetNanoseconds: UInt64 { UInt64(max(0, limits.writeQueueDelayTargetMilliseconds)) * 1_000_000 }
    private var intervalNanoseconds: UInt64 { UInt64(max(0, limits.writeQueueDelayIntervalMilliseconds)) * 1_000_000 }

    /// A batch started at `now`; its oldest job waited `delayNanoseconds` in the queue.
    public mutating func batchStarted(delayNanoseconds: UInt64, now: UInt64) {
        if delayNanoseconds <= targetNanoseconds {
            aboveSince = nil
            stopShedding(now: now)
            return
        }
        let since = aboveSince ?? now
        aboveSince = since
        if shedding { return }
        let recentlyShed = stoppedSheddingAt.map { now &- $0 <= intervalNanoseconds } ?? false
        if recentlyShed || now &- since >= intervalNanoseconds { shedding = true }
    }

    /// Whether a new sheddable write is admitted with `queueDepth` jobs waiting. An empty queue
    /// admits even while shedding: nothing waits ahead of it, and the batch it starts reports a
    /// short delay, which ends the shedding.
    public func admits(queueDepth: Int) -> Bool { !shedding || queueDepth == 0 }

    private mutating func stopShedding(now: UInt64) {
        if shedding {
            shedding = false
            stoppedSheddingAt = now
        }
    }

    /// What a refused client is told to wait before retrying (retry_after_ms).
    public var retryAfterMilliseconds: Int64 { max(1, limits.writeQueueDelayIntervalMilliseconds) }
}
