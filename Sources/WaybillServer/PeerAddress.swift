// The key per-peer limits count under (connections per peer, authentication throttling).

import NIOCore

enum PeerAddress {
    /// An IPv4 address ("203.0.113.7"); an IPv6 address's /64 ("2001:db8:1:2::/64"), since one
    /// host is commonly given a whole /64 and could otherwise take a fresh address per connection;
    /// an IPv4-mapped IPv6 address as its IPv4. Unix sockets and unknown peers share one key.
    static func key(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        switch address {
        case .v4:
            return address.ipAddress ?? "unknown"
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            guard bytes.count == 16 else { return address.ipAddress ?? "unknown" }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return bytes[12..<16].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        case .unixDomainSocket:
            return "unix"
        }
    }
}

extension PeerAddress {
    /// The same key from an address in text ("203.0.113.7", "2001:db8::1"; gRPC's remote peer).
    static func key(ipAddress: String) -> String {
        guard let address = try? SocketAddress(ipAddress: ipAddress, port: 0) else { return ipAddress.isEmpty ? "unknown" : ipAddress }
        return key(address)
    }
}
