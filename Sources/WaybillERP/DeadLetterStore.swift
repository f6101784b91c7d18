// Messages the ERP refused for good (4xx other than 408/429, or an event that does not transform),
// and the later events of the same aggregate parked behind them so the ERP never sees an order's
// later event before its refused one: one JSON file per message under <state-dir>/dead-letters,
// written atomically before the bridge counts the message as handled, so a dead letter is never
// lost. `waybill erp-bridge dead-letters` lists them; `... replay` delivers them again, each
// refused one with its parked followers, in offset order; so does the running bridge when the
// server hands it a replay request (ErpService.RequestDeadLetterReplay, BridgeReplayRequests.swift).

import Foundation
import Logging

public struct DeadLetter: Codable, Hashable, Sendable {
    public var message: ErpMessage
    public var attempts: Int
    public var lastError: String
    public var deadLetteredAtUnixMs: Int64
    /// The target it failed on ("webhook http://...", "files /dir (jsonl)").
    public var target: String
    /// Set for a parked follower: the event id of the earlier dead letter of the same aggregate it
    /// waits behind (it was never sent). Nil for the refused message itself.
    public var blockedBy: String?

    public init(message: ErpMessage, attempts: Int, lastError: String, deadLetteredAtUnixMs: Int64, target: String, blockedBy: String? = nil) {
        self.message = message
        self.attempts = attempts
        self.lastError = lastError
        self.deadLetteredAtUnixMs = deadLetteredAtUnixMs
        self.target = target
        self.blockedBy = blockedBy
    }

    /// Its id in listings and `replay`: the event id.
    public var id: String { message.eventId }
}

public final class DeadLetterStore: Sendable {
    public let directory: String

    public init(stateDirectory: String) throws {
        directory = stateDirectory + "/dead-letters"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw BridgeError.io("cannot create the dead-letter store \(directory): \(error)")
        }
    }

    static func fileName(offset: UInt64) -> String { "dl-\(FileDropTarget.pad(offset)).json" }

    public func add(_ letter: DeadLetter) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(letter), directory: directory, name: Self.fileName(offset: letter.message.offset))
    }

    /// Every dead letter, in offset order.
    public func list() throws -> [DeadLetter] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("dl-") && $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else { throw BridgeError.io("cannot read \(directory)/\(name)") }
            do {
                return try JSONDecoder().decode(DeadLetter.self, from: data)
            } catch {
                throw BridgeError.io("\(directory)/\(name) is not a dead letter: \(error)")
            }
        }
    }

    /// The `limit` oldest dead letters (offset order) and how many the store holds.
    public func oldest(_ limit: Int) throws -> (letters: [DeadLetter], total: Int) {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("dl-") && $0.hasSuffix(".json") }.sorted()
        var letters: [DeadLetter] = []
        for name in names.prefix(limit) {
            // A replay may remove a letter between the listing and the read: skip it.
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else { continue }
            do {
                letters.append(try JSONDecoder().decode(DeadLetter.self, from: data))
            } catch {
                throw BridgeError.io("\(directory)/\(name) is not a dead letter: \(error)")
            }
        }
        return (letters, names.count)
    }

    public func count() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("dl-") && $0.hasSuffix(".json") }.count
    }

    /// Whether the dead letter of this offset is still in the store (a replay removes it).
    public func contains(offset: UInt64) -> Bool {
        access("\(directory)/\(Self.fileName(offset: offset))", F_OK) == 0
    }

    public func remove(offset: UInt64) throws {
        let path = "\(directory)/\(Self.fileName(offset: offset))"
        if unlink(path) != 0 && errno != ENOENT { throw BridgeError.io("cannot remove \(path): \(String(cString: strerror(errno)))") }
    }
}

public struct ReplayReport: Sendable {
    /// Delivered and removed from the store, in offset order.
    public var delivered: [String] = []
    /// (event id, last error) of dead letters that failed again, or wait behind one that is still
    /// in the store; they stay in the store.
    public var failed: [(id: String, error: String)] = []
    /// Requested ids not in the store.
    public var unknown: [String] = []
}

public enum DeadLetterReplay {
    /// Delivers dead letters again (all of them, or those whose event id is in `ids` together with
    /// the followers parked behind them), in offset order; delivered ones leave the store. A
    /// letter is never delivered while an earlier letter of its aggregate stays in the store (not
    /// selected, or failed again): it is reported as blocked and stays, so per-aggregate order
    /// holds. Transient failures are retried up to `replayAttemptsMax` times with the backoff.
    public static func replay(store: DeadLetterStore, ids: [String]?, target: any DeliveryTarget, targetDescription: String,
                              limits: BridgeLimits, random: @escaping RandomSource = systemRandom,
                              logger: Logger) async throws -> ReplayReport {
        var report = ReplayReport()
        let letters = try store.list()
        var selected = Set(letters.map(\.message.offset))
        if let ids {
            let wanted = Set(ids)
            let present = Set(letters.map(\.id))
            report.unknown = ids.filter { !present.contains($0) }
            // A requested letter brings the later letters of its aggregate (its parked followers).
            var firstWanted: [String: UInt64] = [:]
            for letter in letters where wanted.contains(letter.id) {
                firstWanted[letter.message.orderingKey] = min(firstWanted[letter.message.orderingKey] ?? .max, letter.message.offset)
            }
            selected = Set(letters.filter { letter in
                firstWanted[letter.message.orderingKey].map { letter.message.offset >= $0 } ?? false
            }.map(\.message.offset))
        }
        let backoff = Backoff(baseMilliseconds: limits.backoffBaseMilliseconds, maxMilliseconds: limits.backoffMaxMilliseconds)
        // Aggregate → the event id of its earliest letter that stays in the store.
        var halted: [String: String] = [:]
        for var letter in letters {
            let key = letter.message.orderingKey
            guard selected.contains(letter.message.offset) else {
                if halted[key] == nil { halted[key] = letter.id }
                continue
            }
            if let blocker = halted[key] {
                if letter.blockedBy != blocker {
                    letter.blockedBy = blocker
                    try store.add(letter)
                }
                report.failed.append((letter.id, "blocked by \(blocker) (still in the dead-letter store): replay it first"))
                continue
            }
            var attempt = 0
            var outcome = DeliveryResult.retry("not attempted", retryAfterMilliseconds: nil)
            while attempt < limits.replayAttemptsMax {
                attempt += 1
                outcome = await target.deliver([letter.message])
                guard case .retry(_, let after) = outcome, attempt < limits.replayAttemptsMax else { break }
                let delay = max(backoff.delayMilliseconds(attempt: attempt, random: random()), min(after ?? 0, limits.retryAfterMaxMilliseconds))
                try await Task.sleep(for: .milliseconds(delay))
            }
            switch outcome {
            case .delivered:
                try store.remove(offset: letter.message.offset)
                report.delivered.append(letter.id)
                logger.info("replayed dead letter", metadata: ["event": "\(letter.id)", "target": "\(targetDescription)"])
            case .retry(let error, _), .permanent(let error):
                letter.attempts += attempt
                letter.lastError = error
                letter.target = targetDescription
                letter.blockedBy = nil
                try store.add(letter)
                halted[key] = letter.id
                report.failed.append((letter.id, error))
                logger.warning("dead letter failed again", metadata: ["event": "\(letter.id)", "error": "\(error)"])
            }
        }
        return report
    }
}
