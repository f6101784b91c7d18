// The first handlers of a TLS listener's connection: a gate that answers plaintext clearly instead
// of feeding it to TLS, the TLS handler with the current context, and a guard that bounds the
// handshake's time and keeps handshake failures out of the protocol handlers (they are counted).

import Logging
import Metrics
import NIOCore
import NIOSSL
import NIOTLS
import X509

public enum ServerTLSPipeline {
    /// Adds the TLS handlers at the head of `channel`'s pipeline (call first in the child channel
    /// initializer). `plaintextAnswer` makes the bytes written to a peer whose first byte is not a
    /// TLS handshake record before it is closed (e.g. a Waybill status frame "this port requires
    /// TLS"); nil closes it silently.
    public static func addHandlers(to channel: any Channel, holder: ServerTLSContextHolder, logger: Logger,
                                   plaintextAnswer: (@Sendable (ByteBufferAllocator, UInt8) -> ByteBuffer?)? = nil) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(PlaintextGate(answer: plaintextAnswer))
        try operations.addHandler(NIOSSLServerHandler(context: holder.framesContext))
        try operations.addHandler(HandshakeGuard(timeout: .milliseconds(holder.configuration.handshakeTimeoutMilliseconds), logger: logger))
    }
}

/// Handshake failures on TLS listeners, by reason (plaintext, timeout, failed).
enum HandshakeFailureMetrics {
    static let plaintext = Counter(label: "waybill_tls_handshake_failures_total", dimensions: [("reason", "plaintext")])
    static let timeout = Counter(label: "waybill_tls_handshake_failures_total", dimensions: [("reason", "timeout")])
    static let failed = Counter(label: "waybill_tls_handshake_failures_total", dimensions: [("reason", "failed")])
}

/// Every TLS connection starts with a handshake record (content type 22). Anything else is a
/// plaintext client on the TLS port: it gets `answer` (if any) and is closed, without TLS ever
/// parsing its bytes.
final class PlaintextGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer
    static let handshakeRecordType: UInt8 = 0x16
    private let answer: (@Sendable (ByteBufferAllocator, UInt8) -> ByteBuffer?)?
    private var refused = false

    init(answer: (@Sendable (ByteBufferAllocator, UInt8) -> ByteBuffer?)?) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == Self.handshakeRecordType {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        refused = true
        HandshakeFailureMetrics.plaintext.increment()
        let channel = context.channel
        if let bytes = answer?(context.channel.allocator, first) {
            context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }
}

/// Closes a connection whose handshake does not complete in time; a handshake error is logged at
/// debug level, counted and closes the connection (the protocol handlers behind never see it).
final class HandshakeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let timeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var failed = false

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            HandshakeFailureMetrics.timeout.increment()
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            timer?.cancel()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !failed else { return }
        failed = true
        HandshakeFailureMetrics.failed.increment()
        logger.debug("TLS handshake failed", metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
                                                        "error": "\(TLSErrorText.describe(error))"])
        context.close(promise: nil)
    }
}

/// Who a mutual-TLS peer is: the subject common name of its verified client certificate.
public enum TLSPeerIdentity {
    /// The verified client certificate's subject common name on a frames connection; nil without
    /// mutual TLS or before the handshake. Call on the channel's event loop (e.g. from a handler
    /// when a call arrives: every call arrives after the handshake).
    public static func clientCertificateCommonName(of channel: any Channel) -> String? {
        guard let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate(),
              let decoded = try? Certificate(derEncoded: certificate.toDERBytes()) else { return nil }
        return commonName(of: decoded)
    }

    /// The subject common name of a certificate (e.g. gRPC's
    /// `HTTP2ServerTransport.Posix.Context.peerCertificate`, verified under mutual TLS).
    public static func commonName(of certificate: Certificate) -> String? {
        for name in certificate.subject {
            for attribute in name where attribute.type == .RDNAttributeType.commonName {
                if let text = String(attribute.value) { return text }
            }
        }
        return nil
    }
}
