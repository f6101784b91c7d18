// The client side of a TLS connection: the handshake is awaited before the connection is handed
// out, and a failure is explained (a plaintext server, an unknown CA, an expired certificate, a
// name mismatch, a refused client certificate) instead of surfacing as a decode error.

import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
import X509

/// A TLS connection that could not be set up, in words.
public struct TLSConnectFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The server's certificate did not verify: `ClientTLSPipeline.explain` can say why.
    let certificateRejected: Bool

    init(_ description: String, certificateRejected: Bool = false) {
        self.description = description
        self.certificateRejected = certificateRejected
    }
}

public enum ClientTLSPipeline {
    /// Adds the TLS handlers at the head of a client channel's pipeline (call first in the channel
    /// initializer). The future completes when the handshake has, or fails with a
    /// `TLSConnectFailure` (also after `timeout`).
    public static func addHandlers(to channel: any Channel, configuration: ClientTLSConfiguration, context: NIOSSLContext,
                                   host: String, timeout: TimeAmount) throws -> EventLoopFuture<Void> {
        let operations = channel.pipeline.syncOperations
        let recorder = FirstBytesRecorder()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        try operations.addHandler(recorder)
        try operations.addHandler(NIOSSLClientHandler(context: context, serverHostname: configuration.expectedServerName(host: host)))
        try operations.addHandler(ClientHandshakeObserver(promise: promise, recorder: recorder, timeout: timeout))
        return promise.futureResult
    }

    /// Awaits the handshake; a failed verification is explained by looking at what the server
    /// presents (a second connection whose verification always fails: nothing is trusted by it).
    public static func awaitHandshake(_ handshake: EventLoopFuture<Void>, configuration: ClientTLSConfiguration, host: String, port: Int,
                                      group: any EventLoopGroup, timeout: TimeAmount) async throws {
        do {
            try await handshake.get()
        } catch let failure as TLSConnectFailure where failure.certificateRejected {
            let reason = await explainRejectedCertificate(configuration: configuration, host: host, port: port, group: group, timeout: timeout)
            throw TLSConnectFailure("the server's certificate was not accepted: \(reason ?? "it did not verify against \(configuration.trustDescription)")")
        }
    }

    /// Why the server's certificate did not verify: expired, not yet valid, or not signed by a
    /// trusted authority (what the server presented, without trusting it).
    static func explainRejectedCertificate(configuration: ClientTLSConfiguration, host: String, port: Int, group: any EventLoopGroup,
                                           timeout: TimeAmount) async -> String? {
        guard let context = try? configuration.makeContext() else { return nil }
        let presented = Mutex<[NIOSSLCertificate]>([])
        let serverName = configuration.expectedServerName(host: host)
        guard let channel = try? await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer({ channel in
                channel.eventLoop.makeCompletedFuture {
                    let capture: NIOSSLCustomVerificationCallback = { certificates, promise in
                        presented.withLock { $0 = certificates }
                        promise.succeed(NIOSSLVerificationResult.failed)
                    }
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName, customVerificationCallback: capture)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            })
            .connect(host: host, port: port).get() else { return nil }
        let closer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        closer.cancel()
        let chain = presented.withLock { $0 }.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        guard let leaf = chain.first else { return nil }
        let now = Date()
        if leaf.notValidAfter < now { return "it expired on \(leaf.notValidAfter) (subject \(leaf.subject))" }
        if leaf.notValidBefore > now { return "it is not valid before \(leaf.notValidBefore) (subject \(leaf.subject))" }
        if let expired = chain.dropFirst().first(where: { $0.notValidAfter < now }) {
            return "the intermediate certificate \(expired.subject) expired on \(expired.notValidAfter)"
        }
        return "it is issued by \(chain.last!.issuer), an authority not among \(configuration.trustDescription) (unknown CA)"
    }
}

/// Keeps the first bytes the server sent, before TLS reads them: a server that does not speak TLS
/// is named as such.
final class FirstBytesRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private(set) var firstBytes: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if firstBytes.isEmpty {
            let buffer = unwrapInboundIn(data)
            firstBytes = Array(buffer.readableBytesView.prefix(16))
        }
        context.fireChannelRead(data)
    }

    /// Whether the bytes are a TLS record (handshake or alert) or something else.
    var peerSpokePlaintext: Bool {
        guard let first = firstBytes.first else { return false }
        return !((0x14...0x17).contains(first) && firstBytes.count >= 2 && firstBytes[1] == 0x03)
    }

    var plaintextDescription: String {
        let bytes = firstBytes
        if bytes.count >= 5, bytes[0] <= 1 { return "it answered with plaintext Waybill frames" }
        if bytes.count >= 9, bytes[3] == 0x04, bytes[4] == 0x00 { return "it answered with plaintext HTTP/2" }
        if String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/") { return "it answered with plaintext HTTP" }
        return "it answered bytes that are not TLS"
    }
}

/// Completes the connect's promise when the handshake completes or fails, and bounds its time.
final class ClientHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let promise: EventLoopPromise<Void>
    private let recorder: FirstBytesRecorder
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var done = false

    init(promise: EventLoopPromise<Void>, recorder: FirstBytesRecorder, timeout: TimeAmount) {
        self.promise = promise
        self.recorder = recorder
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let channel = context.channel
        let milliseconds = timeout.nanoseconds / 1_000_000
        timer = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.finish(.failure(TLSConnectFailure("no TLS handshake within \(milliseconds) ms (is it a TLS port?)")))
            channel.close(promise: nil)
        }
    }

    private func finish(_ result: Result<Void, TLSConnectFailure>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        switch result {
        case .success: promise.succeed(())
        case .failure(let failure): promise.fail(failure)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            finish(.success(()))
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !done else { return context.fireErrorCaught(error) }
        finish(.failure(describe(error)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            finish(.failure(recorder.peerSpokePlaintext
                ? TLSConnectFailure("the server does not speak TLS (\(recorder.plaintextDescription)): is it a plaintext port?")
                : TLSConnectFailure("the server closed the connection during the TLS handshake")))
        }
        context.fireChannelInactive()
    }

    private func describe(_ error: Error) -> TLSConnectFailure {
        if recorder.peerSpokePlaintext {
            return TLSConnectFailure("the server does not speak TLS (\(recorder.plaintextDescription)): is it a plaintext port?")
        }
        let reasons = TLSErrorText.reasons(error).joined(separator: " ")
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") { return TLSConnectFailure("certificate rejected", certificateRejected: true) }
        return TLSConnectFailure(TLSErrorText.describe(error))
    }
}
