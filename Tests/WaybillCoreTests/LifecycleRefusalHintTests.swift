// A refused lifecycle step names the next step: "cannot pick fulfillment W-…-F1 in state CREATED:
// release the fulfillment first (ReleaseFulfillment)". Every (state, action) refusal is driven
// through the engine; the hint must be a step the table allows, or say what may follow.
import Testing
import WaybillCore

struct LifecycleRefusalHintTests {
    @Test("known refusals read as a person expects", arguments: [
        (FulfillmentStatus.created, FulfillmentAction.pick, "release the fulfillment first (ReleaseFulfillment)"),
        (.created, .pack, "release the fulfillment first (ReleaseFulfillment)"),
        (.created, .deliver, "release the fulfillment first (ReleaseFulfillment)"),
        (.released, .deliver, "confirm the shipment first (ConfirmShipment)"),
        (.picked, .pick, "what may follow PICKED: ConfirmPack, ConfirmShipment, RejectFulfillment, CancelOrder or CancelLines"),
        (.packed, .reject, "what may follow PACKED: ConfirmShipment, CancelOrder or CancelLines"),
        (.shipped, .reject, "what may follow SHIPPED: ConfirmDelivery; to take units back, CreateReturn"),
        (.delivered, .ship, "the fulfillment is finished; to take units back, CreateReturn"),
        (.rejected, .pick, "the fulfillment is finished; its units were re-routed or backordered (GetOrder shows where)"),
        (.cancelled, .release, "the fulfillment is finished"),
    ])
    func knownHints(state: FulfillmentStatus, action: FulfillmentAction, expected: String) {
        #expect(FulfillmentAction.next(state, action) == nil)
        #expect(FulfillmentAction.nextStep(whenRefused: action, in: state) == expected)
    }

    @Test("every refusal through the engine ends with a hint the table agrees with",
          arguments: FulfillmentStatus.allCases, FulfillmentAction.allCases.filter { $0 != .cancel })
    func everyRefusal(state: FulfillmentStatus, action: FulfillmentAction) throws {
        guard FulfillmentAction.next(state, action) == nil else { return }
        let (harness, id, fid) = try FulfillmentStateMachineTests.orderWithFulfillment(in: state, method: .ship)
        let error = expectDomainError(.failedPrecondition) {
            _ = try harness.engine.apply(FulfillmentStateMachineTests.command(action, fid), to: id,
                                         context: harness.context(requestID: "refused", fingerprint: 1), storage: harness.storage)
        }
        let message = try #require(error?.message)
        let prefix = "cannot \(action.rawValue) fulfillment \(fid) in state \(state): "
        #expect(message.hasPrefix(prefix), "\(message)")
        let hint = String(message.dropFirst(prefix.count))
        if let named = FulfillmentAction.allCases.first(where: { hint.hasSuffix("first (\($0.callName))") }) {
            // The step named first is allowed now, and leads to a state where the refused action is allowed.
            let reached = try #require(FulfillmentAction.next(state, named), "\(state): \(hint)")
            let leads = Self.reaches(from: reached, stateAllowing: action)
            #expect(leads, "\(state) × \(action): \(hint)")
        } else {
            // Otherwise the hint lists exactly the steps the table allows from here (or says none remain).
            let allowed = FulfillmentAction.allCases.filter { FulfillmentAction.next(state, $0) != nil }
            if allowed.isEmpty {
                #expect(hint.hasPrefix("the fulfillment is finished"), "\(hint)")
            } else {
                #expect(hint.hasPrefix("what may follow \(state): " + allowed.map(\.callName).joined(separator: ", ")), "\(hint)")
            }
        }
    }

    /// Whether some sequence of steps from `state` reaches a state where `action` is allowed.
    static func reaches(from state: FulfillmentStatus, stateAllowing action: FulfillmentAction) -> Bool {
        var seen: Set<FulfillmentStatus> = [state]
        var pending = [state]
        while let current = pending.popLast() {
            if FulfillmentAction.next(current, action) != nil { return true }
            for step in FulfillmentAction.allCases {
                if let reached = FulfillmentAction.next(current, step), seen.insert(reached).inserted { pending.append(reached) }
            }
        }
        return false
    }

    @Test("a release refused by a hold names the hold as what to release first")
    func releaseOnHold() throws {
        let (harness, id, fid) = try FulfillmentStateMachineTests.orderWithFulfillment(in: .created, method: .ship)
        try harness.apply(.hold(.payment, note: "card declined"), to: id)
        let error = expectDomainError(.failedPrecondition) {
            try harness.apply(.releaseFulfillment(fid), to: id)
        }
        #expect(error?.message.hasSuffix("release the hold first (ReleaseHold)") == true, "\(String(describing: error))")
    }
}
