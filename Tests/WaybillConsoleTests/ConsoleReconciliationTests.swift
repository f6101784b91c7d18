// The console's reconciliation runs (ListReconciliationRuns, GetReconciliationRun), over real HTTP
// against a real server: a reconciliation run as the erp credential is listed on the Integration
// page, its page shows its discrepancies (escaped), its CSV holds them (formulas defused), and a
// channel user neither sees the section nor opens a run.

import Foundation
import Testing
import WaybillApplication
import WaybillConsole
import WaybillProto
import WaybillWire

@Suite("Operator console: reconciliation runs", .serialized)
struct ConsoleReconciliationTests {
    static let erp = Caller(credentialID: "erp", name: "erp", role: .erp)

    /// The ERP says the web order is in a status a spreadsheet would run as a formula, and has a
    /// record of an order Waybill does not have, whose status is markup.
    static func reconcile(_ harness: ConsoleHarness) async throws -> Waybill_V1_ReconcileReport {
        let web = try #require(harness.orders["web"])
        var request = Waybill_V1_ReconcileRequest()
        request.scope.orders = .compare
        request.extract.orders = [
            .with {
                $0.orderID = web.orderID
                $0.erpDocumentNumber = "DOC-WEB"
                $0.status = "=SUM(1+1)"
                $0.lines = web.lines.map { line in .with { $0.sku = line.sku; $0.quantity = line.quantity } }
            },
            .with {
                $0.orderID = "W-99999999"
                $0.erpDocumentNumber = "DOC-GHOST"
                $0.status = "<b>ghost</b>"
            },
        ]
        return try await harness.server.callInProcess(Method.ErpService.reconcile, request, as: Self.erp)
    }

    @Test("a reconciliation run as erp is listed on the Integration page; its page lists its discrepancies; its CSV has the rows, formulas defused")
    func runListedAndShown() async throws {
        try await ConsoleHarness.with { harness in
            let report = try await Self.reconcile(harness)
            let web = try #require(harness.orders["web"]).orderID
            #expect(report.counts.first { $0.kind == .statusMismatch }?.count == 1)
            #expect(report.counts.first { $0.kind == .missingInWaybill }?.count == 1)
            let runs: Waybill_V1_ReconciliationRunList = try await harness.server.callInProcess(
                Method.ErpService.listReconciliationRuns, Waybill_V1_ListReconciliationRunsRequest(), as: .system)
            let run = try #require(runs.runs.first)

            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let integration = try await browser.get("/integration")
            #expect(integration.status == 200)
            #expect(integration.body.contains("Reconciliation runs") && integration.body.contains("href=\"/reconciliation/\(run.runID)\""))
            #expect(integration.body.contains("<td>erp</td>") && integration.body.contains("1 status mismatch"), "\(integration.body)")
            #expect(integration.body.contains("\(report.discrepanciesTotal)"))

            let page = try await browser.get("/reconciliation/\(run.runID)")
            #expect(page.status == 200)
            #expect(page.body.contains("href=\"/orders/\(web)\"") && page.body.contains("=SUM(1+1)"))
            #expect(page.body.contains("&lt;b&gt;ghost&lt;/b&gt;") && !page.body.contains("<b>ghost</b>"), "the ERP's text is escaped")
            #expect(page.body.contains("W-99999999") && page.body.contains("missing in waybill"))

            let csv = try await browser.get("/reconciliation/\(run.runID).csv")
            #expect(csv.status == 200 && csv.headers.first(name: "content-type")?.hasPrefix("text/csv") == true)
            let rows = csv.body.split(separator: "\r\n").map(String.init)
            #expect(rows.first == "kind,order_id,sku,location_id,waybill_value,erp_value,detail,repair_action,repaired")
            #expect(rows.count == 1 + Int(report.discrepanciesTotal), "\(rows)")
            #expect(rows.contains { $0.hasPrefix("status mismatch,\(web),") && $0.contains(",'=SUM(1+1),") }, "\(rows)")
            #expect(rows.contains { $0.hasPrefix("missing in waybill,W-99999999,") })

            let missing = try await browser.get("/reconciliation/run-09999999")
            #expect(missing.status == 404 && missing.body.contains("run-09999999"))
        }
    }

    @Test("a channel user sees no reconciliation runs and cannot open one")
    func channelRefused() async throws {
        try await ConsoleHarness.with { harness in
            _ = try await Self.reconcile(harness)
            let runs: Waybill_V1_ReconciliationRunList = try await harness.server.callInProcess(
                Method.ErpService.listReconciliationRuns, Waybill_V1_ListReconciliationRunsRequest(), as: .system)
            let run = try #require(runs.runs.first)
            let web = harness.browser()
            _ = try await web.signIn(harness.tokens["web"]!)
            let integration = try await web.get("/integration")
            #expect(!integration.body.contains("Reconciliation runs") && !integration.body.contains(run.runID))
            for path in ["/reconciliation/\(run.runID)", "/reconciliation/\(run.runID).csv"] {
                let refused = try await web.get(path)
                #expect(refused.status == 403 || refused.status == 404, "\(path): \(refused.status)")
                #expect(!refused.body.contains("W-99999999") && !refused.body.contains("SUM(1+1)"))
            }
        }
    }
}
