// What readers see: balances and network as of the last commit, behind a lock the writer holds
// only to copy in what a batch changed. Availability reads never wait for the writer's I/O.

import Synchronization
import WaybillCore

public final class CommittedState: Sendable {
    private let inventory: Mutex<InventoryBook>
    private let network: Mutex<NetworkState>
    private let policy: Mutex<RoutingPolicy>

    init(engine: Engine) {
        inventory = Mutex(engine.inventory)
        network = Mutex(engine.network)
        policy = Mutex(engine.policy)
    }

    func publish(changed: Set<InventoryKey>, from engine: Engine, networkChanged: Bool) {
        if !changed.isEmpty {
            inventory.withLock { book in
                for key in changed {
                    let balance = engine.inventory.balance(key.sku, at: key.locationID)
                    book.update(key.sku, key.locationID) { $0 = balance }
                }
                _ = book.drainChangedKeys()
            }
        }
        if networkChanged { network.withLock { $0 = engine.network } }
        if engine.policy.version != policy.withLock({ $0.version }) { policy.withLock { $0 = engine.policy } }
    }

    func reload(from engine: Engine) {
        inventory.withLock { $0 = engine.inventory }
        network.withLock { $0 = engine.network }
        policy.withLock { $0 = engine.policy }
    }

    /// Runs `body` with the committed balances (keep it short: the writer waits on this lock).
    public func withInventory<T>(_ body: (borrowing InventoryBook) throws -> T) rethrows -> T {
        try inventory.withLock { try body($0) }
    }

    public var networkSnapshot: NetworkState { network.withLock { $0 } }
    public var currentPolicy: RoutingPolicy { policy.withLock { $0 } }
}
