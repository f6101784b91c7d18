// What the operator console listens on and the limits it keeps (docs/CONSOLE.md, "Limits").

/// The console's settings; every limit is named as in docs/CONSOLE.md and in its error messages.
public struct ConsoleConfiguration: Sendable {
    /// Loopback by default: a console reachable from elsewhere needs TLS in front of it and
    /// `secureCookies` (refused otherwise by `waybill serve` unless --insecure).
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 7404
    /// Signed-in sessions held at once (`consoleSessionsMax`); a sign-in beyond it is refused.
    public var sessionsMax = 256
    /// A session unused this long is signed out (`consoleSessionIdleSeconds`).
    public var sessionIdleSeconds: Int64 = 30 * 60
    /// A session is signed out this long after sign-in, used or not (`consoleSessionLifetimeSeconds`).
    public var sessionLifetimeSeconds: Int64 = 12 * 60 * 60
    /// Orders one bulk action may name (`consoleBulkOrdersMax`).
    public var bulkOrdersMax = 200
    /// Rows one CSV export may hold (`consoleCSVRowsMax`); the export says when it was cut.
    public var csvRowsMax = 20_000
    /// SearchOrders calls one CSV export of a search may make (`consoleCSVSearchCallsMax`): each
    /// examines at most searchCandidatesScannedMax orders, so a rare match over many orders stops
    /// here instead of walking the whole store; the export says when it was cut.
    public var csvSearchCallsMax = 100
    /// Rows per page of a list (`consolePageSize`).
    public var pageSize = 50
    /// Bytes a form may post (`consoleRequestBytesMax`).
    public var requestBytesMax = 64 * 1024
    /// Cookies carry `Secure` (set when the console is reached over TLS, e.g. behind a proxy).
    public var secureCookies = false
    /// Where simulation runs left their reports (`<dir>/<run>/report.json`); nil = no simulation pages.
    public var reportsDirectory: String?

    public init() {}
}
