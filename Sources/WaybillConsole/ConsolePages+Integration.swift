// Integration: the change feed's head and each consumer's position and lag, and each ERP
// bridge's status as it last reported it (delivery, retries, breaker, dead letters waiting).

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerIntegration(on router: Router<ConsoleContext>) {
        router.get("/integration") { request, context in
            try await self.page(request, context) { _, user in try await self.integrationPage(user, banner: nil) }
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
            values["bridges"] = bridges.bridges.map(BridgeView.row)
        }
        if let banner { values["banner"] = ["ok": banner.ok, "text": banner.text] }
        return views.page("integration", title: "Integration", user: user, status: status, values: values)
    }
}

enum BridgeView {
    static func row(_ bridge: Waybill_V1_BridgeStatus) -> [String: Any] {
        [
            "consumer": bridge.consumer, "target": bridge.target, "delivered": bridge.delivered, "retrying": bridge.retrying,
            "deadLettered": bridge.deadLettered, "waiting": bridge.deadLettersWaiting, "lag": bridge.lagEvents,
            "oldestPendingSeconds": bridge.oldestPendingAgeMs / 1000, "breaker": ConsoleFormat.words(bridge.breakerState),
            "lastError": bridge.lastError, "lastErrorAt": ConsoleFormat.time(bridge.lastErrorAtUnixMs),
            "reported": ConsoleFormat.time(bridge.reportedAtUnixMs), "stale": bridge.stale,
            "healthy": !bridge.stale && bridge.deadLettersWaiting == 0 && bridge.lastError.isEmpty,
        ]
    }
}
