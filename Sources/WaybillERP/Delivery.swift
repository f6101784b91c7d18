// Delivery targets (webhook, file drop), their outcomes, and the retry policy.

import AsyncHTTPClient
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// What one delivery attempt came to.
public enum DeliveryResult: Sendable, Hashable {
    case delivered
    /// Transient (5xx, 408, 429, timeouts, connection failures, I/O errors such as ENOSPC): the
    /// bridge's circuit breaker opens and pauses all delivery; nothing is dead-lettered for it.
    case retry(String, retryAfterMilliseconds: Int64?)
    /// The target refused the message for good (4xx other than 408/429, a message that does not
    /// encode): dead-letter it, and park the later events of its aggregate behind it.
    case permanent(String)
}

/// The `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
public enum RetryAfter {
    /// Milliseconds to wait from `now`; nil when absent or unparseable; 0 for a date in the past.
    public static func milliseconds(_ value: String?, now: Date) -> Int64? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value) {
            guard seconds >= 0 else { return nil }
            let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
            return overflow ? Int64.max : milliseconds
        }
        for format in httpDateFormats {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: value) {
                return max(0, Int64((date.timeIntervalSince(now) * 1_000).rounded(.up)))
            }
        }
        return nil
    }

    /// IMF-fixdate, then the obsolete RFC 850 and asctime forms recipients must accept.
    static let httpDateFormats = ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"]
}

/// A place messages go. Webhook targets take one message per call; file targets a batch.
public protocol DeliveryTarget: Sendable {
    /// One message per call (true) or ordered batches (false).
    var deliversSingly: Bool { get }
    func deliver(_ messages: [ErpMessage]) async -> DeliveryResult
    func shutdown() async
}

/// Exponential backoff with "equal jitter": attempt n waits between half and all of
/// min(max, base × 2^(n−1)); the random part comes from an injected source.
public struct Backoff: Sendable, Hashable {
    public var baseMilliseconds: Int64
    public var maxMilliseconds: Int64

    public init(baseMilliseconds: Int64, maxMilliseconds: Int64) {
        self.baseMilliseconds = baseMilliseconds
        self.maxMilliseconds = maxMilliseconds
    }

    /// `attempt` counts from 1 (the delay after the first failure); `random` is in [0, 1).
    public func delayMilliseconds(attempt: Int, random: Double) -> Int64 {
        let shift = min(max(attempt - 1, 0), 40)
        let (scaled, overflow) = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        let ceiling = overflow ? maxMilliseconds : min(maxMilliseconds, scaled)
        let half = ceiling / 2
        return half + Int64(Double(ceiling - half) * min(max(random, 0), 1))
    }
}

/// Random numbers in [0, 1) for jitter; tests inject a deterministic one.
public typealias RandomSource = @Sendable () -> Double

public let systemRandom: RandomSource = { Double.random(in: 0..<1) }

// MARK: - Webhook

/// POSTs each message as JSON with `Idempotency-Key: <event id>`, signed (`Waybill-Signature`, see
/// WebhookSignature) unless the bridge was explicitly configured unsigned, with a fresh
/// `Waybill-Delivery-Id` per attempt. 2xx = delivered; 408, 429, 5xx, 401/403 (the ERP refuses
/// the signature: every message would be refused alike) and 3xx (redirects are not followed) =
/// transient (Retry-After in seconds or as an HTTP-date is passed on); other statuses = permanent;
/// timeouts, connection and TLS errors = transient. TLS certificates are always verified (against
/// the system's roots, or only the given CA bundle).
public final class WebhookTarget: DeliveryTarget {
    public let url: String
    let timeoutMilliseconds: Int64
    let client: HTTPClient
    /// Replaced whole when the secret file changes (a rotation); nil = unsigned.
    private let currentSecrets: Mutex<WebhookSecrets?>
    let unixSeconds: @Sendable () -> Int64

    /// `secrets` nil sends unsigned requests (only when configured so, `--unsigned-webhooks`);
    /// `trustedCertificatesFile` is a PEM bundle that replaces the system's roots (a private CA).
    public init(url: String, requestTimeoutMilliseconds: Int64, secrets: WebhookSecrets?, trustedCertificatesFile: String? = nil,
                unixSeconds: @escaping @Sendable () -> Int64 = WebhookTarget.systemUnixSeconds) throws(BridgeConfigurationError) {
        self.url = url
        timeoutMilliseconds = requestTimeoutMilliseconds
        currentSecrets = Mutex(secrets)
        self.unixSeconds = unixSeconds
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = try Self.tlsConfiguration(trustedCertificatesFile: trustedCertificatesFile)
        // A redirect would be followed with the body re-sent to a URL nobody configured (or downgraded to http).
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .milliseconds(min(requestTimeoutMilliseconds, 5_000)), read: .milliseconds(requestTimeoutMilliseconds))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public static let systemUnixSeconds: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

    /// The secrets deliveries are signed with from now on.
    public var secrets: WebhookSecrets? {
        get { currentSecrets.withLock { $0 } }
        set { currentSecrets.withLock { $0 = newValue } }
    }

    /// Full verification (chain and host name), TLS 1.2 at least. No option turns verification off.
    static func tlsConfiguration(trustedCertificatesFile: String?) throws(BridgeConfigurationError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let trustedCertificatesFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(trustedCertificatesFile)
            } catch {
                throw BridgeConfigurationError("--webhook-ca \(trustedCertificatesFile): not a readable PEM certificate bundle (\(error))")
            }
            guard !certificates.isEmpty else {
                throw BridgeConfigurationError("--webhook-ca \(trustedCertificatesFile): no certificate in the file")
            }
            tls.trustRoots = .certificates(certificates)
        }
        return tls
    }

    public var deliversSingly: Bool { true }

    public func deliver(_ messages: [ErpMessage]) async -> DeliveryResult {
        for message in messages {
            let result = await post(message)
            if result != .delivered { return result }
        }
        return .delivered
    }

    func post(_ message: ErpMessage) async -> DeliveryResult {
        let body: Data
        do {
            body = try message.json()
        } catch {
            return .permanent("message \(message.eventId) does not encode: \(error)")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: message.idempotencyKey)
        request.headers.add(name: "User-Agent", value: "waybill-erp-bridge")
        request.headers.add(name: WebhookSignature.deliveryIdHeader, value: UUID().uuidString.lowercased())
        if let secrets {
            // Signed at each attempt: a retry after an outage carries a fresh timestamp.
            request.headers.add(name: WebhookSignature.header, value: WebhookSignature.header(timestamp: unixSeconds(), body: body, secrets: secrets))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeoutMilliseconds))
            let answer = try await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            let text = String(buffer: answer).prefix(200)
            switch code {
            case 200..<300:
                return .delivered
            case 408, 429, 500...599:
                let retryAfter = RetryAfter.milliseconds(response.headers.first(name: "Retry-After"), now: Date())
                return .retry("HTTP \(code) \(text)", retryAfterMilliseconds: retryAfter)
            case 401, 403:
                // The ERP refuses who is sending (secret, clock), not this message: pause, lose nothing.
                let retryAfter = RetryAfter.milliseconds(response.headers.first(name: "Retry-After"), now: Date())
                return .retry("HTTP \(code) \(text): the ERP refused the request's signature (check the webhook secret and both clocks)",
                              retryAfterMilliseconds: retryAfter)
            case 300..<400:
                return .retry("HTTP \(code) redirect to \(response.headers.first(name: "Location")?.prefix(200) ?? "nowhere"): redirects are not followed; "
                              + "give the final URL as --webhook", retryAfterMilliseconds: nil)
            default:
                return .permanent("HTTP \(code) \(text)")
            }
        } catch {
            return .retry("\(error)", retryAfterMilliseconds: nil)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}

// MARK: - File drop

/// Writes each batch as one file, atomically: a hidden temporary file in the same directory,
/// fsync, rename to `waybill-<first offset>-<last offset>.<jsonl|csv>`, fsync the directory.
/// ERPs import files in name order (offsets are zero-padded), which is commit order.
public final class FileDropTarget: DeliveryTarget {
    public let directory: String
    public let format: FileFormat

    public init(directory: String, format: FileFormat) {
        self.directory = directory
        self.format = format
    }

    public var deliversSingly: Bool { false }

    public static func fileName(first: UInt64, last: UInt64, format: FileFormat) -> String {
        "waybill-\(pad(first))-\(pad(last)).\(format.rawValue)"
    }

    static func pad(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    public func deliver(_ messages: [ErpMessage]) async -> DeliveryResult {
        guard let first = messages.first, let last = messages.last else { return .delivered }
        var content = Data()
        do {
            switch format {
            case .jsonl:
                for message in messages {
                    content.append(try message.json())
                    content.append(0x0A)
                }
            case .csv:
                content.append(Data((ErpMessage.csvColumns.joined(separator: ",") + "\r\n").utf8))
                for message in messages { content.append(Data((message.csvRow + "\r\n").utf8)) }
            }
        } catch {
            return .permanent("batch \(first.offset)...\(last.offset) does not encode: \(error)")
        }
        let name = Self.fileName(first: first.offset, last: last.offset, format: format)
        let directory = self.directory
        let bytes = content
        do {
            try await BlockingIO.run { try AtomicFile.write(bytes, directory: directory, name: name) }
            return .delivered
        } catch {
            return .retry("cannot write \(directory)/\(name): \(error)", retryAfterMilliseconds: nil)
        }
    }

    public func shutdown() async {}
}

/// Blocking file I/O runs on its own dispatch queue, never on the cooperative pool.
enum BlockingIO {
    static let queue = DispatchQueue(label: "waybill-erp-io", qos: .utility)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

enum AtomicFile {
    /// temp file → write → fsync → rename → fsync(directory).
    static func write(_ data: Data, directory: String, name: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = "\(directory)/.\(name).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BridgeError.io("open \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write \(temporary): \(String(cString: strerror(errno)))"
                    return
                }
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync \(temporary): \(String(cString: strerror(errno)))" }
        close(fd)
        if let failure {
            unlink(temporary)
            throw BridgeError.io(failure)
        }
        guard rename(temporary, "\(directory)/\(name)") == 0 else {
            let message = "rename \(temporary): \(String(cString: strerror(errno)))"
            unlink(temporary)
            throw BridgeError.io(message)
        }
        let directoryFD = open(directory, O_RDONLY)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}
