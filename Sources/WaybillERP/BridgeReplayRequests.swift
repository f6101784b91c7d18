// Dead letters seen from the server: the bridge lists the oldest letters of its store in every
// status report (what and why, never a payload), and carries out the replay requests the server
// hands back in the answer (ErpService.RequestDeadLetterReplay) exactly as `waybill erp-bridge
// replay` does (DeadLetterReplay.replay), then reports each outcome until the server has recorded
// it. A request is the server's, durable there; its outcome is written under
// <state-dir>/replay-results before it is reported, so a bridge restarted in between reports
// the outcome it had instead of replaying again (which would call the delivered letters unknown).

import Foundation
import Logging
import WaybillCore
import WaybillProto
import WaybillWire

extension DeadLetter {
    /// What a status report says of this letter. The message body stays in the store.
    var reported: Waybill_V1_ReportedDeadLetter {
        var letter = Waybill_V1_ReportedDeadLetter()
        letter.eventID = message.eventId
        letter.offset = message.offset
        letter.eventType = message.type
        letter.aggregateType = message.aggregateType
        letter.aggregateID = message.aggregateId
        letter.orderID = message.orderId ?? ""
        letter.kind = blockedBy == nil ? .refused : .parked
        letter.reason = ErpBridge.truncated(lastError)
        letter.blockedBy = blockedBy ?? ""
        letter.attempts = UInt32(clamping: attempts)
        letter.deadLetteredAtUnixMs = deadLetteredAtUnixMs
        letter.target = target
        return letter
    }
}

extension ErpBridge {
    /// Bytes of a reason or error a report carries (the server's default textBytesMax).
    static let reportedTextBytesMax = DomainLimits().textBytesMax

    static func truncated(_ text: String) -> String { Validation.truncated(text, bytesMax: reportedTextBytesMax) }

    /// Outcomes carried out but not yet recorded by the server, one file per request.
    nonisolated var replayResultsDirectory: String { configuration.stateDirectory + "/replay-results" }

    static func resultFileName(_ requestID: String) -> String {
        "replay-" + requestID.utf8.map { String(format: "%02x", $0) }.joined() + ".pb"
    }

    /// Outcomes an earlier run carried out and did not see recorded: reported again, not replayed again.
    func loadReplayResults() async {
        let directory = replayResultsDirectory
        let stored = (try? await BlockingIO.run { () -> [Waybill_V1_DeadLetterReplay] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.filter { $0.hasPrefix("replay-") && $0.hasSuffix(".pb") }.sorted().compactMap { name in
                FileManager.default.contents(atPath: directory + "/" + name).flatMap { try? Waybill_V1_DeadLetterReplay(serializedBytes: $0) }
            }
        }) ?? []
        for result in stored {
            replayResults[result.requestID] = result
            replaysTaken.insert(result.requestID)
        }
    }

    /// The server's answer to a report: `pending` are the requests it still waits for. Outcomes
    /// this report carried (`reported`) whose request is no longer pending are recorded there;
    /// new requests are queued and carried out one at a time, in order.
    func receivedReplayRequests(_ pending: [Waybill_V1_DeadLetterReplay], reported: [String]) {
        let pendingIDs = Set(pending.map(\.requestID))
        let directory = replayResultsDirectory
        for id in reported where !pendingIDs.contains(id) {
            replayResults[id] = nil
            replaysTaken.remove(id)
            unlink(directory + "/" + Self.resultFileName(id))
        }
        for request in pending where !replaysTaken.contains(request.requestID) {
            replaysTaken.insert(request.requestID)
            replayQueue.append(request)
            logger.notice("dead-letter replay requested", metadata: [
                "request_id": "\(request.requestID)", "requested_by": "\(request.requestedBy)",
                "events": "\(request.all ? "all" : request.eventIds.joined(separator: " "))",
            ])
        }
        if replayTask == nil && !replayQueue.isEmpty {
            replayTask = Task { await self.runReplayRequests() }
        }
    }

    private func runReplayRequests() async {
        while !replayQueue.isEmpty && !Task.isCancelled {
            let request = replayQueue.removeFirst()
            guard let result = await carryOut(request) else {
                // Cancelled (the bridge stops): the request stays pending on the server.
                replaysTaken.remove(request.requestID)
                break
            }
            let directory = replayResultsDirectory
            do {
                let bytes = Data(try result.serializedBytes() as [UInt8])
                try await BlockingIO.run { try AtomicFile.write(bytes, directory: directory, name: Self.resultFileName(request.requestID)) }
            } catch {
                // Reported from memory all the same; only a restart before the report would replay it again.
                logger.warning("cannot keep a replay outcome in the state directory", metadata: [
                    "request_id": "\(request.requestID)", "error": "\(error)",
                ])
            }
            replayResults[request.requestID] = result
        }
        replayTask = nil
    }

    /// Replays as `waybill erp-bridge replay` does; nil when cancelled midway.
    func carryOut(_ request: Waybill_V1_DeadLetterReplay) async -> Waybill_V1_DeadLetterReplay? {
        var delivered: [String] = []
        var failed: [(id: String, error: String)] = []
        var unknown: [String] = []
        do {
            let report = try await DeadLetterReplay.replay(store: deadLetters, ids: request.all ? nil : request.eventIds, target: target,
                                                           targetDescription: configuration.targetDescription, limits: limits,
                                                           random: random, logger: logger)
            delivered = report.delivered
            failed = report.failed
            unknown = report.unknown
            // Events of a replayed aggregate that this bridge parked while the replay ran wait
            // behind letters that are gone: they follow, as the same `replay` run again would.
            for _ in 0..<4 {
                let store = deadLetters
                let left = try await BlockingIO.run { try store.list() }
                let gone = Set(delivered)
                let halted = Set(left.filter { letter in failed.contains { $0.id == letter.id } }.map(\.message.orderingKey))
                var firstPerAggregate: [String: String] = [:]
                for letter in left {
                    guard let blocker = letter.blockedBy, gone.contains(blocker), !halted.contains(letter.message.orderingKey),
                          firstPerAggregate[letter.message.orderingKey] == nil else { continue }
                    firstPerAggregate[letter.message.orderingKey] = letter.id
                }
                guard !firstPerAggregate.isEmpty else { break }
                let more = try await DeadLetterReplay.replay(store: store, ids: Array(firstPerAggregate.values), target: target,
                                                             targetDescription: configuration.targetDescription, limits: limits,
                                                             random: random, logger: logger)
                delivered += more.delivered
                failed += more.failed
                if more.delivered.isEmpty { break }
            }
        } catch is CancellationError {
            return nil
        } catch {
            if Task.isCancelled { return nil }
            failed.append((request.all ? "" : request.eventIds.joined(separator: " "), "replay failed: \(error)"))
            logger.error("dead-letter replay failed", metadata: ["request_id": "\(request.requestID)", "error": "\(error)"])
        }
        if Task.isCancelled { return nil }
        let listed = TransportLimits().deadLetterReplayEventIdsMax
        var result = Waybill_V1_DeadLetterReplay()
        result.requestID = request.requestID
        result.consumer = request.consumer
        result.status = .done
        result.requestedAtUnixMs = request.requestedAtUnixMs
        result.replayed = Array(delivered.prefix(listed))
        result.stillFailing = failed.prefix(listed).map { failure in
            var entry = Waybill_V1_DeadLetterReplayFailure()
            entry.eventID = failure.id
            entry.error = Self.truncated(failure.error)
            return entry
        }
        result.unknown = Array(unknown.prefix(listed))
        result.replayedCount = UInt32(clamping: delivered.count)
        result.stillFailingCount = UInt32(clamping: failed.count)
        result.unknownCount = UInt32(clamping: unknown.count)
        logger.notice("dead-letter replay done", metadata: [
            "request_id": "\(request.requestID)", "replayed": "\(delivered.count)", "still_failing": "\(failed.count)", "unknown": "\(unknown.count)",
        ])
        // The next report lists the store as the replay left it.
        let store = deadLetters
        let reportedMax = limits.bridgeDeadLettersReportedMax
        if let oldest = try? await BlockingIO.run({ try store.oldest(reportedMax) }) {
            reportedLetters = oldest.letters
        }
        return result
    }
}
