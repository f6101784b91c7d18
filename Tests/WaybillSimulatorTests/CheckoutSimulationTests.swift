// Checkouts in the simulation (Model+Checkout.swift): a short run with options, carts and
// abandonment passes every check in-process and reproduces from its seed; each checkout check
// fails on a planted violation and names the cart or order.

import Foundation
import Testing
import WaybillCore
@testable import WaybillSimulator

@Suite struct CheckoutSimulationTests {
    /// The short smoke run (its scenario has checkouts), shared.
    actor Baseline {
        static let shared = Baseline()
        private var task: Task<SimulationOutcome, Error>?
        func outcome() async throws -> SimulationOutcome {
            if task == nil { task = Task { try await inProcess(try shortScenario(), seed: 7) } }
            return try await task!.value
        }
    }

    func check(_ name: String, _ record: SimulationRecord, _ waybill: WaybillState) -> CheckResult {
        Checks.run(record, waybill).first { $0.name == name }!
    }

    @Test func checkoutsPassEveryCheckAndReproduceFromTheSeed() async throws {
        let a = try await Baseline.shared.outcome()
        for result in a.report.checks { #expect(result.passed, "\(result.name): \(result.detail)") }
        let figures = try #require(a.report.kpis.checkout)
        #expect(figures.optionsAsked > 20)
        #expect(figures.cartsReserved > 10)
        #expect(figures.cartsConverted > 0)
        #expect(figures.cartsConvertedAsHeld > 0)
        #expect(figures.cartsExpired > 0, "abandoned carts expire on Waybill's side")
        #expect(figures.shoppersAbandoned > 0)
        #expect(figures.conversionRate > 0 && figures.conversionRate < 1)
        #expect(figures.cartsConverted + figures.cartsExpired + figures.cartsReleased <= figures.cartsReserved)
        // The checks compared promises on provably unchanged state, on both legs.
        let provable = a.record.promiseComparisons.filter(\.provable)
        #expect(provable.contains { $0.kind == .optionToCart })
        #expect(provable.contains { $0.kind == .cartToOrder })
        #expect(!a.record.cartExpiries.isEmpty)
        #expect(a.record.cartExpiries.allSatisfy { (0...SimulationModel.cartSweepIntervalMilliseconds).contains($0.expiredAt - $0.deadline) })
        #expect(a.waybill.carts.count >= figures.cartsReserved)
        // Abandoned shoppers are no orders.
        #expect(!a.record.orders.contains { $0.state == "abandoned" })

        let b = try await inProcess(try shortScenario(), seed: 7)
        #expect(a.report.digests.trace == b.report.digests.trace)
        #expect(a.report.digests.schedule == b.report.digests.schedule)
        #expect(a.report.digests.state == b.report.digests.state)
        #expect(a.report.kpis.checkout == b.report.kpis.checkout)
        #expect(a.record.promiseComparisons == b.record.promiseComparisons)
    }

    @Test func aLateExpiryIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let tolerance = record.cartExpiryToleranceMilliseconds
        record.cartExpiries.append(CartExpiryRecord(cart: "web/cart-late", deadline: 1_000_000, expiredAt: 1_000_000 + tolerance + 1))
        let result = check("carts_released_by_deadline", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("web/cart-late"))
        #expect(result.detail.contains("past its deadline"))
    }

    /// A cart holding `units` of the first stocked position.
    func plantedCart(_ waybill: WaybillState, id: String, status: CartStatus, expiresAt: Int64, units: Int32) -> Cart {
        let key = waybill.balances.keys.sorted().first { waybill.balances[$0]!.onHand > Int64(units) }!
        let shipment = PlannedShipment(locationID: key.locationID, lines: [FulfillmentLine(lineID: "1", sku: key.sku, quantity: units)],
                                       carrierID: "", carrierService: "", carrierResource: "", shippingCost: Money(minorUnits: 0, currency: "USD"),
                                       processingCost: Money(minorUnits: 0, currency: "USD"), transitDays: 0, processingDay: 0, score: 0)
        let at = Timestamp(millisecondsSinceEpoch: expiresAt)
        return Cart(key: CartKey(channel: .web, cartID: id), lines: [DraftLine(lineID: "1", sku: key.sku, quantity: units,
                                                                               unitPrice: Money(minorUnits: 100, currency: "USD"))],
                    shipTo: Address(), fulfillment: RequestedFulfillment(), status: status, reservations: [shipment], unallocated: [],
                    decision: nil, createdAt: at, updatedAt: at, expiresAt: at, orderID: nil, version: 1)
    }

    @Test func aCartHoldingStockPastItsDeadlineAtTheEndIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        let tolerance = baseline.record.cartExpiryToleranceMilliseconds
        waybill.carts.append(plantedCart(waybill, id: "cart-stuck", status: .active, expiresAt: waybill.clock - tolerance - 1, units: 2))
        let result = check("carts_released_by_deadline", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("web/cart-stuck still holds 2 units"))
        // Its units are not in Waybill's reserved balance: the ledger no longer equals orders + carts.
        let ledger = check("stock_conserved", baseline.record, waybill)
        #expect(!ledger.passed)
        #expect(ledger.detail.contains("active carts hold"))
    }

    @Test func anEndedCartStillHoldingUnitsIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        waybill.carts.append(plantedCart(waybill, id: "cart-expired-holding", status: .expired, expiresAt: waybill.clock - 60_000, units: 1))
        let result = check("carts_released_by_deadline", baseline.record, waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("web/cart-expired-holding is EXPIRED but holds 1 units"))
    }

    @Test func anActiveCartWithinItsDeadlineIsNoViolation() async throws {
        let baseline = try await Baseline.shared.outcome()
        var waybill = baseline.waybill
        waybill.carts.append(plantedCart(waybill, id: "cart-fresh", status: .active, expiresAt: waybill.clock + 60_000, units: 1))
        #expect(check("carts_released_by_deadline", baseline.record, waybill).passed)
    }

    @Test func aBrokenPromiseOnUnchangedStateIsCaught() async throws {
        let baseline = try await Baseline.shared.outcome()
        var record = baseline.record
        let day: Int64 = 1_764_201_600_000  // 2025-11-27
        // Not provable (state may have changed): no violation.
        record.promiseComparisons.append(PromiseComparison(kind: .optionToOrder, subject: "W-changed", expected: day, actual: day + 86_400_000, provable: false))
        #expect(check("promises_kept_for_unchanged_state", record, baseline.waybill).passed)
        record.promiseComparisons.append(PromiseComparison(kind: .cartToOrder, subject: "W-broken", expected: day, actual: day + 86_400_000, provable: true))
        let result = check("promises_kept_for_unchanged_state", record, baseline.waybill)
        #expect(!result.passed)
        #expect(result.detail.contains("cart→order W-broken: promised day 2025-11-27 was shown, 2025-11-28 given"))
    }

    @Test func checkoutSettingsAreValidated() throws {
        func load(_ checkout: String) throws -> Scenario {
            let json = #"{"channels": [{"channel": "web", "orders_per_hour": 10}], "checkout": \#(checkout)}"#
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let scenario = try decoder.decode(Scenario.self, from: Data(json.utf8))
            try scenario.validate()
            return scenario
        }
        #expect(try load("{}").checkout.enabled == false, "off unless a scenario asks for it")
        #expect(try load(#"{"options_rate": 0.5, "cart_rate": 0.5}"#).checkout.cartRate == 0.5)
        #expect(throws: ScenarioError.self) { try load(#"{"options_rate": 1.5}"#) }
        #expect(throws: ScenarioError.self) { try load(#"{"cart_ttl_seconds": 0}"#) }
        #expect(throws: ScenarioError.self) { try load(#"{"channels": ["fax"]}"#) }
        #expect(throws: ScenarioError.self) { try load(#"{"cart_rte": 0.5}"#) }
    }
}
