// Messages the ERP would not take: one JSON file per message under <state-dir>/dead-letters,
// written atomically before the bridge counts the message as handled, so a dead letter is never
// lost. `waybill erp-bridge dead-letters` lists them; `... replay` delivers them again.

import Foundation
import Logging

public struct DeadLetter: Codable, Hashable, Sendable {
    public var message: ErpMessage
    public var attempts: Int
    public var lastError: String
    public var deadLetteredAtUnixMs: Int64
    /// The target it failed on ("webhook http://...", "files /dir (jsonl)").
    public var target: String

    public init(message: ErpMessage, attempts: Int, lastError: String, deadLetteredAtUnixMs: Int64, target: String) {
        self.message = message
        self.attempts = attempts
        self.lastError = lastError
        self.deadLetteredAtUnixMs = deadLetteredAtUnixMs
        self.target = target
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

    public func count() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("dl-") && $0.hasSuffix(".json") }.count
    }

    public func remove(offset: UInt64) throws {
        let path = "\(directory)/\(Self.fileName(offset: offset))"
        if unlink(path) != 0 && errno != ENOENT { throw BridgeError.io("cannot remove \(path): \(String(cString: strerror(errno)))") }
    }
}

public struct ReplayReport: Sendable {
    public var delivered: [String] = []
    /// (event id, last error) of dead letters that failed again and stay in the store.
    public var failed: [(id: String, error: String)] = []
    /// Requested ids not in the store.
    public var unknown: [String] = []
}

public enum DeadLetterReplay {
    /// Delivers dead letters again (all of them, or those whose event id is in `ids`), in offset
    /// order, each with the bridge's retry policy; delivered ones leave the store.
    public static func replay(store: DeadLetterStore, ids: [String]?, target: any DeliveryTarget, targetDescription: String,
                              limits: BridgeLimits, random: @escaping RandomSource = systemRandom,
                              logger: Logger) async throws -> ReplayReport {
        var report = ReplayReport()
        let letters = try store.list()
        var selected = letters
        if let ids {
            let wanted = Set(ids)
            selected = letters.filter { wanted.contains($0.id) }
            let present = Set(letters.map(\.id))
            report.unknown = ids.filter { !present.contains($0) }
        }
        let backoff = Backoff(baseMilliseconds: limits.backoffBaseMilliseconds, maxMilliseconds: limits.backoffMaxMilliseconds)
        for var letter in selected {
            var attempt = 0
            var outcome = DeliveryResult.retry("not attempted", retryAfterMilliseconds: nil)
            while attempt < limits.maxAttempts {
                attempt += 1
                outcome = await target.deliver([letter.message])
                guard case .retry(_, let after) = outcome, attempt < limits.maxAttempts else { break }
                let delay = max(backoff.delayMilliseconds(attempt: attempt, random: random()), after ?? 0)
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
                try store.add(letter)
                report.failed.append((letter.id, error))
                logger.warning("dead letter failed again", metadata: ["event": "\(letter.id)", "error": "\(error)"])
            }
        }
        return report
    }
}
