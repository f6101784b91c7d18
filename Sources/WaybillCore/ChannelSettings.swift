// Per-channel settings of the network model: how a channel's orders are treated where channels
// differ in what they can promise (a marketplace listing may go live before the ERP's item
// master reaches Waybill; a web shop sells only what the item master has).

/// What capture does with a line whose SKU the item master does not know.
public enum UnknownItemHandling: Int, CaseIterable, Hashable, Sendable {
    /// Refused with INVALID_ARGUMENT naming the line (the default: such an order could never be served).
    case refuse = 1
    /// Captured on an ITEM_UNKNOWN hold that reserves nothing; lifted, and the order routed as a
    /// fresh capture would be, when the item master gains every SKU of the order as active items.
    case hold = 2

    public var name: String {
        switch self {
        case .refuse: "refuse"
        case .hold: "hold"
        }
    }
}

public struct ChannelSettings: Hashable, Sendable {
    public var channel: Channel
    public var unknownItems: UnknownItemHandling = .refuse

    public init(channel: Channel, unknownItems: UnknownItemHandling = .refuse) {
        self.channel = channel
        self.unknownItems = unknownItems
    }
}

extension Engine {
    /// Sets one channel's settings (replacing what it had). Orders already on an ITEM_UNKNOWN hold
    /// stay held when a channel goes back to `.refuse`: they were accepted, and wait for their items.
    public mutating func set(channelSettings settings: ChannelSettings, context: CommandContext,
                             storage: some EngineStorage) throws {
        state.network.set(settings)
        try storage.saveChannelSettings(settings)
    }
}
