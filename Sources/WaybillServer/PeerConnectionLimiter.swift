// connectionsPerPeerMax: open connections per peer address, on the frames and gRPC listeners
// together, so one host cannot take every slot of connectionsMax.

import NIOCore
import Synchronization
import WaybillProto

final class PeerConnectionLimiter: Sendable {
    let connectionsPerPeerMax: Int
    private let open = Mutex<[String: Int]>([:])

    init(connectionsPerPeerMax: Int) {
        self.connectionsPerPeerMax = connectionsPerPeerMax
    }

    /// Counts `channel` against its peer and uncounts it when it closes; false (nothing counted)
    /// when the peer already holds connectionsPerPeerMax connections.
    func admit(_ channel: any Channel) -> Bool {
        let peer = PeerAddress.key(channel.remoteAddress)
        guard admit(peer: peer) else { return false }
        channel.closeFuture.whenComplete { _ in self.release(peer: peer) }
        return true
    }

    func admit(peer: String) -> Bool {
        open.withLock { table in
            let count = table[peer, default: 0]
            guard count < connectionsPerPeerMax else { return false }
            table[peer] = count + 1
            return true
        }
    }

    func release(peer: String) {
        open.withLock { table in
            guard let count = table[peer] else { return }
            // Peers without connections leave the table: its size is bounded by connectionsMax.
            table[peer] = count > 1 ? count - 1 : nil
        }
    }

    func connections(peer: String) -> Int { open.withLock { $0[peer, default: 0] } }

    /// The refusal a connection over the limit gets (then it is closed).
    var refusal: WaybillStatusError {
        WaybillStatusError.limit(.resourceExhausted, name: "connectionsPerPeerMax", value: connectionsPerPeerMax,
                                 "too many connections from this address")
    }
}
