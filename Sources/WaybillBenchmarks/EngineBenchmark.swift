// The event engine measured alone (`waybill sim --engine-benchmark N`): the classic SimPy
// comparison model, an M/M/c bank run on the simulator's EventQueue, clock and PRNG.

import WaybillSimulator

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
