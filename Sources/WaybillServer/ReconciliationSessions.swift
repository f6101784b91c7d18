// The open reconciliation sessions of one server: created by BeginReconciliation, fed by
// AddExtractChunk, consumed by FinishReconciliation, dropped after their idle timeout.

import Dispatch
import Foundation
import Synchronization
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// Reconciliation limits, each named in the error that enforces it.
public struct ReconciliationLimits: Sendable, Hashable {
    /// Reconciliation sessions open at once (each holds up to ~1 byte per Waybill order).
    public var sessionsMax = 4
    /// Order and stock records in one AddExtractChunk (the frame limit applies as well).
    public var chunkRecordsMax = 20_000
    /// A session without a call for this long is dropped (a client that went away).
    public var sessionIdleTimeoutMilliseconds: Int64 = 600_000
    /// Distinct stock positions one session holds (the extract's counts are kept until Finish).
    public var stockPositionsPerSessionMax = 2_000_000
    /// ERP records one session keeps for repair because Waybill has no such order or already has
    /// a record of it (missing in Waybill, duplicates). Past it the session is dropped: such an
    /// extract is not of this Waybill (or not of this scope).
    public var erpOnlyRecordsPerSessionMax = 1_000_000
    /// Discrepancies listed in a report when the request does not say (counts are always exact).
    public var discrepanciesListedDefault = 1_000
    /// The most a request may ask to be listed.
    public var discrepanciesListedMax = 10_000
    /// Repairs (orders re-emitted, ERP records reported, stock levels set) in one writer job.
    public var repairsPerWriterJobMax = 500
    /// Orders read per page of the "missing in the ERP" scan.
    public var scanPageOrders = 4_096

    public init() {}
}

/// The open sessions of one server (created with its handlers).
final class ReconciliationSessions: Sendable {
    struct Entry: Sendable {
        /// nil while a call is working on it.
        var tally: ReconciliationTally?
        var fingerprint: Fingerprint
        var lastUsedUptimeNanoseconds: UInt64
        var stockPositions: Int
        /// When BeginReconciliation opened it (the injected clock): its runs' start.
        var startedAt: Timestamp
    }

    private let entries = Mutex<[String: Entry]>([:])

    static func uptime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func open(_ tally: ReconciliationTally, fingerprint: Fingerprint, startedAt: Timestamp, limits: ReconciliationLimits) throws -> String {
        let id = "rec-" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let now = Self.uptime()
        let idle = UInt64(max(0, limits.sessionIdleTimeoutMilliseconds)) * 1_000_000
        return try entries.withLock { entries in
            entries = entries.filter { $0.value.tally == nil || now - $0.value.lastUsedUptimeNanoseconds < idle }
            guard entries.count < limits.sessionsMax else {
                throw WaybillStatusError.limit(.resourceExhausted, name: "sessionsMax", value: limits.sessionsMax,
                                               "\(entries.count) reconciliation sessions are open; finish one or wait for it to expire")
            }
            entries[id] = Entry(tally: tally, fingerprint: fingerprint, lastUsedUptimeNanoseconds: now, stockPositions: 0,
                                 startedAt: startedAt)
            return id
        }
    }

    /// Takes a session's tally for one call (the session is busy until `put` or `close`). The
    /// tally is the only reference to its state then, so a chunk mutates it in place, uncopied.
    func take(_ id: String) throws -> (tally: TallyHandOff, entry: Entry) {
        try entries.withLock { entries in
            guard var entry = entries[id] else {
                throw WaybillStatusError(.notFound, "reconciliation session \"\(id)\" not found (finished, expired after idling, or never opened)")
            }
            guard entry.tally != nil else {
                throw WaybillStatusError(.failedPrecondition, "reconciliation session \"\(id)\" is busy with another call: send its calls one at a time")
            }
            var tally: ReconciliationTally? = nil
            swap(&tally, &entry.tally)
            entries[id] = entry
            return (TallyHandOff(tally!), entry)
        }
    }

    func put(_ id: String, _ entry: Entry) {
        var entry = entry
        entry.lastUsedUptimeNanoseconds = Self.uptime()
        entries.withLock { $0[id] = entry }
    }

    func close(_ id: String) { _ = entries.withLock { $0.removeValue(forKey: id) } }
}

/// Hands a tally to the thread that works on it, leaving no other reference behind: the tally's
/// buffers stay uniquely referenced and are mutated in place (copy-on-write never copies them).
final class TallyHandOff: @unchecked Sendable {
    private var tally: ReconciliationTally?
    init(_ tally: ReconciliationTally) { self.tally = tally }
    /// Once only.
    func take() -> ReconciliationTally {
        var taken: ReconciliationTally? = nil
        swap(&taken, &tally)
        return taken!
    }
}
