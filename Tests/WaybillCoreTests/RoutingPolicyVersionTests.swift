// A routing policy sent again unchanged (a retried LoadNetwork or SetRoutingPolicy) keeps its
// version: each retry used to create a new version of the same policy.
import Testing
import WaybillCore

struct RoutingPolicyVersionTests {
    @Test("the policy in force sent again keeps its version and time; any change makes the next version")
    func identicalPolicyKeepsVersion() throws {
        let h = try Harness()
        var policy = RoutingPolicy.standard
        #expect(try h.engine.setPolicy(policy, context: h.context(), storage: h.storage).version == 1,
                "the built-in policy (version 0, never stored) set explicitly is stored as version 1")
        policy.name = "retried"
        let first = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage)
        #expect(first.version == 2)
        h.tick()
        let retried = try h.engine.setPolicy(policy, context: h.context(), storage: h.storage)
        #expect(retried.version == 2, "a retry is not a new version")
        #expect(retried.setAt == first.setAt, "nor a new time")
        policy.maxShipments = 0
        #expect(try h.engine.setPolicy(policy, context: h.context(), storage: h.storage).version == 2,
                "max_shipments 0 is the default 3: the same policy")

        policy.allowBackorder = false
        #expect(try h.engine.setPolicy(policy, context: h.context(), storage: h.storage).version == 3)
        policy.allowBackorder = true
        #expect(try h.engine.setPolicy(policy, context: h.context(), storage: h.storage).version == 4,
                "going back to an earlier policy is a change from the one in force")
        #expect(h.engine.policy.version == 4 && h.engine.policy.allowBackorder)
    }
}
