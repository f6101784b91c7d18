// The simulated ERP builds its records with its own mapping (SimulatedErp), so "erp_reconciled"
// is an independent oracle: when the two sides map an order differently, the check fails.

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

@Suite("Simulated ERP oracle")
struct SimulatedErpOracleTests {
    @Test("a mapping that differs from Waybill's makes erp_reconciled fail")
    func wrongMappingIsCaught() async throws {
        let scenario = try shortScenario()
        // An ERP that records every order as "captured", whatever happened to it.
        let outcome = try await SimulatedErp.$statusNameOverride.withValue({ _ in "captured" }) {
            try await inProcess(scenario)
        }
        let check = try #require(outcome.report.checks.first { $0.name == "erp_reconciled" })
        #expect(!check.passed, "a wrong status mapping went unnoticed: \(check.detail)")
        #expect(outcome.record.reconciliation?.contains { $0.kind == .statusMismatch } == true)
    }

    @Test("the simulated ERP's mapping is written out status by status, as docs/ERP.md says")
    func mappingIsIndependent() {
        #expect(SimulatedErp.statusName(.partiallyShipped) == "partially_shipped")
        #expect(SimulatedErp.statusName(.onHold) == "on_hold")
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = "ORACLE-1"
        draft.lines = [DraftLine(lineID: "1", sku: SKU("A"), quantity: 3, unitPrice: Money(minorUnits: 1, currency: "EUR")),
                       DraftLine(lineID: "2", sku: SKU("B"), quantity: 1, unitPrice: Money(minorUnits: 1, currency: "EUR")),
                       DraftLine(lineID: "3", sku: SKU("A"), quantity: 2, unitPrice: Money(minorUnits: 1, currency: "EUR"))]
        var order = Order(id: OrderID("W-00000001"), draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: 1), captureSequence: 1)
        order.lines[0].quantities.cancelled = 1
        order.lines[1].quantities.cancelled = 1
        #expect(SimulatedErp.netLines(order) == [SKU("A"): 4])
    }
}
