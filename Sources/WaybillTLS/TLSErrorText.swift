// TLS failures in words: what BoringSSL's error stack means for the person reading the message.

import NIOCore
import NIOSSL

public enum TLSErrorText {
    /// The BoringSSL reason codes of an error, if it is a TLS error ("CERTIFICATE_VERIFY_FAILED", ...).
    static func reasons(_ error: Error) -> [String] {
        let boring: BoringSSLError
        switch error {
        case NIOSSLError.handshakeFailed(let failure), NIOSSLError.shutdownFailed(let failure): boring = failure
        case let failure as BoringSSLError: boring = failure  // after the handshake (e.g. a TLS 1.3 alert about the client certificate)
        default: return []
        }
        switch boring {
        case .sslError(let errors), .unknownError(let errors), .invalidSNIName(let errors), .failedToSetALPN(let errors): return errors.map { "\($0)" }
        default: return ["\(boring)"]
        }
    }

    /// One line for an error of a TLS connection (either side).
    public static func describe(_ error: Error) -> String {
        let text = reasons(error).joined(separator: " ")
        if let extra = error as? NIOSSLExtraError {
            if extra == .failedToValidateHostname {
                return "the server's certificate does not name the host that was dialled (hostname mismatch: \(extra)); "
                    + "connect by a name the certificate holds, or set the expected name (--tls-server-name)"
            }
            return "\(extra)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "the peer's certificate did not verify" }
        if text.contains("CERTIFICATE_REQUIRED") {
            return "the server requires a client certificate (mutual TLS): give one (--tls-cert and --tls-key)"
        }
        if text.contains("ALERT_UNKNOWN_CA") { return "the peer does not trust the certificate this side presented (unknown CA)" }
        if text.contains("ALERT_CERTIFICATE_EXPIRED") { return "the peer refused the certificate this side presented: it has expired" }
        if text.contains("ALERT_BAD_CERTIFICATE") || text.contains("ALERT_CERTIFICATE_UNKNOWN") {
            return "the peer refused the certificate this side presented"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") || text.contains("UNEXPECTED_RECORD")
            || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("RECORD_LENGTH_MISMATCH") {
            return "the peer does not speak TLS"
        }
        if text.contains("NO_SHARED_CIPHER") || text.contains("UNSUPPORTED_PROTOCOL") || text.contains("ALERT_PROTOCOL_VERSION") {
            return "no TLS version or cipher in common (TLS 1.2 or later is required)"
        }
        if case NIOSSLError.uncleanShutdown = error { return "the peer closed the connection in the middle of TLS" }
        if !text.isEmpty { return "TLS failed: \(text)" }
        return "\(error)"
    }

    /// Whether the error is a TLS failure (rather than a socket or protocol error).
    public static func isTLSError(_ error: Error) -> Bool {
        error is NIOSSLError || error is NIOSSLExtraError || error is NIOSSLCloseTimedOutError || error is BoringSSLError
    }
}
