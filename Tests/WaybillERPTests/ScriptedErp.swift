// A fake ERP webhook for the outage tests: answers what a script says (a status and optional
// headers such as Retry-After), and records every attempt with its time, refused ones included,
// so tests can assert how often and when the bridge asked.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WaybillERP

struct ScriptedAnswer: Sendable {
    var status: HTTPResponseStatus
    var headers: [(String, String)] = []

    static let ok = ScriptedAnswer(status: .ok)
    static func status(_ status: HTTPResponseStatus) -> ScriptedAnswer { ScriptedAnswer(status: status) }
}

/// One POST the fake ERP answered.
struct ErpAttempt: Sendable {
    var message: ErpMessage
    var status: HTTPResponseStatus
    var at: ContinuousClock.Instant
    var accepted: Bool { status.code >= 200 && status.code < 300 }
}

final class ScriptedErp: Sendable {
    typealias Script = @Sendable (_ message: ErpMessage, _ attempt: Int) -> ScriptedAnswer
    private let attemptsLog = Mutex<[ErpAttempt]>([])
    private let script: Mutex<Script>
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<(any NIOCore.Channel)?> = Mutex(nil)

    init(_ script: @escaping Script = { _, _ in .ok }) {
        self.script = Mutex(script)
    }

    func setScript(_ script: @escaping Script) { self.script.withLock { $0 = script } }

    /// Listens on `port` (0: any free port) and returns it.
    func start(port: Int = 0) async throws -> Int {
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(ScriptedErpHandler(erp: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        channel.withLock { $0 = bound }
        return bound.localAddress!.port!
    }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
        try? await group.shutdownGracefully()
    }

    func answer(body: [UInt8]) -> ScriptedAnswer {
        guard let message = try? ErpMessage.decode(Data(body)) else { return .status(.badRequest) }
        let attempt = attemptsLog.withLock { log in log.filter { $0.message.eventId == message.eventId }.count + 1 }
        let answer = script.withLock { $0 }(message, attempt)
        attemptsLog.withLock { $0.append(ErpAttempt(message: message, status: answer.status, at: .now)) }
        return answer
    }

    var attempts: [ErpAttempt] { attemptsLog.withLock { $0 } }
    /// Accepted messages in arrival order.
    var accepted: [ErpMessage] { attempts.filter(\.accepted).map(\.message) }
    var refusedCount: Int { attempts.filter { !$0.accepted }.count }
}

final class ScriptedErpHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let erp: ScriptedErp
    private var body: [UInt8] = []

    init(erp: ScriptedErp) { self.erp = erp }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            let answer = erp.answer(body: body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            for (name, value) in answer.headers { headers.add(name: name, value: value) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// A flag a test flips while the fake ERP's script reads it (the ERP is down, refusing, ...).
final class Toggle: Sendable {
    private let value: Atomic<Bool>
    init(_ initial: Bool = false) { value = Atomic(initial) }
    var isOn: Bool { value.load(ordering: .sequentiallyConsistent) }
    func set(_ on: Bool) { value.store(on, ordering: .sequentiallyConsistent) }
}
