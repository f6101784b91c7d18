// ErpService reconciliation: compare Waybill with an ERP extract within a scope and, on request,
// repair. Extracts of any size arrive in chunks through a session (BeginReconciliation,
// AddExtractChunk, FinishReconciliation); the one-shot Reconcile is the same machinery over one
// frame. Each chunk is compared as it arrives against the orders it names (looked up on a reader
// connection); the session keeps one byte per Waybill order, so memory stays bounded. Finish
// scans Waybill's orders in scope from SQLite for those the ERP never sent (missing in the ERP)
// and compares stock. Reads run on a dispatch queue (never an event loop); repairs go through the
// writer in slices of at most `repairsPerWriterJobMax`, so a million-order repair never holds it
// long, and are idempotent by request_id (a replay reports the original figures). Every finished
// reconciliation is recorded as a run (ReconciliationRunRows.swift) before it is answered;
// ListReconciliationRuns and GetReconciliationRun read them back.

import Dispatch
import Foundation
import Synchronization
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// Waits for a writer job from a dispatch thread (never an event loop).
private final class WaitedResult<T: Sendable>: @unchecked Sendable {
    let semaphore = DispatchSemaphore(value: 0)
    var result: Result<T, Error>?
}

extension Services {
    var reconciliationLimits: ReconciliationLimits { configuration.reconciliation }

    func reconcile(_ request: Waybill_V1_ReconcileRequest, call: Call) {
        self.reconcile(call, request)
    }
    func beginReconciliation(_ request: Waybill_V1_BeginReconciliationRequest, call: Call) {
        do {
            let scope = try ReconcileScope(proto: request.scope)
            let asOf = request.asOfUnixMs == 0 ? self.configuration.clock() : Timestamp(millisecondsSinceEpoch: request.asOfUnixMs)
            let limits = self.reconciliationLimits
            let tally = ReconciliationTally(scope: scope, asOf: asOf, includeOrdersAfterAsOf: request.includeOrdersAfterAsOf,
                                            discrepanciesListedMax: limits.discrepanciesListedMax)
            // The request as sent (as_of 0 stays 0): a retry of the same reconciliation matches its replay.
            let id = try reconciliationSessions.open(tally, fingerprint: fingerprint(request), startedAt: self.configuration.clock(),
                                                     limits: limits)
            var session = Waybill_V1_ReconciliationSession()
            session.sessionID = id
            session.chunkRecordsMax = Int32(limits.chunkRecordsMax)
            session.idleTimeoutMs = limits.sessionIdleTimeoutMilliseconds
            call.responder.respond(.message(session))
        } catch {
            call.responder.respond(.from(error))
        }
    }
    func addExtractChunk(_ request: Waybill_V1_ExtractChunk, call: Call) {
        self.addChunk(call, request, sessions: reconciliationSessions)
    }
    func finishReconciliation(_ request: Waybill_V1_FinishReconciliationRequest, call: Call) {
        self.finishReconciliation(call, request, sessions: reconciliationSessions)
    }

    func addChunk(_ call: Call, _ request: Waybill_V1_ExtractChunk, sessions: ReconciliationSessions) {
        let limits = reconciliationLimits
        guard within(call, request.orders.count + request.stock.count, "chunkRecordsMax", limits.chunkRecordsMax, "records in one chunk") else { return }
        let records: ErpExtract
        do {
            var extract = Waybill_V1_ErpExtract()
            extract.orders = request.orders
            extract.stock = request.stock
            records = try ErpExtract(proto: extract)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let taken: (tally: TallyHandOff, entry: ReconciliationSessions.Entry)
        do {
            taken = try sessions.take(request.sessionID)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        DispatchQueue.global(qos: .utility).async {
            var entry = taken.entry
            var tally = taken.tally.take()
            do {
                let positions = tally.stockCounts.count + records.stock.count
                if positions > limits.stockPositionsPerSessionMax {
                    throw WaybillStatusError.limit(.invalidArgument, name: "stockPositionsPerSessionMax", value: limits.stockPositionsPerSessionMax,
                                                   "\(positions) stock positions in one reconciliation session")
                }
                if !records.orders.isEmpty && tally.scope.orders != false {
                    let waybill = try self.reader.ordersForReconciliation(ids: records.orders.map(\.orderID))
                    tally.add(orders: records.orders, waybill: waybill)
                } else {
                    tally.add(orders: records.orders, waybill: [:])
                }
                tally.add(stock: records.stock)
                if tally.erpRecordRepairs.count > limits.erpOnlyRecordsPerSessionMax {
                    sessions.close(request.sessionID)
                    call.responder.respond(.failure(WaybillStatusError.limit(
                        .invalidArgument, name: "erpOnlyRecordsPerSessionMax", value: limits.erpOnlyRecordsPerSessionMax,
                        "\(tally.erpRecordRepairs.count) ERP records name orders Waybill does not have or duplicate others; the session is dropped")))
                    return
                }
            } catch {
                // The chunk is not counted (nothing of it was added before the error); the session stays usable.
                entry.tally = tally
                sessions.put(request.sessionID, entry)
                call.responder.respond(.from(error))
                return
            }
            var chunk = request
            chunk.sessionID = ""
            entry.fingerprint = RequestFingerprint.chaining(entry.fingerprint, chunk)
            entry.tally = tally
            sessions.put(request.sessionID, entry)
            var result = Waybill_V1_ExtractChunkResult()
            result.sessionID = request.sessionID
            result.ordersReceived = Int64(tally.ordersReceived)
            result.stockReceived = Int64(tally.stockReceived)
            call.responder.respond(.message(result))
        }
    }

    func finishReconciliation(_ call: Call, _ request: Waybill_V1_FinishReconciliationRequest, sessions: ReconciliationSessions) {
        guard let listed = discrepanciesListed(call, request.discrepanciesMax), validRepairRequest(call, request.repair, request.requestID)
        else { return }
        let taken: (tally: TallyHandOff, entry: ReconciliationSessions.Entry)
        do {
            taken = try sessions.take(request.sessionID)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        DispatchQueue.global(qos: .utility).async {
            let tally = taken.tally.take()
            let outcome = Result {
                try self.runReconciliation(call, tally, fingerprint: taken.entry.fingerprint, repair: request.repair,
                                           requestID: request.requestID, listed: listed,
                                           run: ReconciliationRunStart(method: "FinishReconciliation", startedAt: taken.entry.startedAt))
            }
            if request.keepOpen {
                var entry = taken.entry
                entry.tally = tally
                sessions.put(request.sessionID, entry)
            } else {
                sessions.close(request.sessionID)
            }
            self.answer(call, outcome) { .message($0) }
        }
    }

    /// The one-shot form: the whole extract in one request.
    func reconcile(_ call: Call, _ request: Waybill_V1_ReconcileRequest) {
        guard let listed = discrepanciesListed(call, request.discrepanciesMax), validRepairRequest(call, request.repair, request.requestID)
        else { return }
        let extract: ErpExtract
        let scope: ReconcileScope
        do {
            extract = try ErpExtract(proto: request.extract)
            scope = try ReconcileScope(proto: request.scope)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        var fingerprinted = request
        fingerprinted.repair = false
        fingerprinted.requestID = ""
        fingerprinted.discrepanciesMax = 0
        let print = fingerprint(fingerprinted)
        let run = ReconciliationRunStart(method: "Reconcile", startedAt: configuration.clock())
        DispatchQueue.global(qos: .utility).async {
            let outcome = Result { () throws -> Waybill_V1_ReconcileReport in
                // An extract without a time is taken as of now.
                let asOf = extract.asOf.millisecondsSinceEpoch == 0 ? self.configuration.clock() : extract.asOf
                var tally = ReconciliationTally(scope: scope, asOf: asOf, includeOrdersAfterAsOf: extract.includeOrdersAfterAsOf,
                                                discrepanciesListedMax: self.reconciliationLimits.discrepanciesListedMax)
                let waybill = extract.orders.isEmpty || scope.orders == false ? [:] : try self.reader.ordersForReconciliation(ids: extract.orders.map(\.orderID))
                tally.add(orders: extract.orders, waybill: waybill)
                tally.add(stock: extract.stock)
                return try self.runReconciliation(call, tally, fingerprint: print, repair: request.repair, requestID: request.requestID,
                                                  listed: listed, run: run)
            }
            self.answer(call, outcome) { .message($0) }
        }
    }

    private func discrepanciesListed(_ call: Call, _ requested: Int32) -> Int? {
        let limits = reconciliationLimits
        if requested < 0 {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "discrepancies_max: must not be negative")))
            return nil
        }
        guard within(call, Int(requested), "discrepanciesListedMax", limits.discrepanciesListedMax, "discrepancies to list") else { return nil }
        return requested == 0 ? limits.discrepanciesListedDefault : Int(requested)
    }

    private func validRepairRequest(_ call: Call, _ repair: Bool, _ requestID: String) -> Bool {
        if repair || !requestID.isEmpty, let error = Validation.checkIdentifier(requestID, field: "request_id", limits: configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return false
        }
        return true
    }

    /// Runs a writer job and waits for its commit (dispatch threads only).
    private func writeAndWait<T: Sendable>(_ body: @escaping (WriteContext) throws -> T) throws -> T {
        let waited = WaitedResult<T>()
        writer.submit(Job(kind: "reconciliation", deadlineUptimeNanoseconds: .max, body) { result in
            waited.result = result
            waited.semaphore.signal()
        })
        waited.semaphore.wait()
        return try waited.result!.get()
    }

    /// Finishes a comparison (the scan for orders missing in the ERP, then stock) and, on request,
    /// repairs in bounded writer jobs. Blocking: runs on a dispatch thread.
    func runReconciliation(_ call: Call, _ tally: ReconciliationTally, fingerprint print: Fingerprint, repair: Bool, requestID: String,
                           listed: Int, run: ReconciliationRunStart) throws -> Waybill_V1_ReconcileReport {
        let limits = reconciliationLimits
        let started = DispatchTime.now().uptimeNanoseconds
        if repair {
            let replay = try writeAndWait { context in
                try context.engine.reconciliationReplay(requestID: requestID, fingerprint: print, storage: context.engineStorage)
            }
            if let replay {
                var report = replay.report(scope: tally.finishing().scope)
                report.replayed = true
                let recorded = run.recorded(report, by: call.caller.name, asOf: tally.asOf, repair: repair, requestID: requestID)
                try writeAndWait { context in _ = try self.recordRun(recorded, context) }
                return report
            }
        }
        var repaired = 0
        var notRepaired: Set<String> = []
        var slice = ReconciliationRepairSlice()
        var sliceNumber = 0
        func flush() throws {
            guard slice.size > 0 else { return }
            let pending = slice
            let number = sliceNumber
            slice = ReconciliationRepairSlice()
            sliceNumber += 1
            let outcome = try writeAndWait { context in
                try context.atomically {
                    try context.engine.repair(pending, requestID: requestID, sliceNumber: number, asOf: tally.asOf,
                                              context: self.context(call, context, requestID: requestID, fingerprint: print),
                                              storage: context.engineStorage)
                }
            }
            repaired += outcome.repaired
            notRepaired.formUnion(outcome.notRepaired)
        }

        // Orders compared whose ERP record differs.
        if repair {
            let mismatched = tally.mismatchedSequences()
            var start = 0
            while start < mismatched.count {
                let batch = Array(mismatched[start..<min(mismatched.count, start + limits.repairsPerWriterJobMax)])
                start += batch.count
                let ids = try reader.orderIDs(sequences: batch.map(\.sequence))
                for item in batch { if let id = ids[item.sequence] { slice.reemit.append((id, item.discrepancies)) } }
                if slice.size >= limits.repairsPerWriterJobMax { try flush() }
            }
            for record in tally.erpRecordRepairs {
                slice.erpRecords.append(record)
                if slice.size >= limits.repairsPerWriterJobMax { try flush() }
            }
        }

        // Waybill's orders in scope the ERP never sent.
        var finish = tally.finishing()
        if finish.scope.orders == true {
            var filter = ReconciliationOrderFilter()
            if !finish.includeOrdersAfterAsOf { filter.capturedAtMost = finish.asOf }
            filter.timeField = finish.scope.timeField
            filter.from = finish.scope.from
            filter.to = finish.scope.to
            filter.channels = finish.scope.channels.sorted()
            var after: Int64 = 0
            while true {
                let page = try reader.reconciliationPage(afterSequence: after, limit: limits.scanPageOrders, filter: filter,
                                                         decode: { finish.needsVisit(sequence: $0) })
                for (sequence, order) in page.orders where finish.visit(sequence: sequence, order: order) && repair {
                    slice.reemit.append((order.orderID, 1))
                    if slice.size >= limits.repairsPerWriterJobMax { try flush() }
                }
                guard let last = page.last else { break }
                after = last
            }
        }
        try flush()

        // Stock, as of the extract's time.
        if finish.scope.stock == true {
            let differing = finish.compareStock(onHand: try reader.ledgerOnHand(asOf: tally.asOf))
            if repair {
                for (key, count) in differing {
                    if slice.stockLocation != key.locationID || slice.size >= limits.repairsPerWriterJobMax {
                        try flush()
                        slice.stockLocation = key.locationID
                    }
                    slice.stockLevels.append((key.sku, count))
                }
                try flush()
            }
        }

        let found = finish.result()
        var result = found
        if result.discrepancies.count > listed { result.discrepancies.removeLast(result.discrepancies.count - listed) }
        let outcome = repair ? (repaired: repaired, notRepaired: notRepaired) : nil
        // The run keeps its own number of discrepancies, whatever the caller asked to be listed.
        var kept = found
        let keptMax = max(0, transport.reconciliationRunDiscrepanciesKeptMax)
        if kept.discrepancies.count > keptMax { kept.discrepancies.removeLast(kept.discrepancies.count - keptMax) }
        let recorded = run.recorded(kept.report(repair: outcome), by: call.caller.name, asOf: tally.asOf, repair: repair, requestID: requestID)
        var summary = found.summary
        summary.repaired = repaired
        let runID = try writeAndWait { context -> String in
            if repair {
                try context.engine.recordReconciliation(requestID: requestID, fingerprint: print, summary: summary,
                                                        context: self.context(call, context, requestID: requestID, fingerprint: print),
                                                        storage: context.engineStorage)
            }
            return try self.recordRun(recorded, context).runID
        }
        logger.info("reconciliation", metadata: [
            "run": "\(runID)",
            "orders": "\(result.ordersCompared)", "stock_positions": "\(result.stockPositionsCompared)",
            "discrepancies": "\(result.total)", "repair": "\(repair)", "repaired": "\(repaired)",
            "milliseconds": "\((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)",
        ])
        return result.report(repair: outcome)
    }

    /// Records a finished run in the writer's transaction (the oldest beyond reconciliationRunsKeptMax go).
    private func recordRun(_ run: Waybill_V1_ReconciliationRun, _ context: WriteContext) throws -> Waybill_V1_ReconciliationRun {
        try context.recordReconciliationRun(run, runsKeptMax: transport.reconciliationRunsKeptMax,
                                            discrepanciesKeptMax: transport.reconciliationRunDiscrepanciesKeptMax)
    }

    func listReconciliationRuns(_ request: Waybill_V1_ListReconciliationRunsRequest, call: Call) {
        guard let size = pageSize(call, request.pageSize) else { return }
        let before = request.pageToken.hasPrefix("before:") ? Int64(request.pageToken.dropFirst(7)) : nil
        if !request.pageToken.isEmpty && (before ?? 0) <= 0 {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous answer",
                                                               details: .with { $0.field = "page_token" })))
            return
        }
        blocking(call, { try self.reader.reconciliationRuns(beforeSequence: before, limit: size) }) { page in
            var list = Waybill_V1_ReconciliationRunList()
            list.runs = page.runs
            list.nextPageToken = page.nextBeforeSequence.map { "before:\($0)" } ?? ""
            return .message(list)
        }
    }

    func getReconciliationRun(_ request: Waybill_V1_GetReconciliationRunRequest, call: Call) {
        if let error = Validation.checkIdentifier(request.runID, field: "run_id", limits: configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        blocking(call, { try self.reader.reconciliationRun(id: request.runID) }) { run in
            guard let run else {
                return .failure(WaybillStatusError(.notFound, "reconciliation run \"\(request.runID)\" not found (never recorded, or older than the "
                                                     + "latest reconciliationRunsKeptMax runs)", details: .with { $0.field = "run_id" }))
            }
            return .message(run)
        }
    }
}

/// How a reconciliation began, for its recorded run.
struct ReconciliationRunStart: Sendable {
    var method: String
    var startedAt: Timestamp

    /// The run of a finished reconciliation, from the report of what it found (its discrepancies
    /// already cut to what the run keeps); the writer gives it its id and finish time.
    func recorded(_ report: Waybill_V1_ReconcileReport, by caller: String, asOf: Timestamp, repair: Bool,
                  requestID: String) -> Waybill_V1_ReconciliationRun {
        var run = Waybill_V1_ReconciliationRun()
        run.startedAtUnixMs = startedAt.millisecondsSinceEpoch
        run.runBy = caller
        run.method = method
        run.scope = report.scope
        run.asOfUnixMs = asOf.millisecondsSinceEpoch
        run.repair = repair
        run.requestID = requestID
        run.replayed = report.replayed
        run.ordersCompared = report.ordersCompared
        run.stockPositionsCompared = report.stockPositionsCompared
        run.counts = report.counts
        run.discrepanciesTotal = report.discrepanciesTotal
        run.repaired = report.repaired
        run.discrepancies = report.discrepancies
        return run
    }
}
