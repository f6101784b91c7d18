// Signed webhook deliveries (the scheme payment and commerce platforms use, Stripe's in particular):
//
//   Waybill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=<...>]
//
// One `v1` per configured secret (two while a secret is being rotated), so a receiver holding
// either secret verifies. The timestamp is the time of each attempt (a retry is signed again), so
// a receiver can refuse old captures within a tolerance window; the body carries the event id,
// which is what a receiver dedupes on (headers other than the signature are not signed).

import Crypto
import Foundation

public enum WebhookSignature {
    /// The header that carries the timestamp and the signatures.
    public static let header = "Waybill-Signature"
    /// A unique id per delivery attempt (for the receiver's logs and support questions; not signed).
    public static let deliveryIdHeader = "Waybill-Delivery-Id"
    /// The signature scheme: HMAC-SHA256 over "<t>.<body>".
    public static let scheme = "v1"
    /// How far a receiver lets `t` be from its own clock (either way) before refusing the delivery
    /// as a replay: the default of `verify` and of clients/erp-receiver.
    public static let toleranceSecondsDefault: Int64 = 300
    /// Longest header `verify` reads (a receiver's bound on work per request).
    public static let headerBytesMax = 1_024

    /// The header value for `body` sent at `timestamp` (Unix seconds): one `v1` per secret.
    public static func header(timestamp: Int64, body: some DataProtocol, secrets: WebhookSecrets) -> String {
        var value = "t=\(timestamp)"
        for key in secrets.keys {
            value += ",\(scheme)=" + hex(HMAC<SHA256>.authenticationCode(for: signedPayload(timestamp: timestamp, body: body), using: key))
        }
        return value
    }

    /// Checks `header` for `body` against any of `secrets`, at `now` (Unix seconds). Throws the
    /// reason a receiver refuses it; comparisons are constant-time.
    public static func verify(header: String, body: some DataProtocol, secrets: WebhookSecrets, now: Int64,
                              toleranceSeconds: Int64 = toleranceSecondsDefault) throws(WebhookSignatureError) {
        guard header.utf8.count <= headerBytesMax else { throw .malformedHeader("longer than \(headerBytesMax) bytes") }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for element in header.split(separator: ",") {
            let parts = element.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw .malformedHeader("element without '='") }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            switch name {
            case "t":
                guard timestamp == nil, let seconds = Int64(value) else { throw .malformedHeader("t must be one integer") }
                timestamp = seconds
            case scheme:
                // A value that is not 64 hex digits matches nothing; it does not make the header invalid.
                if let bytes = bytes(hex: value), bytes.count == SHA256.byteCount { signatures.append(bytes) }
            default:
                continue  // Other schemes are for other receivers (a future v2).
            }
        }
        guard let timestamp else { throw .malformedHeader("no t=") }
        guard !signatures.isEmpty else { throw .noSignature }
        let (age, overflow) = now.subtractingReportingOverflow(timestamp)
        guard !overflow, age.magnitude <= toleranceSeconds.magnitude else { throw .timestampOutsideTolerance(ageSeconds: overflow ? .max : age) }
        let payload = signedPayload(timestamp: timestamp, body: body)
        for key in secrets.keys {
            for signature in signatures where HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: payload, using: key) {
                return
            }
        }
        throw .noMatchingSignature
    }

    /// "<t>.<body>": what is signed.
    static func signedPayload(timestamp: Int64, body: some DataProtocol) -> Data {
        var payload = Data("\(timestamp).".utf8)
        payload.append(contentsOf: body)
        return payload
    }

    static func hex(_ code: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in code {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func nibble(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// Why a receiver refuses a delivery. Never carries a secret or a signature.
public enum WebhookSignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedHeader(String)
    /// The header has a timestamp but no `v1` signature.
    case noSignature
    /// `t` is further from the receiver's clock than the tolerance: an old capture replayed (or a clock off).
    case timestampOutsideTolerance(ageSeconds: Int64)
    /// No `v1` matches any secret: another secret, or a changed body or timestamp.
    case noMatchingSignature

    public var description: String {
        switch self {
        case .malformedHeader(let why): "malformed \(WebhookSignature.header) header: \(why)"
        case .noSignature: "\(WebhookSignature.header) has no \(WebhookSignature.scheme) signature"
        case .timestampOutsideTolerance(let age): "\(WebhookSignature.header) timestamp is \(age) s from now: outside the tolerance"
        case .noMatchingSignature: "no \(WebhookSignature.scheme) signature matches a webhook secret"
        }
    }
}
