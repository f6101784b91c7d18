// What happens to a capture before the writer sees it: the draft is validated (a bad order never
// queues for the writer, which does not check it again) and routed ahead against the committed
// state (routing is the costliest part of a capture; the writer applies the plan only if it is
// still valid against the live state, else routes again itself: Engine.capture's `plannedAhead`).

import WaybillCore

public struct PreparedCapture: Sendable {
    public var draft: ValidatedDraft
    public var plan: AllocationPlan
}

public enum CapturePreparation {
    /// Validates `draft` under `limits` (errors name fields under `field`: "order", "orders[3]")
    /// and plans it against `state` at `now`. Throws the validation's DomainError.
    public static func prepare(_ draft: OrderDraft, limits: DomainLimits, field: String = "order", now: Timestamp,
                               against state: some CommittedStateView) throws -> PreparedCapture {
        let validated = try ValidatedDraft(draft, limits: limits, field: field)
        return PreparedCapture(draft: validated, plan: plan(validated.draft, now: now, against: state))
    }

    /// The plan routing would make for capturing `draft` at `now`, against `state`.
    public static func plan(_ draft: OrderDraft, now: Timestamp, against state: some CommittedStateView) -> AllocationPlan {
        state.routingSnapshot(of: draft.lines.map(\.sku)).route(Engine.captureRoutingRequest(draft, now: now))
    }
}
