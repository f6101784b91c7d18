// The channel availability rule: what a sales channel may promise of a SKU.

import WaybillCore

/// Units of one SKU a channel may sell: the available units (on hand − reserved − safety stock,
/// never below zero) of every ACTIVE location that sells to the channel (a location with no
/// channel list sells to all). An inactive location's stock is promised to no one.
public struct ChannelAvailability: Sendable, Hashable {
    public var sku: SKU
    public var channel: Channel
    public var available: Int64
    /// Locations counted that have at least one unit available.
    public var locationsWithStock: Int32

    public init(_ sku: SKU, for channel: Channel, inventory: borrowing InventoryBook, network: NetworkState) {
        self.sku = sku
        self.channel = channel
        available = 0
        locationsWithStock = 0
        for entry in inventory.entries(for: sku) {
            guard let location = network.locations[entry.locationID], location.active, location.sells(to: channel) else { continue }
            let units = entry.balance.available
            available += units
            if units > 0 { locationsWithStock += 1 }
        }
    }
}

extension CommittedStateView {
    /// The rule for each of `skus`, as of the last commit.
    public func channelAvailability(of skus: [SKU], for channel: Channel) -> [ChannelAvailability] {
        let network = networkSnapshot
        return withInventory { book in skus.map { ChannelAvailability($0, for: channel, inventory: book, network: network) } }
    }
}
