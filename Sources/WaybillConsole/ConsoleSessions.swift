// Signed-in console sessions, in memory: a random session id (the HttpOnly cookie) maps to the
// credential token the user signed in with and a CSRF token for the forms. The token is kept so
// that every request is authenticated again exactly as a protocol call is: a revoked or expired
// credential ends its console sessions at once. Tokens are never logged or rendered.

import Crypto
import Foundation
import Synchronization

struct ConsoleSession: Sendable, Equatable {
    let id: String
    let token: String
    let csrfToken: String
    let createdAt: Int64
    var lastUsedAt: Int64
}

enum ConsoleSessionRefusal: Error, Equatable {
    case full(Int)
}

final class ConsoleSessions: Sendable {
    private let configuration: ConsoleConfiguration
    private let now: @Sendable () -> Int64
    private let sessions = Mutex<[String: ConsoleSession]>([:])

    /// `now`: seconds (injected so expiry is tested without waiting).
    init(configuration: ConsoleConfiguration, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.configuration = configuration
        self.now = now
    }

    var count: Int { sessions.withLock { $0.count } }

    /// A new session for `token` (already proven), or a refusal at `consoleSessionsMax` once
    /// expired sessions were dropped.
    func open(token: String) -> Result<ConsoleSession, ConsoleSessionRefusal> {
        let at = now()
        let session = ConsoleSession(id: Self.randomToken(), token: token, csrfToken: Self.randomToken(), createdAt: at, lastUsedAt: at)
        return sessions.withLock { table in
            if table.count >= configuration.sessionsMax {
                table = table.filter { !isExpired($0.value, at: at) }
            }
            guard table.count < configuration.sessionsMax else { return .failure(.full(configuration.sessionsMax)) }
            table[session.id] = session
            return .success(session)
        }
    }

    /// The live session of a cookie value (its last use moved to now), or nil (unknown or expired: dropped).
    func use(_ id: String) -> ConsoleSession? {
        let at = now()
        return sessions.withLock { table in
            guard var session = table[id] else { return nil }
            if isExpired(session, at: at) {
                table[id] = nil
                return nil
            }
            session.lastUsedAt = at
            table[id] = session
            return session
        }
    }

    func close(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    private func isExpired(_ session: ConsoleSession, at: Int64) -> Bool {
        at - session.lastUsedAt >= configuration.sessionIdleSeconds || at - session.createdAt >= configuration.sessionLifetimeSeconds
    }

    /// 32 random bytes, hex: unguessable session ids, CSRF tokens and idempotency keys of forms.
    static func randomToken() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    /// Compares a posted CSRF token with the session's in time independent of where they differ.
    static func tokensMatch(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
