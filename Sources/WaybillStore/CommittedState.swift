// What readers see: balances and network as of the last commit, behind a lock the writer holds
// only to copy in what a batch changed. Availability reads never wait for the writer's I/O.

import Synchronization
import WaybillApplication
import WaybillCore

/// The application layer's view of committed state (WaybillApplication.CommittedStateView).
public final class CommittedState: CommittedStateView, Sendable {
    private let inventory: Mutex<InventoryBook>
    private let network: Mutex<NetworkState>
    private let policy: Mutex<RoutingPolicy>
    private let capacity: Mutex<CapacityBook>
    private let supply: Mutex<SupplyBook>
    /// Units waiting per SKU, for the SKUs some open receipt expects (the only ones a new order's
    /// pre-order or supply promise depends on).
    private let waiting: Mutex<[SKU: WaitingTotals]>
    private let router: Router

    init(engine: Engine) {
        inventory = Mutex(engine.inventory)
        network = Mutex(engine.network)
        policy = Mutex(engine.policy)
        capacity = Mutex(engine.state.capacity)
        supply = Mutex(engine.state.supply)
        waiting = Mutex(Self.waitingTotals(engine))
        router = engine.router
    }

    private static func waitingTotals(_ engine: Engine) -> [SKU: WaitingTotals] {
        Dictionary(uniqueKeysWithValues: engine.state.supply.expectedSKUs.map { ($0, engine.state.backorders.totals($0)) })
    }

    /// What routing a capture ahead reads (off the writer thread): only the balances of `skus`
    /// are copied out. The writer applies a plan only if it is still valid (Engine.capture's `plannedAhead`).
    public func routingSnapshot(of skus: [SKU]) -> RoutingSnapshot {
        let book = inventory.withLock { $0.subset(skus) }
        let (network, policy, capacity) = (network.withLock { $0 }, policy.withLock { $0 }, capacity.withLock { $0 })
        return RoutingSnapshot(router: router, policy: policy, network: network, capacity: capacity, inventory: book)
    }

    func publish(changedSKUs: [SKU], changedWaiting: Set<SKU>, from engine: Engine, networkChanged: Bool) {
        if !changedSKUs.isEmpty { inventory.withLock { $0.adopt(changedSKUs, from: engine.inventory) } }
        if networkChanged {
            network.withLock { $0 = engine.network }
            inventory.withLock { $0.follow(engine.network) }
        }
        capacity.withLock { $0 = engine.state.capacity }
        if engine.policy.version != policy.withLock({ $0.version }) { policy.withLock { $0 = engine.policy } }
        // Receipts change rarely: the copy is taken only when they did.
        if engine.state.supply.version != supply.withLock({ $0.version }) {
            supply.withLock { $0 = engine.state.supply }
            waiting.withLock { $0 = Self.waitingTotals(engine) }
        } else if !changedWaiting.isEmpty {
            waiting.withLock { totals in
                for sku in changedWaiting where engine.state.supply.expects(sku) { totals[sku] = engine.state.backorders.totals(sku) }
            }
        }
    }

    func reload(from engine: Engine) {
        inventory.withLock { $0 = engine.inventory }
        network.withLock { $0 = engine.network }
        policy.withLock { $0 = engine.policy }
        capacity.withLock { $0 = engine.state.capacity }
        supply.withLock { $0 = engine.state.supply }
        waiting.withLock { $0 = Self.waitingTotals(engine) }
    }

    /// Runs `body` with the committed balances (keep it short: the writer waits on this lock).
    public func withInventory<T>(_ body: (borrowing InventoryBook) throws -> T) rethrows -> T {
        try inventory.withLock { try body($0) }
    }

    public var networkSnapshot: NetworkState { network.withLock { $0 } }
    public var currentPolicy: RoutingPolicy { policy.withLock { $0 } }
    /// The open expected receipts as of the last commit.
    public var supplySnapshot: SupplyBook { supply.withLock { $0 } }

    public func supplyOutlook(of skus: [SKU]) -> SupplyOutlook {
        let book = supplySnapshot
        let totals = waiting.withLock { totals in skus.compactMap { sku in totals[sku].map { (sku, $0) } } }
        return SupplyOutlook(supply: book, waiting: Dictionary(totals, uniquingKeysWith: { a, _ in a }))
    }
}
