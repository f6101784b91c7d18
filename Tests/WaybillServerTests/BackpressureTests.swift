// Back-pressure and overload over real sockets: a client that never reads its answers cannot make
// the server buffer them without bound; writes beyond what the writer can do in time are refused
// at once with a retry hint, and nothing admitted is lost.

import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WaybillClient
import WaybillFaultInjection
import WaybillProto
import WaybillServer
import WaybillStore
import WaybillWire

/// A connection that reads only when told to: frames in, envelopes counted per call.
private final class LazyReader: Sendable {
    struct Answers {
        var byCall: [UInt64: Int] = [:]
        var codes: [Waybill_V1_StatusCode: Int] = [:]
        var retryAfterMissing = 0
        var payloadBytesMax = 0
        var endOfStreamMissing = 0
    }

    final class Box: Sendable {
        let state = Mutex(Answers())
        func withLock<T: Sendable>(_ body: (inout Answers) -> T) -> T { state.withLock { body(&$0) } }
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let answers: Box
        init(_ answers: Box) { self.answers = answers }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var frame = unwrapInboundIn(data)
            guard let envelope = try? Waybill_V1_ResponseEnvelope(serializedBytes: frame.readBytes(length: frame.readableBytes) ?? []) else { return }
            answers.withLock { answers in
                answers.byCall[envelope.callID, default: 0] += 1
                answers.codes[envelope.status.code, default: 0] += 1
                answers.payloadBytesMax = max(answers.payloadBytesMax, envelope.payload.count)
                if !envelope.endOfStream { answers.endOfStreamMissing += 1 }
                if envelope.status.code != .ok && envelope.status.details.retryAfterMs == 0 { answers.retryAfterMissing += 1 }
            }
        }
    }

    let channel: any NIOCore.Channel
    let answers: Box

    private init(channel: any NIOCore.Channel, answers: Box) {
        self.channel = channel
        self.answers = answers
    }

    static func connect(port: Int) async throws -> LazyReader {
        let answers = Box()
        let collector = Collector(answers)
        let channel = try await ClientBootstrap(group: clientGroup)
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(frameBytesMax: 64 << 20)))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return LazyReader(channel: channel, answers: answers)
    }

    /// Starts reading, and keeps reading.
    func readEverything() async throws {
        try await channel.setOption(.autoRead, value: true).get()
        channel.read()
    }
}

/// A job queued now that holds the writer when the writer reaches it (behind what is already queued).
private final class QueuedGate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    init(_ writer: StoreWriter) {
        writer.submit(Job({ [self] _ in
            self.entered.signal()
            self.released.wait()
        }) { _ in })
    }

    func reached() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.entered.wait()
                continuation.resume()
            }
        }
    }

    func open() { released.signal() }
}

@Suite("Back-pressure and overload admission")
struct BackpressureTests {
    @Test("a client that never reads: the server stops reading it at connectionOutboundBytesMax, then answers all once it reads; state released on close")
    func clientThatDoesNotRead() async throws {
        let outboundMax = 64 * 1024
        let inFlightMax = 64
        try await withServer({
            $0.transport.connectionOutboundBytesMax = outboundMax
            $0.transport.callsInFlightPerConnectionMax = inFlightMax
        }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let orderID = try await client.captureOrder(Fixture.order("bp-1")).order.orderID
            let handlersBefore = server.server.outboundStatistics.snapshot.handlers
            let connectionsBefore = server.server.connectionCount

            let calls = 100_000
            var request = Waybill_V1_GetOrderRequest()
            request.orderID = orderID
            var requests = ByteBuffer()
            for callID in 1...calls {
                try requests.writeFrame(requestEnvelope(callID: UInt64(callID), method: Method.OrderService.getOrder, payload: request))
            }
            let requestBytes = requests.readableBytes
            let reader = try await LazyReader.connect(port: server.port)
            // Never completes while the server does not read: not awaited.
            reader.channel.writeAndFlush(requests, promise: nil)

            // The server gives up reading this connection: answers wait in its buffer and the kernel's.
            #expect(await eventually("the connection to be paused", timeout: .seconds(120)) {
                server.server.outboundStatistics.snapshot.pausedConnections == 1
            })
            let paused = server.server.outboundStatistics.snapshot
            #expect(paused.pauses >= 1)
            #expect(paused.outboundBytesPendingMax >= outboundMax, "the bound was reached (else the test proves nothing)")

            try await reader.readEverything()
            #expect(await eventually("all answers", timeout: .seconds(300)) {
                reader.answers.withLock { $0.byCall.count } == calls
            })
            let answers = reader.answers.withLock { $0 }
            #expect(answers.byCall.count == calls)
            #expect(answers.byCall.values.allSatisfy { $0 == 1 }, "one answer per call")
            #expect(answers.endOfStreamMissing == 0)
            #expect((answers.codes[.ok] ?? 0) > 0)
            // Calls over callsInFlightPerConnectionMax are refused, with a retry hint; nothing else fails.
            #expect(answers.codes.keys.allSatisfy { $0 == .ok || $0 == .resourceExhausted })
            #expect(answers.retryAfterMissing == 0)

            // Pending bytes never passed the bound by more than the answers of the calls in flight
            // (and the answer that crossed it). Without the pause they grow to the whole 100k answers.
            let frameMax = answers.payloadBytesMax + 64
            let after = server.server.outboundStatistics.snapshot
            #expect(after.outboundBytesPendingMax <= outboundMax + (inFlightMax + 1) * frameMax,
                    "pending \(after.outboundBytesPendingMax) bytes; answers total \(calls * answers.payloadBytesMax), requests \(requestBytes)")
            #expect(after.pausedConnections == 0)

            try await reader.channel.close()
            #expect(await eventually("the connection's state to be released") {
                server.server.connectionCount == connectionsBefore && server.server.outboundStatistics.snapshot.handlers == handlersBefore
            })
        }
    }

    @Test("writes waiting longer than the target for an interval are refused RESOURCE_EXHAUSTED with retry_after_ms; admitted ones all commit; recovery is immediate")
    func overloadShedsNewWrites() async throws {
        try await withServer({
            $0.writer.writeBatchMax = 4
            $0.writeJobInterceptor = WriteDelay(microseconds: 5_000)
            $0.writer.admission.writeQueueDelayTargetMilliseconds = 5
            $0.writer.admission.writeQueueDelayIntervalMilliseconds = 20
        }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let writer = server.server.writer
            @Sendable func captures(_ prefix: String, _ count: Int) -> Task<[Result<String, WaybillStatusError>], Error> {
                Task {
                    try await withThrowingTaskGroup(of: Result<String, WaybillStatusError>.self) { group in
                        for number in 0..<count {
                            group.addTask {
                                do {
                                    return .success(try await client.captureOrder(Fixture.order("\(prefix)-\(number)")).order.orderID)
                                } catch let error as WaybillStatusError {
                                    return .failure(error)
                                }
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                }
            }

            // A standing queue, held by two gates: 40 captures behind the first, then a second gate,
            // then 20 captures. Opening the first lets ten batches of old writes run (each 20 ms of
            // injected work, over the 20 ms interval): the writer then waits at the second gate with
            // writes still queued — deterministically overloaded, whatever the machine's speed.
            let first = WriterGate()
            await first.close(writer)
            let before = captures("before", 40)
            #expect(await eventually("the first captures to queue") { writer.queueDepth >= 40 })
            let second = QueuedGate(writer)
            let behind = captures("behind", 20)
            #expect(await eventually("the second captures to queue") { writer.queueDepth >= 61 })
            #expect(!writer.isShedding)
            first.open()
            await second.reached()
            #expect(writer.isShedding)
            #expect(writer.queueDepth > 0)

            // New writes are refused at once.
            for number in 0..<16 {
                let error = await expectStatus(.resourceExhausted) {
                    try await client.captureOrder(Fixture.order("refused-\(number)"))
                }
                #expect(error?.details.limitName == "writeQueueDelayTargetMilliseconds")
                #expect(error?.details.limitValue == 5)
                #expect(error?.details.retryAfterMs == 20)
            }
            #expect(writer.shedJobs == 16)

            // Everything admitted commits.
            second.open()
            let results = try await before.value + behind.value
            #expect(results.count == 60)
            let failures = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
            #expect(failures.isEmpty, "\(failures.prefix(3))")

            // The load is gone: the next write is admitted.
            // (Whether the writer has left its shedding state depends on how long this capture queued on a
            // loaded machine; what a client sees is that writes are admitted again, one after another.)
            for number in 0..<3 {
                let after = try await client.captureOrder(Fixture.order("after-overload-\(number)"))
                #expect(!after.order.orderID.isEmpty)
            }
            for number in 0..<16 {
                await expectStatus(.notFound) { try await client.getOrder(channel: .web, externalOrderID: "refused-\(number)") }
            }
            for name in ["before-0", "before-39", "behind-0", "behind-19"] {
                #expect(try await client.getOrder(channel: .web, externalOrderID: name).externalOrderID == name)
            }
        }
    }

    @Test("a call over callsInFlightPerConnectionMax is refused with retry_after_ms = callsInFlightRetryAfterMilliseconds")
    func callsInFlightRefusalCarriesRetryAfter() async throws {
        try await withServer({ $0.transport.callsInFlightPerConnectionMax = 1 }) { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()
            let gate = WriterGate()
            await gate.close(server.server.writer)
            let raw = try await server.raw()
            var capture = Waybill_V1_CaptureOrderRequest()
            capture.order = Fixture.order("in-flight-1")
            try await raw.send(requestEnvelope(callID: 1, method: Method.OrderService.captureOrder, payload: capture))
            capture.order = Fixture.order("in-flight-2")
            try await raw.send(requestEnvelope(callID: 2, method: Method.OrderService.captureOrder, payload: capture))
            let refused = try await raw.waitForEnvelopes(1)
            #expect(refused.first?.callID == 2)
            #expect(refused.first?.status.code == .resourceExhausted)
            #expect(refused.first?.status.details.limitName == "callsInFlightPerConnectionMax")
            #expect(refused.first?.status.details.retryAfterMs == UInt32(TransportLimits().callsInFlightRetryAfterMilliseconds))
            gate.open()
            let both = try await raw.waitForEnvelopes(2)
            #expect(both.last?.callID == 1)
            #expect(both.last?.status.code == .ok)
            await raw.close()
        }
    }
}
