// The discrete-event engine: a virtual clock and an event queue ordered by
// (time, priority, sequence number). The sequence number (insertion order) makes every tie
// deterministic; nothing here reads the wall clock. The hot paths are @inlinable so that a
// client in another module (WaybillBenchmarks' EngineBenchmark) gets them specialized for its payload.

/// One scheduled event. `order` packs (priority, sequence) into one comparable word.
public struct ScheduledEvent<Payload>: Sendable where Payload: Sendable {
    public var time: Int64
    @usableFromInline var order: UInt64
    public var payload: Payload

    @usableFromInline init(time: Int64, order: UInt64, payload: Payload) {
        self.time = time
        self.order = order
        self.payload = payload
    }

    public var priority: Int { Int(order >> 48) }
    public var sequence: UInt64 { order & 0x0000_FFFF_FFFF_FFFF }

    @inlinable @inline(__always)
    static func precedes(_ a: ScheduledEvent, _ b: ScheduledEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}

/// A binary min-heap of events with a virtual clock. Not thread-safe: one owner.
public struct EventQueue<Payload: Sendable>: Sendable {
    @usableFromInline var heap: [ScheduledEvent<Payload>] = []
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var currentTime: Int64
    @usableFromInline var processedCount: UInt64 = 0
    /// Virtual time in milliseconds: the time of the event being processed.
    @inlinable public var now: Int64 { currentTime }
    @inlinable public var processed: UInt64 { processedCount }

    @inlinable public init(start: Int64 = 0, reserve: Int = 1024) {
        currentTime = start
        heap.reserveCapacity(reserve)
    }

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    public var nextTime: Int64? { heap.first?.time }

    /// Schedules `payload` at `time` (never before now). Lower priority values run first among
    /// events at the same time.
    @inlinable public mutating func schedule(at time: Int64, priority: Int = 8, _ payload: Payload) {
        precondition(priority >= 0 && priority < 65_536, "priority out of range")
        let event = ScheduledEvent(time: Swift.max(time, now), order: UInt64(priority) << 48 | nextSequence, payload: payload)
        nextSequence &+= 1
        heap.append(event)
        siftUp(heap.count - 1)
    }

    @inlinable public mutating func schedule(after delay: Int64, priority: Int = 8, _ payload: Payload) {
        schedule(at: now &+ Swift.max(0, delay), priority: priority, payload)
    }

    /// Removes the earliest event and advances the clock to its time.
    @inlinable public mutating func pop() -> ScheduledEvent<Payload>? {
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
        currentTime = first.time
        processedCount &+= 1
        return first
    }

    /// Advances the clock without an event (the live driver follows the wall clock).
    public mutating func advance(to time: Int64) { if time > currentTime { currentTime = time } }

    @inlinable mutating func siftUp(_ start: Int) {
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

    @inlinable mutating func siftDown(_ start: Int) {
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
