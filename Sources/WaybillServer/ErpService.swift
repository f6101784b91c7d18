// waybill.v1.ErpService: messages from the ERP (item master, stock, acknowledgements, documents),
// applied once by message id, and the ERP bridge's status (its dead letters; replay requests in
// DeadLetterReplayService.swift). Reconciliation, and its recorded runs (ListReconciliationRuns,
// GetReconciliationRun), is in ReconciliationService.swift.

import Foundation
import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func applyItemMaster(_ request: Waybill_V1_ItemMasterMessage, call: Call) {
        guard self.within(call, request.items.count, "networkRecordsPerRequestMax", self.transport.networkRecordsPerRequestMax, "items") else { return }
        let print = fingerprint(request)
        applyOnce(call, messageID: request.messageID, fingerprint: print, subject: "item master") { context, result in
            for (index, proto) in request.items.enumerated() {
                try indexed("items[\(index)]") {
                    try context.engine.upsert(item: Item(proto: proto), context: self.context(call, context), storage: context.engineStorage)
                }
            }
            context.networkChanged = true
            result.applied = Int32(request.items.count)
        }
    }

    // applyStockSnapshot: StockSnapshotSlices.swift (applied in writer jobs of bounded size).

    func applyStockDeltas(_ request: Waybill_V1_StockDeltaMessage, call: Call) {
        guard self.within(call, request.changes.count, "inventoryChangesPerRequestMax",
                              self.transport.inventoryChangesPerRequestMax, "changes") else { return }
        let print = fingerprint(request)
        var changes: [InventoryChange] = []
        do {
            for (index, proto) in request.changes.enumerated() {
                var change = proto
                if change.changeID.isEmpty { change.changeID = "\(request.messageID)#\(index)" }
                changes.append(try indexed("changes[\(index)]") { try InventoryChange(proto: change, defaultKind: .adjustment) })
            }
        } catch {
            call.responder.respond(.from(error))
            return
        }
        applyOnce(call, messageID: request.messageID, fingerprint: print, subject: "stock deltas") { [changes] context, result in
            for (index, change) in changes.enumerated() {
                let outcome = try indexed("changes[\(index)]") {
                    try context.engine.applyInventoryChange(change, context: self.context(call, context, fingerprint: print.deriving(UInt64(index))),
                                                            storage: context.engineStorage)
                }
                result.positions += outcome.positions.map { $0.1.position($0.0) }
            }
            result.applied = Int32(changes.count)
        }
    }

    func applyExpectedReceipts(_ request: Waybill_V1_ExpectedReceiptsMessage, call: Call) {
        guard self.within(call, request.receipts.count, "expectedReceiptsPerMessageMax",
                          self.transport.expectedReceiptsPerMessageMax, "receipts") else { return }
        let print = fingerprint(request)
        let receipts: [ExpectedReceipt]
        do {
            receipts = try request.receipts.enumerated().map { index, proto in
                try indexed("receipts[\(index)]") { try ExpectedReceipt(proto: proto) }
            }
        } catch {
            call.responder.respond(.from(error))
            return
        }
        applyOnce(call, messageID: request.messageID, fingerprint: print, subject: "expected receipts") { [receipts] context, result in
            for (index, receipt) in receipts.enumerated() {
                _ = try indexed("receipts[\(index)]") {
                    try context.engine.applyExpectedReceipt(receipt, context: self.context(call, context, fingerprint: print.deriving(UInt64(index))),
                                                            storage: context.engineStorage)
                }
            }
            result.applied = Int32(receipts.count)
        }
    }

    func recordOrderAcknowledgement(_ request: Waybill_V1_ErpOrderAcknowledgement, call: Call) {
        let print = fingerprint(request)
        let status: ErpPostingStatus = request.postingStatus == .unspecified ? .pending
            : ErpPostingStatus(rawValue: request.postingStatus.rawValue) ?? .pending
        self.write(call, { context -> Waybill_V1_ErpMessageResult in
            let outcome = try context.engine.recordErpAcknowledgement(
                orderID: OrderID(request.orderID), documentNumber: request.erpDocumentNumber, status: status,
                messageID: request.messageID, context: self.context(call, context, fingerprint: print), storage: context.engineStorage)
            var result = Waybill_V1_ErpMessageResult()
            result.messageID = request.messageID
            result.replayed = outcome.replayed
            result.applied = outcome.replayed ? 0 : 1
            return result
        }, respond: { .message($0) })
    }

    func recordDocumentPosted(_ request: Waybill_V1_ErpDocumentPosted, call: Call) {
        let print = fingerprint(request)
        let document = ErpDocument(kind: request.document.kind, documentNumber: request.document.documentNumber,
                                   amount: request.document.hasAmount ? Money(proto: request.document.amount) : nil,
                                   postedAt: Timestamp(millisecondsSinceEpoch: request.document.postedAtUnixMs))
        if document.kind != "invoice" && document.kind != "credit_note" {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "document.kind: must be \"invoice\" or \"credit_note\"")))
            return
        }
        self.write(call, { context -> Waybill_V1_ErpMessageResult in
            let outcome = try context.engine.recordErpDocument(
                orderID: OrderID(request.orderID), document: document, messageID: request.messageID,
                context: self.context(call, context, fingerprint: print), storage: context.engineStorage)
            var result = Waybill_V1_ErpMessageResult()
            result.messageID = request.messageID
            result.replayed = outcome.replayed
            result.applied = outcome.replayed ? 0 : 1
            return result
        }, respond: { .message($0) })
    }

    func reportBridgeStatus(_ request: Waybill_V1_BridgeStatus, call: Call) {
        if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: self.configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        guard self.within(call, request.deadLetters.count, "bridgeDeadLettersReportedMax", self.transport.bridgeDeadLettersReportedMax, "dead_letters"),
              self.within(call, request.replayResults.count, "deadLetterReplayRequestsPendingMax",
                          self.transport.deadLetterReplayRequestsPendingMax, "replay_results") else { return }
        var status = request
        // Computed when read, never stored; replay requests live in their own table.
        status.stale = false
        status.reportAgeMs = 0
        status.replayRequests = []
        status.replayResults = []
        let results = request.replayResults
        self.write(call, { context in
            status.reportedAtUnixMs = context.now.millisecondsSinceEpoch
            try context.saveBridgeStatus(status)
            try self.finishDeadLetterReplays(results, consumer: status.consumer, context: context)
            var answer = status
            answer.replayRequests = try context.pendingDeadLetterReplays(consumer: status.consumer,
                                                                          limit: self.transport.deadLetterReplayRequestsPendingMax)
            return answer
        }, respond: { saved in
            self.metrics.bridgeReported(saved)
            return .message(saved)
        })
    }

    func getBridgeStatus(_ request: Waybill_V1_GetBridgeStatusRequest, call: Call) {
        let transport = self.transport
        self.blocking(call, {
            try self.reader.bridgeStatuses().filter { request.consumer.isEmpty || $0.consumer == request.consumer }.map { status in
                var status = status
                status.replayRequests = try self.reader.deadLetterReplays(consumer: status.consumer,
                                                                          pendingMax: transport.deadLetterReplayRequestsPendingMax,
                                                                          finishedMax: transport.deadLetterReplaysFinishedListedMax)
                return status
            }
        }) { statuses in
            var list = Waybill_V1_BridgeStatusList()
            let now = self.configuration.clock().millisecondsSinceEpoch
            list.bridges = statuses.map { BridgeStatusFreshness.annotated($0, nowUnixMs: now) }
            return .message(list)
        }
    }

    // requestDeadLetterReplay: DeadLetterReplayService.swift.

    /// An ERP message applied once by its id, all or nothing: a replay answers `replayed` and
    /// changes nothing; `body` applies it and fills the result, inside one savepoint with the record
    /// of the message id.
    func applyOnce(_ call: Call, messageID: String, fingerprint print: Fingerprint, subject: String,
                   _ body: @escaping @Sendable (WriteContext, inout Waybill_V1_ErpMessageResult) throws -> Void) {
        self.write(call, { context -> Waybill_V1_ErpMessageResult in
            var result = Waybill_V1_ErpMessageResult()
            result.messageID = messageID
            if try self.alreadyApplied(messageID, fingerprint: print, context: context) {
                result.replayed = true
                return result
            }
            try context.atomically {
                try body(context, &result)
                try self.markApplied(messageID, fingerprint: print, subject: subject, context: context)
            }
            return result
        }, respond: { .message($0) })
    }

    func alreadyApplied(_ messageID: String, fingerprint: Fingerprint, context: WriteContext) throws -> Bool {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: configuration.domain) { throw error }
        guard let record = try context.engineStorage.requestRecord("erp:" + messageID) else { return false }
        if record.fingerprint != fingerprint {
            throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
        }
        return true
    }

    func markApplied(_ messageID: String, fingerprint: Fingerprint, subject: String, context: WriteContext) throws {
        try context.engineStorage.recordRequest(RequestRecord(key: "erp:" + messageID, fingerprint: fingerprint, subject: subject, at: context.now))
    }
}
