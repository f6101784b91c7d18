// waybill.v1.CheckoutService: what Waybill would promise for a cart before it is an order.

import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    /// Answered on the event loop from committed state, one commit for every query of the call
    /// (FulfillmentPromising routes each option as a capture would): no writer job, nothing reserved.
    func getFulfillmentOptions(_ request: Waybill_V1_GetFulfillmentOptionsRequest, call: Call) {
        guard self.within(call, request.queries.count, "fulfillmentOptionQueriesPerCallMax",
                          self.transport.fulfillmentOptionQueriesPerCallMax, "queries") else {
            return
        }
        let now = self.configuration.clock()
        var response = Waybill_V1_GetFulfillmentOptionsResponse()
        response.evaluatedAtUnixMs = now.millisecondsSinceEpoch
        // Every query of the call against one commit.
        let state = CommittedStateCopy(of: request.queries.flatMap { $0.lines.map { SKU($0.sku) } }, from: self.writer.committed)
        response.results = request.queries.enumerated().map { index, query in
            var result = Waybill_V1_FulfillmentOptionsResult()
            result.queryID = query.queryID
            do {
                let field = "queries[\(index)]"
                try Self.checkCaptureScope(call.caller, query.channel, field: "\(field).channel")
                let answer = try FulfillmentPromising.options(
                    for: FulfillmentOptionsQuery(proto: query, field: field), limits: self.configuration.domain,
                    pickupStoresMax: self.transport.pickupStoresPerQueryMax, field: field, now: now, against: state)
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

// MARK: - Carts

extension Services {
    func reserveCart(_ request: Waybill_V1_ReserveCartRequest, call: Call) {
        let draft: CartDraft
        do {
            let key = try cartKey(call, request.channel, request.cartID)
            var fulfillment = RequestedFulfillment()
            switch request.fulfillment.method {
            case .unspecified, .ship: fulfillment.method = .ship
            case .pickup: fulfillment.method = .pickup
            case .UNRECOGNIZED(let value): throw DomainError.invalid("fulfillment.method", "unknown method \(value)")
            }
            fulfillment.pickupLocationID = request.fulfillment.pickupLocationID.isEmpty ? nil : LocationID(request.fulfillment.pickupLocationID)
            guard let level = request.fulfillment.serviceLevel == .unspecified ? .standard : ServiceLevel(rawValue: request.fulfillment.serviceLevel.rawValue) else {
                throw DomainError.invalid("fulfillment.service_level", "unknown service level \(request.fulfillment.serviceLevel.rawValue)")
            }
            fulfillment.serviceLevel = level
            draft = CartDraft(key: key,
                              lines: request.lines.map { DraftLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity, unitPrice: Money(proto: $0.unitPrice)) },
                              shipTo: request.hasShipTo ? Address(proto: request.shipTo) : Address(), fulfillment: fulfillment,
                              ttlMilliseconds: Int64(request.ttlSeconds) * 1_000)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        cartWrite(call) { context in
            try context.engine.reserveCart(draft, context: self.context(call, context), storage: context.engineStorage)
        }
    }

    func extendCart(_ request: Waybill_V1_ExtendCartRequest, call: Call) {
        let key: CartKey
        do { key = try cartKey(call, request.channel, request.cartID) } catch {
            call.responder.respond(.from(error))
            return
        }
        cartWrite(call) { context in
            try context.engine.extendCart(key, ttlMilliseconds: Int64(request.ttlSeconds) * 1_000, context: self.context(call, context),
                                          storage: context.engineStorage)
        }
    }

    func releaseCart(_ request: Waybill_V1_CartRequest, call: Call) {
        let key: CartKey
        do { key = try cartKey(call, request.channel, request.cartID) } catch {
            call.responder.respond(.from(error))
            return
        }
        cartWrite(call) { context in
            try context.engine.releaseCart(key, context: self.context(call, context), storage: context.engineStorage)
        }
    }

    func getCart(_ request: Waybill_V1_CartRequest, call: Call) {
        let key: CartKey
        do { key = try cartKey(call, request.channel, request.cartID) } catch {
            call.responder.respond(.from(error))
            return
        }
        reader.cartBytes(key) { result in
            self.answer(call, result) { bytes in
                guard let bytes else { return .failure(WaybillStatusError(.notFound, "cart \(key) not found")) }
                var output: [UInt8] = []
                appendLengthDelimitedField(1, bytes, to: &output)
                return .bytes(output)
            }
        }
    }

    /// The cart a request names: its channel must be one the caller may capture for.
    private func cartKey(_ call: Call, _ channel: Waybill_V1_Channel, _ cartID: String) throws -> CartKey {
        guard let value = Channel(proto: channel) else {
            throw DomainError.invalid("channel", "is required: one of \(Channel.allCases.map(\.name).joined(separator: ", "))")
        }
        try Self.checkCaptureScope(call.caller, channel, field: "channel")
        if let error = Validation.checkIdentifier(cartID, field: "cart_id", limits: configuration.domain) { throw error }
        return CartKey(channel: value, cartID: cartID)
    }

    /// A cart write: answered with the cart after the commit; its deadline goes to the sweeper.
    private func cartWrite(_ call: Call, _ body: @escaping (WriteContext) throws -> CartResult) {
        let expiry = cartExpiry
        write(call, { context in
            let result = try body(context)
            expiry.note(context.engine.nextCartDeadline)
            return result
        }, respond: { result in
            .message(Waybill_V1_CartResponse.with {
                $0.cart = result.cart.proto
                $0.replayed = result.replayed
            })
        })
    }
}
