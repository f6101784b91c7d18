// Bearer tokens: 256 random bits, shown once; only their SHA-256 is stored. A token is already
// high-entropy, so a fast hash is enough (no password KDF): guessing one is 2^256 work.

import Crypto
import Foundation

public enum AccessToken {
    /// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
    public static let prefix = "wbt_"
    /// Random bytes per token.
    public static let randomBytes = 32

    /// A new token from the system's secure random generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(from: (0..<randomBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// The token made of `bytes` (tests use fixed bytes).
    public static func make(from bytes: [UInt8]) -> String {
        prefix + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// What is stored and compared: SHA-256 of the token's UTF-8 bytes.
    public static func hash(_ token: String) -> TokenHash {
        TokenHash(bytes: Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// The token in an `authorization` metadata value ("Bearer TOKEN"), or nil.
    public static func fromAuthorization(_ value: String) -> String? {
        let scheme = "Bearer "
        guard value.count > scheme.count, value.prefix(scheme.count).lowercased() == scheme.lowercased() else { return nil }
        return String(value.dropFirst(scheme.count))
    }
}

/// SHA-256 of a token.
public struct TokenHash: Sendable, Hashable {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
    public init?(hex: String) {
        guard hex.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }
}
