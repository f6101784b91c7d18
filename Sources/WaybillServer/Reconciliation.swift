// ErpService.Reconcile (see the ERP synchronisation issue).

import WaybillProto

extension Services {
    func reconcile(_ call: Call, _ request: Waybill_V1_ReconcileRequest) {
        call.responder.respond(.failure(WaybillStatusError(.unimplemented, "Reconcile is not implemented yet")))
    }
}
