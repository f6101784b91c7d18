// Integration: the change feed's head and each consumer's position and lag, each ERP bridge's
// status as it last reported it (delivery, retries, breaker), its dead letters with their reason,
// and replaying them (ErpService.RequestDeadLetterReplay: the bridge carries the request out with
// its next report; the page lists pending and finished requests with their outcome), and the latest
// reconciliation runs (ConsolePages+Reconciliation.swift).

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerIntegration(on router: Router<ConsoleContext>) {
        router.get("/integration") { request, context in
            try await self.page(request, context) { _, user in try await self.integrationPage(user, banner: nil) }
        }
        router.post("/integration/replay") { request, context in
            try await self.action(request, context) { request, user in try await self.replay(request, user) }
        }
    }

    func integrationPage(_ user: SignedIn, banner: (ok: Bool, text: String)?, status: HTTPResponse.Status = .ok) async throws -> Response {
        let feed: Waybill_V1_FeedInfo = try await user.backend.call(Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest())
        var values: [String: Any] = [
            "head": feed.headOffset,
            "earliest": feed.earliestOffset,
            "consumers": feed.consumers.map { consumer -> [String: Any] in
                ["name": consumer.consumer, "acknowledged": consumer.acknowledgedOffset, "lag": consumer.lagEvents,
                 "at": ConsoleFormat.time(consumer.acknowledgedAtUnixMs), "connected": consumer.connected]
            },
            "requestID": ConsoleSessions.randomToken(),
        ]
        if user.may(Method.ErpService.getBridgeStatus) {
            let bridges: Waybill_V1_BridgeStatusList = try await user.backend.call(Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest())
            let mayReplay = user.may(Method.ErpService.requestDeadLetterReplay)
            values["bridges"] = bridges.bridges.map { BridgeView.row($0, mayReplay: mayReplay) }
        }
        if let runs = try await latestReconciliationRuns(user) {
            values["mayRuns"] = true
            values["runs"] = runs
        }
        if let banner { values["banner"] = ["ok": banner.ok, "text": banner.text] }
        return views.page("integration", title: "Integration", user: user, status: status, values: values)
    }

    /// Asks a bridge to replay the selected dead letters (or all of them); the request id comes
    /// with the page, so posting the same form twice records one request.
    private func replay(_ request: Request, _ user: SignedIn) async throws -> Response {
        struct Form: Decodable {
            var requestID: String
            var consumer: String
            var events: [String]?
            var all: String?
            enum CodingKeys: String, CodingKey { case requestID = "request_id", consumer, events, all }
        }
        let form = try await decodeForm(Form.self, request)
        var replay = Waybill_V1_DeadLetterReplayRequest()
        replay.requestID = form.requestID
        replay.consumer = form.consumer
        replay.all = form.all != nil
        replay.eventIds = replay.all ? [] : form.events ?? []
        guard replay.all || !replay.eventIds.isEmpty else {
            return try await integrationPage(user, banner: (false, "Select at least one dead letter, or replay all."), status: .badRequest)
        }
        do {
            let recorded: Waybill_V1_DeadLetterReplay = try await user.backend.call(Method.ErpService.requestDeadLetterReplay, replay)
            let what = recorded.all ? "every dead letter" : "\(recorded.eventIds.count) dead letter\(recorded.eventIds.count == 1 ? "" : "s")"
            let text = recorded.alreadyRequested
                ? "Replay \(recorded.requestID) was already requested; nothing new recorded."
                : "Replay of \(what) of \(recorded.consumer) requested (\(recorded.requestID)); the bridge carries it out with its next report."
            return try await integrationPage(user, banner: (true, text))
        } catch let error as WaybillStatusError {
            return try await integrationPage(user, banner: (false, "\(ConsoleFormat.words(error.code)): \(error.message)"),
                                             status: Self.httpStatus(error.code))
        }
    }
}

enum BridgeView {
    static func row(_ bridge: Waybill_V1_BridgeStatus, mayReplay: Bool) -> [String: Any] {
        [
            "consumer": bridge.consumer, "target": bridge.target, "delivered": bridge.delivered, "retrying": bridge.retrying,
            "deadLettered": bridge.deadLettered, "waiting": bridge.deadLettersWaiting, "lag": bridge.lagEvents,
            "oldestPendingSeconds": bridge.oldestPendingAgeMs / 1000, "breaker": ConsoleFormat.words(bridge.breakerState),
            "lastError": bridge.lastError, "lastErrorAt": ConsoleFormat.time(bridge.lastErrorAtUnixMs),
            "reported": ConsoleFormat.time(bridge.reportedAtUnixMs), "stale": bridge.stale,
            "healthy": !bridge.stale && bridge.deadLettersWaiting == 0 && bridge.lastError.isEmpty,
            "letters": bridge.deadLetters.map(letter), "hasLetters": !bridge.deadLetters.isEmpty,
            "hasReplays": !bridge.replayRequests.isEmpty,
            "listedFewer": UInt64(bridge.deadLetters.count) < bridge.deadLettersWaiting,
            "listed": bridge.deadLetters.count,
            "replays": bridge.replayRequests.map(replay),
            "mayReplay": mayReplay && bridge.deadLettersWaiting > 0,
        ]
    }

    static func letter(_ letter: Waybill_V1_ReportedDeadLetter) -> [String: Any] {
        [
            "event": letter.eventID, "offset": letter.offset, "type": letter.eventType, "order": letter.orderID,
            "aggregate": letter.orderID.isEmpty ? "\(letter.aggregateType) \(letter.aggregateID)" : "",
            "kind": ConsoleFormat.words(letter.kind), "parked": letter.kind == .parked,
            "reason": letter.reason, "attempts": letter.attempts, "at": ConsoleFormat.time(letter.deadLetteredAtUnixMs),
        ]
    }

    static func replay(_ replay: Waybill_V1_DeadLetterReplay) -> [String: Any] {
        [
            "id": replay.requestID, "done": replay.status == .done,
            "what": replay.all ? "all" : replay.eventIds.joined(separator: ", "),
            "requested": ConsoleFormat.time(replay.requestedAtUnixMs), "by": replay.requestedBy,
            "finished": ConsoleFormat.time(replay.finishedAtUnixMs),
            "replayed": replay.replayedCount, "stillFailing": replay.stillFailingCount, "unknown": replay.unknownCount,
            "failures": replay.stillFailing.map { ["event": $0.eventID, "error": $0.error] },
        ]
    }
}
