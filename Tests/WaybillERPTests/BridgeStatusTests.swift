// bridge-status as the server keeps it: breaker state, last error with its time (cleared on
// recovery), dead letters waiting vs the running total, the report interval, and "stale" computed
// when read from the server's clock; and the alerting gauges in the server's Prometheus text.

import Foundation
import NIOHTTP1
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

@Suite("ERP bridge status", .serialized)
struct BridgeStatusTests {
    @Test("status: breaker open with the last error and its time while down, cleared on recovery; stale once reports stop")
    func statusThroughAnOutage() async throws {
        let clock = ManualClock()
        let down = Toggle(true)
        let bench = try await BridgeBench.start("bridge-status", clock: clock) { _, _ in down.isOn ? .status(.badGateway) : .ok }
        let consumer = "erp-status"
        let bridge = try bench.bridge(consumer: consumer)
        let running = Task { try await bridge.run() }
        _ = try await bench.client.captureOrder(TestNetwork.order("STATUS-1", [("SKU-1", 1)]))
        let head = try await bench.client.feedInfo().headOffset

        try await eventually("the server shows the paused bridge") {
            guard let status = try await bench.serverStatus(consumer) else { return false }
            return status.breakerState != .closed && status.consecutiveFailures >= 3
        }
        let paused = try #require(try await bench.serverStatus(consumer))
        #expect(paused.lastError.contains("502") && paused.lastErrorAtUnixMs > 0)
        #expect(paused.deadLettersWaiting == 0 && paused.deadLettered == 0)
        #expect(paused.reportIntervalMs == 50 && !paused.stale && paused.reportAgeMs == 0)
        #expect(paused.acknowledgedOffset < head && paused.lagEvents > 0)

        down.set(false)
        try await bridge.delivered(through: head)
        try await eventually("the server shows the recovered bridge") {
            guard let status = try await bench.serverStatus(consumer) else { return false }
            return status.breakerState == .closed && status.acknowledgedOffset == head
        }
        let recovered = try #require(try await bench.serverStatus(consumer))
        #expect(recovered.lastError.isEmpty && recovered.lastErrorAtUnixMs == 0 && recovered.consecutiveFailures == 0)
        #expect(recovered.lagEvents == 0 && recovered.retrying == 0)

        // The bridge stops (its last report goes out); the server's clock moves on.
        running.cancel()
        _ = await running.result
        #expect(try await bench.serverStatus(consumer)?.stale == false)
        clock.advance(3 * 50)
        #expect(try await bench.serverStatus(consumer)?.stale == false, "exactly three intervals old is not yet stale")
        clock.advance(1)
        let stale = try #require(try await bench.serverStatus(consumer))
        #expect(stale.stale && stale.reportAgeMs == 151)
        await bench.stop(nil)
    }

    @Test("stale: a report without an interval is judged by the 2-second default; what a reporter says about staleness is ignored")
    func staleDefaults() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("bridge-stale", clock: clock)
        let client = try await server.client()
        var report = Waybill_V1_BridgeStatus()
        report.consumer = "old-bridge"
        report.stale = true
        report.reportAgeMs = 99
        let saved: Waybill_V1_BridgeStatus = try await client.call(Method.ErpService.reportBridgeStatus, report)
        #expect(!saved.stale && saved.reportAgeMs == 0 && saved.reportedAtUnixMs == clock.milliseconds)
        func read() async throws -> Waybill_V1_BridgeStatus {
            var request = Waybill_V1_GetBridgeStatusRequest()
            request.consumer = "old-bridge"
            let list: Waybill_V1_BridgeStatusList = try await client.call(Method.ErpService.getBridgeStatus, request)
            return try #require(list.bridges.first)
        }
        #expect(try await read().stale == false)
        clock.advance(3 * 2_000)
        #expect(try await read().stale == false)
        clock.advance(1)
        let stale = try await read()
        #expect(stale.stale && stale.reportAgeMs == 6_001)
        await client.close()
        await server.stop()
    }

    @Test("metrics: dead letters waiting and delivery lag per consumer in the server's Prometheus text")
    func gauges() async throws {
        let directory = try temporaryDirectory("bridge-metrics")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(directory: directory)
        try await server.start()
        defer { server.kill() }
        let client = try await TestCredentials.connect(server.address)
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        let erp = ScriptedErp { message, _ in message.externalOrderId == "REFUSED" ? .status(.unprocessableEntity) : .ok }
        let port = try await erp.start()
        var configuration = BridgeConfiguration.signedWebhook(server: server.address, consumer: "erp-metrics", url: "http://127.0.0.1:\(port)/erp",
                                                              stateDirectory: directory + "/state")
        configuration.limits.statusIntervalMilliseconds = 20
        configuration.limits.ackIntervalMilliseconds = 10
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        _ = try await client.captureOrder(TestNetwork.order("REFUSED", [("SKU-1", 1)]))
        _ = try await client.captureOrder(TestNetwork.order("FINE", [("SKU-1", 1)]))
        let head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head)

        func metrics() async throws -> String {
            let text: Waybill_V1_MetricsText = try await client.call(Method.SystemService.getMetrics, Waybill_V1_GetMetricsRequest())
            return text.text
        }
        func value(_ text: String, _ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + "{consumer=\"erp-metrics\"}") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        try await eventually("the gauges show the report after the dead letter") {
            let text = try await metrics()
            return value(text, "waybill_erp_dead_letters_waiting") == 1 && value(text, "waybill_erp_delivery_lag_events") == 0
        }
        let text = try await metrics()
        #expect(value(text, "waybill_erp_delivery_lag_ms") == 0, "\(text)")
        #expect(value(text, "waybill_erp_breaker_open") == 0)
        running.cancel()
        _ = await running.result
        await client.close()
        await erp.stop()
    }
}
