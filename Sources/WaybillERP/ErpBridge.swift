// The ERP bridge: consumes the change feed as a named consumer and delivers each event, transformed
// into an ErpMessage, to the ERP.
//
// Guarantees:
// - At least once: the server's acknowledged offset only moves over a contiguous run of events
//   that were delivered or safely written to the dead-letter store; after any crash the feed
//   resumes after it and the ERP dedupes by event id (the Idempotency-Key).
// - Per-order order: a webhook message waits while an earlier message of the same aggregate is in
//   flight or waiting; other aggregates proceed. File batches are written in offset order.
// - Transient failures never dead-letter: a circuit breaker (CircuitBreaker) pauses ALL delivery
//   and probes with the oldest undelivered event until the target takes it, however long the
//   outage; the watermark (and so the acknowledged offset) stays at the last contiguous delivery.
// - A permanent refusal dead-letters that message and parks every later event of its aggregate
//   behind it (dead-lettered "blocked by evt-N", never sent), so the ERP never sees an order's
//   later event before the refused one; `replay` delivers them in offset order. A parked
//   aggregate flows again once the store no longer holds any of its letters.
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
    let reconnectBackoff: Backoff
    private var breaker: CircuitBreaker
    /// The oldest undelivered event, sent alone while the breaker is half-open.
    private var probeOffset: UInt64?
    private var breakerTask: Task<Void, Never>?

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
    /// Heads of aggregates whose delivery failed transiently, ascending: they go first once the
    /// breaker closes.
    private var retryReady: [UInt64] = []
    private var inFlight = 0
    private var tasks: [UInt64: Task<Void, Never>] = [:]

    /// Aggregates ("order:W-1") with dead letters in the store: their later events are parked.
    struct Parking {
        /// The aggregate's letters in the store, offset → event id (a replay elsewhere removes them).
        var letters: [UInt64: String] = [:]
        /// The event id new followers are parked behind: the earliest letter still in the store.
        var blocker: String? { letters.min { $0.key < $1.key }?.value }
    }

    /// The offsets of `letters` still in the store (all of them when the store cannot be read:
    /// never risk overtaking a refused event).
    private func lettersStillStored(_ letters: [UInt64: String]) async -> Set<UInt64> {
        let store = deadLetters
        let offsets = Array(letters.keys)
        return Set((try? await BlockingIO.run { offsets.filter { store.contains(offset: $0) } }) ?? offsets)
    }
    private var parked: [String: Parking] = [:]

    // Ordered batches (file drop).
    private var batchQueue: [UInt64] = []
    private var workWaiter: CheckedContinuation<Void, Never>?

    // Progress.
    private var deliveredCount: UInt64 = 0
    /// Dead-lettered by this process (refused + parked): the running total.
    private var deadLetteredTotal: UInt64 = 0
    /// In the store now (what needs a replay); recounted with every status report (a replay
    /// elsewhere removes letters).
    private var deadLettersWaiting = 0
    /// Letter writes started, and in flight: a recount that overlapped a write is dropped (it
    /// would count that letter twice or not at all).
    private var deadLetterWritesStarted: UInt64 = 0
    private var deadLetterWritesInFlight = 0
    private var retryingCount = 0
    private var waitingForStore = 0
    private var lastError = ""
    private var lastErrorAtUnixMs: Int64 = 0
    private var client: WaybillClient?
    private var stopped = false
    /// The oldest letters of the store as of the last status report (BridgeStatus.dead_letters).
    var reportedLetters: [DeadLetter] = []
    // Replay requests from the server (BridgeReplayRequests.swift).
    /// Request ids taken on: queued, running, or done with their result not yet recorded by the server.
    var replaysTaken: Set<String> = []
    var replayQueue: [Waybill_V1_DeadLetterReplay] = []
    /// Outcomes sent with every report until the server no longer lists their request as pending.
    var replayResults: [String: Waybill_V1_DeadLetterReplay] = [:]
    var replayTask: Task<Void, Never>?
    private var watermarkWaiters: [(UInt64, CheckedContinuation<Void, Never>)] = []

    /// Builds the target from the configuration unless one is given (tests inject their own).
    public init(configuration: BridgeConfiguration, target: (any DeliveryTarget)? = nil, logger: Logger,
                random: @escaping RandomSource = systemRandom) throws {
        try configuration.validate()
        self.configuration = configuration
        switch (target, configuration.target) {
        case (let given?, _): self.target = given
        case (nil, _): self.target = try configuration.makeDeliveryTarget()
        }
        deadLetters = try DeadLetterStore(stateDirectory: configuration.stateDirectory)
        self.logger = logger
        self.random = random
        breaker = CircuitBreaker(backoff: Backoff(baseMilliseconds: configuration.limits.backoffBaseMilliseconds,
                                                  maxMilliseconds: configuration.limits.backoffMaxMilliseconds),
                                 retryAfterMaxMilliseconds: configuration.limits.retryAfterMaxMilliseconds)
        reconnectBackoff = Backoff(baseMilliseconds: configuration.limits.reconnectBaseMilliseconds,
                                   maxMilliseconds: configuration.limits.reconnectMaxMilliseconds)
    }

    var limits: BridgeLimits { configuration.limits }

    // MARK: - Running

    /// Runs until the task is cancelled; then acknowledges what was handled, reports, and stops.
    public func run() async throws {
        let store = deadLetters
        // Letters from earlier runs keep their aggregates parked (the ERP must get them first).
        let letters = try await BlockingIO.run { try store.list() }
        deadLettersWaiting = letters.count
        reportedLetters = Array(letters.prefix(limits.bridgeDeadLettersReportedMax))
        await loadReplayResults()
        for letter in letters {
            parked[letter.message.orderingKey, default: Parking()].letters[letter.message.offset] = letter.id
        }
        logger.info("erp bridge starting", metadata: [
            "server": "\(configuration.server)", "consumer": "\(configuration.consumer)", "target": "\(configuration.targetDescription)",
            "signing": "\(configuration.signingDescription)", "authenticated": "\(configuration.connection.token == nil ? "no" : "yes")",
            "state_dir": "\(configuration.stateDirectory)", "dead_letters_waiting": "\(deadLettersWaiting)", "parked_aggregates": "\(parked.count)",
            "limits": "\(limits.named.map { "\($0.name)=\($0.value)" }.joined(separator: " "))",
        ])
        let batching = !target.deliversSingly
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.feedLoop() }
            group.addTask { await self.ackLoop() }
            group.addTask { await self.statusLoop() }
            if batching { group.addTask { await self.batchLoop() } }
            if let file = configuration.webhookSecretFile, limits.webhookSecretReloadCheckMilliseconds > 0, let webhook = target as? WebhookTarget {
                group.addTask { await self.secretReloadLoop(file: file, webhook: webhook) }
            }
            await group.waitForAll()
        }
        await stop()
    }

    private func stop() async {
        stopped = true
        for task in tasks.values { task.cancel() }
        tasks.removeAll()
        breakerTask?.cancel()
        breakerTask = nil
        replayTask?.cancel()
        replayTask = nil
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
        var clientConfiguration = configuration.connection
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
                    recordError("events \(received + 1)...\(earliest - 1) were pruned before this bridge delivered them")
                    logger.error("\(lastError): they cannot reach the ERP; run a reconciliation")
                    skipped.append((received + 1)...(earliest - 1))
                    received = earliest - 1
                    advanceWatermark()
                    continue
                }
                failures += 1
                let delay = reconnectBackoff.delayMilliseconds(attempt: failures, random: random())
                recordError("change feed: \(error)")
                if let status = error as? WaybillStatusError, status.code == .unauthenticated || status.code == .permissionDenied {
                    // Retried like an outage (the credential may be fixed server-side), but said plainly.
                    logger.error("the server refused the bridge's credential: it needs an erp credential's token (--token-file or WAYBILL_TOKEN)",
                                 metadata: ["status": "\(status.code)", "retry_in_ms": "\(delay)"])
                }
                logger.warning("change feed unavailable; reconnecting", metadata: ["error": "\(error)", "retry_in_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
            }
        }
    }

    /// Reads the webhook secret file again whenever it changes (inode, size, time, mode): a rotation
    /// takes effect without a restart. A file that no longer qualifies (mode, length, count) leaves
    /// the current secrets in use, and says so.
    private func secretReloadLoop(file: String, webhook: WebhookTarget) async {
        var seen = await Self.fileIdentity(file)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(limits.webhookSecretReloadCheckMilliseconds))
            if Task.isCancelled { break }
            let current = await Self.fileIdentity(file)
            guard current != seen else { continue }
            seen = current
            do {
                let secrets = try await BlockingIO.run { try WebhookSecrets.load(file: file) }
                webhook.secrets = secrets
                logger.notice("webhook secrets reloaded", metadata: ["file": "\(file)", "signing": "HMAC-SHA256 with \(secrets.count) secret\(secrets.count == 1 ? "" : "s")"])
            } catch {
                recordError("\(error)")
                logger.error("webhook secret reload failed: still signing with the previous secrets", metadata: ["error": "\(error)"])
            }
        }
    }

    /// What identifies a version of a file (nil when it cannot be read).
    static func fileIdentity(_ path: String) async -> [Int64]? {
        try? await BlockingIO.run {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            return [Int64(status.st_dev), Int64(status.st_ino), Int64(status.st_size), Int64(status.st_mode),
                    Int64(status.st_mtim.tv_sec), Int64(status.st_mtim.tv_nsec), Int64(status.st_ctim.tv_sec), Int64(status.st_ctim.tv_nsec)]
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
            let store = deadLetters
            let writesBefore = deadLetterWritesStarted
            let idleBefore = deadLetterWritesInFlight == 0
            let listed = limits.bridgeDeadLettersReportedMax
            if let oldest = try? await BlockingIO.run({ try store.oldest(listed) }) {
                reportedLetters = oldest.letters
                if idleBefore && deadLetterWritesStarted == writesBefore && deadLetterWritesInFlight == 0 {
                    deadLettersWaiting = oldest.total
                }
            }
            let status = makeStatus()
            // The alerting figures (the server exports the same as gauges): dead letters waiting, delivery lag.
            logger.info("erp bridge progress", metadata: [
                "delivered": "\(status.delivered)", "retrying": "\(status.retrying)",
                "dead_letters_waiting": "\(status.deadLettersWaiting)", "dead_lettered_total": "\(status.deadLettered)",
                "acknowledged": "\(status.acknowledgedOffset)", "head": "\(status.headOffset)", "delivery_lag_events": "\(status.lagEvents)",
                "delivery_lag_ms": "\(status.oldestPendingAgeMs)", "breaker": "\(status.breakerState)",
                "last_error": "\(status.lastError)",
            ])
            if let client {
                do {
                    let answer = try await client.call(Method.ErpService.reportBridgeStatus, status, as: Waybill_V1_BridgeStatus.self)
                    receivedReplayRequests(answer.replayRequests, reported: status.replayResults.map(\.requestID))
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
        status.retrying = UInt64(retryingCount + retryReady.count + waitingForStore)
        status.deadLettered = deadLetteredTotal
        status.deadLettersWaiting = UInt64(deadLettersWaiting)
        status.breakerState = breaker.protoState
        status.consecutiveFailures = UInt32(clamping: breaker.consecutiveFailures)
        status.breakerRetryAtUnixMs = breaker.probeAtUnixMs
        status.blockedAggregates = UInt64(parked.count)
        status.reportIntervalMs = limits.statusIntervalMilliseconds
        status.lastErrorAtUnixMs = lastErrorAtUnixMs
        status.acknowledgedOffset = acknowledged
        status.headOffset = max(head, received)
        status.lagEvents = status.headOffset > acknowledged ? status.headOffset - acknowledged : 0
        let now = ContinuousClock.now
        if let oldest = pending.values.map(\.firstSeen).min() {
            let age = now - oldest
            status.oldestPendingAgeMs = age.components.seconds * 1_000 + age.components.attoseconds / 1_000_000_000_000_000
        }
        status.reportedAtUnixMs = Self.wallClockUnixMs()
        status.lastError = lastError
        status.deadLetters = reportedLetters.prefix(limits.bridgeDeadLettersReportedMax).map(\.reported)
        status.replayResults = replayResults.values.sorted { $0.requestedAtUnixMs < $1.requestedAtUnixMs }
        return status
    }

    /// Every offset up to this one was delivered or dead-lettered.
    public var deliveredWatermark: UInt64 { watermark }
    public var acknowledgedOffset: UInt64 { acknowledged }
    public var breakerState: CircuitBreaker.State { breaker.state }

    private func recordError(_ text: String) {
        lastError = text
        lastErrorAtUnixMs = Self.wallClockUnixMs()
    }

    /// A delivery went through with the breaker closed: the last error is history.
    private func recovered() {
        if !lastError.isEmpty { logger.info("erp delivery recovered", metadata: ["last_error": "\(lastError)"]) }
        lastError = ""
        lastErrorAtUnixMs = 0
    }

    static func wallClockUnixMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

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

    /// What became of one started event.
    enum Outcome {
        case delivery(DeliveryResult)
        /// The event did not transform into a message: refused without asking the target.
        case untransformable(String)
        /// Its aggregate is parked; which of the aggregate's letters the store still holds (none:
        /// a replay elsewhere delivered them, the aggregate flows again).
        case parkCheck(stillStored: Set<UInt64>)
    }

    private func schedule() {
        guard !stopped else { return }
        switch breaker.state {
        case .open:
            return
        case .halfOpen:
            guard probeOffset == nil, let offset = takeOldestWaiting() else { return }
            probeOffset = offset
            start(offset)
        case .closed:
            while inFlight < limits.deliveryConcurrencyMax && breaker.isClosed {
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
    }

    /// The lowest offset that waits to be started (the half-open probe), taken out of its list.
    private func takeOldestWaiting() -> UInt64? {
        var oldestReady: (index: Int, offset: UInt64)?
        for index in readyStart..<ready.count {
            if let head = queues[ready[index]]?.first, head < (oldestReady?.offset ?? .max) { oldestReady = (index, head) }
        }
        if let retry = retryReady.first, retry < (oldestReady?.offset ?? .max) {
            retryReady.removeFirst()
            return retry
        }
        guard let oldestReady else { return nil }
        ready.remove(at: oldestReady.index)
        return oldestReady.offset
    }

    private func start(_ offset: UInt64) {
        guard let entry = pending[offset] else { return }
        inFlight += 1
        if let failure = entry.failure {
            tasks[offset] = Task { await self.completed(offset, .untransformable(failure)) }
            return
        }
        if let parking = parked[entry.key] {
            tasks[offset] = Task {
                let stored = await self.lettersStillStored(parking.letters)
                await self.completed(offset, .parkCheck(stillStored: stored))
            }
            return
        }
        let target = self.target
        let message = entry.message
        tasks[offset] = Task {
            let result = await target.deliver([message])
            await self.completed(offset, .delivery(result))
        }
    }

    private func completed(_ offset: UInt64, _ outcome: Outcome) async {
        tasks[offset] = nil
        let wasProbe = probeOffset == offset
        if wasProbe { probeOffset = nil }
        guard !stopped, var entry = pending[offset] else {
            inFlight -= 1
            return
        }
        switch outcome {
        case .delivery(let result):
            entry.attempts += 1
            pending[offset] = entry
            switch result {
            case .delivered:
                deliveredCount += 1
                if wasProbe {
                    breaker.succeeded()
                    logger.info("erp delivery resumed", metadata: ["probe": "\(entry.message.eventId)"])
                }
                if breaker.isClosed { recovered() }
                inFlight -= 1
                finishSingle(offset, key: entry.key)
            case .retry(let error, let after):
                recordError("\(entry.message.eventId): \(error)")
                // Failures of requests started before the breaker opened do not lengthen the pause.
                if breaker.isClosed || wasProbe { openBreaker(retryAfterMilliseconds: after, error: error) }
                inFlight -= 1
                waitForBreaker(offset)
            case .permanent(let error):
                // The target answered: it is up, whatever it thought of this message.
                if wasProbe { breaker.succeeded() }
                await refuse(offset, entry: entry, error: error)
            }
        case .untransformable(let error):
            await refuse(offset, entry: entry, error: error)
        case .parkCheck(let stillStored):
            // (Read, then write: an optional-chained assignment would hold `parked` while reading it.)
            if var parking = parked[entry.key] {
                parking.letters = parking.letters.filter { stillStored.contains($0.key) }
                parked[entry.key] = parking
            }
            if let blocker = parked[entry.key]?.blocker {
                let stored = await deadLetter(offset, error: "blocked by \(blocker): an earlier event of \(entry.key) is a dead letter",
                                              blockedBy: blocker)
                inFlight -= 1
                if stored {
                    parked[entry.key]?.letters[offset] = entry.message.eventId
                    finishSingle(offset, key: entry.key)
                } else {
                    retryStoreLater(offset)
                }
            } else {
                if parked.removeValue(forKey: entry.key) != nil {
                    logger.info("aggregate no longer parked: its dead letters left the store", metadata: ["aggregate": "\(entry.key)"])
                }
                inFlight -= 1
                insertRetry(offset)
            }
        }
        schedule()
    }

    /// Dead-letters a refused message and parks its aggregate behind it.
    private func refuse(_ offset: UInt64, entry: Pending, error: String) async {
        let blocker = parked[entry.key]?.blocker
        let stored = await deadLetter(offset, error: error, blockedBy: blocker)
        inFlight -= 1
        if stored {
            parked[entry.key, default: Parking()].letters[offset] = entry.message.eventId
            finishSingle(offset, key: entry.key)
        } else {
            retryStoreLater(offset)
        }
    }

    private func openBreaker(retryAfterMilliseconds: Int64?, error: String) {
        let delay = breaker.failed(nowUnixMs: Self.wallClockUnixMs(), retryAfterMilliseconds: retryAfterMilliseconds, random: random())
        logger.warning("erp unavailable: delivery paused", metadata: [
            "error": "\(error)", "consecutive_failures": "\(breaker.consecutiveFailures)", "probe_in_ms": "\(delay)",
            "retry_after_ms": "\(retryAfterMilliseconds.map(String.init) ?? "-")",
        ])
        breakerTask?.cancel()
        breakerTask = Task {
            try? await Task.sleep(for: .milliseconds(delay))
            if Task.isCancelled { return }
            self.probeDue()
        }
    }

    private func probeDue() {
        breakerTask = nil
        guard !stopped else { return }
        breaker.probeDue()
        schedule()
    }

    /// Keeps a transiently failed head for when the breaker lets deliveries through again.
    private func waitForBreaker(_ offset: UInt64) {
        guard !stopped, pending[offset] != nil else { return }
        insertRetry(offset)
    }

    private func insertRetry(_ offset: UInt64) {
        var low = 0, high = retryReady.count
        while low < high {
            let middle = (low + high) / 2
            if retryReady[middle] < offset { low = middle + 1 } else { high = middle }
        }
        retryReady.insert(offset, at: low)
    }

    /// The dead-letter store is full or failing: hold the position and try again later.
    private func retryStoreLater(_ offset: UInt64) {
        waitingForStore += 1
        tasks[offset] = Task {
            try? await Task.sleep(for: .milliseconds(self.limits.backoffMaxMilliseconds))
            self.storeRetryDue(offset)
        }
    }

    private func storeRetryDue(_ offset: UInt64) {
        waitingForStore -= 1
        tasks[offset] = nil
        guard !stopped, pending[offset] != nil else { return }
        insertRetry(offset)
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
    private func deadLetter(_ offset: UInt64, error: String, blockedBy: String?) async -> Bool {
        guard let entry = pending[offset] else { return true }
        if deadLettersWaiting >= limits.deadLettersMax {
            recordError(BridgeError.deadLetterStoreFull(limits.deadLettersMax).description)
            logger.error("\(lastError)", metadata: ["offset": "\(offset)"])
            return false
        }
        let letter = DeadLetter(message: entry.message, attempts: entry.attempts, lastError: error,
                                deadLetteredAtUnixMs: Self.wallClockUnixMs(), target: configuration.targetDescription, blockedBy: blockedBy)
        let store = deadLetters
        deadLetterWritesStarted += 1
        deadLetterWritesInFlight += 1
        defer { deadLetterWritesInFlight -= 1 }
        do {
            try await BlockingIO.run { try store.add(letter) }
        } catch {
            recordError("dead-letter store: \(error)")
            logger.error("cannot write a dead letter", metadata: ["offset": "\(offset)", "error": "\(error)"])
            return false
        }
        deadLetteredTotal += 1
        deadLettersWaiting += 1
        if blockedBy == nil {
            recordError("\(entry.message.eventId): \(error)")
            logger.warning("message dead-lettered", metadata: [
                "event": "\(entry.message.eventId)", "type": "\(entry.message.type)", "aggregate": "\(entry.key)",
                "attempts": "\(entry.attempts)", "error": "\(error)",
            ])
        } else {
            logger.warning("message parked behind a dead letter", metadata: [
                "event": "\(entry.message.eventId)", "type": "\(entry.message.type)", "aggregate": "\(entry.key)", "blocked_by": "\(blockedBy ?? "")",
            ])
        }
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
            // Untransformable events are refused, and events of parked aggregates parked, before the batch is written.
            var deliverable: [UInt64] = []
            for offset in offsets {
                guard let entry = pending[offset] else { continue }
                if let failure = entry.failure {
                    guard await settleRefused(offset, entry: entry, error: failure) else { return }
                } else if let parking = parked[entry.key] {
                    let stillStored = await lettersStillStored(parking.letters)
                    let remaining = parking.letters.filter { stillStored.contains($0.key) }
                    parked[entry.key]?.letters = remaining
                    if parked[entry.key]?.blocker != nil {
                        guard await settleParked(offset, entry: entry) else { return }
                    } else {
                        parked[entry.key] = nil
                        deliverable.append(offset)
                    }
                } else {
                    deliverable.append(offset)
                }
            }
            while !deliverable.isEmpty {
                for offset in deliverable { pending[offset]?.attempts += 1 }
                let messages = deliverable.compactMap { pending[$0]?.message }
                let result = await target.deliver(messages)
                if Task.isCancelled { return }
                switch result {
                case .delivered:
                    deliveredCount += UInt64(deliverable.count)
                    if !breaker.isClosed { logger.info("erp delivery resumed", metadata: ["batch": "\(deliverable.first!)...\(deliverable.last!)"]) }
                    breaker.succeeded()
                    recovered()
                    for offset in deliverable { settle(offset) }
                    deliverable = []
                case .retry(let error, let after):
                    // Transient (disk full, I/O error): pause and write the same batch again, however long it takes.
                    recordError("batch \(deliverable.first!)...\(deliverable.last!): \(error)")
                    let delay = breaker.failed(nowUnixMs: Self.wallClockUnixMs(), retryAfterMilliseconds: after, random: random())
                    logger.warning("file batch not written: delivery paused", metadata: [
                        "error": "\(error)", "consecutive_failures": "\(breaker.consecutiveFailures)", "retry_in_ms": "\(delay)",
                    ])
                    retryingCount = deliverable.count
                    try? await Task.sleep(for: .milliseconds(delay))
                    retryingCount = 0
                    if Task.isCancelled { return }
                    breaker.probeDue()
                case .permanent(let error):
                    breaker.succeeded()
                    // Refuse the messages that do not encode (all of them when none can be singled out), park
                    // their aggregates' later events, and write the rest.
                    let unencodable = Set(deliverable.filter { offset in pending[offset].map { (try? $0.message.json()) == nil } ?? false })
                    var rest: [UInt64] = []
                    for offset in deliverable {
                        guard let entry = pending[offset] else { continue }
                        if unencodable.isEmpty || unencodable.contains(offset) {
                            guard await settleRefused(offset, entry: entry, error: error) else { return }
                        } else if parked[entry.key] != nil {
                            guard await settleParked(offset, entry: entry) else { return }
                        } else {
                            rest.append(offset)
                        }
                    }
                    deliverable = rest
                }
            }
            batchQueue.removeFirst(offsets.count)
        }
    }

    /// Dead-letters a refused event of a batch (holding the position while the store cannot take
    /// it) and parks its aggregate; false when cancelled meanwhile.
    private func settleRefused(_ offset: UInt64, entry: Pending, error: String) async -> Bool {
        let blocker = parked[entry.key]?.blocker
        while !(await deadLetter(offset, error: error, blockedBy: blocker)) {
            try? await Task.sleep(for: .milliseconds(limits.backoffMaxMilliseconds))
            if Task.isCancelled { return false }
        }
        parked[entry.key, default: Parking()].letters[offset] = entry.message.eventId
        settle(offset)
        return true
    }

    /// Parks an event of a parked aggregate of a batch; false when cancelled meanwhile.
    private func settleParked(_ offset: UInt64, entry: Pending) async -> Bool {
        guard let blocker = parked[entry.key]?.blocker else { return true }
        while !(await deadLetter(offset, error: "blocked by \(blocker): an earlier event of \(entry.key) is a dead letter", blockedBy: blocker)) {
            try? await Task.sleep(for: .milliseconds(limits.backoffMaxMilliseconds))
            if Task.isCancelled { return false }
        }
        parked[entry.key]?.letters[offset] = entry.message.eventId
        settle(offset)
        return true
    }
}
