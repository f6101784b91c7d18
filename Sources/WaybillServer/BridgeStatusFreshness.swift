// Whether an ERP bridge's last status report is recent enough to believe: computed when the status
// is read (GetBridgeStatus), from the server's clock, so a bridge that died shows as stale instead
// of as a healthy bridge frozen at its last report.

import WaybillProto

enum BridgeStatusFreshness {
    /// A status is stale once no report came for this many report intervals.
    static let bridgeStatusStaleReportIntervals: Int64 = 3
    /// The interval assumed for a bridge that did not say (the bridge's default statusIntervalMilliseconds).
    static let defaultReportIntervalMilliseconds: Int64 = 2_000

    /// Fills `report_age_ms` and `stale` as of `nowUnixMs`.
    static func annotated(_ status: Waybill_V1_BridgeStatus, nowUnixMs: Int64) -> Waybill_V1_BridgeStatus {
        var status = status
        let interval = status.reportIntervalMs > 0 ? status.reportIntervalMs : defaultReportIntervalMilliseconds
        status.reportAgeMs = max(0, nowUnixMs - status.reportedAtUnixMs)
        status.stale = status.reportAgeMs > bridgeStatusStaleReportIntervals * interval
        return status
    }
}
