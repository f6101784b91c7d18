// The ERP bridge: consumes the change feed as a named consumer and delivers each event, transformed
// into an ErpMessage, to the ERP.
//
// Guarantees:
// - At least once: the server's acknowledged offset only moves over a contiguous run of events
//   that were delivered or safely written to the dead-letter store; after any crash the feed
//   resumes after it and the ERP dedupes by event id (the Idempotency-Key).
// - Per-order order: a webhook message waits while an earlier message of the same aggregate is in
//   flight or backing off; other aggregates proceed. File batches are written in offset order.
// - Bounded memory: the subscription window bounds the events held here.
// - Reconnects with backoff when the server is down; never drops a message while the dead-letter
//   store is full (it holds its position and says so).

import Foundation
import Logging
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

public actor ErpBridge {
    public nonisolated let configuration: BridgeConfiguration
    let target: any DeliveryTarget
    let deadLetters: DeadLetterStore
    let logger: Logger
    let random: RandomSource
    let backoff: Backoff
    let reconnectBackoff: Backoff

    struct Pending {
        var message: ErpMessage
        /// Set when the event could not be transformed: it goes straight to the dead-letter store.
        var failure: String?
        var attempts = 0
        var firstSeen: ContinuousClock.Instant
        var key: String
    }

    // Feed position.
    private var received: UInt64 = 0
    private var watermark: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var head: UInt64 = 0
    private var done: Set<UInt64> = []
    /// Offsets the server will never send (pruned before delivery): the watermark passes over them.
    private var skipped: [ClosedRange<UInt64>] = []
    private var pending: [UInt64: Pending] = [:]
    private var streamFresh = false

    // One message at a time per aggregate (webhook).
    private var queues: [String: [UInt64]] = [:]
    private var ready: [String] = []
    private var readyStart = 0
    private var retryReady: [UInt64] = []
    private var inFlight = 0
    private var tasks: [UInt64: Task<Void, Never>] = [:]

    // Ordered batches (file drop).
    private var batchQueue: [UInt64] = []
    private var workWaiter: CheckedContinuation<Void, Never>?

    // Progress.
    private var deliveredCount: UInt64 = 0
    private var deadLetteredCount = 0
    private var retryingCount = 0
    private var lastError = ""
    private var client: WaybillClient?
    private var stopped = false
    private var watermarkWaiters: [(UInt64, CheckedContinuation<Void, Never>)] = []

    /// Builds the target from the configuration unless one is given (tests inject their own).
    public init(configuration: BridgeConfiguration, target: (any DeliveryTarget)? = nil, logger: Logger,
                random: @escaping RandomSource = systemRandom) throws {
        try configuration.validate()
        self.configuration = configuration
        switch (target, configuration.target) {
        case (let given?, _): self.target = given
        case (nil, .webhook(let url)): self.target = WebhookTarget(url: url, requestTimeoutMilliseconds: configuration.limits.requestTimeoutMilliseconds)
        case (nil, .files(let directory, let format)): self.target = FileDropTarget(directory: directory, format: format)
        }
        deadLetters = try DeadLetterStore(stateDirectory: configuration.stateDirectory)
        self.logger = logger
        self.random = random
        backoff = Backoff(baseMilliseconds: configuration.limits.backoffBaseMilliseconds, maxMilliseconds: configuration.limits.backoffMaxMilliseconds)
        reconnectBackoff = Backoff(baseMilliseconds: configuration.limits.reconnectBaseMilliseconds,
                                   maxMilliseconds: configuration.limits.reconnectMaxMilliseconds)
    }

    var limits: BridgeLimits { configuration.limits }

    // MARK: - Running

    /// Runs until the task is cancelled; then acknowledges what was handled, reports, and stops.
    public func run() async throws {
        let store = deadLetters
        deadLetteredCount = try await BlockingIO.run { try store.count() }
        logger.info("erp bridge starting", metadata: [
            "server": "\(configuration.server)", "consumer": "\(configuration.consumer)", "target": "\(configuration.targetDescription)",
            "state_dir": "\(configuration.stateDirectory)", "dead_letters": "\(deadLetteredCount)",
            "limits": "\(limits.named.map { "\($0.name)=\($0.value)" }.joined(separator: " "))",
        ])
        let batching = !target.deliversSingly
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.feedLoop() }
            group.addTask { await self.ackLoop() }
            group.addTask { await self.statusLoop() }
            if batching { group.addTask { await self.batchLoop() } }
            await group.waitForAll()
        }
        await stop()
    }

    private func stop() async {
        stopped = true
        for task in tasks.values { task.cancel() }
        tasks.removeAll()
        workWaiter?.resume()
        workWaiter = nil
        if let client {
            await acknowledgeWatermark()
            let status = makeStatus()
            _ = try? await client.call(Method.ErpService.reportBridgeStatus, status, as: Waybill_V1_BridgeStatus.self, timeoutMilliseconds: 2_000)
            await client.close()
            self.client = nil
        }
        await target.shutdown()
        logger.info("erp bridge stopped", metadata: ["acknowledged": "\(acknowledged)", "delivered": "\(deliveredCount)"])
    }

    private func feedLoop() async {
        var failures = 0
        var clientConfiguration = ClientConfiguration()
        clientConfiguration.clientID = configuration.clientID
        clientConfiguration.defaultTimeoutMilliseconds = 10_000
        while !Task.isCancelled {
            var connected: WaybillClient?
            do {
                let client = try await WaybillClient.connect(configuration.server, configuration: clientConfiguration)
                connected = client
                self.client = client
                var request = Waybill_V1_SubscribeRequest()
                request.consumer = configuration.consumer
                request.fromOffset = received == 0 ? 0 : received + 1
                request.windowEvents = limits.windowEvents
                request.maxEventsPerFrame = limits.eventsPerFrame
                streamFresh = true
                let stream = try client.subscribe(request)
                logger.info("subscribed to the change feed", metadata: [
                    "server": "\(configuration.server)",
                    "from": "\(request.fromOffset == 0 ? "after the acknowledged offset" : String(request.fromOffset))",
                ])
                for try await response in stream {
                    failures = 0
                    accept(response.events, head: response.headOffset)
                }
                throw WaybillStatusError(.unavailable, "the change feed ended")
            } catch {
                if Task.isCancelled { break }
                if self.client === connected { self.client = nil }
                await connected?.close()
                if let status = error as? WaybillStatusError, status.code == .outOfRange, status.details.earliestOffset > received + 1 {
                    let earliest = status.details.earliestOffset
                    lastError = "events \(received + 1)...\(earliest - 1) were pruned before this bridge delivered them"
                    logger.error("\(lastError): they cannot reach the ERP; run a reconciliation")
                    skipped.append((received + 1)...(earliest - 1))
                    received = earliest - 1
                    advanceWatermark()
                    continue
                }
                failures += 1
                let delay = reconnectBackoff.delayMilliseconds(attempt: failures, random: random())
                lastError = "change feed: \(error)"
                logger.warning("change feed unavailable; reconnecting", metadata: ["error": "\(error)", "retry_in_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
            }
        }
    }

    private func ackLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(limits.ackIntervalMilliseconds))
            if Task.isCancelled { break }
            await acknowledgeWatermark()
        }
    }

    private func acknowledgeWatermark() async {
        guard watermark > acknowledged, let client else { return }
        let offset = watermark
        do {
            let answer = try await client.acknowledge(consumer: configuration.consumer, offset: offset)
            acknowledged = max(acknowledged, answer.consumer.acknowledgedOffset, offset)
        } catch {
            logger.debug("acknowledge failed", metadata: ["offset": "\(offset)", "error": "\(error)"])
        }
    }

    private func statusLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(limits.statusIntervalMilliseconds))
            if Task.isCancelled { break }
            let status = makeStatus()
            logger.info("erp bridge progress", metadata: [
                "delivered": "\(status.delivered)", "retrying": "\(status.retrying)", "dead_lettered": "\(status.deadLettered)",
                "acknowledged": "\(status.acknowledgedOffset)", "head": "\(status.headOffset)", "lag": "\(status.lagEvents)",
                "oldest_pending_ms": "\(status.oldestPendingAgeMs)",
            ])
            if let client {
                do {
                    _ = try await client.call(Method.ErpService.reportBridgeStatus, status, as: Waybill_V1_BridgeStatus.self)
                } catch {
                    logger.debug("status report failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    // MARK: - Status

    /// What the bridge reports to the server (and logs).
    public func makeStatus() -> Waybill_V1_BridgeStatus {
        var status = Waybill_V1_BridgeStatus()
        status.consumer = configuration.consumer
        status.target = configuration.targetDescription
        status.delivered = deliveredCount
        status.retrying = UInt64(retryingCount)
        status.deadLettered = UInt64(deadLetteredCount)
        status.acknowledgedOffset = acknowledged
        status.headOffset = max(head, received)
        status.lagEvents = status.headOffset > acknowledged ? status.headOffset - acknowledged : 0
        let now = ContinuousClock.now
        if let oldest = pending.values.map(\.firstSeen).min() {
            let age = now - oldest
            status.oldestPendingAgeMs = age.components.seconds * 1_000 + age.components.attoseconds / 1_000_000_000_000_000
        }
        status.reportedAtUnixMs = Int64(Date().timeIntervalSince1970 * 1_000)
        status.lastError = lastError
        return status
    }

    /// Every offset up to this one was delivered or dead-lettered.
    public var deliveredWatermark: UInt64 { watermark }
    public var acknowledgedOffset: UInt64 { acknowledged }

    /// Returns once the watermark reaches `offset` (tests, tools).
    public func waitForWatermark(_ offset: UInt64) async {
        if watermark >= offset { return }
        await withCheckedContinuation { watermarkWaiters.append((offset, $0)) }
    }

    // MARK: - Intake

    private func accept(_ events: [Waybill_V1_ChangeEvent], head newHead: UInt64) {
        head = max(head, newHead)
        for event in events {
            if event.offset <= received { continue }  // already held or handled (a resubscription overlaps)
            if event.offset > received + 1 {
                if !streamFresh {
                    logger.error("change feed gap", metadata: ["expected": "\(received + 1)", "got": "\(event.offset)"])
                }
                // The subscription starts after the server's acknowledged offset (or its earliest event).
                skipped.append((received + 1)...(event.offset - 1))
            }
            streamFresh = false
            received = event.offset
            let key = event.aggregateType + ":" + event.aggregateID
            var entry: Pending
            do {
                entry = Pending(message: try ErpMessage(event: event), firstSeen: .now, key: key)
            } catch {
                var message = ErpMessage(eventId: event.eventID, offset: event.offset, type: event.type, aggregateType: event.aggregateType,
                                         aggregateId: event.aggregateID, aggregateSequence: event.aggregateSequence)
                message.orderId = event.orderID.isEmpty ? nil : event.orderID
                message.detail = "\(error)"
                entry = Pending(message: message, failure: "\(error)", firstSeen: .now, key: key)
            }
            pending[event.offset] = entry
            if target.deliversSingly {
                queues[key, default: []].append(event.offset)
                if queues[key]!.count == 1 { ready.append(key) }
            } else {
                batchQueue.append(event.offset)
            }
        }
        advanceWatermark()
        if target.deliversSingly {
            schedule()
        } else if !batchQueue.isEmpty, let waiter = workWaiter {
            workWaiter = nil
            waiter.resume()
        }
    }

    private func advanceWatermark() {
        var moved = true
        while moved {
            moved = false
            if done.remove(watermark + 1) != nil {
                watermark += 1
                moved = true
            } else if let index = skipped.firstIndex(where: { $0.contains(watermark + 1) }) {
                watermark = skipped[index].upperBound
                skipped.remove(at: index)
                moved = true
            }
        }
        if !watermarkWaiters.isEmpty {
            let (due, waiting) = (watermarkWaiters.filter { $0.0 <= watermark }, watermarkWaiters.filter { $0.0 > watermark })
            watermarkWaiters = waiting
            for (_, continuation) in due { continuation.resume() }
        }
    }

    /// The event is delivered or dead-lettered: it counts for the watermark.
    private func settle(_ offset: UInt64) {
        pending[offset] = nil
        done.insert(offset)
        advanceWatermark()
    }

    // MARK: - One message at a time per aggregate

    private func schedule() {
        while inFlight < limits.deliveryConcurrencyMax && !stopped {
            let offset: UInt64
            if !retryReady.isEmpty {
                offset = retryReady.removeFirst()
            } else if readyStart < ready.count {
                let key = ready[readyStart]
                readyStart += 1
                if readyStart > 1_024 && readyStart * 2 > ready.count {
                    ready.removeFirst(readyStart)
                    readyStart = 0
                }
                guard let first = queues[key]?.first else { continue }
                offset = first
            } else {
                return
            }
            start(offset)
        }
    }

    private func start(_ offset: UInt64) {
        guard let entry = pending[offset] else { return }
        inFlight += 1
        if let failure = entry.failure {
            tasks[offset] = Task { await self.completed(offset, .permanent(failure)) }
            return
        }
        let target = self.target
        let message = entry.message
        tasks[offset] = Task {
            let result = await target.deliver([message])
            await self.completed(offset, result)
        }
    }

    private func completed(_ offset: UInt64, _ result: DeliveryResult) async {
        tasks[offset] = nil
        guard !stopped, var entry = pending[offset] else {
            inFlight -= 1
            return
        }
        entry.attempts += 1
        pending[offset] = entry
        switch result {
        case .delivered:
            deliveredCount += 1
            inFlight -= 1
            finishSingle(offset, key: entry.key)
        case .retry(let error, let after) where entry.attempts < limits.maxAttempts:
            inFlight -= 1
            lastError = "\(entry.message.eventId): \(error)"
            retryLater(offset, attempt: entry.attempts, after: after)
        case .retry(let error, _), .permanent(let error):
            let stored = await deadLetter(offset, error: error)
            inFlight -= 1
            if stored {
                finishSingle(offset, key: entry.key)
            } else {
                retryLater(offset, attempt: entry.attempts, after: nil)
            }
        }
        schedule()
    }

    private func retryLater(_ offset: UInt64, attempt: Int, after: Int64?) {
        let delay = max(backoff.delayMilliseconds(attempt: attempt, random: random()), min(after ?? 0, limits.backoffMaxMilliseconds))
        retryingCount += 1
        logger.debug("delivery will be retried", metadata: ["offset": "\(offset)", "attempt": "\(attempt)", "in_ms": "\(delay)"])
        tasks[offset] = Task {
            try? await Task.sleep(for: .milliseconds(delay))
            self.retryDue(offset)
        }
    }

    private func retryDue(_ offset: UInt64) {
        retryingCount -= 1
        tasks[offset] = nil
        guard !stopped, pending[offset] != nil else { return }
        retryReady.append(offset)
        schedule()
    }

    private func finishSingle(_ offset: UInt64, key: String) {
        settle(offset)
        if var queue = queues[key], queue.first == offset {
            queue.removeFirst()
            if queue.isEmpty {
                queues[key] = nil
            } else {
                queues[key] = queue
                ready.append(key)
            }
        }
    }

    /// Writes the message to the dead-letter store; false when it could not (store full or I/O
    /// error): the caller keeps the message and tries again later, so nothing is lost.
    private func deadLetter(_ offset: UInt64, error: String) async -> Bool {
        guard let entry = pending[offset] else { return true }
        if deadLetteredCount >= limits.deadLettersMax {
            lastError = BridgeError.deadLetterStoreFull(limits.deadLettersMax).description
            logger.error("\(lastError)", metadata: ["offset": "\(offset)"])
            return false
        }
        let letter = DeadLetter(message: entry.message, attempts: entry.attempts, lastError: error,
                                deadLetteredAtUnixMs: Int64(Date().timeIntervalSince1970 * 1_000), target: configuration.targetDescription)
        let store = deadLetters
        do {
            try await BlockingIO.run { try store.add(letter) }
        } catch {
            lastError = "dead-letter store: \(error)"
            logger.error("cannot write a dead letter", metadata: ["offset": "\(offset)", "error": "\(error)"])
            return false
        }
        deadLetteredCount += 1
        lastError = "\(entry.message.eventId): \(error)"
        logger.warning("message dead-lettered", metadata: [
            "event": "\(entry.message.eventId)", "type": "\(entry.message.type)", "aggregate": "\(entry.key)",
            "attempts": "\(entry.attempts)", "error": "\(error)",
        ])
        return true
    }

    // MARK: - Ordered batches

    private func waitForWork() async {
        if !batchQueue.isEmpty || stopped { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled || !batchQueue.isEmpty {
                    continuation.resume()
                } else {
                    workWaiter = continuation
                }
            }
        } onCancel: {
            Task { await self.wakeBatchLoop() }
        }
    }

    private func wakeBatchLoop() {
        workWaiter?.resume()
        workWaiter = nil
    }

    private func batchLoop() async {
        while !Task.isCancelled {
            await waitForWork()
            if Task.isCancelled { return }
            if batchQueue.count < limits.fileBatchEventsMax && limits.fileBatchLingerMilliseconds > 0 {
                try? await Task.sleep(for: .milliseconds(limits.fileBatchLingerMilliseconds))
                if Task.isCancelled { return }
            }
            let offsets = Array(batchQueue.prefix(limits.fileBatchEventsMax))
            guard !offsets.isEmpty else { continue }
            // Untransformable events go to the dead-letter store first.
            var deliverable: [UInt64] = []
            for offset in offsets {
                guard let entry = pending[offset] else { continue }
                if let failure = entry.failure {
                    while !(await deadLetter(offset, error: failure)) {
                        try? await Task.sleep(for: .milliseconds(limits.backoffMaxMilliseconds))
                        if Task.isCancelled { return }
                    }
                    settle(offset)
                } else {
                    deliverable.append(offset)
                }
            }
            var attempt = 0
            while !deliverable.isEmpty {
                attempt += 1
                let messages = deliverable.compactMap { pending[$0]?.message }
                for offset in deliverable { pending[offset]?.attempts = attempt }
                let result = await target.deliver(messages)
                if Task.isCancelled { return }
                switch result {
                case .delivered:
                    deliveredCount += UInt64(deliverable.count)
                    for offset in deliverable { settle(offset) }
                    deliverable = []
                case .retry(let error, let after) where attempt < limits.maxAttempts:
                    lastError = "batch \(deliverable.first!)...\(deliverable.last!): \(error)"
                    let delay = max(backoff.delayMilliseconds(attempt: attempt, random: random()), min(after ?? 0, limits.backoffMaxMilliseconds))
                    logger.warning("file batch will be retried", metadata: ["error": "\(error)", "attempt": "\(attempt)", "in_ms": "\(delay)"])
                    retryingCount = deliverable.count
                    try? await Task.sleep(for: .milliseconds(delay))
                    retryingCount = 0
                    if Task.isCancelled { return }
                case .retry(let error, _), .permanent(let error):
                    var held: [UInt64] = []
                    for offset in deliverable {
                        if await deadLetter(offset, error: error) { settle(offset) } else { held.append(offset) }
                    }
                    deliverable = held
                    if !held.isEmpty {
                        // The store is full or failing: hold the position and try the batch again later.
                        try? await Task.sleep(for: .milliseconds(limits.backoffMaxMilliseconds))
                        if Task.isCancelled { return }
                        attempt = 0
                    }
                }
            }
            batchQueue.removeFirst(offsets.count)
        }
    }
}
