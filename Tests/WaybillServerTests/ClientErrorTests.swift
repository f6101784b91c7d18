// What a user sees when the client points at the wrong port: nothing listening, or something
// that is not a Waybill server (an HTTP server, TLS, random bytes). Real sockets on loopback.

import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Client errors on the wrong port", .timeLimit(.minutes(2)))
struct ClientErrorTests {
    @Test("nothing listening: UNAVAILABLE 'cannot connect to HOST:PORT: connection refused' with a hint")
    func connectionRefused() async throws {
        let port = try await FixedAnswerPeer.unusedPort()
        do {
            let client = try await WaybillClient.connect(host: "127.0.0.1", port: port, configuration: .testAdmin, group: clientGroup)
            await client.close()
            Issue.record("connected to a port nobody listens on")
        } catch let error as WaybillStatusError {
            #expect(error.code == .unavailable)
            #expect(error.message == "cannot connect to 127.0.0.1:\(port): connection refused (is `waybill serve` running? default port 7400)")
        }
    }

    @Test("a peer answering bytes that are not Waybill frames is named, as UNAVAILABLE (never INTERNAL)", arguments: [
        ("an HTTP server", Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8), "it answered like an HTTP server"),
        ("an HTML page", Array("<html><body>hello</body></html>".utf8), "it answered with HTML or XML"),
        ("a TLS alert", [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28], "it answered with TLS"),
        ("a zero flag byte, then bytes that are not an envelope", [0x00, 0x00, 0x00, 0x00, 0x03, 0xFF, 0xFF, 0xFF],
         "it answered bytes that are not Waybill frames: 00 00 00 00 03 ff ff ff"),
        ("three bytes of text, then close", Array("OK\n".utf8), "it answered text: \"OK\""),
    ])
    func notAWaybillServer(label: String, answer: [UInt8], expected: String) async throws {
        let peer = try await FixedAnswerPeer.start(answer: answer)
        defer { peer.stop() }
        let client = try await WaybillClient.connect(host: "127.0.0.1", port: peer.port, group: clientGroup)
        do {
            _ = try await client.serverInfo()
            Issue.record("\(label): the call succeeded")
        } catch let error as WaybillStatusError {
            #expect(error.code == .unavailable, "\(label): \(error)")
            #expect(error.message == "127.0.0.1:\(peer.port) is not a Waybill server (\(expected))", "\(label)")
        }
        await client.close()
    }

    @Test("an HTTP/1 request to the server's port is answered 400 in plain HTTP, then closed")
    func serverAnswersHTTP() async throws {
        try await withServer { server in
            let answer = try await FixedAnswerPeer.exchange(port: server.port, Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            let text = String(decoding: answer, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
            #expect(text.hasSuffix("\r\n\r\nthis is a Waybill protocol port, see docs/PROTOCOL.md\n"), "\(text)")
            // A Waybill client on the same server is unaffected.
            _ = try await server.client().serverInfo()
        }
    }
}

/// A TCP listener on loopback that answers the first bytes it reads with fixed bytes, then closes.
final class FixedAnswerPeer: Sendable {
    private final class Answerer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: [UInt8]
        init(_ answer: [UInt8]) { self.answer = answer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: answer))).whenComplete { _ in channel.close(promise: nil) }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex<[UInt8]>([])
        let closed: EventLoopPromise<Void>
        init(closed: EventLoopPromise<Void>) { self.closed = closed }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLock { $0 += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) { closed.succeed() }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }

    let channel: any NIOCore.Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any NIOCore.Channel) { self.channel = channel }

    static func start(answer: [UInt8]) async throws -> FixedAnswerPeer {
        let channel = try await ServerBootstrap(group: clientGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(Answerer(answer)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FixedAnswerPeer(channel: channel)
    }

    func stop() { channel.close(promise: nil) }

    /// A port that was free a moment ago (bound, then closed).
    static func unusedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: clientGroup).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }

    /// Sends `bytes` to `port` and returns everything answered until the peer closes.
    static func exchange(port: Int, _ bytes: [UInt8]) async throws -> [UInt8] {
        let loop = clientGroup.next()
        let closed = loop.makePromise(of: Void.self)
        let collector = Collector(closed: closed)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        try await closed.futureResult.get()
        return collector.received.withLock { $0 }
    }
}
