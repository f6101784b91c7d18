// TLS on the frames port: the handlers at the head of each connection's pipeline, and the status
// frame a plaintext client gets instead of silence ("this port requires TLS").

import Logging
import NIOCore
import WaybillProto
import WaybillTLS
import WaybillWire

enum FramesTLS {
    /// First in the child channel initializer: plaintext gate, TLS, handshake guard.
    static func addHandlers(to channel: any Channel, holder: ServerTLSContextHolder, logger: Logger) throws {
        try ServerTLSPipeline.addHandlers(to: channel, holder: holder, logger: logger) { allocator, firstByte in
            // A frame starts with its flags byte (0 or 1): that client speaks Waybill without TLS
            // and can read a status frame. Anything else is closed without an answer.
            guard firstByte <= 1 else { return nil }
            return plaintextRefusal(allocator: allocator)
        }
    }

    static let plaintextRefusalMessage = "this port requires TLS: connect with TLS (waybill call --tls-ca CA.pem, ClientConfiguration.tls)"

    static func plaintextRefusal(allocator: ByteBufferAllocator) -> ByteBuffer? {
        var envelope = Waybill_V1_ResponseEnvelope()
        envelope.callID = 0
        envelope.status = WaybillStatusError(.unavailable, plaintextRefusalMessage).status
        envelope.endOfStream = true
        envelope.protocolVersion = ProtocolVersions.current
        var buffer = allocator.buffer(capacity: 160)
        guard (try? buffer.writeFrame(envelope)) != nil else { return nil }
        return buffer
    }
}
