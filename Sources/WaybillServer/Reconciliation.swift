// ErpService.Reconcile: compare Waybill with an ERP extract and, on request, repair.
//
// The comparison reads committed state on a reader connection from a dispatch queue (never on
// an event loop or the cooperative pool). Repairs run as one writer job, all or nothing, and are
// idempotent by request_id; the engine re-checks each repair's condition inside the job.

import Dispatch
import WaybillCore
import WaybillProto
import WaybillStore

extension Services {
    func reconcile(_ call: Call, _ request: Waybill_V1_ReconcileRequest) {
        if request.repair || !request.requestID.isEmpty,
           let error = Validation.checkIdentifier(request.requestID, field: "request_id", limits: configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        let extract: ErpExtract
        do {
            extract = try ErpExtract(proto: request.extract)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let print = fingerprint(request.extract)
        DispatchQueue.global(qos: .utility).async {
            let result: ReconciliationResult
            var effective = extract
            do {
                // An extract without a time is taken as of now.
                if effective.asOf.millisecondsSinceEpoch == 0 { effective.asOf = self.configuration.clock() }
                let orders = try self.reader.allOrders()
                let onHand = try self.reader.ledgerOnHand(asOf: effective.asOf)
                result = Reconciler.reconcile(orders: orders, onHand: onHand, extract: effective)
            } catch {
                call.responder.respond(.from(error))
                return
            }
            self.logger.info("reconciliation", metadata: [
                "orders": "\(result.ordersCompared)", "stock_positions": "\(result.stockPositionsCompared)",
                "discrepancies": "\(result.discrepancies.count)", "repair": "\(request.repair)",
            ])
            guard request.repair else {
                call.responder.respond(lazy: { .message(result.report()) })
                return
            }
            let repairExtract = effective
            self.write(call, { context -> RepairOutcome in
                try context.atomically {
                    try context.engine.repair(result.discrepancies, extract: repairExtract, requestID: request.requestID,
                                              context: self.context(call, context, requestID: request.requestID, fingerprint: print),
                                              storage: context.engineStorage)
                }
            }, respond: { outcome in
                .message(result.report(repaired: outcome.repaired, repairedCount: outcome.repairedCount))
            })
        }
    }
}
