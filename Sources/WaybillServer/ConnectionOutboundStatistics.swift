// Server-wide figures of connection back-pressure: how many answer bytes a connection ever had
// waiting to be sent, which connections stopped being read, and how many handlers hold state.

import Synchronization

public final class ConnectionOutboundStatistics: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// Connection handlers alive (their per-connection state not yet released).
        public var handlers = 0
        /// Connections whose requests are not being read now (too many answer bytes waiting).
        public var pausedConnections = 0
        /// Times any connection stopped being read.
        public var pauses = 0
        /// The most answer bytes any connection had waiting to be sent at once.
        public var outboundBytesPendingMax = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func handlerAdded() { state.withLock { $0.handlers += 1 } }
    func handlerRemoved() { state.withLock { $0.handlers -= 1 } }

    func paused(_ paused: Bool) {
        state.withLock { state in
            state.pausedConnections += paused ? 1 : -1
            if paused { state.pauses += 1 }
        }
    }

    /// A connection's pending bytes reached a new high for that connection.
    func observed(outboundBytesPending: Int) {
        state.withLock { $0.outboundBytesPendingMax = max($0.outboundBytesPendingMax, outboundBytesPending) }
    }
}
