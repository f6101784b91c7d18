// Channel settings (NetworkModel.channel_settings) between protobuf and the core.

import WaybillCore

extension ChannelSettings {
    public init(proto s: Waybill_V1_ChannelSettings) throws(DomainError) {
        guard let channel = Channel(proto: s.channel) else {
            throw DomainError.invalid("channel", "a channel is required (web, mobile_app, marketplace, store_pos, call_centre, click_and_collect)")
        }
        self.init(channel: channel)
        switch s.unknownItems {
        case .unspecified, .refuse: unknownItems = .refuse
        case .hold: unknownItems = .hold
        case .UNRECOGNIZED(let value): throw DomainError.invalid("unknown_items", "unknown value \(value) (REFUSE or HOLD)")
        }
    }

    public var proto: Waybill_V1_ChannelSettings {
        var s = Waybill_V1_ChannelSettings()
        s.channel = channel.proto
        s.unknownItems = switch unknownItems {
        case .refuse: .refuse
        case .hold: .hold
        }
        return s
    }
}
