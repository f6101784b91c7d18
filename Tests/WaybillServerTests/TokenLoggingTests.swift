// A token never appears in a log line, an answer or a metric: a server logging at trace level is
// called with good, wrong, revoked-looking and malformed tokens, and everything it wrote is searched.

import Foundation
import Logging
import Synchronization
import Testing
import WaybillApplication
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

/// Every log line (message and metadata) a logger wrote.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    var logger: Logger {
        var logger = Logger(label: "waybill-token-tests") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
        }
    }
}

@Suite("Tokens are never logged") struct TokenLoggingTests {
    @Test("good and bad tokens over frames: no log line, answer or metric holds any of them")
    func noTokenInLogs() async throws {
        let capture = LogCapture()
        let server = try await TestServer.start(logger: capture.logger) { $0.metricsText = { "" } }
        defer { Task { await server.stop() } }
        let wrong = AccessToken.generate()
        var answers: [String] = []
        let admin = try await server.client()
        try await admin.loadFixtureNetwork()
        _ = try await admin.captureOrder(Fixture.order("T-1"))
        for token in [wrong, "not-even-a-token", TestCredentials.web.token + "x"] {
            var configuration = ClientConfiguration()
            configuration.token = token
            let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration, group: clientGroup)
            do {
                _ = try await client.serverInfo()
                Issue.record("a wrong token was accepted")
            } catch let error as WaybillStatusError {
                #expect(error.code == .unauthenticated)
                answers.append(error.message)
            }
            await client.close()
        }
        let web = try await server.client(as: TestCredentials.web)
        do {
            _ = try await web.serverInfo()
        } catch let error as WaybillStatusError {
            answers.append(error.message)
        }
        let logged = capture.text
        #expect(logged.contains("call not authenticated"), "refusals are logged (without the token)")
        for token in TestCredentials.all.map(\.token) + [wrong] {
            #expect(!logged.contains(token), "a token was logged")
            #expect(!answers.joined().contains(token), "a token was answered")
            let hash = AccessToken.hash(token).hex
            #expect(!logged.contains(hash), "a token's hash was logged")
        }
    }
}
