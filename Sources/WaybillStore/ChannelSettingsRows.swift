// Channel settings are a few integers per channel: they live in the meta table (one row per
// channel and setting) rather than in a table of their own, so no schema migration is needed.

import GRDB
import WaybillCore

extension MetaKey {
    static let channelUnknownItemsPrefix = "channel_unknown_items:"
    /// "channel_unknown_items:web" → UnknownItemHandling's raw value.
    static func channelUnknownItems(_ channel: Channel) -> String { channelUnknownItemsPrefix + channel.name }
}

enum ChannelSettingsRows {
    static func load(_ db: Database, into network: inout NetworkState) throws {
        for channel in Channel.allCases {
            guard let value = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?",
                                               arguments: [MetaKey.channelUnknownItems(channel)]) else { continue }
            guard let handling = UnknownItemHandling(rawValue: value) else {
                throw DatabaseError(message: "meta \(MetaKey.channelUnknownItems(channel)) = \(value): not an unknown-items setting")
            }
            network.set(ChannelSettings(channel: channel, unknownItems: handling))
        }
    }
}
