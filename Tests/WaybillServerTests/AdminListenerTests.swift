// The admin HTTP listener over a real socket: /metrics serves the registry's text, /healthz
// answers while the process serves, /readyz turns 503 while the writer cannot commit (a full
// database: SQLite's max_page_count) and 200 again once a commit succeeds; unknown paths are 404;
// connections beyond adminConnectionsMax are closed unanswered and idle ones are closed.

import Dispatch
import Foundation
import GRDB
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import WaybillServer
import WaybillStore

/// A minimal HTTP/1.1 GET over a NIO socket: the whole answer, read until the server closes.
func httpGet(port: Int, _ path: String) async throws -> (status: Int, body: String) {
    let collected = try await ClientBootstrap(group: clientGroup).connect(host: "127.0.0.1", port: port).flatMap { channel in
        let collector = ResponseCollector(promise: channel.eventLoop.makePromise())
        // A peer that never closes must not hang the test: give up after 10 s.
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        collector.promise.futureResult.whenComplete { _ in timeout.cancel() }
        return channel.pipeline.addHandler(collector).flatMap {
            channel.writeAndFlush(channel.allocator.buffer(string: "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
        }.flatMap { collector.promise.futureResult }
    }.get()
    guard let headerEnd = collected.range(of: "\r\n\r\n"), collected.hasPrefix("HTTP/1.1 "),
          let status = Int(collected.dropFirst(9).prefix(3)) else {
        throw HTTPTestError(text: collected)
    }
    return (status, String(collected[headerEnd.upperBound...]))
}

struct HTTPTestError: Error { let text: String }

final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<String>
    private var text = ""
    init(promise: EventLoopPromise<String>) { self.promise = promise }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        text += buffer.readString(length: buffer.readableBytes) ?? ""
    }
    func channelInactive(context: ChannelHandlerContext) { promise.succeed(text) }
    func errorCaught(context: ChannelHandlerContext, error: Error) { promise.fail(error) }
}

/// Runs blocking writer work off the cooperative pool.
func onWriter<T: Sendable>(_ writer: StoreWriter, _ body: @escaping @Sendable (WriteContext) throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try writer.perform(body) }) }
    }
}

@Suite("Admin listener")
struct AdminListenerTests {
    @Test("GET /metrics, /healthz, /readyz and an unknown path")
    func routes() async throws {
        try await withServer({
            $0.adminPort = 0
            $0.metricsText = { "# TYPE waybill_example counter\nwaybill_example 7\n" }
        }) { server in
            let port = try #require(server.server.adminPort)
            #expect(port != server.port)
            let metrics = try await httpGet(port: port, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body == "# TYPE waybill_example counter\nwaybill_example 7\n")
            #expect(try await httpGet(port: port, "/healthz") == (200, "ok\n"))
            #expect(try await httpGet(port: port, "/readyz") == (200, "ready\n"))
            let missing = try await httpGet(port: port, "/admin")
            #expect(missing.status == 404)
        }
    }

    @Test("no admin listener unless configured")
    func offByDefault() async throws {
        try await withServer { server in #expect(server.server.adminPort == nil) }
    }

    @Test("/readyz is 503 while commits fail (database full) and 200 again after one succeeds")
    func readinessFollowsCommits() async throws {
        try await withServer({ $0.adminPort = 0 }) { server in
            let port = try #require(server.server.adminPort)
            let writer = server.server.writer
            // Cap the file at its current size: the next page the writer needs fails with SQLITE_FULL.
            try await onWriter(writer) { context in
                try context.withDatabase { db in
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS filler (x BLOB)")
                    let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
                    try db.execute(sql: "PRAGMA max_page_count = \(pages + 1)")
                }
            }
            await #expect(throws: (any Error).self) {
                try await onWriter(writer) { context in
                    try context.withDatabase { try $0.execute(sql: "INSERT INTO filler (x) VALUES (zeroblob(1000000))") }
                }
            }
            #expect(!writer.isHealthy)
            let refused = try await httpGet(port: port, "/readyz")
            #expect(refused.status == 503)
            #expect(refused.body.contains("the writer cannot commit"))
            #expect(try await httpGet(port: port, "/healthz").status == 200, "alive, though not ready")
            // Room again: the next commit succeeds and readiness returns.
            try await onWriter(writer) { context in
                try context.withDatabase { try $0.execute(sql: "PRAGMA max_page_count = 1073741823") }
            }
            #expect(writer.isHealthy)
            #expect(try await httpGet(port: port, "/readyz") == (200, "ready\n"))
        }
    }

    @Test("connections beyond adminConnectionsMax are closed unanswered; a closed one frees its slot")
    func connectionLimit() async throws {
        try await withServer({
            $0.adminPort = 0
            $0.adminConnectionsMax = 1
            $0.adminIdleTimeoutMilliseconds = 600_000
        }) { server in
            let port = try #require(server.server.adminPort)
            // One silent connection holds the only slot, and a second is closed unanswered. Each
            // accepted connection is admitted on its own event loop, so the first probe can win
            // the slot from a silent connection that connected just before it (the silent one is
            // then the one closed): connect a fresh silent one until it holds the slot.
            var silent: (any Channel)?
            for _ in 0..<20 where silent == nil {
                let candidate = try await ClientBootstrap(group: clientGroup).connect(host: "127.0.0.1", port: port).get()
                let probe = try? await httpGet(port: port, "/healthz")
                if probe == nil, candidate.isActive {
                    silent = candidate
                } else {
                    try? await candidate.close()
                    _ = try? await candidate.closeFuture.get()
                }
            }
            let holder = try #require(silent, "a silent connection held the only slot, so a second was closed unanswered")
            #expect(holder.isActive, "the silent holder stays open")
            #expect((try? await httpGet(port: port, "/healthz")) == nil, "still refused while the slot is held")
            // ...until it goes; then the slot serves again.
            try await holder.close()
            #expect(await eventually("the slot is free again") {
                (try? await httpGet(port: port, "/healthz"))?.status == 200
            })
        }
    }

    @Test("a connection that sends no whole request is closed after adminIdleTimeoutMilliseconds")
    func idleConnectionClosed() async throws {
        try await withServer({
            $0.adminPort = 0
            $0.adminIdleTimeoutMilliseconds = 200
        }) { server in
            let port = try #require(server.server.adminPort)
            let silent = try await ClientBootstrap(group: clientGroup).connect(host: "127.0.0.1", port: port).get()
            // Under load the server may close it before this partial request is even written.
            try? await silent.writeAndFlush(silent.allocator.buffer(string: "GET /metr"))
            // The server closes it; the client never does.
            #expect(await eventually("the server closes the idle connection") { !silent.isActive })
        }
    }
}
