// `waybill erp-bridge` (deliver the change feed to the ERP; list and replay dead letters).
// `waybill reconcile` lives in ReconcileCommand.swift.

import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

struct ErpBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erp-bridge",
        abstract: "Deliver the change feed to the ERP (webhook or file drop); list and replay dead letters.",
        discussion: """
            Runs as a named consumer of the change feed: each event becomes a JSON message (webhook: one POST per \
            event with Idempotency-Key = event id; file drop: JSON-lines or CSV batches written atomically). A \
            transient failure (connection refused, timeout, 5xx, 408, 429 with Retry-After, disk full) pauses all \
            delivery (circuit breaker, exponential backoff with jitter up to --backoff-max-ms) and never dead-letters: \
            the feed is not acknowledged past an undelivered event. A permanent refusal (other 4xx) is dead-lettered \
            under --state-dir, and the later events of its order are parked behind it until `replay` delivers them \
            in order. Examples:
              waybill erp-bridge --server 127.0.0.1:7400 --consumer erp --webhook http://erp.local/waybill --state-dir ./bridge
              waybill erp-bridge --server 127.0.0.1:7400 --consumer erp-files --drop-dir /srv/erp/inbox --format csv --state-dir ./bridge
              waybill erp-bridge dead-letters --state-dir ./bridge
              waybill erp-bridge replay --all --state-dir ./bridge --webhook http://erp.local/waybill
            """,
        subcommands: [ErpBridgeRun.self, ErpDeadLetters.self, ErpReplay.self],
        defaultSubcommand: ErpBridgeRun.self)
}

struct ErpTargetOptions: ParsableArguments {
    @Option(help: "Deliver each event as a JSON POST to this URL.")
    var webhook: String?

    @Option(help: "Deliver batches of events as files into this directory.")
    var dropDir: String?

    @Option(help: "File format of --drop-dir: jsonl or csv.")
    var format: String = "jsonl"

    func target() throws -> BridgeTargetKind {
        switch (webhook, dropDir) {
        case (let url?, nil): return .webhook(url: url)
        case (nil, let directory?):
            guard let fileFormat = FileFormat(rawValue: format) else { throw ValidationError("--format must be jsonl or csv, got \(format)") }
            return .files(directory: directory, format: fileFormat)
        case (nil, nil): throw ValidationError("give a target: --webhook URL or --drop-dir DIR")
        case (_?, _?): throw ValidationError("give one target: --webhook or --drop-dir, not both")
        }
    }
}

struct ErpLimitOptions: ParsableArguments {
    /// Removed: it dead-lettered every event of a down ERP within seconds. Kept, hidden, to say so
    /// instead of "unknown option".
    @Option(help: .hidden)
    var maxAttempts: Int?
    @Option(help: "replay: attempts per dead letter against transient failures before it stays in the store (replayAttemptsMax).")
    var replayAttempts = BridgeLimits().replayAttemptsMax
    @Option(help: "First circuit-breaker pause in ms after a transient failure (backoffBaseMilliseconds); doubles per failure, with jitter.")
    var backoffBaseMs = BridgeLimits().backoffBaseMilliseconds
    @Option(help: "Longest circuit-breaker pause in ms (backoffMaxMilliseconds).")
    var backoffMaxMs = BridgeLimits().backoffMaxMilliseconds
    @Option(help: "Longest Retry-After honoured, in ms (retryAfterMaxMilliseconds).")
    var retryAfterMaxMs = BridgeLimits().retryAfterMaxMilliseconds
    @Option(help: "Webhook requests in flight (deliveryConcurrencyMax).")
    var concurrency = BridgeLimits().deliveryConcurrencyMax
    @Option(help: "Webhook request timeout in ms (requestTimeoutMilliseconds).")
    var requestTimeoutMs = BridgeLimits().requestTimeoutMilliseconds
    @Option(help: "Unacknowledged change-feed events (windowEvents).")
    var window = BridgeLimits().windowEvents
    @Option(help: "Events per dropped file (fileBatchEventsMax).")
    var fileBatchMax = BridgeLimits().fileBatchEventsMax
    @Option(help: "Wait for a file batch to fill, in ms (fileBatchLingerMilliseconds).")
    var fileLingerMs = BridgeLimits().fileBatchLingerMilliseconds
    @Option(help: "Messages the dead-letter store may hold (deadLettersMax).")
    var deadLettersMax = BridgeLimits().deadLettersMax
    @Option(help: "Acknowledgement interval in ms (ackIntervalMilliseconds).")
    var ackIntervalMs = BridgeLimits().ackIntervalMilliseconds
    @Option(help: "Progress log and status report interval in ms (statusIntervalMilliseconds).")
    var statusIntervalMs = BridgeLimits().statusIntervalMilliseconds
    @Option(help: "First reconnection delay in ms (reconnectBaseMilliseconds).")
    var reconnectBaseMs = BridgeLimits().reconnectBaseMilliseconds
    @Option(help: "Longest reconnection delay in ms (reconnectMaxMilliseconds).")
    var reconnectMaxMs = BridgeLimits().reconnectMaxMilliseconds

    func validate() throws {
        if maxAttempts != nil {
            throw ValidationError("""
                --max-attempts was removed: transient failures (connection refused, timeouts, 5xx, 408, 429) now pause \
                delivery until the ERP takes the oldest undelivered event, and are never dead-lettered; permanent refusals \
                (other 4xx) are dead-lettered at once. Pace the pauses with --backoff-base-ms/--backoff-max-ms; replay's \
                attempts are --replay-attempts.
                """)
        }
    }

    var limits: BridgeLimits {
        var limits = BridgeLimits()
        limits.replayAttemptsMax = replayAttempts
        limits.backoffBaseMilliseconds = backoffBaseMs
        limits.backoffMaxMilliseconds = backoffMaxMs
        limits.retryAfterMaxMilliseconds = retryAfterMaxMs
        limits.deliveryConcurrencyMax = concurrency
        limits.requestTimeoutMilliseconds = requestTimeoutMs
        limits.windowEvents = window
        limits.fileBatchEventsMax = fileBatchMax
        limits.fileBatchLingerMilliseconds = fileLingerMs
        limits.deadLettersMax = deadLettersMax
        limits.ackIntervalMilliseconds = ackIntervalMs
        limits.statusIntervalMilliseconds = statusIntervalMs
        limits.reconnectBaseMilliseconds = reconnectBaseMs
        limits.reconnectMaxMilliseconds = reconnectMaxMs
        return limits
    }
}

struct ErpBridgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the bridge until SIGTERM/SIGINT (the default).")

    @Option(help: "Server address HOST:PORT (default: $WAYBILL_SERVER, else 127.0.0.1:7400).")
    var server = CallOptions.defaultAddress
    @Option(help: "Consumer name: its acknowledged offset is kept on the server.")
    var consumer = "erp"
    @OptionGroup var target: ErpTargetOptions
    @Option(help: "State directory (the dead-letter store).")
    var stateDir: String
    @OptionGroup var limits: ErpLimitOptions
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        var configuration = BridgeConfiguration(server: server, consumer: consumer, target: try target.target(), stateDirectory: stateDir)
        configuration.limits = limits.limits
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "waybill-erp-bridge")
        let bridge = try ErpBridge(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [BridgeService(bridge: bridge)], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try await group.run()
    }
}

struct BridgeService: Service {
    let bridge: ErpBridge
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await bridge.run() }
    }
}

struct ErpDeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dead-letters", abstract: "List the dead-letter store.")

    @Option(help: "State directory of the bridge.")
    var stateDir: String
    @Flag(help: "Print the dead letters as JSON (one per line).")
    var json = false

    func run() async throws {
        let letters = try DeadLetterStore(stateDirectory: stateDir).list()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for letter in letters { print(String(decoding: try encoder.encode(letter), as: UTF8.self)) }
            return
        }
        let parked = letters.filter { $0.blockedBy != nil }.count
        let breakdown = letters.isEmpty ? "" : ": \(letters.count - parked) refused by the ERP, \(parked) parked behind them "
            + "(replay a refused one to deliver it and its parked events, in order)"
        print("\(letters.count) dead letter\(letters.count == 1 ? "" : "s") in \(stateDir)/dead-letters" + breakdown)
        for letter in letters {
            let subject = letter.message.orderId ?? letter.message.aggregateId
            let why = letter.blockedBy.map { "parked behind \($0)" } ?? letter.lastError
            print("\(letter.id)\t\(letter.message.type)\t\(subject)\tattempts \(letter.attempts)\t\(letter.target)\t\(why)")
        }
    }
}

struct ErpReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Deliver dead letters again (by event id with the events parked behind it, or --all), in offset order; delivered ones leave the store.")

    @Argument(help: "Event ids of the dead letters to replay (evt-123 ...).")
    var ids: [String] = []
    @Flag(help: "Replay every dead letter.")
    var all = false
    @Option(help: "State directory of the bridge.")
    var stateDir: String
    @OptionGroup var target: ErpTargetOptions
    @OptionGroup var limits: ErpLimitOptions

    func validate() throws {
        if all == !ids.isEmpty { throw ValidationError("give dead-letter ids or --all (not both)") }
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let kind = try target.target()
        var configuration = BridgeConfiguration(server: "127.0.0.1:1", consumer: "replay", target: kind, stateDirectory: stateDir)
        configuration.limits = limits.limits
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        let deliveryTarget: any DeliveryTarget = switch kind {
        case .webhook(let url): WebhookTarget(url: url, requestTimeoutMilliseconds: configuration.limits.requestTimeoutMilliseconds)
        case .files(let directory, let format): FileDropTarget(directory: directory, format: format)
        }
        let report = try await DeadLetterReplay.replay(
            store: try DeadLetterStore(stateDirectory: stateDir), ids: all ? nil : ids, target: deliveryTarget,
            targetDescription: configuration.targetDescription, limits: configuration.limits, logger: Logger(label: "waybill-erp-bridge"))
        await deliveryTarget.shutdown()
        for id in report.delivered { print("delivered \(id)") }
        for (id, error) in report.failed { print("failed \(id): \(error)") }
        for id in report.unknown { print("unknown \(id): not in the dead-letter store") }
        print("\(report.delivered.count) delivered, \(report.failed.count) failed, \(report.unknown.count) unknown")
        if !report.failed.isEmpty || !report.unknown.isEmpty { throw ExitCode(1) }
    }
}
