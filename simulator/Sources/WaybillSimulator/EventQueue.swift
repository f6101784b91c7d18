// The discrete-event engine: a virtual clock and an event queue ordered by
// (time, priority, sequence number). The sequence number (insertion order) makes every tie
// deterministic; nothing here reads the wall clock.

/// One scheduled event. `order` packs (priority, sequence) into one comparable word.
public struct ScheduledEvent<Payload>: Sendable where Payload: Sendable {
    public var time: Int64
    var order: UInt64
    public var payload: Payload

    public var priority: Int { Int(order >> 48) }
    public var sequence: UInt64 { order & 0x0000_FFFF_FFFF_FFFF }

    @inline(__always)
    static func precedes(_ a: ScheduledEvent, _ b: ScheduledEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}

/// A binary min-heap of events with a virtual clock. Not thread-safe: one owner.
public struct EventQueue<Payload: Sendable>: Sendable {
    var heap: [ScheduledEvent<Payload>] = []
    var nextSequence: UInt64 = 0
    /// Virtual time in milliseconds: the time of the event being processed.
    public private(set) var now: Int64
    public private(set) var processed: UInt64 = 0

    public init(start: Int64 = 0, reserve: Int = 1024) {
        now = start
        heap.reserveCapacity(reserve)
    }

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    public var nextTime: Int64? { heap.first?.time }

    /// Schedules `payload` at `time` (never before now). Lower priority values run first among
    /// events at the same time.
    public mutating func schedule(at time: Int64, priority: Int = 8, _ payload: Payload) {
        precondition(priority >= 0 && priority < 65_536, "priority out of range")
        let event = ScheduledEvent(time: Swift.max(time, now), order: UInt64(priority) << 48 | nextSequence, payload: payload)
        nextSequence &+= 1
        heap.append(event)
        siftUp(heap.count - 1)
    }

    public mutating func schedule(after delay: Int64, priority: Int = 8, _ payload: Payload) {
        schedule(at: now &+ Swift.max(0, delay), priority: priority, payload)
    }

    /// Removes the earliest event and advances the clock to its time.
    public mutating func pop() -> ScheduledEvent<Payload>? {
        guard !heap.isEmpty else { return nil }
        let last = heap.removeLast()
        let first: ScheduledEvent<Payload>
        if heap.isEmpty {
            first = last
        } else {
            first = heap[0]
            heap[0] = last
            siftDown(0)
        }
        now = first.time
        processed &+= 1
        return first
    }

    /// Advances the clock without an event (the live driver follows the wall clock).
    public mutating func advance(to time: Int64) { if time > now { now = time } }

    mutating func siftUp(_ start: Int) {
        var child = start
        let item = heap[child]
        while child > 0 {
            let parent = (child - 1) >> 1
            if !ScheduledEvent.precedes(item, heap[parent]) { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = item
    }

    mutating func siftDown(_ start: Int) {
        let count = heap.count
        var parent = start
        let item = heap[parent]
        while true {
            var child = 2 * parent + 1
            if child >= count { break }
            if child + 1 < count && ScheduledEvent.precedes(heap[child + 1], heap[child]) { child += 1 }
            if !ScheduledEvent.precedes(heap[child], item) { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = item
    }
}

// MARK: - Engine benchmark: the classic SimPy comparison model

/// An M/M/c bank (customers arrive, queue for one of `servers` tellers, leave): the model the
/// SimPy comparison runs. Measures the engine alone: event queue, clock and PRNG.
public struct EngineBenchmark {
    enum Event: Sendable { case arrival, departure }

    public struct Result: Sendable {
        public var events: UInt64
        public var customers: UInt64
        public var meanWaitMilliseconds: Double
        public var digest: String
    }

    public static func run(events target: UInt64, servers: Int = 8, seed: UInt64 = 1) -> Result {
        var queue = EventQueue<Event>(start: 0, reserve: 4096)
        var random = SimRandom(seed: seed, stream: "bench")
        let interarrival = 100.0, service = 700.0
        var busy = 0
        var waiting: [Int64] = []
        waiting.reserveCapacity(1024)
        var head = 0
        var served: UInt64 = 0
        var waitTotal: Int64 = 0
        var trace = StableHasher()
        queue.schedule(at: 0, .arrival)
        while queue.processed < target, let event = queue.pop() {
            trace.combine(event.time)
            switch event.payload {
            case .arrival:
                queue.schedule(after: Int64(random.exponential(mean: interarrival)) + 1, .arrival)
                if busy < servers {
                    busy += 1
                    queue.schedule(after: Int64(random.exponential(mean: service)) + 1, .departure)
                } else {
                    waiting.append(queue.now)
                }
            case .departure:
                served += 1
                if head < waiting.count {
                    waitTotal += queue.now - waiting[head]
                    head += 1
                    if head > 4096 && head * 2 > waiting.count { waiting.removeFirst(head); head = 0 }
                    queue.schedule(after: Int64(random.exponential(mean: service)) + 1, .departure)
                } else {
                    busy -= 1
                }
            }
        }
        return Result(events: queue.processed, customers: served,
                      meanWaitMilliseconds: served == 0 ? 0 : Double(waitTotal) / Double(served), digest: trace.hex)
    }
}
