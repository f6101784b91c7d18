// Who is calling: established from a credential (a bearer token, or a client certificate mapped
// to a credential), never from what the caller states. docs/SECURITY.md.

/// What a credential may do; the table of every RPC against every role is `AccessPolicy`.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// A sales channel (web, app, marketplace, POS, call centre): its own channels' orders.
    case channel
    /// A store or warehouse: fulfillments at its own locations.
    case fulfillment
    /// The ERP and its bridge: ErpService, inventory changes, the change feed, reconciliation.
    case erp
    /// Operators: the network, policies, credentials, server info, metrics, every read.
    case admin
}

/// An authenticated caller.
public struct Caller: Sendable, Hashable {
    /// The credential's stable id (feed consumers and audit refer to it).
    public var credentialID: String
    /// The credential's name: what order history, events and logs record as who made a change.
    public var name: String
    public var role: Role
    /// The channels a `channel` caller acts for (empty for other roles).
    public var channels: Set<String>
    /// The locations a `fulfillment` caller acts for (empty for other roles).
    public var locations: Set<String>

    public init(credentialID: String, name: String, role: Role, channels: Set<String> = [], locations: Set<String> = []) {
        self.credentialID = credentialID
        self.name = name
        self.role = role
        self.channels = channels
        self.locations = locations
    }

    /// Waybill itself, in process (the simulator's in-process engine, server-side jobs): an admin.
    public static let system = Caller(credentialID: "system", name: "system", role: .admin)

    /// Whether this caller may see and act on an order of `channel` whose fulfillments are at
    /// `fulfillmentLocations`. A caller that may not is answered NOT_FOUND, exactly as for an
    /// order that does not exist.
    public func maySee(orderChannel channel: String, fulfillmentLocations: some Sequence<String>) -> Bool {
        switch role {
        case .admin, .erp: return true
        case .channel: return channels.contains(channel)
        case .fulfillment: return fulfillmentLocations.contains { locations.contains($0) }
        }
    }

    /// Whether this caller may act at `location` (fulfillment steps, receiving a return).
    public func mayActAt(location: String) -> Bool {
        switch role {
        case .admin: return true
        case .fulfillment: return locations.contains(location)
        case .channel, .erp: return false
        }
    }

    /// Whether this caller may capture orders for `channel`.
    public func mayCapture(channel: String) -> Bool {
        switch role {
        case .admin: return true
        case .channel: return channels.contains(channel)
        case .fulfillment, .erp: return false
        }
    }
}
