// waybill.v1.CheckoutService: what Waybill would promise for a cart before it is an order.

import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillWire

extension Services {
    /// Answered on the event loop from committed state (FulfillmentPromising routes each option as
    /// a capture would): no writer job, nothing reserved.
    func getFulfillmentOptions(_ request: Waybill_V1_GetFulfillmentOptionsRequest, call: Call) {
        guard self.within(call, request.queries.count, "fulfillmentOptionQueriesPerCallMax",
                          self.transport.fulfillmentOptionQueriesPerCallMax, "queries") else {
            return
        }
        let now = self.configuration.clock()
        var response = Waybill_V1_GetFulfillmentOptionsResponse()
        response.evaluatedAtUnixMs = now.millisecondsSinceEpoch
        response.results = request.queries.enumerated().map { index, query in
            var result = Waybill_V1_FulfillmentOptionsResult()
            result.queryID = query.queryID
            do {
                let field = "queries[\(index)]"
                try Self.checkCaptureScope(call.caller, query.channel, field: "\(field).channel")
                let answer = try FulfillmentPromising.options(
                    for: FulfillmentOptionsQuery(proto: query, field: field), limits: self.configuration.domain,
                    pickupStoresMax: self.transport.pickupStoresPerQueryMax, field: field, now: now, against: self.writer.committed)
                result.status = WaybillStatusError(.ok, "").status
                result.options = answer.options.map(\.proto)
                result.policyVersion = answer.policyVersion
            } catch {
                result.status = statusError(error).status
            }
            return result
        }
        call.responder.respond(.message(response))
    }
}
