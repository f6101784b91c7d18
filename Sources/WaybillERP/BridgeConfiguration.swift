// The bridge's configuration: where it reads, where it delivers, and every limit, named, with a
// default and a clear error when a value is out of range.

import Foundation
import WaybillClient
import WaybillWire

/// Every limit of the bridge. Each has a default; `validate()` names the one that is wrong.
public struct BridgeLimits: Hashable, Sendable {
    /// Attempts `replay` makes per dead letter against transient failures before it leaves the
    /// letter in the store (the running bridge never gives up on a transient failure: its circuit
    /// breaker pauses delivery instead, so there is no attempt limit for it).
    public var replayAttemptsMax = 8
    /// How long the circuit breaker stays open after the first transient failure; doubles with
    /// each further one up to backoffMaxMilliseconds, with jitter (also replay's retry delay).
    public var backoffBaseMilliseconds: Int64 = 200
    public var backoffMaxMilliseconds: Int64 = 30_000
    /// The longest `Retry-After` honoured (seconds or an HTTP date); longer asks wait this long.
    public var retryAfterMaxMilliseconds: Int64 = 300_000
    /// Webhook requests in flight at once (one per order at most: per-order order is kept).
    public var deliveryConcurrencyMax = 16
    /// A webhook request without an answer after this long is a timeout (retried).
    public var requestTimeoutMilliseconds: Int64 = 10_000
    /// Change-feed events the server may send beyond the bridge's acknowledged offset.
    public var windowEvents: UInt32 = 4_096
    /// Events per change-feed frame.
    public var eventsPerFrame: UInt32 = 256
    /// Events in one file of the file-drop target.
    public var fileBatchEventsMax = 1_000
    /// How long the file-drop target waits for a batch to fill before writing a smaller one.
    public var fileBatchLingerMilliseconds: Int64 = 200
    /// Messages the dead-letter store may hold; when it is full the bridge stops advancing (and
    /// says so) instead of dropping anything.
    public var deadLettersMax = 100_000
    /// How often the delivered watermark is acknowledged to the server.
    public var ackIntervalMilliseconds: Int64 = 50
    /// How often progress is logged and reported to the server (ReportBridgeStatus).
    public var statusIntervalMilliseconds: Int64 = 2_000
    /// Dead letters (the oldest) listed in each status report; the server refuses a report listing
    /// more than its own bridgeDeadLettersReportedMax (the same default).
    public var bridgeDeadLettersReportedMax = TransportLimits().bridgeDeadLettersReportedMax
    /// Reconnection backoff when the server is down.
    public var reconnectBaseMilliseconds: Int64 = 200
    public var reconnectMaxMilliseconds: Int64 = 10_000
    /// How often the webhook secret file is checked for a change (a rotation takes effect without
    /// a restart); 0 = never.
    public var webhookSecretReloadCheckMilliseconds: Int64 = 1_000

    public init() {}

    /// Every limit by name, value and meaning (logged at start, documented in docs/ERP.md).
    public var named: [(name: String, value: Int64, description: String)] {
        [
            ("replayAttemptsMax", Int64(replayAttemptsMax), "replay's attempts per dead letter against transient failures"),
            ("backoffBaseMilliseconds", backoffBaseMilliseconds, "first circuit-breaker pause (doubles per failure, with jitter)"),
            ("backoffMaxMilliseconds", backoffMaxMilliseconds, "longest circuit-breaker pause"),
            ("retryAfterMaxMilliseconds", retryAfterMaxMilliseconds, "longest Retry-After honoured"),
            ("deliveryConcurrencyMax", Int64(deliveryConcurrencyMax), "webhook requests in flight"),
            ("requestTimeoutMilliseconds", requestTimeoutMilliseconds, "webhook request timeout"),
            ("windowEvents", Int64(windowEvents), "unacknowledged change-feed events"),
            ("eventsPerFrame", Int64(eventsPerFrame), "events per change-feed frame"),
            ("fileBatchEventsMax", Int64(fileBatchEventsMax), "events per dropped file"),
            ("fileBatchLingerMilliseconds", fileBatchLingerMilliseconds, "wait for a file batch to fill"),
            ("deadLettersMax", Int64(deadLettersMax), "messages in the dead-letter store"),
            ("ackIntervalMilliseconds", ackIntervalMilliseconds, "acknowledgement interval"),
            ("statusIntervalMilliseconds", statusIntervalMilliseconds, "progress log and status report interval"),
            ("bridgeDeadLettersReportedMax", Int64(bridgeDeadLettersReportedMax), "dead letters listed per status report (the oldest)"),
            ("reconnectBaseMilliseconds", reconnectBaseMilliseconds, "first reconnection delay"),
            ("reconnectMaxMilliseconds", reconnectMaxMilliseconds, "longest reconnection delay"),
            ("webhookSecretReloadCheckMilliseconds", webhookSecretReloadCheckMilliseconds, "webhook secret file change check interval (0 = never)"),
        ]
    }

    public func validate() throws(BridgeConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: Int64, _ rule: String) throws(BridgeConfigurationError) {
            if !ok { throw BridgeConfigurationError("\(name) must be \(rule), got \(value)") }
        }
        try check(replayAttemptsMax >= 1 && replayAttemptsMax <= 1_000, "replayAttemptsMax", Int64(replayAttemptsMax), "between 1 and 1000")
        try check(backoffBaseMilliseconds >= 1, "backoffBaseMilliseconds", backoffBaseMilliseconds, "at least 1")
        try check(backoffMaxMilliseconds >= backoffBaseMilliseconds, "backoffMaxMilliseconds", backoffMaxMilliseconds,
                  "at least backoffBaseMilliseconds (\(backoffBaseMilliseconds))")
        try check(retryAfterMaxMilliseconds >= 0, "retryAfterMaxMilliseconds", retryAfterMaxMilliseconds, "at least 0")
        try check(deliveryConcurrencyMax >= 1 && deliveryConcurrencyMax <= 1_024, "deliveryConcurrencyMax", Int64(deliveryConcurrencyMax), "between 1 and 1024")
        try check(requestTimeoutMilliseconds >= 1, "requestTimeoutMilliseconds", requestTimeoutMilliseconds, "at least 1")
        try check(windowEvents >= 1 && windowEvents <= 65_536, "windowEvents", Int64(windowEvents), "between 1 and 65536 (the server's subscriptionWindowEventsMax)")
        try check(eventsPerFrame >= 1 && eventsPerFrame <= 1_024, "eventsPerFrame", Int64(eventsPerFrame), "between 1 and 1024 (the server's eventsPerFrameMax)")
        try check(fileBatchEventsMax >= 1 && fileBatchEventsMax <= 1_000_000, "fileBatchEventsMax", Int64(fileBatchEventsMax), "between 1 and 1000000")
        try check(fileBatchLingerMilliseconds >= 0, "fileBatchLingerMilliseconds", fileBatchLingerMilliseconds, "at least 0")
        try check(deadLettersMax >= 1, "deadLettersMax", Int64(deadLettersMax), "at least 1")
        try check(ackIntervalMilliseconds >= 1, "ackIntervalMilliseconds", ackIntervalMilliseconds, "at least 1")
        try check(statusIntervalMilliseconds >= 10, "statusIntervalMilliseconds", statusIntervalMilliseconds, "at least 10")
        try check(bridgeDeadLettersReportedMax >= 0 && bridgeDeadLettersReportedMax <= TransportLimits().bridgeDeadLettersReportedMax,
                  "bridgeDeadLettersReportedMax", Int64(bridgeDeadLettersReportedMax),
                  "between 0 and \(TransportLimits().bridgeDeadLettersReportedMax) (the server's bridgeDeadLettersReportedMax)")
        try check(reconnectBaseMilliseconds >= 1, "reconnectBaseMilliseconds", reconnectBaseMilliseconds, "at least 1")
        try check(reconnectMaxMilliseconds >= reconnectBaseMilliseconds, "reconnectMaxMilliseconds", reconnectMaxMilliseconds,
                  "at least reconnectBaseMilliseconds (\(reconnectBaseMilliseconds))")
        try check(webhookSecretReloadCheckMilliseconds == 0 || webhookSecretReloadCheckMilliseconds >= 10, "webhookSecretReloadCheckMilliseconds",
                  webhookSecretReloadCheckMilliseconds, "0 (never) or at least 10")
    }
}

public struct BridgeConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where messages go.
public enum BridgeTargetKind: Sendable, Hashable {
    /// POST one JSON message per event to a URL.
    case webhook(url: String)
    /// Write batches of events as files into a directory.
    case files(directory: String, format: FileFormat)
}

public enum FileFormat: String, Sendable, Hashable, CaseIterable {
    case jsonl
    case csv
}

public struct BridgeConfiguration: Sendable {
    /// The Waybill server, "HOST:PORT".
    public var server: String
    /// The named consumer: its acknowledged offset is kept on the server.
    public var consumer: String
    public var target: BridgeTargetKind
    /// Where the dead-letter store lives.
    public var stateDirectory: String
    public var limits = BridgeLimits()
    /// Recorded as the client id of the bridge's calls.
    public var clientID = "waybill-erp-bridge"
    /// How the bridge reaches Waybill: its `erp` credential's token and TLS (the client id and the
    /// call deadline are the bridge's own).
    public var connection = ClientConfiguration()
    /// The webhook signing secrets (one, or two while rotating). A webhook target needs them
    /// unless `unsignedWebhooks` says, explicitly, to deliver unsigned.
    public var webhookSecrets: WebhookSecrets?
    /// The file `webhookSecrets` were read from: the running bridge reads it again when it changes
    /// (every webhookSecretReloadCheckMilliseconds), so a rotation needs no restart.
    public var webhookSecretFile: String?
    public var unsignedWebhooks = false
    /// A PEM bundle of the CAs that sign the ERP's certificate, instead of the system's roots.
    public var webhookTrustedCertificatesFile: String?
    /// Allows an http:// (plaintext) webhook to a host other than the loopback.
    public var plaintextWebhook = false

    public init(server: String, consumer: String, target: BridgeTargetKind, stateDirectory: String) {
        self.server = server
        self.consumer = consumer
        self.target = target
        self.stateDirectory = stateDirectory
    }

    public func validate() throws(BridgeConfigurationError) {
        try limits.validate()
        if consumer.isEmpty || consumer.utf8.count > 128 || consumer.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) {
            throw BridgeConfigurationError("consumer must be 1...128 bytes without spaces, got \"\(consumer)\"")
        }
        if stateDirectory.isEmpty { throw BridgeConfigurationError("a state directory is required (dead letters live there)") }
        switch target {
        case .webhook(let url):
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = parsed.host, !host.isEmpty else {
                throw BridgeConfigurationError("webhook must be an http:// or https:// URL, got \"\(Self.redacted(url))\"")
            }
            if parsed.user != nil || parsed.password != nil {
                throw BridgeConfigurationError("""
                    the webhook URL carries credentials (user:password@): they would be visible in the process list and the \
                    logs; let the ERP verify the Waybill-Signature instead
                    """)
            }
            if scheme == "http" && !plaintextWebhook && !Self.isLoopback(host) {
                throw BridgeConfigurationError("""
                    the webhook \(Self.redacted(url)) is plaintext http to another host: use https, or give --plaintext-webhook \
                    to send order data unencrypted
                    """)
            }
            if scheme == "http" && webhookTrustedCertificatesFile != nil {
                throw BridgeConfigurationError("--webhook-ca applies to an https:// webhook, not \(Self.redacted(url))")
            }
            switch (webhookSecrets, unsignedWebhooks) {
            case (nil, false):
                throw BridgeConfigurationError("""
                    a webhook bridge signs every delivery: give the secret in a file (--webhook-secret-file FILE, mode 0600) \
                    or in \(WebhookSecrets.environmentVariable), or --unsigned-webhooks to deliver unsigned
                    """)
            case (_?, true):
                throw BridgeConfigurationError("--unsigned-webhooks and a webhook secret contradict each other: give one")
            default:
                break
            }
        case .files(let directory, _):
            if directory.isEmpty { throw BridgeConfigurationError("the drop directory must not be empty") }
            if webhookSecrets != nil || webhookTrustedCertificatesFile != nil {
                throw BridgeConfigurationError("webhook secrets and --webhook-ca apply to a --webhook target, not to --drop-dir")
            }
        }
    }

    /// The delivery target this configuration describes (the bridge's and `replay`'s).
    public func makeDeliveryTarget() throws(BridgeConfigurationError) -> any DeliveryTarget {
        switch target {
        case .webhook(let url):
            try WebhookTarget(url: url, requestTimeoutMilliseconds: limits.requestTimeoutMilliseconds, secrets: webhookSecrets,
                              trustedCertificatesFile: webhookTrustedCertificatesFile)
        case .files(let directory, let format):
            FileDropTarget(directory: directory, format: format)
        }
    }

    /// How deliveries are signed, for the start-up log (never a secret).
    public var signingDescription: String {
        guard case .webhook = target else { return "none (file drop)" }
        if let webhookSecrets { return "HMAC-SHA256 with \(webhookSecrets.count) secret\(webhookSecrets.count == 1 ? "" : "s")" }
        return "unsigned (--unsigned-webhooks)"
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare.lowercased() == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The URL without its query (which may hold an access key some ERPs ask for): what is logged and reported.
    static func redacted(_ url: String) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        return url[..<query] + "?(query redacted)"
    }

    /// "webhook http://..." or "files /path (jsonl)": the BridgeStatus target.
    public var targetDescription: String {
        switch target {
        case .webhook(let url): "webhook \(Self.redacted(url))"
        case .files(let directory, let format): "files \(directory) (\(format.rawValue))"
        }
    }
}
