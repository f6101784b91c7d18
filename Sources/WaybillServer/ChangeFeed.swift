// The change feed: committed outbox events pushed to subscribers the moment the writer commits.
//
// Memory is bounded twice: the hub keeps only the newest `feedMemoryEventsMax` events (older
// ones are read back from SQLite on a reader connection), and each subscription sends at most
// `window` events beyond its consumer's acknowledged offset and only while its socket is
// writable. A stalled consumer therefore costs nothing but its position.

import Dispatch
import NIOCore
import Synchronization
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

/// Something a connection (or a gRPC call) must tell when it cancels or becomes writable again.
protocol StreamCall: AnyObject {
    func cancel()
    func writable()
}

final class ChangeFeedHub: Sendable {
    struct State {
        var recent: [CommittedEvent] = []
        /// Index in `recent` of the oldest kept event (ring by compaction).
        var start = 0
        var head: UInt64
        var subscriptions: [ObjectIdentifier: FeedSubscription] = [:]
    }

    let memoryEventsMax: Int
    let reader: StoreReader
    private let state: Mutex<State>

    init(head: UInt64, memoryEventsMax: Int, reader: StoreReader) {
        self.memoryEventsMax = memoryEventsMax
        self.reader = reader
        state = Mutex(State(head: head))
    }

    var head: UInt64 { state.withLock { $0.head } }
    var subscriptionCount: Int { state.withLock { $0.subscriptions.count } }
    func connectedConsumers() -> Set<String> { state.withLock { Set($0.subscriptions.values.map(\.consumer)) } }

    /// From the writer thread, after the commit.
    func publish(_ events: [CommittedEvent]) {
        let subscriptions = state.withLock { state -> [FeedSubscription] in
            state.recent.append(contentsOf: events)
            state.head = events.last?.offset ?? state.head
            let excess = state.recent.count - state.start - memoryEventsMax
            if excess > 0 { state.start += excess }
            if state.start > memoryEventsMax {
                state.recent.removeFirst(state.start)
                state.start = 0
            }
            return Array(state.subscriptions.values)
        }
        for subscription in subscriptions { subscription.wake() }
    }

    /// Events from `offset` on, at most `limit`, if the hub still holds `offset` in memory.
    func recentEvents(from offset: UInt64, limit: Int) -> (events: [CommittedEvent], head: UInt64)? {
        state.withLock { state in
            guard state.start < state.recent.count else { return offset > state.head ? ([], state.head) : nil }
            let first = state.recent[state.start].offset
            guard offset >= first else { return nil }
            let index = state.start + Int(offset - first)
            guard index < state.recent.count else { return ([], state.head) }
            let end = min(state.recent.count, index + limit)
            return (Array(state.recent[index..<end]), state.head)
        }
    }

    /// Adds `subscription` unless `subscriptionsMax` are open: the count and the add are one step
    /// under the lock, so two Subscribes racing for the last slot cannot both get it.
    func add(_ subscription: FeedSubscription, subscriptionsMax: Int) -> Bool {
        state.withLock { state in
            guard state.subscriptions.count < subscriptionsMax else { return false }
            state.subscriptions[ObjectIdentifier(subscription)] = subscription
            return true
        }
    }

    func remove(_ subscription: FeedSubscription) {
        _ = state.withLock { $0.subscriptions.removeValue(forKey: ObjectIdentifier(subscription)) }
    }

    /// After an Acknowledge committed: subscriptions of that consumer may send more.
    func acknowledged(consumer: String, offset: UInt64) {
        let matching = state.withLock { $0.subscriptions.values.filter { $0.consumer == consumer } }
        for subscription in matching { subscription.acknowledged(offset) }
    }
}

/// One Subscribe call, over frames or gRPC (`box`). Its mutable state lives on the box's event loop.
final class FeedSubscription: StreamCall, @unchecked Sendable {
    let consumer: String
    /// nil: every event. Otherwise only order events of these channels (a `channel` caller's
    /// subscription: docs/SECURITY.md).
    let visibleChannels: Set<String>?
    let callID: UInt64
    let window: UInt64
    let eventsPerFrame: Int
    private let box: ConnectionBox
    private let hub: ChangeFeedHub
    private let metrics: ServerMetrics
    // Loop-confined:
    private var nextOffset: UInt64
    private var acknowledgedOffset: UInt64
    private var reading = false
    private var cancelled = false
    private var pumpScheduled = false
    /// A filtered subscription's window counts the events it sent and that are not acknowledged:
    /// its client cannot acknowledge the events it never saw, so offsets would stall the window.
    private var unacknowledgedVisible = CircularBuffer<UInt64>()
    /// A filtered subscription stores, for its client, the acknowledgement of the events it passed
    /// without sending (its client cannot acknowledge what it never saw, and the consumer would
    /// hold back outbox pruning for everyone): once every event it sent is acknowledged and it is
    /// `invisibleAcknowledgementLagEventsMax` or more past the stored acknowledgement.
    private let acknowledgeInvisible: (@Sendable (UInt64) -> Void)?
    private let invisibleAcknowledgementLagEventsMax: UInt64
    private var invisibleAcknowledgedOffset: UInt64 = 0
    /// Whether the credential that opened the stream is still valid: checked before every frame, so
    /// a revoked or expired credential's stream ends (UNAUTHENTICATED) instead of carrying another event.
    private let credentialStillValid: (@Sendable () -> Bool)?

    init(consumer: String, visibleChannels: Set<String>? = nil, callID: UInt64, from offset: UInt64, acknowledged: UInt64, window: UInt64,
         eventsPerFrame: Int, box: ConnectionBox, hub: ChangeFeedHub, metrics: ServerMetrics,
         invisibleAcknowledgementLagEventsMax: Int = 1_024, acknowledgeInvisible: (@Sendable (UInt64) -> Void)? = nil,
         credentialStillValid: (@Sendable () -> Bool)? = nil) {
        self.consumer = consumer
        self.credentialStillValid = credentialStillValid
        self.visibleChannels = visibleChannels
        self.invisibleAcknowledgementLagEventsMax = UInt64(max(1, invisibleAcknowledgementLagEventsMax))
        self.acknowledgeInvisible = acknowledgeInvisible
        self.callID = callID
        nextOffset = offset
        acknowledgedOffset = acknowledged
        self.window = window
        self.eventsPerFrame = eventsPerFrame
        self.box = box
        self.hub = hub
        self.metrics = metrics
    }

    var eventLoop: any EventLoop { box.eventLoop }

    func cancel() {
        eventLoop.preconditionInEventLoop()
        cancelled = true
        hub.remove(self)
    }

    func writable() { pump() }

    /// Any thread: new events committed.
    func wake() {
        eventLoop.execute { self.schedulePump() }
    }

    func acknowledged(_ offset: UInt64) {
        eventLoop.execute {
            if offset > self.acknowledgedOffset { self.acknowledgedOffset = offset }
            while let first = self.unacknowledgedVisible.first, first <= offset { self.unacknowledgedVisible.removeFirst() }
            self.acknowledgePassedIfDue()
            self.schedulePump()
        }
    }

    private func schedulePump() {
        if pumpScheduled { return }
        pumpScheduled = true
        eventLoop.execute {
            self.pumpScheduled = false
            self.pump()
        }
    }

    /// Sends frames while there are events, window and a writable socket.
    func pump() {
        eventLoop.preconditionInEventLoop()
        while !cancelled && !reading {
            guard let connection = box.value, connection.isWritable else { return }
            if let credentialStillValid, !credentialStillValid() {
                connection.finish(callID: callID, response: .failure(Services.unauthenticated))
                return
            }
            let limit: Int
            if visibleChannels != nil {
                guard UInt64(unacknowledgedVisible.count) < window else { return }
                limit = eventsPerFrame
            } else {
                let windowEnd = acknowledgedOffset + window  // last offset we may send
                guard nextOffset <= windowEnd else { return }
                limit = Int(min(UInt64(eventsPerFrame), windowEnd - nextOffset + 1))
            }
            if let (events, head) = hub.recentEvents(from: nextOffset, limit: limit) {
                guard !events.isEmpty else { return }
                if let channels = visibleChannels {
                    deliverFiltered(events.map { ($0.offset, $0.body, $0.channel) }, channels: channels, head: head, on: connection)
                } else {
                    send(events.map { StoredEvent(offset: $0.offset, body: $0.body) }, head: head, on: connection)
                }
            } else {
                // Older than memory: read back from SQLite on a reader connection.
                reading = true
                let from = nextOffset
                hub.reader.events(from: from, limit: limit) { result in
                    self.eventLoop.execute {
                        self.reading = false
                        guard !self.cancelled, let connection = self.box.value else { return }
                        switch result {
                        case .success(let events) where !events.isEmpty && events[0].offset == from:
                            if let channels = self.visibleChannels {
                                self.deliverFiltered(events.map { ($0.offset, $0.body, Self.orderChannel(of: $0.body)) }, channels: channels,
                                                     head: self.hub.head, on: connection)
                            } else {
                                self.send(events, head: self.hub.head, on: connection)
                            }
                            self.pump()
                        case .success(let events):
                            // Pruned under us: the stream cannot continue gap-free.
                            let earliest = events.first?.offset ?? self.hub.head + 1
                            var details = Waybill_V1_StatusDetails()
                            details.earliestOffset = earliest
                            connection.finish(callID: self.callID, response: .failure(WaybillStatusError(
                                .outOfRange, "offset \(from) has been pruned; earliest available is \(earliest)", details: details)))
                        case .failure(let error):
                            connection.finish(callID: self.callID, response: .from(error))
                        }
                    }
                }
                return
            }
        }
    }

    /// Sends the events of `events` the caller may see (at most what its window allows) and moves
    /// past the rest.
    private func deliverFiltered(_ events: [(offset: UInt64, body: [UInt8], channel: String)], channels: Set<String>, head: UInt64,
                                 on connection: any CallStreamTarget) {
        let room = Int(window) - unacknowledgedVisible.count
        var visible: [StoredEvent] = []
        var through = events.last!.offset
        for event in events where !event.channel.isEmpty && channels.contains(event.channel) {
            if visible.count == room {
                through = event.offset - 1
                break
            }
            visible.append(StoredEvent(offset: event.offset, body: event.body))
        }
        if visible.isEmpty {
            nextOffset = through + 1
            acknowledgePassedIfDue()
            return
        }
        let before = nextOffset
        send(visible, head: head, on: connection)
        guard !cancelled, nextOffset != before else { return }
        for event in visible where event.offset < nextOffset { unacknowledgedVisible.append(event.offset) }
        // Everything up to `through` was looked at; a frame cut short by frameBytesMax resumes at its end.
        if nextOffset > visible.last!.offset { nextOffset = through + 1 }
    }

    private func acknowledgePassedIfDue() {
        guard let acknowledgeInvisible, visibleChannels != nil, unacknowledgedVisible.isEmpty, nextOffset > 0 else { return }
        let passed = nextOffset - 1
        let stored = max(acknowledgedOffset, invisibleAcknowledgedOffset)
        guard passed > stored, passed - stored >= invisibleAcknowledgementLagEventsMax else { return }
        invisibleAcknowledgedOffset = passed
        acknowledgeInvisible(passed)
    }

    /// The channel of an order event read back from SQLite ("" for other events).
    static func orderChannel(of body: [UInt8]) -> String {
        guard let event = try? Waybill_V1_ChangeEvent(serializedBytes: body), event.aggregateType == "order", event.hasOrder else { return "" }
        return Channel(proto: event.order.channel)?.name ?? ""
    }

    private func send(_ events: [StoredEvent], head: UInt64, on connection: any CallStreamTarget) {
        // A frame carries as many events as fit in frameBytesMax (at least one); the pump sends the rest next.
        // Per event: the body, its tag and length (≤ 6); per frame: head_offset (≤ 11) and the envelope.
        let budget = connection.frameBytesMax - ConnectionHandler.envelopeOverheadMax - 11
        var fitting = 0, bytes = 0
        for event in events {
            bytes += event.body.count + 6
            if fitting > 0 && bytes > budget { break }
            fitting += 1
        }
        let events = events.prefix(fitting)
        // SubscribeResponse: field 1 (repeated ChangeEvent) spliced from stored bytes, field 2 head.
        var payload: [UInt8] = []
        payload.reserveCapacity(events.reduce(16) { $0 + $1.body.count + 6 })
        for event in events { appendLengthDelimitedField(1, event.body, to: &payload) }
        payload.append(0x10)
        var value = head
        while value >= 0x80 {
            payload.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        payload.append(UInt8(value))
        if connection.streamFrame(callID: callID, payload: payload) {
            nextOffset = events.last!.offset + 1
            metrics.eventsDelivered(events.count)
        } else {
            cancelled = true
            hub.remove(self)
        }
    }
}
