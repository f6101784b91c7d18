// The webhook signing secrets: one, or two while rotating. They come from a file only its owner can
// read or from the environment, never from the command line (which every local user can read in
// /proc). Nothing here prints a secret: the type's description is redacted, and errors name the
// file or the variable, never the value.

import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct WebhookSecrets: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Secrets signed with at once: the current one and, while rotating, the next (or previous).
    public static let secretsMax = 2
    /// Shortest secret accepted: a short secret can be guessed offline from one captured delivery.
    public static let secretBytesMin = 32
    /// Longest secret accepted (HMAC hashes longer keys first; nothing is gained).
    public static let secretBytesMax = 512
    /// Largest secret file read.
    public static let fileBytesMax = 4_096
    /// The environment variable that may hold the secrets.
    public static let environmentVariable = "WAYBILL_WEBHOOK_SECRET"
    /// The prefix of generated secrets, so a leaked one is recognisable.
    public static let generatedPrefix = "whsec_"

    let keys: [SymmetricKey]

    /// One or two secrets, each printable ASCII without spaces, of secretBytesMin...secretBytesMax bytes.
    public init(_ secrets: [String]) throws(WebhookSecretError) {
        guard !secrets.isEmpty else { throw .invalid("no webhook secret") }
        guard secrets.count <= Self.secretsMax else {
            throw .invalid("\(secrets.count) webhook secrets; at most \(Self.secretsMax) (webhookSecretsMax: the current and the next while rotating)")
        }
        for (index, secret) in secrets.enumerated() {
            let bytes = secret.utf8
            guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .invalid("webhook secret \(index + 1) must be printable ASCII without spaces")
            }
            guard bytes.count >= Self.secretBytesMin && bytes.count <= Self.secretBytesMax else {
                throw .invalid("webhook secret \(index + 1) must be \(Self.secretBytesMin)...\(Self.secretBytesMax) bytes, got \(bytes.count)")
            }
        }
        guard Set(secrets).count == secrets.count else { throw .invalid("the two webhook secrets are the same") }
        keys = secrets.map { SymmetricKey(data: Array($0.utf8)) }
    }

    /// Secrets separated by white space (a file's lines, or spaces in the environment variable).
    public init(text: String) throws(WebhookSecretError) {
        try self.init(text.split(whereSeparator: { $0.isWhitespace }).map(String.init))
    }

    public var count: Int { keys.count }

    public var description: String { "\(keys.count) webhook secret\(keys.count == 1 ? "" : "s") (redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    /// Reads the secrets from `path`, refusing a file that anyone but its owner may read or write
    /// (any group or other permission bit), or one that is not a regular file.
    public static func load(file path: String) throws(WebhookSecretError) -> WebhookSecrets {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .file(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        // fstat on the opened file: the mode checked is the mode of what is read (no race with a rename).
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .file(path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .file(path, "not a regular file") }
        let permissions = status.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw .file(path, "mode \(String(permissions, radix: 8)) lets others read or change it; make it 0600 (chmod 600 \(path))")
        }
        var content: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1_024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .file(path, "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            content += buffer[0..<count]
            guard content.count <= fileBytesMax else { throw .file(path, "larger than \(fileBytesMax) bytes") }
        }
        guard let text = String(validating: content, as: UTF8.self) else { throw .file(path, "not UTF-8 text") }
        do {
            return try WebhookSecrets(text: text)
        } catch {
            throw .file(path, error.reason)
        }
    }

    /// The secrets of `environment[environmentVariable]`, nil when it is unset.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(WebhookSecretError) -> WebhookSecrets? {
        guard let value = environment[environmentVariable] else { return nil }
        do {
            return try WebhookSecrets(text: value)
        } catch {
            throw .invalid("\(environmentVariable): \(error.reason)")
        }
    }

    /// A new secret: the prefix and 32 random bytes from the system's secure generator, base64url.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return generatedPrefix + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Writes a new secret to `path` (created, mode 0600; an existing file is left alone and refused).
    public static func writeNew(to path: String) throws(WebhookSecretError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .file(path, "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let line = Array((generate() + "\n").utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw .file(path, "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}

/// Why secrets were refused. Names the file or the variable, never a secret.
public enum WebhookSecretError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    case file(String, String)

    var reason: String {
        switch self {
        case .invalid(let reason): reason
        case .file(_, let reason): reason
        }
    }

    public var description: String {
        switch self {
        case .invalid(let reason): reason
        case .file(let path, let reason): "webhook secret file \(path): \(reason)"
        }
    }
}
