// Reconciliation runs: the Integration page lists the latest recorded runs
// (ErpService.ListReconciliationRuns); a run's page lists the discrepancies it kept
// (GetReconciliationRun: kind, order, SKU, location, what Waybill has and what the ERP has) with a
// CSV export of them (`/reconciliation/{runID}.csv`, at most consoleCSVRowsMax rows).

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerReconciliation(on router: Router<ConsoleContext>) {
        // One route for the page and its CSV: the run id never ends in ".csv".
        router.get("/reconciliation/:run") { request, context in
            try await self.page(request, context) { _, user in
                let run = try context.parameters.require("run")
                if run.hasSuffix(".csv") { return try await self.reconciliationCSV(String(run.dropLast(4)), user) }
                return try await self.reconciliationPage(run, user)
            }
        }
    }

    /// The latest runs for the Integration page (nil when the user may not list them).
    func latestReconciliationRuns(_ user: SignedIn) async throws -> [[String: Any]]? {
        guard user.may(Method.ErpService.listReconciliationRuns) else { return nil }
        var request = Waybill_V1_ListReconciliationRunsRequest()
        request.pageSize = Int32(clamping: configuration.pageSize)
        let list: Waybill_V1_ReconciliationRunList = try await user.backend.call(Method.ErpService.listReconciliationRuns, request)
        return list.runs.map(ReconciliationRunView.row)
    }

    private func reconciliationRun(_ id: String, _ user: SignedIn) async throws -> Waybill_V1_ReconciliationRun {
        var request = Waybill_V1_GetReconciliationRunRequest()
        request.runID = id
        return try await user.backend.call(Method.ErpService.getReconciliationRun, request)
    }

    private func reconciliationPage(_ id: String, _ user: SignedIn) async throws -> Response {
        let run = try await reconciliationRun(id, user)
        var values = ReconciliationRunView.row(run)
        values["discrepancies"] = run.discrepancies.map(ReconciliationRunView.discrepancy)
        values["kept"] = run.discrepancies.count
        values["dropped"] = run.discrepanciesDropped
        values["hasDropped"] = run.discrepanciesDropped > 0
        values["asOf"] = ConsoleFormat.time(run.asOfUnixMs)
        values["method"] = run.method
        values["requestID"] = run.requestID
        values["csv"] = "/reconciliation/\(run.runID).csv"
        return views.page("reconciliation", title: "Reconciliation \(run.runID)", user: user, values: values)
    }

    private func reconciliationCSV(_ id: String, _ user: SignedIn) async throws -> Response {
        let run = try await reconciliationRun(id, user)
        var export = CSVExport(header: ReconciliationRunView.csvHeader)
        for discrepancy in run.discrepancies.prefix(configuration.csvRowsMax) { export.append(ReconciliationRunView.csvRow(discrepancy)) }
        if run.discrepancies.count > configuration.csvRowsMax {
            export.append(["# cut at consoleCSVRowsMax = \(configuration.csvRowsMax) rows"])
        } else if run.discrepanciesDropped > 0 {
            export.append(["# the run kept \(run.discrepancies.count) of \(run.discrepanciesTotal) discrepancies (reconciliationRunDiscrepanciesKeptMax)"])
        }
        return ConsoleRendering.csv(export, filename: "reconciliation-\(run.runID).csv")
    }
}

/// A recorded reconciliation run as the Integration page and the run's page show it.
enum ReconciliationRunView {
    static func row(_ run: Waybill_V1_ReconciliationRun) -> [String: Any] {
        [
            "id": run.runID, "finished": ConsoleFormat.time(run.finishedAtUnixMs), "started": ConsoleFormat.time(run.startedAtUnixMs),
            "by": run.runBy, "scope": scope(run.scope), "repair": run.repair, "replayed": run.replayed, "repaired": run.repaired,
            "orders": run.ordersCompared, "stock": run.stockPositionsCompared, "total": run.discrepanciesTotal,
            "counts": counts(run.counts),
        ]
    }

    /// "2 status mismatch, 1 quantity mismatch" (kinds found only), "" when none.
    static func counts(_ counts: [Waybill_V1_DiscrepancyCount]) -> String {
        counts.filter { $0.count > 0 }.map { "\($0.count) \(ConsoleFormat.words($0.kind))" }.joined(separator: ", ")
    }

    /// "orders and stock · locations DC-1, STORE-NYC · captured from … to … · channels web".
    static func scope(_ scope: Waybill_V1_ReconcileScope) -> String {
        let orders = scope.orders == .compare, stock = scope.stock == .compare
        var parts = [orders && stock ? "orders and stock" : orders ? "orders" : stock ? "stock" : "nothing compared"]
        if !scope.locationIds.isEmpty { parts.append("locations " + scope.locationIds.joined(separator: ", ")) }
        if scope.fromUnixMs != 0 || scope.toUnixMs != 0 {
            let field = scope.timeField == .updatedAt ? "updated" : "captured"
            let from = scope.fromUnixMs == 0 ? "" : " from " + ConsoleFormat.time(scope.fromUnixMs)
            let to = scope.toUnixMs == 0 ? "" : " before " + ConsoleFormat.time(scope.toUnixMs)
            parts.append(field + from + to)
        }
        if !scope.channels.isEmpty { parts.append("channels " + scope.channels.map { ConsoleFormat.words($0) }.joined(separator: ", ")) }
        return parts.joined(separator: " · ")
    }

    static func discrepancy(_ discrepancy: Waybill_V1_Discrepancy) -> [String: Any] {
        [
            "kind": ConsoleFormat.words(discrepancy.kind), "order": discrepancy.orderID, "sku": discrepancy.sku,
            "location": discrepancy.locationID, "waybill": discrepancy.waybillValue, "erp": discrepancy.erpValue,
            "detail": discrepancy.detail, "action": discrepancy.repairAction, "repaired": discrepancy.repaired,
        ]
    }

    static let csvHeader = ["kind", "order_id", "sku", "location_id", "waybill_value", "erp_value", "detail", "repair_action", "repaired"]

    static func csvRow(_ discrepancy: Waybill_V1_Discrepancy) -> [String] {
        [ConsoleFormat.words(discrepancy.kind), discrepancy.orderID, discrepancy.sku, discrepancy.locationID, discrepancy.waybillValue,
         discrepancy.erpValue, discrepancy.detail, discrepancy.repairAction, discrepancy.repaired ? "true" : "false"]
    }
}
