// The product-drop scenario (issue 15): its settings, a run in process that passes every check and
// reproduces by seed, and each of its checks failing on a planted violation.

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

func productDropScenario() throws -> Scenario {
    try Scenario.load(path: simulatorDirectory.appendingPathComponent("scenarios/product-drop.json").path)
}

/// The scenario file with `product_drop` replaced by `section` (JSON text).
func productDropVariant(_ section: String) throws -> URL {
    let text = try String(contentsOf: simulatorDirectory.appendingPathComponent("scenarios/product-drop.json"), encoding: .utf8)
    var json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    json["product_drop"] = try JSONSerialization.jsonObject(with: Data(section.utf8))
    json["geography"] = ["cities_file": simulatorDirectory.appendingPathComponent("data/us-cities.csv").path, "customer_cities": 300]
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("product-drop-\(getpid())-\(UUID().uuidString.prefix(8)).json")
    try JSONSerialization.data(withJSONObject: json).write(to: file)
    return file
}

/// Why loading the scenario file failed (nil: it loaded).
func refusal(_ file: URL) -> String? {
    do {
        _ = try Scenario.load(path: file.path)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct ProductDropScenarioTests {
    @Test func settingsDefaultAndRejectUnknownKeys() throws {
        let scenario = try productDropScenario()
        let drop = try #require(scenario.productDrop)
        #expect(drop.sku == "DROP-1" && drop.preorderCap == 120 && drop.receiptUnits == 150 && drop.arrivingUnits == 135)
        #expect(try smokeScenario().productDrop == nil, "absent: no campaign")

        let defaults = try productDropVariant("{}")
        defer { try? FileManager.default.removeItem(at: defaults) }
        #expect(try Scenario.load(path: defaults.path).productDrop == ProductDropConfig())

        let typo = try productDropVariant(#"{"preorder_capp": 5}"#)
        defer { try? FileManager.default.removeItem(at: typo) }
        #expect(refusal(typo)?.contains("preorder_capp") == true)

        let badWarehouse = try productDropVariant(#"{"warehouse": 7}"#)
        defer { try? FileManager.default.removeItem(at: badWarehouse) }
        #expect(refusal(badWarehouse)?.contains("warehouse 7") == true)

        let foreignChannel = try productDropVariant(#"{"channels": ["store_pos"]}"#)
        defer { try? FileManager.default.removeItem(at: foreignChannel) }
        #expect(refusal(foreignChannel)?.contains("store_pos") == true)
    }

    @Test func theDropItemJoinsTheItemMasterOnly() throws {
        let scenario = try productDropScenario()
        let (_, world) = try Simulation.prepare(scenario, options: SimulationOptions())
        let item = try #require(world.items.first { $0.sku == SKU("DROP-1") })
        #expect(item.preorder && item.preorderCap == 120)
        #expect(world.catalogue.last?.sku == SKU("DROP-1") && world.catalogue.last?.popularity == 0)
        #expect(world.popularityTable.count == scenario.catalogue.skus, "ordinary baskets never draw the drop")
        #expect(!world.initialStock.contains { world.catalogue[$0.sku].sku == SKU("DROP-1") }, "no opening stock")
    }
}

@Suite struct ProductDropRunTests {
    /// One in-process run of product-drop.json, shared by the tests below.
    actor Baseline {
        static let shared = Baseline()
        private var task: Task<SimulationOutcome, Error>?
        func outcome() async throws -> SimulationOutcome {
            if task == nil { task = Task { try await inProcess(try productDropScenario()) } }
            return try await task!.value
        }
    }

    func check(_ name: String, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        Checks.run(record, waybill).first { $0.name == name }!
    }

    /// The oldest pre-order as captured, its position among the captures, and its order's index in Waybill's orders.
    func oldestPreorder(_ baseline: SimulationOutcome) throws -> (capture: DropCapture, position: Int, order: Int) {
        let drop = try #require(baseline.record.productDrop)
        let position = try #require(drop.captures.firstIndex { $0.preordered > 0 })
        let order = try #require(baseline.waybill.orders.firstIndex { $0.captureSequence == drop.captures[position].sequence })
        return (drop.captures[position], position, order)
    }

    @Test func passesEveryCheckAndReproducesBySeed() async throws {
        let a = try await Baseline.shared.outcome()
        for check in a.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect(Set(Checks.productDropNames).isSubset(of: Set(a.report.checks.map(\.name))))
        let figures = try #require(a.report.productDrop)
        #expect(figures.preordersAccepted > 10)
        #expect(figures.preorderedUnits <= 120 && figures.preorderedWaitingMax <= 120)
        #expect(figures.preorderedWaitingMax >= 118, "demand fills the cap (to within an order of 2 units)")
        #expect(figures.backorderedBeyondCap + figures.refusedBeyondCap > 0, "some shoppers come after the cap is full")
        #expect(figures.unitsArrived == 135)
        #expect(figures.preordersServed == figures.preordersAccepted, "135 units arrived for at most 120 pre-ordered")
        #expect(figures.waitingAfterRun > 0, "backorders beyond what arrived still wait")
        #expect(figures.unitsShipped > 0 && figures.unitsShipped <= 135)

        let b = try await inProcess(try productDropScenario())
        #expect(a.report.digests.trace == b.report.digests.trace)
        #expect(a.report.digests.schedule == b.report.digests.schedule)
        #expect(a.report.digests.state == b.report.digests.state)
        #expect(a.report.productDrop == b.report.productDrop)
    }

    @Test func theCampaignDrawsFromItsOwnStream() async throws {
        // Without shoppers the drop adds no traffic: the ordinary traffic is the same draw for draw.
        var quiet = try productDropScenario()
        quiet.productDrop!.ordersPerHour = 0
        quiet.productDrop!.arrivalHour = 1
        quiet.durationHours = 1
        quiet.drainHours = 0.5
        var none = quiet
        none.productDrop = nil
        let a = try await inProcess(quiet), b = try await inProcess(none)
        #expect(a.report.digests.schedule == b.report.digests.schedule)
        #expect(a.report.orders.submitted == b.report.orders.submitted)
        #expect(a.report.productDrop?.shoppers == 0 && b.report.productDrop == nil)
    }

    @Test func aPolicyWithoutBackordersRefusesBeyondTheCap() async throws {
        var options = SimulationOptions()
        options.driver = .inProcess
        options.measureLatency = false
        let (scenario, world) = try Simulation.prepare(try productDropScenario(), options: options)
        var policy = RoutingPolicy.standard
        policy.name = "no-backorders"
        policy.allowBackorder = false
        let outcome = try Simulation.runInProcess(scenario, world: world, policy: policy, options: options)
        for check in outcome.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        let figures = try #require(outcome.report.productDrop)
        #expect(figures.preordersAccepted > 10 && figures.preorderedUnits <= 120, "pre-orders are taken even when the policy backorders nothing")
        #expect(figures.refusedBeyondCap > 0 && figures.backorderedBeyondCap == 0)
        #expect(figures.preordersServed == figures.preordersAccepted && figures.waitingAfterRun == 0)
    }

    @Test func allocationBeyondTheReceiptIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        record.productDrop!.unitsArrived = 10
        let result = check("preorders_within_receipt", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("DROP-1") && result.detail.contains("only 10 arrived"))
        // Seen during the run: an allocation before the receipt arrived.
        record = baseline.record
        record.violations.append((check: "preorders_within_receipt", detail: "W-00000042 (web-41) was allocated DROP-1 before the receipt arrived"))
        #expect(!check("preorders_within_receipt", record, baseline.waybill).passed)
    }

    @Test func capOverrunIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        record.productDrop!.preorderedWaitingMax = 121
        var result = check("preorder_cap_held", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("121 pre-ordered units waited at once"))
        // At the end: a waiting order holding more pre-ordered units than the cap.
        var waybill = baseline.waybill
        let index = try #require(waybill.orders.firstIndex { Checks.dropLine($0, SKU("DROP-1")) != nil })
        let line = waybill.orders[index].lines.firstIndex { $0.sku == SKU("DROP-1") }!
        waybill.orders[index].lines[line].preordered = 500
        result = check("preorder_cap_held", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("wait at the end"))
    }

    @Test func servingOutOfCaptureOrderIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        // The oldest pre-order, which was served, is made to still wait: younger ones were served past it.
        let (oldest, _, index) = try oldestPreorder(baseline)
        var waybill = baseline.waybill
        let line = waybill.orders[index].lines.firstIndex { $0.sku == SKU("DROP-1") }!
        #expect(waybill.orders[index].lines[line].quantities.backordered == 0, "served in the baseline")
        waybill.orders[index].lines[line].quantities.backordered = oldest.backordered
        let result = check("preorders_served_in_capture_order", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("the older \(oldest.orderID)"))
    }

    @Test func brokenPromisesAreCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        let drop = try #require(baseline.record.productDrop)
        let (oldest, position, index) = try oldestPreorder(baseline)
        var record = baseline.record
        record.productDrop!.captures[position].promisedAt = drop.expectedAt - 3_600_000
        var result = check("preorder_promises_kept", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains(oldest.orderID) && result.detail.contains("not after the receipt's expected date"))
        // Served (the receipt came early) with a fulfillment promising later than the pre-order did.
        var waybill = baseline.waybill
        let fulfillment = try #require(waybill.orders[index].fulfillments.firstIndex { $0.status != .cancelled && $0.status != .rejected })
        waybill.orders[index].fulfillments[fulfillment].promisedDeliveryAt = Timestamp(millisecondsSinceEpoch: oldest.promisedAt + 86_400_000)
        waybill.orders[index].fulfillments[fulfillment].transitDaysEstimate = 1
        result = check("preorder_promises_kept", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("later than the pre-order's promise"))
        // ... or processed later than the day after the receipt's expected day.
        waybill = baseline.waybill
        waybill.orders[index].fulfillments[fulfillment].processingDay = Timestamp(millisecondsSinceEpoch: drop.expectedAt).day + 2
        result = check("preorder_promises_kept", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("processed on day"))
    }
}

@Suite struct ProductDropLiveTests {
    /// The campaign against an embedded server: the receipt goes over ErpService as the ERP's
    /// credential, and the drivers play the same traffic.
    @Test func passesLiveAgainstAnEmbeddedServer() async throws {
        var scenario = try productDropScenario()
        scenario.durationHours = 1.5
        scenario.drainHours = 1
        scenario.productDrop!.arrivalHour = 1
        scenario.productDrop!.expectedArrivalHour = 2
        scenario.live.timeScale = 900
        var options = SimulationOptions()
        options.driver = .live
        let outcome = try await Simulation.run(scenario, options: options)
        for check in outcome.report.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect((outcome.report.latencyMs["ApplyExpectedReceipts"]?.count ?? 0) >= 2, "OPEN, then RECEIVED (again if an answer was lost)")
        let figures = try #require(outcome.report.productDrop)
        #expect(figures.preordersAccepted > 5 && figures.unitsArrived == 135)
        #expect(figures.preordersServed == figures.preordersAccepted, "135 units arrived for at most 120 pre-ordered")
        let reference = try await inProcess(scenario)
        #expect(outcome.report.digests.schedule == reference.report.digests.schedule)
        #expect(outcome.report.productDrop?.shoppers == reference.report.productDrop?.shoppers)
    }
}
