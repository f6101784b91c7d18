// The state the application layer decides against: what the last commit left. The server's
// `CommittedState` (WaybillStore) provides it to the event loops while the writer works on the
// next batch; the in-process simulator's `Engine` provides it directly (each command there is its
// own commit). Both answer every rule of this layer from it, so they answer alike.

import WaybillCore

public protocol CommittedStateView {
    /// Runs `body` with the committed balances (keep it short: the server's writer waits on it).
    func withInventory<T>(_ body: (borrowing InventoryBook) throws -> T) rethrows -> T
    /// The network as of the last commit: locations, whether each is active and what it sells to.
    var networkSnapshot: NetworkState { get }
    /// What routing a capture ahead needs, for the SKUs of its lines.
    func routingSnapshot(of skus: [SKU]) -> RoutingSnapshot
    /// Expected supply and the units waiting for it, as a new order with these SKUs would meet them.
    func supplyOutlook(of skus: [SKU]) -> SupplyOutlook
}

/// Everything routing reads, as of one commit: the router the writer uses (same limits, same
/// gazetteer), the policy in force, the network, capacity used and the balances of some SKUs.
public struct RoutingSnapshot: Sendable {
    public var router: Router
    public var policy: RoutingPolicy
    public var network: NetworkState
    public var capacity: CapacityBook
    public var inventory: InventoryBook

    public init(router: Router, policy: RoutingPolicy, network: NetworkState, capacity: CapacityBook, inventory: InventoryBook) {
        self.router = router
        self.policy = policy
        self.network = network
        self.capacity = capacity
        self.inventory = inventory
    }

    public func route(_ request: RoutingRequest) -> AllocationPlan {
        router.route(request, policy: policy, network: network, inventory: inventory, capacity: capacity)
    }
}

/// One commit's state, taken once for several reads (every query of one GetFulfillmentOptions
/// call): they all see the same commit, and the locks and copies are paid once.
public struct CommittedStateCopy: CommittedStateView {
    public let snapshot: RoutingSnapshot
    public let outlook: SupplyOutlook

    /// The state `skus` are read in, from `state` as of now.
    public init(of skus: [SKU], from state: some CommittedStateView) {
        snapshot = state.routingSnapshot(of: skus)
        outlook = state.supplyOutlook(of: skus)
    }

    public func withInventory<T>(_ body: (borrowing InventoryBook) throws -> T) rethrows -> T { try body(snapshot.inventory) }
    public var networkSnapshot: NetworkState { snapshot.network }
    /// The copy's snapshot: the balances of the SKUs it was taken for.
    public func routingSnapshot(of skus: [SKU]) -> RoutingSnapshot { snapshot }
    public func supplyOutlook(of skus: [SKU]) -> SupplyOutlook { outlook }
}
