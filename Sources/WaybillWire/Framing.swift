// Frames on the wire: gRPC's Length-Prefixed-Message. 1 flag byte (0 = uncompressed),
// 4-byte big-endian length, then a serialized envelope. Shared by server and client.

import NIOCore
import SwiftProtobuf
import WaybillProto

public enum Framing {
    public static let headerBytes = 5
    /// The only flag value accepted: no compression.
    public static let uncompressed: UInt8 = 0
}

public enum FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The declared length exceeds frameBytesMax; `callID` is set when the envelope's first
    /// field (call_id) could be read from the bytes already received.
    case tooLarge(length: Int, limit: Int, callID: UInt64?)
    /// The flag byte is not 0 (compression is not supported).
    case unsupportedFlags(UInt8)
    /// The frame's bytes are not an envelope.
    case malformedEnvelope(String)

    public var description: String {
        switch self {
        case .tooLarge(let length, let limit, _): "frame of \(length) bytes exceeds frameBytesMax (\(limit))"
        case .unsupportedFlags(let flags): "unsupported frame flags \(flags): only 0 (uncompressed) is accepted"
        case .malformedEnvelope(let detail): "malformed envelope: \(detail)"
        }
    }
}

/// Splits the byte stream into frame payloads. The length is checked against the limit before a
/// single payload byte is buffered, and nothing is consumed until a whole frame is present.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let frameBytesMax: Int

    public init(frameBytesMax: Int) { self.frameBytesMax = frameBytesMax }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let payload = try Self.nextFrame(&buffer, frameBytesMax: frameBytesMax) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(payload))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// The next whole frame's payload, or nil when more bytes are needed.
    public static func nextFrame(_ buffer: inout ByteBuffer, frameBytesMax: Int) throws -> ByteBuffer? {
        guard buffer.readableBytes >= Framing.headerBytes,
              let flags = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else { return nil }
        if flags != Framing.uncompressed { throw FrameError.unsupportedFlags(flags) }
        if Int(length) > frameBytesMax {
            let callID = peekCallID(buffer, at: buffer.readerIndex + Framing.headerBytes)
            throw FrameError.tooLarge(length: Int(length), limit: frameBytesMax, callID: callID)
        }
        guard buffer.readableBytes >= Framing.headerBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Framing.headerBytes)
        return buffer.readSlice(length: Int(length))
    }

    /// Reads field 1 (call_id, varint) if it is the first thing in the envelope bytes received so far.
    static func peekCallID(_ buffer: ByteBuffer, at index: Int) -> UInt64? {
        guard buffer.getInteger(at: index, as: UInt8.self) == 0x08 else { return nil }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var position = index + 1
        while shift < 64, let byte = buffer.getInteger(at: position, as: UInt8.self) {
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value == 0 ? nil : value }
            shift += 7
            position += 1
        }
        return nil
    }
}

extension ByteBuffer {
    /// Writes one frame holding `message`.
    public mutating func writeFrame(_ message: some SwiftProtobuf.Message) throws {
        let body: [UInt8] = try message.serializedBytes()
        writeInteger(Framing.uncompressed)
        writeInteger(UInt32(body.count))
        writeBytes(body)
    }
}

public enum ProtocolVersions {
    public static let current = Waybill_V1_ProtocolVersion.protocolVersion1
    public static let supported: [Waybill_V1_ProtocolVersion] = [.protocolVersion1]
}
