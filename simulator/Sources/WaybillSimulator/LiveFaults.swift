// Server faults in a live run (scenario `faults` with target "server"): at its simulated hour a
// fault kills the server process with SIGKILL and restarts it on the same database after
// down_seconds, or stops it with SIGSTOP and continues it after down_seconds. The driver keeps
// going: calls without an answer are sent again with the same keys (LiveResend.swift), the
// connections and feed subscriptions reconnect, and the report's `faults` section shows what was
// lost (acknowledged but not stored), duplicated and oversold, whether the feed read back is
// gap-free, and each outage in seconds as the driver saw it.

import Dispatch
import Foundation
import Synchronization
import WaybillCore

/// What the report says about server faults (live runs whose scenario has any).
public struct FaultReport: Codable, Sendable, Equatable {
    public struct Injected: Codable, Sendable, Equatable {
        /// "kill9" or "pause".
        public var kind: String
        public var atHour: Double
        public var downSeconds: Double
        /// False when the run ended before the fault's hour.
        public var injected: Bool
        /// Wall seconds from the fault to the server answering again (kill9: restarted and
        /// listening on the same database and port; pause: continued).
        public var serverBackSeconds: Double
        /// Wall seconds from the first call that got no answer to the first answer after it, as
        /// the driver saw them (0: no call went unanswered).
        public var outageSeconds: Double
        /// Attempts that got no answer during the outage (each was sent again).
        public var unansweredAttempts: Int
    }
    public var injected: [Injected]
    /// How many times `waybill serve` was started (1 + restarts).
    public var serverStarts: Int
    /// Connections made again after the server went away.
    public var reconnects: Int
    /// Calls sent again, with the same idempotency key, after an attempt without an answer.
    public var resentCalls: Int
    /// Orders acknowledged to the driver that Waybill does not hold.
    public var lost: Int
    /// (channel, external id) pairs Waybill holds more than one order for (extra orders).
    public var duplicated: Int
    /// Positions with reserved > on hand, or either negative.
    public var oversold: Int
    /// The whole change feed read back after the run, offsets contiguous from the first stored one to the head.
    public var feedGapFree: Bool
    public var feedEventsRead: UInt64
    public var feedHead: UInt64
    public var feedDetail: String

    public var passed: Bool {
        lost == 0 && duplicated == 0 && oversold == 0 && feedGapFree && injected.allSatisfy(\.injected)
    }

    public var summaryLines: [String] {
        var lines = ["  server faults: \(lost) lost, \(duplicated) duplicated, \(oversold) oversold, feed "
                     + (feedGapFree ? "gap-free" : "NOT gap-free") + " (\(feedEventsRead) events read, head \(feedHead)); "
                     + "\(serverStarts) server starts, \(reconnects) reconnects, \(resentCalls) calls sent again"]
        for fault in injected {
            lines.append(fault.injected
                ? String(format: "    %@ at %.2f h (down %.1f s): server back after %.2f s, outage seen by the driver %.2f s, %d unanswered attempts",
                         fault.kind, fault.atHour, fault.downSeconds, fault.serverBackSeconds, fault.outageSeconds, fault.unansweredAttempts)
                : String(format: "    %@ at %.2f h: not injected (the run ended first)", fault.kind, fault.atHour))
        }
        return lines
    }

    /// lost, duplicated and oversold, from what the driver was told and what Waybill holds.
    static func count(_ record: SimulationRecord, _ waybill: WaybillState) -> (lost: Int, duplicated: Int, oversold: Int) {
        var stored: [String: Int] = [:]
        for order in waybill.orders { stored[order.channel.name + "/" + order.externalOrderID, default: 0] += 1 }
        let lost = record.orders.filter { $0.state == "acknowledged" && stored[$0.channel.name + "/" + $0.externalID] == nil }.count
        let duplicated = stored.values.reduce(0) { $0 + Swift.max(0, $1 - 1) }
        let oversold = waybill.balances.values.filter { $0.reserved > $0.onHand || $0.onHand < 0 || $0.reserved < 0 }.count
        return (lost, duplicated, oversold)
    }
}

/// Runs the scenario's server faults in order, each at its simulated hour (on the run's clock).
final class LiveFaultSchedule: Sendable {
    private struct Record: Sendable {
        var fault: FaultConfig
        var injectedAt: UInt64 = 0
        var backAt: UInt64 = 0
    }
    let server: LiveServerProcess
    let clock: CompressedClock
    let scenarioStart: Int64
    private let records: Mutex<[Record]>
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let stopping = Mutex(false)

    init(faults: [FaultConfig], server: LiveServerProcess, clock: CompressedClock, scenarioStart: Int64) {
        self.server = server
        self.clock = clock
        self.scenarioStart = scenarioStart
        records = Mutex(faults.filter(\.isServerFault).sorted { $0.startHour < $1.startHour }.map { Record(fault: $0) })
    }

    func start() {
        let count = records.withLock { $0.count }
        let running = Task { [self] in
            for index in 0..<count {
                let fault = records.withLock { $0[index].fault }
                // Wait for the fault's simulated hour (the clock may jump: compare, do not predict).
                while clock.now() < scenarioStart + fault.startMilliseconds {
                    if stopping.withLock({ $0 }) { return }
                    try? await Task.sleep(for: .milliseconds(10))
                }
                if stopping.withLock({ $0 }) { return }
                await inject(fault, index: index)
            }
        }
        task.withLock { $0 = running }
    }

    private func inject(_ fault: FaultConfig, index: Int) async {
        let injectedAt = wallNanoseconds()
        records.withLock { $0[index].injectedAt = injectedAt }
        switch fault.mode {
        case "kill9":
            await server.kill9()
            await Self.sleep(until: injectedAt + UInt64(fault.downSeconds * 1e9))
            do {
                try await server.start()
            } catch {
                // The run cannot go on without its server; the settle phase reports what is unanswered.
                FileHandle.standardError.write(Data("waybill sim: restarting the server after kill -9 failed: \(error)\n".utf8))
                return
            }
        default:
            server.pause()
            await Self.sleep(until: injectedAt + UInt64(fault.downSeconds * 1e9))
            server.resume()
        }
        records.withLock { $0[index].backAt = wallNanoseconds() }
    }

    /// Sleeps off the cooperative pool's threads until a wall (monotonic) instant.
    private static func sleep(until instant: UInt64) async {
        let now = wallNanoseconds()
        guard instant > now else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(instant - now))) { continuation.resume() }
        }
    }

    /// Lets a fault in progress end (the server back) and drops the ones not reached yet.
    func finish() async {
        stopping.withLock { $0 = true }
        await task.withLock({ $0 })?.value
    }

    func report(monitor: LiveFaultMonitor) -> [FaultReport.Injected] {
        let outages = monitor.outages
        return records.withLock { $0 }.map { record in
            var entry = FaultReport.Injected(kind: record.fault.mode, atHour: record.fault.startHour, downSeconds: record.fault.downSeconds,
                                             injected: record.injectedAt > 0 && record.backAt > 0, serverBackSeconds: 0, outageSeconds: 0,
                                             unansweredAttempts: 0)
            guard entry.injected else { return entry }
            entry.serverBackSeconds = Double(record.backAt - record.injectedAt) / 1e9
            // The driver's outages that overlap this fault (from the fault to the server's return).
            let overlapping = outages.filter { $0.start <= record.backAt && ($0.end ?? .max) >= record.injectedAt }
            if let first = overlapping.map(\.start).min(), let last = overlapping.compactMap(\.end).max() {
                entry.outageSeconds = (Double(last - first) / 1e6).rounded() / 1e3
            }
            entry.unansweredAttempts = overlapping.reduce(0) { $0 + $1.unansweredAttempts }
            return entry
        }
    }
}
