// The in-process simulator's committed state is its engine: every command there commits at once.

import WaybillCore

extension Engine: CommittedStateView {
    public func withInventory<T>(_ body: (borrowing InventoryBook) throws -> T) rethrows -> T {
        try body(state.inventory)
    }

    public var networkSnapshot: NetworkState { state.network }

    /// Shares the engine's storage (copy-on-write): release it before the engine's next command,
    /// or that command copies the whole book.
    public func routingSnapshot(of skus: [SKU]) -> RoutingSnapshot {
        RoutingSnapshot(router: router, policy: state.policy, network: state.network, capacity: state.capacity,
                        inventory: state.inventory)
    }
}
