// The console's parts without a server: sessions and their expiry on an injected clock, CSV
// escaping, the live figures read from Prometheus text.

import Synchronization
import Testing
@testable import WaybillConsole

@Suite("Console parts")
struct ConsolePartsTests {
    @Test("a session ends after consoleSessionIdleSeconds unused and after consoleSessionLifetimeSeconds in any case")
    func sessionExpiry() {
        var configuration = ConsoleConfiguration()
        configuration.sessionIdleSeconds = 60
        configuration.sessionLifetimeSeconds = 300
        let clock = Mutex<Int64>(1_000)
        let sessions = ConsoleSessions(configuration: configuration, now: { clock.withLock { $0 } })
        guard case .success(let session) = sessions.open(token: "t") else { Issue.record("not opened"); return }
        clock.withLock { $0 += 59 }
        #expect(sessions.use(session.id) != nil, "used within the idle bound")
        for _ in 0..<4 {
            clock.withLock { $0 += 59 }
            #expect(sessions.use(session.id) != nil)
        }
        // 295 s after sign-in, used every 59 s: still live; 300 s: past the lifetime.
        clock.withLock { $0 += 5 }
        #expect(sessions.use(session.id) == nil, "past the lifetime, however recently used")
        guard case .success(let idle) = sessions.open(token: "t") else { Issue.record("not opened"); return }
        clock.withLock { $0 += 60 }
        #expect(sessions.use(idle.id) == nil, "idle for consoleSessionIdleSeconds")
        #expect(sessions.count == 0, "expired sessions are dropped")
    }

    @Test("consoleSessionsMax counts live sessions: expired ones make room")
    func sessionsMaxCountsLive() {
        var configuration = ConsoleConfiguration()
        configuration.sessionsMax = 2
        configuration.sessionIdleSeconds = 10
        let clock = Mutex<Int64>(0)
        let sessions = ConsoleSessions(configuration: configuration, now: { clock.withLock { $0 } })
        _ = sessions.open(token: "a")
        _ = sessions.open(token: "b")
        #expect(sessions.open(token: "c") == .failure(.full(2)))
        clock.withLock { $0 += 10 }
        if case .failure = sessions.open(token: "c") { Issue.record("expired sessions should make room") }
    }

    @Test("session ids and CSRF tokens are 256-bit random hex, never repeated; comparison is exact")
    func tokens() {
        let many = Set((0..<1000).map { _ in ConsoleSessions.randomToken() })
        #expect(many.count == 1000)
        #expect(many.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
        #expect(ConsoleSessions.tokensMatch("abc", "abc"))
        #expect(!ConsoleSessions.tokensMatch("abc", "abd"))
        #expect(!ConsoleSessions.tokensMatch("abc", "abcd"))
        #expect(!ConsoleSessions.tokensMatch("", "a"))
    }

    @Test("CSV: quotes, commas and line breaks are quoted; a cell that would run as a formula is defused")
    func csvEscaping() {
        var export = CSVExport(header: ["a", "b"])
        export.append(["plain", "with, comma"])
        export.append(["say \"hi\"", "two\nlines"])
        export.append(["=HYPERLINK(\"http://evil\")", "+1", ])
        export.append(["-2", "@sum"])
        #expect(export.rows == 4)
        #expect(export.text == "a,b\r\nplain,\"with, comma\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n\"'=HYPERLINK(\"\"http://evil\"\")\",'+1\r\n'-2,'@sum\r\n")
    }

    @Test("live figures sum the call counters, the captures and the writer queue from Prometheus text")
    func liveFigures() {
        let text = """
        # TYPE waybill_calls_total counter
        waybill_calls_total{method="/waybill.v1.OrderService/CaptureOrder",code="ok"} 40
        waybill_calls_total{method="/waybill.v1.OrderService/CaptureOrders",code="ok"} 2
        waybill_calls_total{method="/waybill.v1.OrderService/CaptureOrder",code="resource_exhausted"} 3
        waybill_calls_total{method="/waybill.v1.OrderService/GetOrder",code="ok"} 5
        waybill_call_duration_seconds_sum{method="/waybill.v1.OrderService/GetOrder",code="ok"} 0.25
        waybill_call_duration_seconds_sum{method="/waybill.v1.OrderService/CaptureOrder",code="ok"} 0.75
        waybill_writer_queue_depth 7
        """
        let figures = LiveFigures(prometheusText: text)
        #expect(figures.calls == 50)
        #expect(figures.ordersCaptured == 42)
        #expect(figures.callErrors == 3)
        #expect(figures.callSeconds == 1.0)
        #expect(figures.writerQueueDepth == 7)
    }
}
