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
            in order. Webhook requests are signed (Waybill-Signature: t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, \
            "<t>.<body>")), one v1 per secret) with the secret(s) of --webhook-secret-file (mode 0600) or \
            $WAYBILL_WEBHOOK_SECRET; a webhook bridge without a secret refuses to start unless --unsigned-webhooks. \
            The bridge calls Waybill as an erp credential (--token-file or $WAYBILL_TOKEN), over TLS with --tls-ca or \
            --tls. docs/ERP.md. Examples:
              waybill erp-bridge new-webhook-secret /etc/waybill/webhook.secret
              waybill erp-bridge --server waybill.internal:7400 --tls-ca ca.pem --token-file erp.token --consumer erp \
            --webhook https://erp.example/waybill --webhook-secret-file /etc/waybill/webhook.secret --state-dir ./bridge
              waybill erp-bridge --server 127.0.0.1:7400 --token-file erp.token --consumer erp-files --drop-dir /srv/erp/inbox \
            --format csv --state-dir ./bridge
              waybill erp-bridge dead-letters --state-dir ./bridge
              waybill erp-bridge replay --all --state-dir ./bridge --webhook https://erp.example/waybill --webhook-secret-file /etc/waybill/webhook.secret
            """,
        subcommands: [ErpBridgeRun.self, ErpDeadLetters.self, ErpReplay.self, ErpNewWebhookSecret.self],
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

/// How webhook requests are signed and whom the HTTPS client trusts. No option takes a secret
/// itself: the command line is readable by every local user.
struct ErpWebhookSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A file (mode 0600) holding the webhook signing secret; two secrets, one per line, while rotating.",
                               valueName: "file"))
    var webhookSecretFile: String?
    @Flag(help: "Deliver webhooks unsigned (without a secret a webhook bridge refuses to start).")
    var unsignedWebhooks = false
    @Option(help: ArgumentHelp("A PEM bundle of the CA(s) that sign the ERP's certificate, instead of the system's roots.", valueName: "pem"))
    var webhookCa: String?
    @Flag(help: "Allow an http:// webhook to a host other than the loopback (order data unencrypted).")
    var plaintextWebhook = false

    /// Fills the configuration's webhook security from the options and the environment.
    func apply(to configuration: inout BridgeConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        do {
            let fromEnvironment = try WebhookSecrets.fromEnvironment(environment)
            switch (webhookSecretFile, fromEnvironment) {
            case (let file?, nil):
                configuration.webhookSecrets = try WebhookSecrets.load(file: file)
                configuration.webhookSecretFile = file
            case (nil, let secrets?): configuration.webhookSecrets = secrets
            case (nil, nil): configuration.webhookSecrets = nil
            case (_?, _?):
                throw ValidationError("give the webhook secret once: --webhook-secret-file or \(WebhookSecrets.environmentVariable), not both")
            }
        } catch let error as WebhookSecretError {
            throw ValidationError(error.description)
        }
        configuration.unsignedWebhooks = unsignedWebhooks
        configuration.webhookTrustedCertificatesFile = webhookCa
        configuration.plaintextWebhook = plaintextWebhook
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
    @Option(help: "How often the webhook secret file is checked for a change, in ms; 0 = never (webhookSecretReloadCheckMilliseconds).")
    var secretReloadCheckMs = BridgeLimits().webhookSecretReloadCheckMilliseconds

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
        limits.webhookSecretReloadCheckMilliseconds = secretReloadCheckMs
        return limits
    }
}

struct ErpBridgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the bridge until SIGTERM/SIGINT (the default).")

    @Option(help: "Server address HOST:PORT (default: $WAYBILL_SERVER, else 127.0.0.1:7400).")
    var server = CallOptions.defaultAddress
    @OptionGroup(title: "Connection to Waybill (the bridge's erp credential, TLS)") var connection: ConnectionOptions
    @Option(help: "Consumer name: its acknowledged offset is kept on the server.")
    var consumer = "erp"
    @OptionGroup var target: ErpTargetOptions
    @OptionGroup var webhookSecurity: ErpWebhookSecurityOptions
    @Option(help: "State directory (the dead-letter store).")
    var stateDir: String
    @OptionGroup var limits: ErpLimitOptions
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        var configuration = BridgeConfiguration(server: server, consumer: consumer, target: try target.target(), stateDirectory: stateDir)
        configuration.limits = limits.limits
        try connection.apply(to: &configuration.connection)
        try webhookSecurity.apply(to: &configuration)
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
    @OptionGroup var webhookSecurity: ErpWebhookSecurityOptions
    @OptionGroup var limits: ErpLimitOptions

    func validate() throws {
        if all == !ids.isEmpty { throw ValidationError("give dead-letter ids or --all (not both)") }
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let kind = try target.target()
        var configuration = BridgeConfiguration(server: "127.0.0.1:1", consumer: "replay", target: kind, stateDirectory: stateDir)
        configuration.limits = limits.limits
        try webhookSecurity.apply(to: &configuration)
        let deliveryTarget: any DeliveryTarget
        do {
            try configuration.validate()
            deliveryTarget = try configuration.makeDeliveryTarget()
        } catch {
            throw ValidationError(error.description)
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

struct ErpNewWebhookSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-webhook-secret",
        abstract: "Write a new webhook signing secret (32 random bytes) to a new file, mode 0600; nothing is printed.",
        discussion: """
            Give the file to --webhook-secret-file and its content to the ERP's receiver. To rotate: write a second \
            secret and append it to the bridge's secret file (the running bridge reads the file again when it changes \
            and signs with both), switch the receiver to the new secret, then remove the old line. docs/ERP.md.
            """)

    @Argument(help: "The file to create (an existing file is refused).")
    var file: String

    func run() async throws {
        do {
            try WebhookSecrets.writeNew(to: file)
        } catch {
            throw ValidationError(error.description)
        }
        print("wrote a new webhook secret to \(file) (mode 0600)")
    }
}
