// Order edits interleaved at random with captures, cancellations, holds, rejections, the
// fulfillment steps, stock changes and retries: the inventory workload's invariants (stock
// conserved per SKU × location, reserved = units of reservation-holding fulfillments, no
// reservation beyond what was available, every line unit accounted for, capacity ledger = live
// fulfillments, backorder index in step) hold after every step, with edits weighted heavily.
import Testing
import PropertyBased
import WaybillCore

struct OrderEditPropertyTests {
    /// A quarter of the steps are edits; the rest keep orders moving through their lifecycle.
    static let editHeavy: [(WorkloadKind, Int)] = [
        (.capture, 18), (.receipt, 8), (.adjustment, 3), (.transfer, 3), (.cancel, 8), (.advance, 17),
        (.reject, 5), (.createReturn, 2), (.receiveReturn, 2), (.hold, 6), (.snapshot, 2), (.retry, 1), (.edit, 25),
    ]

    @Test("random interleavings of captures, edits, cancels and lifecycle steps conserve stock and never oversell", .shrinking(false))
    func randomInterleavings() async throws {
        #expect(Self.editHeavy.reduce(0) { $0 + $1.1 } == 100)
        await propertyCheck(count: 10, input: Workload.generator(steps: 80...160, weights: Self.editHeavy)) { workload in
            let problems = try InventoryWorkloadPropertyTests.run(workload)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test("a long edit-heavy workload on a fixed seed: the ledger rebuilds the live balances", arguments: [UInt64(15), 2_027])
    func fixedSeeds(seed: UInt64) throws {
        var rng = seededRNG(seed)
        let workload = Workload.generator(steps: 400...400, weights: Self.editHeavy).run(using: &rng)
        let runner = try WorkloadRunner(workload)
        runner.run(workload.steps)
        #expect(runner.problems.isEmpty, "\(runner.problems.joined(separator: "\n"))")
        // Not blind: many edits were accepted, of every kind, and some re-routed units.
        let entries = runner.h.storage.orders.values.flatMap { $0.history.filter { $0.action == "edited" } }
        #expect(entries.count > 30, "\(entries.count) edits accepted of \(workload.steps.filter { $0.kind == .edit }.count)")
        for change in ["ship_to:", "service_level:", " quantity: ", " added: ", " sku: ", "locations:"] {
            #expect(entries.contains { $0.detail.contains(change) }, "no accepted edit changed \(change)")
        }
        #expect(runner.h.storage.orders.values.contains { $0.capturedContent != nil })
    }
}
