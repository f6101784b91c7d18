// Transport limits: named, defaulted, enforced at the boundary before buffering, reported by
// GetServerInfo. Domain limits (lines per order...) are WaybillCore.DomainLimits.

public struct TransportLimits: Hashable, Sendable {
    /// Largest frame (envelope bytes) accepted in either direction.
    public var frameBytesMax = 4 * 1024 * 1024
    /// Open connections; one more is answered RESOURCE_EXHAUSTED and closed.
    public var connectionsMax = 1_024
    /// Calls in flight on one connection; one more is answered RESOURCE_EXHAUSTED.
    public var callsInFlightPerConnectionMax = 1_024
    /// What a refusal at callsInFlightPerConnectionMax tells the client to wait (retry_after_ms):
    /// a slot frees as soon as one of its answers arrives.
    public var callsInFlightRetryAfterMilliseconds: Int64 = 10
    /// Answer bytes a connection may have waiting to be sent (unflushed or not yet taken by the
    /// socket). At this bound — or when the socket's write buffer passes its high water mark —
    /// the server stops reading the connection's requests until the client reads its answers.
    /// Calls already in flight still answer, so a connection holds at most this plus the answers
    /// of callsInFlightPerConnectionMax calls.
    public var connectionOutboundBytesMax = 4 * 1024 * 1024
    /// A connection with no call in flight and no frame for this long is closed.
    public var idleTimeoutMilliseconds: Int64 = 300_000
    /// Orders in one CaptureOrders call.
    public var ordersPerBatchMax = 1_000
    /// Carts in one GetFulfillmentOptions call.
    public var fulfillmentOptionQueriesPerCallMax = 100
    /// Pickup stores one GetFulfillmentOptions query asks about (named plus nearby).
    public var pickupStoresPerQueryMax = 20
    /// Receipts in one ErpService.ApplyExpectedReceipts message.
    public var expectedReceiptsPerMessageMax = 1_000
    /// Dead letters one ERP bridge status report lists (the oldest; the total is counted apart).
    public var bridgeDeadLettersReportedMax = 100
    /// Event ids in one ErpService.RequestDeadLetterReplay (and listed per outcome list).
    public var deadLetterReplayEventIdsMax = 1_000
    /// Replay requests one bridge consumer may have pending (not yet carried out).
    public var deadLetterReplayRequestsPendingMax = 16
    /// Finished replay requests GetBridgeStatus lists per bridge (the latest).
    public var deadLetterReplaysFinishedListedMax = 20
    /// Finished reconciliations the server keeps recorded (ListReconciliationRuns); the oldest go.
    public var reconciliationRunsKeptMax = 200
    /// Discrepancies one recorded reconciliation run keeps (the first in report order; the counts
    /// stay exact and the run says how many were dropped).
    public var reconciliationRunDiscrepanciesKeptMax = 1_000
    /// Orders per ListOrders page (and the default when the request says 0: 100).
    public var listPageSizeMax = 1_000
    public var listPageSizeDefault = 100
    /// Orders per SearchOrders page and entries per ListLocationQueue page (and the default when
    /// the request says 0: 50).
    public var searchPageSizeMax = 200
    public var searchPageSizeDefault = 50
    /// Candidate orders one SearchOrders call examines (each decoded and checked against every
    /// filter) before it answers what it found with a cursor to go on from.
    public var searchCandidatesScannedMax = 5_000
    /// SKUs in one GetAvailability call.
    public var availabilitySkusMax = 1_000
    /// SKU × location positions in one GetAvailability answer.
    public var availabilityPositionsMax = 100_000
    /// Inventory changes in one AdjustInventory / ReceiveInventory / ApplyStockDeltas call.
    public var inventoryChangesPerRequestMax = 10_000
    /// Locations, carriers or items in one upsert call (and in a network file).
    public var networkRecordsPerRequestMax = 100_000
    /// Stock levels in one ERP snapshot.
    public var snapshotLevelsMax = 1_000_000
    /// Events a subscriber may have unacknowledged; the stream pauses beyond it.
    public var subscriptionWindowEventsMax: UInt32 = 65_536
    public var subscriptionWindowEventsDefault: UInt32 = 4_096
    /// Events per stream frame.
    public var eventsPerFrameMax: UInt32 = 1_024
    public var eventsPerFrameDefault: UInt32 = 256
    /// Open subscriptions on the whole server.
    public var subscriptionsMax = 256
    /// Change-feed consumers one credential may own (each holds back outbox pruning until it
    /// acknowledges, so an unbounded number would let one caller stop retention for everyone).
    public var consumersPerCredentialMax = 8
    /// A filtered subscription (a channel caller's) acknowledges for its client the events it
    /// passed without sending, once it is this many past the stored acknowledgement and its client
    /// has acknowledged everything it was sent: such a consumer never holds back pruning by more.
    public var filteredAcknowledgementLagEventsMax = 1_024
    /// Metadata entries on one call (frames: RequestEnvelope.metadata; gRPC: custom headers).
    public var metadataEntriesMax = 16
    /// Bytes of one metadata key.
    public var metadataKeyBytesMax = 64
    /// Bytes of one metadata value (a bearer token is about 50).
    public var metadataValueBytesMax = 1_024
    /// Bytes of `client-id`: a software label for logs (`[A-Za-z0-9._-]`), not who acted.
    public var clientIDBytesMax = 64
    /// A frame whose first byte has arrived must be whole within this; otherwise the connection is
    /// closed. The idle timeout does not cover a client dribbling a frame one byte at a time.
    public var frameCompletionTimeoutMilliseconds: Int64 = 10_000
    /// Open connections from one peer address (an IPv4 address, or an IPv6 /64), on both
    /// listeners together; one more is answered RESOURCE_EXHAUSTED and closed.
    public var connectionsPerPeerMax = 256
    /// Failed authentications from one peer address within `authenticationFailureWindowMilliseconds`
    /// before that peer's calls are refused until the window ends.
    public var authenticationFailuresPerPeerMax = 20
    public var authenticationFailureWindowMilliseconds: Int64 = 60_000
    /// Peer addresses whose failures are remembered (the oldest window is forgotten first).
    public var authenticationThrottlePeersMax = 10_000

    public init() {}

    /// Every limit by name, for GetServerInfo and docs.
    public var named: [(name: String, value: Int64, description: String)] {
        [
            ("frameBytesMax", Int64(frameBytesMax), "largest frame accepted, in bytes"),
            ("connectionsMax", Int64(connectionsMax), "open connections"),
            ("callsInFlightPerConnectionMax", Int64(callsInFlightPerConnectionMax), "calls in flight per connection"),
            ("callsInFlightRetryAfterMilliseconds", callsInFlightRetryAfterMilliseconds, "retry_after_ms of a refusal at callsInFlightPerConnectionMax"),
            ("connectionOutboundBytesMax", Int64(connectionOutboundBytesMax), "unsent answer bytes per connection before its requests stop being read"),
            ("idleTimeoutMilliseconds", idleTimeoutMilliseconds, "idle connections are closed after this"),
            ("ordersPerBatchMax", Int64(ordersPerBatchMax), "orders per CaptureOrders call"),
            ("fulfillmentOptionQueriesPerCallMax", Int64(fulfillmentOptionQueriesPerCallMax), "carts per GetFulfillmentOptions call"),
            ("pickupStoresPerQueryMax", Int64(pickupStoresPerQueryMax), "pickup stores (named plus nearby) per fulfillment options query"),
            ("expectedReceiptsPerMessageMax", Int64(expectedReceiptsPerMessageMax), "receipts per ApplyExpectedReceipts message"),
            ("bridgeDeadLettersReportedMax", Int64(bridgeDeadLettersReportedMax), "dead letters one ERP bridge status report lists"),
            ("deadLetterReplayEventIdsMax", Int64(deadLetterReplayEventIdsMax), "event ids per RequestDeadLetterReplay"),
            ("deadLetterReplayRequestsPendingMax", Int64(deadLetterReplayRequestsPendingMax), "dead-letter replay requests pending per bridge consumer"),
            ("deadLetterReplaysFinishedListedMax", Int64(deadLetterReplaysFinishedListedMax), "finished replay requests GetBridgeStatus lists per bridge"),
            ("reconciliationRunsKeptMax", Int64(reconciliationRunsKeptMax), "finished reconciliation runs kept recorded (the latest)"),
            ("reconciliationRunDiscrepanciesKeptMax", Int64(reconciliationRunDiscrepanciesKeptMax), "discrepancies one recorded reconciliation run keeps"),
            ("listPageSizeMax", Int64(listPageSizeMax), "orders, movements or records per page"),
            ("searchPageSizeMax", Int64(searchPageSizeMax), "orders per SearchOrders page, entries per ListLocationQueue page"),
            ("searchCandidatesScannedMax", Int64(searchCandidatesScannedMax), "candidate orders one SearchOrders call examines"),
            ("availabilitySkusMax", Int64(availabilitySkusMax), "SKUs per GetAvailability call"),
            ("availabilityPositionsMax", Int64(availabilityPositionsMax), "positions per GetAvailability answer"),
            ("inventoryChangesPerRequestMax", Int64(inventoryChangesPerRequestMax), "changes per inventory call"),
            ("networkRecordsPerRequestMax", Int64(networkRecordsPerRequestMax), "records per network upsert"),
            ("snapshotLevelsMax", Int64(snapshotLevelsMax), "stock levels per ERP snapshot"),
            ("subscriptionWindowEventsMax", Int64(subscriptionWindowEventsMax), "unacknowledged events per subscription"),
            ("eventsPerFrameMax", Int64(eventsPerFrameMax), "events per change-feed frame"),
            ("subscriptionsMax", Int64(subscriptionsMax), "open change-feed subscriptions"),
            ("consumersPerCredentialMax", Int64(consumersPerCredentialMax), "change-feed consumers one credential may own"),
            ("filteredAcknowledgementLagEventsMax", Int64(filteredAcknowledgementLagEventsMax),
             "events a filtered subscription passes unseen before acknowledging them for its client"),
            ("metadataEntriesMax", Int64(metadataEntriesMax), "metadata entries per call"),
            ("metadataKeyBytesMax", Int64(metadataKeyBytesMax), "bytes of a metadata key"),
            ("metadataValueBytesMax", Int64(metadataValueBytesMax), "bytes of a metadata value"),
            ("clientIDBytesMax", Int64(clientIDBytesMax), "bytes of client-id ([A-Za-z0-9._-])"),
            ("frameCompletionTimeoutMilliseconds", frameCompletionTimeoutMilliseconds, "a frame begun must be whole within this"),
            ("connectionsPerPeerMax", Int64(connectionsPerPeerMax), "open connections per peer address"),
            ("authenticationFailuresPerPeerMax", Int64(authenticationFailuresPerPeerMax), "failed authentications per peer per window"),
            ("authenticationFailureWindowMilliseconds", authenticationFailureWindowMilliseconds, "window of authenticationFailuresPerPeerMax"),
            ("authenticationThrottlePeersMax", Int64(authenticationThrottlePeersMax), "peer addresses the throttle remembers"),
        ]
    }
}
