// Admission by queueing time: tables of (time, delay of a batch's oldest job) → whether new
// writes are refused after it. Time is given, never read.

import Testing
@testable import WaybillStore

@Suite("Write admission by queueing time")
struct AdmissionControlTests {
    static let ms: UInt64 = 1_000_000

    /// Target 5 ms, interval 50 ms.
    static func control() -> WriteAdmissionControl {
        var limits = WriteAdmissionLimits()
        limits.writeQueueDelayTargetMilliseconds = 5
        limits.writeQueueDelayIntervalMilliseconds = 50
        return WriteAdmissionControl(limits: limits)
    }

    /// Feeds (at ms, delay ms) samples; returns `shedding` after each.
    static func run(_ samples: [(at: UInt64, delay: UInt64)], on control: inout WriteAdmissionControl) -> [Bool] {
        samples.map { sample in
            control.batchStarted(delayNanoseconds: sample.delay * ms, now: sample.at * ms)
            return control.shedding
        }
    }

    @Test("short delays never refuse, however many")
    func shortDelaysAdmit() {
        var control = Self.control()
        let samples = (0..<200).map { (at: UInt64($0) * 3, delay: UInt64($0 % 6)) }  // 0...5 ms: at most the target
        #expect(Self.run(samples, on: &control).allSatisfy { !$0 })
        #expect(control.admits(queueDepth: 10_000))
    }

    @Test("a delay above the target for less than an interval is a burst: admitted")
    func burstBelowInterval() {
        var control = Self.control()
        let samples: [(at: UInt64, delay: UInt64)] = [(0, 30), (10, 40), (20, 45), (49, 60), (55, 2), (60, 30), (100, 30)]
        #expect(Self.run(samples, on: &control) == [false, false, false, false, false, false, false])
    }

    @Test("above the target for a whole interval: refuses; the first short delay ends it")
    func standingQueueSheds() {
        var control = Self.control()
        let samples: [(at: UInt64, delay: UInt64)] = [(0, 6), (20, 12), (49, 20), (50, 25), (70, 30), (90, 4), (95, 0)]
        #expect(Self.run(samples, on: &control) == [false, false, false, true, true, false, false])
        #expect(control.retryAfterMilliseconds == 50)
    }

    @Test("while refusing, a non-empty queue refuses and an empty one admits")
    func emptyQueueAdmits() {
        var control = Self.control()
        _ = Self.run([(0, 10), (60, 10)], on: &control)
        #expect(control.shedding)
        #expect(!control.admits(queueDepth: 1))
        #expect(control.admits(queueDepth: 0))
    }

    @Test("a standing queue again within an interval of the last refusals refuses at once")
    func sameOverloadResumesAtOnce() {
        var control = Self.control()
        let samples: [(at: UInt64, delay: UInt64)] = [
            (0, 10), (50, 10),   // refusing
            (60, 1),             // ended
            (80, 9),             // 20 ms later, above again: the same overload
            (85, 3),             // ended
            (200, 9),            // long after: a new episode needs a whole interval
            (240, 9), (250, 9),
        ]
        #expect(Self.run(samples, on: &control) == [false, true, false, true, false, false, false, true])
    }
}
