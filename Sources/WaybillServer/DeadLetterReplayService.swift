// ErpService.RequestDeadLetterReplay: an operator (or the ERP) asks the bridge of a consumer to
// replay its dead letters without being on the bridge's machine. The server records the request
// (the `dead_letter_replays` table, DeadLetterReplayRows.swift), the bridge receives the pending
// ones in the answer to its next ReportBridgeStatus, replays them as `waybill erp-bridge replay`
// does, and reports the outcome in a later report, which marks the request done
// (`finishDeadLetterReplays`). GetBridgeStatus lists pending and recently finished requests.

import Foundation
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func requestDeadLetterReplay(_ request: Waybill_V1_DeadLetterReplayRequest, call: Call) {
        let domain = self.configuration.domain
        for (value, field) in [(request.consumer, "consumer"), (request.requestID, "request_id")] {
            if let error = Validation.checkIdentifier(value, field: field, limits: domain) {
                call.responder.respond(.failure(WaybillStatusError(error)))
                return
            }
        }
        if request.all == !request.eventIds.isEmpty {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "event_ids: give event ids or all (not both)",
                                                               details: .with { $0.field = "event_ids" })))
            return
        }
        guard self.within(call, request.eventIds.count, "deadLetterReplayEventIdsMax", self.transport.deadLetterReplayEventIdsMax, "event_ids")
        else { return }
        for (index, id) in request.eventIds.enumerated() {
            if let error = Validation.checkIdentifier(id, field: "event_ids[\(index)]", limits: domain) {
                call.responder.respond(.failure(WaybillStatusError(error)))
                return
            }
        }
        let pendingMax = self.transport.deadLetterReplayRequestsPendingMax
        let requestedBy = call.caller.name
        self.write(call, { context -> Waybill_V1_DeadLetterReplay in
            if var existing = try context.deadLetterReplay(requestID: request.requestID) {
                guard existing.consumer == request.consumer, existing.all == request.all, existing.eventIds == request.eventIds else {
                    throw DomainError(.alreadyExists, "request_id \"\(request.requestID)\" was already used for a different replay request",
                                      field: "request_id")
                }
                existing.alreadyRequested = true
                return existing
            }
            guard try context.bridgeReported(consumer: request.consumer) else {
                throw DomainError(.notFound, "consumer: no ERP bridge reported as \"\(request.consumer)\" (see GetBridgeStatus)", field: "consumer")
            }
            let pending = try context.pendingDeadLetterReplayCount(consumer: request.consumer)
            if pending >= pendingMax {
                throw DomainError(.resourceExhausted,
                                  "consumer: \(pending) replay requests of \"\(request.consumer)\" are pending, the most deadLetterReplayRequestsPendingMax allows; "
                                    + "wait for the bridge to carry them out", field: "consumer",
                                  limitName: "deadLetterReplayRequestsPendingMax", limitValue: Int64(pendingMax))
            }
            var replay = Waybill_V1_DeadLetterReplay()
            replay.requestID = request.requestID
            replay.consumer = request.consumer
            replay.eventIds = request.eventIds
            replay.all = request.all
            replay.status = .pending
            replay.requestedAtUnixMs = context.now.millisecondsSinceEpoch
            replay.requestedBy = requestedBy
            try context.saveDeadLetterReplay(replay)
            return replay
        }, respond: { .message($0) })
    }

    /// Marks done the consumer's pending requests whose outcome a status report carries; results
    /// of requests unknown, of another consumer or already done are ignored (a bridge repeats a
    /// result until the server stops listing its request as pending).
    func finishDeadLetterReplays(_ results: [Waybill_V1_DeadLetterReplay], consumer: String, context: WriteContext) throws {
        let listedMax = transport.deadLetterReplayEventIdsMax
        let textMax = configuration.domain.textBytesMax
        for result in results {
            guard var replay = try context.deadLetterReplay(requestID: result.requestID),
                  replay.consumer == consumer, replay.status == .pending else { continue }
            replay.status = .done
            replay.finishedAtUnixMs = context.now.millisecondsSinceEpoch
            replay.replayed = Array(result.replayed.prefix(listedMax))
            replay.stillFailing = result.stillFailing.prefix(listedMax).map { failure in
                var failure = failure
                failure.error = Validation.truncated(failure.error, bytesMax: textMax)
                return failure
            }
            replay.unknown = Array(result.unknown.prefix(listedMax))
            replay.replayedCount = max(result.replayedCount, UInt32(clamping: result.replayed.count))
            replay.stillFailingCount = max(result.stillFailingCount, UInt32(clamping: result.stillFailing.count))
            replay.unknownCount = max(result.unknownCount, UInt32(clamping: result.unknown.count))
            try context.saveDeadLetterReplay(replay)
        }
    }
}
