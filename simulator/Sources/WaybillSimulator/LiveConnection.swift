// One of the live driver's connections, replaced when the server goes away: a killed server
// closes every connection, and a restarted one must be reached on a new one. Calls go out on the
// current client; a caller that saw its client's connection fail asks for a replacement, and one
// reconnect is attempted at a time per connection.

import NIOCore
import Synchronization
import WaybillClient

final class LiveConnection: Sendable {
    let host: String
    let port: Int
    let configuration: ClientConfiguration
    let group: any EventLoopGroup
    private struct State {
        var client: WaybillClient?
        var reconnecting = false
        var reconnects = 0
    }
    private let state: Mutex<State>

    private init(client: WaybillClient, host: String, port: Int, configuration: ClientConfiguration, group: any EventLoopGroup) {
        self.host = host
        self.port = port
        self.configuration = configuration
        self.group = group
        state = Mutex(State(client: client))
    }

    static func connect(host: String, port: Int, configuration: ClientConfiguration, group: any EventLoopGroup) async throws -> LiveConnection {
        let client = try await WaybillClient.connect(host: host, port: port, configuration: configuration, group: group)
        return LiveConnection(client: client, host: host, port: port, configuration: configuration, group: group)
    }

    /// The client to send on; nil while the server is unreachable (after a failed reconnect).
    var client: WaybillClient? { state.withLock { $0.client } }

    /// Connections made after the first.
    var reconnects: Int { state.withLock { $0.reconnects } }

    /// Replaces `failed` (the client whose connection failed; nil when none is connected) with a
    /// new connection, unless another caller already replaced it or is replacing it. One attempt:
    /// while the server is down it fails at once (connection refused) and the client stays nil.
    func reconnect(replacing failed: WaybillClient?) async {
        let claimed = state.withLock { state -> Bool in
            guard !state.reconnecting, state.client === failed else { return false }
            state.reconnecting = true
            state.client = nil
            return true
        }
        guard claimed else { return }
        let fresh = try? await WaybillClient.connect(host: host, port: port, configuration: configuration, group: group)
        state.withLock { state in
            state.client = fresh
            state.reconnecting = false
            if fresh != nil { state.reconnects += 1 }
        }
        if let failed { await failed.close() }
    }

    func close() async {
        let client = state.withLock { state -> WaybillClient? in
            defer { state.client = nil }
            return state.client
        }
        await client?.close()
    }
}
