// The frame codec: gRPC Length-Prefixed-Message framing, the size limit enforced before any
// payload byte is buffered, the flag byte, call-id peeking for oversized frames, and
// `ByteBuffer.writeFrame`.

import Foundation
import NIOCore
import NIOEmbedded
import NIOTestUtils
import SwiftProtobuf
import Testing
import WaybillProto
import WaybillWire

// MARK: - Helpers

/// One frame around `payload`, built by hand (independent of `writeFrame`).
private func frame(_ payload: [UInt8], flags: UInt8 = 0, declaredLength: UInt32? = nil) -> [UInt8] {
    let length = declaredLength ?? UInt32(payload.count)
    return [flags, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + payload
}

private func varint(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    while value >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
        value >>= 7
    }
    bytes.append(UInt8(value))
    return bytes
}

private func envelope(callID: UInt64, method: String = "/waybill.v1.SystemService/GetServerInfo", payloadBytes: Int = 0) -> Waybill_V1_RequestEnvelope {
    var envelope = Waybill_V1_RequestEnvelope()
    envelope.callID = callID
    envelope.method = method
    envelope.payload = Data((0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    envelope.timeoutMs = 1_500
    envelope.metadata = ["client-id": "wire-tests"]
    envelope.protocolVersion = .protocolVersion1
    return envelope
}

private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

// MARK: - Decoder verified by NIOTestUtils

@Suite("Frame decoder")
struct FrameDecoderTests {
    @Test("ByteToMessageDecoderVerifier: byte-at-a-time, all-at-once and many frames per buffer")
    func verifierAcceptsTheDecoder() throws {
        let small: [UInt8] = try envelope(callID: 1).serializedBytes()
        let empty: [UInt8] = []
        let large: [UInt8] = try envelope(callID: 300, payloadBytes: 2_000).serializedBytes()
        let exactlyAtLimit = [UInt8](repeating: 0x5A, count: 4_096)
        // One frame per buffer, several frames in one buffer, and an empty frame.
        let pairs: [(ByteBuffer, [ByteBuffer])] = [
            (buffer(frame(small)), [buffer(small)]),
            (buffer(frame(empty)), [buffer(empty)]),
            (buffer(frame(small) + frame(large) + frame(empty) + frame(small)), [buffer(small), buffer(large), buffer(empty), buffer(small)]),
            (buffer(frame(exactlyAtLimit)), [buffer(exactlyAtLimit)]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(frameBytesMax: 4_096)
        }
    }

    @Test("a partial frame yields nothing and consumes nothing")
    func partialFrameNeedsMoreData() throws {
        let payload: [UInt8] = try envelope(callID: 7).serializedBytes()
        let whole = frame(payload)
        for cut in 0..<whole.count {
            var partial = buffer(Array(whole[..<cut]))
            let readerIndex = partial.readerIndex
            #expect(try FrameDecoder.nextFrame(&partial, frameBytesMax: 1_024) == nil, "cut at \(cut)")
            #expect(partial.readerIndex == readerIndex, "nothing is consumed before a whole frame is present (cut at \(cut))")
        }
        var complete = buffer(whole + [0x00, 0x00])
        let decoded = try #require(try FrameDecoder.nextFrame(&complete, frameBytesMax: 1_024))
        #expect(Array(decoded.readableBytesView) == payload)
        #expect(complete.readableBytes == 2, "the bytes of the next frame stay in the buffer")
    }
}

// MARK: - The size limit

@Suite("Frame size limit")
struct FrameSizeLimitTests {
    static let limit = 1_024

    @Test("a header declaring frameBytesMax + 1 throws tooLarge while only the header is present")
    func headerAloneIsRejected() throws {
        var header = buffer(frame([], declaredLength: UInt32(Self.limit + 1)))
        #expect(header.readableBytes == Framing.headerBytes)
        #expect(throws: FrameError.tooLarge(length: Self.limit + 1, limit: Self.limit, callID: nil)) {
            try FrameDecoder.nextFrame(&header, frameBytesMax: Self.limit)
        }
    }

    @Test("a frame of exactly frameBytesMax is accepted")
    func exactlyTheLimitIsAccepted() throws {
        let payload = [UInt8](repeating: 1, count: Self.limit)
        var bytes = buffer(frame(payload))
        let decoded = try #require(try FrameDecoder.nextFrame(&bytes, frameBytesMax: Self.limit))
        #expect(decoded.readableBytes == Self.limit)
    }

    @Test("the largest declarable length (4 GiB - 1) is rejected without buffering", arguments: [UInt32(1_025), UInt32(1 << 20), UInt32.max])
    func hugeDeclaredLengths(length: UInt32) throws {
        var header = buffer(frame([], declaredLength: length))
        #expect(throws: FrameError.tooLarge(length: Int(length), limit: Self.limit, callID: nil)) {
            try FrameDecoder.nextFrame(&header, frameBytesMax: Self.limit)
        }
    }

    @Test("through a pipeline: the error fires after the 5 header bytes, before any payload arrives")
    func pipelineRejectsOnHeader() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(frameBytesMax: Self.limit)))
        defer { _ = try? channel.finish() }
        // Four bytes of header: not enough to decide.
        let header = frame([], declaredLength: UInt32(Self.limit + 1))
        try channel.writeInbound(buffer(Array(header[..<4])))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        // The fifth byte completes the header: the decoder throws at once.
        #expect(throws: FrameError.tooLarge(length: Self.limit + 1, limit: Self.limit, callID: nil)) {
            try channel.writeInbound(buffer([header[4]]))
        }
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
    }
}

// MARK: - Flags and call-id peeking

@Suite("Frame flags and call-id peeking")
struct FrameFlagsTests {
    @Test("a flag byte other than 0 is rejected", arguments: [UInt8(1), 2, 0x80, 0xFF])
    func badFlags(flags: UInt8) throws {
        var bytes = buffer(frame([0x08, 0x01], flags: flags))
        #expect(throws: FrameError.unsupportedFlags(flags)) {
            try FrameDecoder.nextFrame(&bytes, frameBytesMax: 1_024)
        }
        // The header alone is enough to reject it.
        var header = buffer(frame([], flags: flags, declaredLength: 100))
        #expect(throws: FrameError.unsupportedFlags(flags)) {
            try FrameDecoder.nextFrame(&header, frameBytesMax: 1_024)
        }
    }

    @Test("an oversized frame reports the call id when field 1 is already received", arguments: [UInt64(1), 127, 128, 300, 1 << 35, UInt64.max])
    func peeksCallID(callID: UInt64) throws {
        var bytes = buffer(frame([0x08] + varint(callID), declaredLength: 1_025))
        #expect(throws: FrameError.tooLarge(length: 1_025, limit: 1_024, callID: callID)) {
            try FrameDecoder.nextFrame(&bytes, frameBytesMax: 1_024)
        }
    }

    @Test("the peeked call id comes from a real serialized envelope")
    func peeksFromSerializedEnvelope() throws {
        let body: [UInt8] = try envelope(callID: 987_654, payloadBytes: 5_000).serializedBytes()
        // Only the first 20 bytes of the body have arrived.
        var bytes = buffer(Array(frame(body)[..<(Framing.headerBytes + 20)]))
        #expect(throws: FrameError.tooLarge(length: body.count, limit: 1_024, callID: 987_654)) {
            try FrameDecoder.nextFrame(&bytes, frameBytesMax: 1_024)
        }
    }

    @Test("no call id when it cannot be read: other first field, truncated varint, zero, nothing yet")
    func noCallID() throws {
        let cases: [[UInt8]] = [
            [],                          // only the header
            [0x12, 0x03, 0x61],          // field 2 (method) first
            [0x08],                      // tag without value
            [0x08, 0x80, 0x80],          // varint still continuing
            [0x08, 0x00],                // call id 0 is not a call
        ]
        for body in cases {
            var bytes = buffer(frame(body, declaredLength: 5_000))
            #expect(throws: FrameError.tooLarge(length: 5_000, limit: 1_024, callID: nil), "body \(body)") {
                try FrameDecoder.nextFrame(&bytes, frameBytesMax: 1_024)
            }
        }
    }

    @Test("errors describe themselves with the limit")
    func descriptions() {
        #expect(FrameError.tooLarge(length: 2_000, limit: 1_024, callID: 3).description.contains("frameBytesMax (1024)"))
        #expect(FrameError.unsupportedFlags(1).description.contains("only 0"))
    }
}

// MARK: - writeFrame

@Suite("ByteBuffer.writeFrame")
struct WriteFrameTests {
    @Test("round trip: writeFrame then the decoder gives the same envelope back")
    func roundTrip() throws {
        var out = ByteBuffer()
        let request = envelope(callID: 42, payloadBytes: 700)
        var response = Waybill_V1_ResponseEnvelope()
        response.callID = 42
        response.status.code = .resourceExhausted
        response.status.message = "too big"
        response.status.details.limitName = "frameBytesMax"
        response.endOfStream = true
        response.protocolVersion = .protocolVersion1
        try out.writeFrame(request)
        try out.writeFrame(response)
        try out.writeFrame(Waybill_V1_RequestEnvelope())  // an empty message is an empty frame

        let body: [UInt8] = try request.serializedBytes()
        #expect(out.getInteger(at: 0, as: UInt8.self) == 0)
        #expect(out.getInteger(at: 1, as: UInt32.self) == UInt32(body.count), "big-endian length of the envelope")

        var first = try #require(try FrameDecoder.nextFrame(&out, frameBytesMax: 4_096))
        #expect(try Waybill_V1_RequestEnvelope(serializedBytes: first.readBytes(length: first.readableBytes)!) == request)
        var second = try #require(try FrameDecoder.nextFrame(&out, frameBytesMax: 4_096))
        #expect(try Waybill_V1_ResponseEnvelope(serializedBytes: second.readBytes(length: second.readableBytes)!) == response)
        let third = try #require(try FrameDecoder.nextFrame(&out, frameBytesMax: 4_096))
        #expect(third.readableBytes == 0)
        #expect(out.readableBytes == 0)
        #expect(try FrameDecoder.nextFrame(&out, frameBytesMax: 4_096) == nil)
    }

    @Test("frames written by writeFrame pass through a decoding pipeline split at every byte")
    func splitEverywhere() throws {
        var out = ByteBuffer()
        let envelopes = (1...5).map { envelope(callID: UInt64($0), payloadBytes: $0 * 37) }
        for envelope in envelopes { try out.writeFrame(envelope) }
        let bytes = Array(out.readableBytesView)
        for split in stride(from: 1, to: bytes.count, by: 7) {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(frameBytesMax: 4_096)))
            try channel.writeInbound(buffer(Array(bytes[..<split])))
            try channel.writeInbound(buffer(Array(bytes[split...])))
            var decoded: [Waybill_V1_RequestEnvelope] = []
            while var payload = try channel.readInbound(as: ByteBuffer.self) {
                decoded.append(try Waybill_V1_RequestEnvelope(serializedBytes: payload.readBytes(length: payload.readableBytes)!))
            }
            #expect(decoded == envelopes, "split at \(split)")
            #expect(try channel.finish().isClean)
        }
    }

    @Test("an unfinished frame at end of stream is never delivered as a frame")
    func truncatedAtClose() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(frameBytesMax: 4_096)))
        var out = ByteBuffer()
        try out.writeFrame(envelope(callID: 9))
        try channel.writeInbound(out.getSlice(at: 0, length: out.readableBytes - 1)!)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        // Closing runs decodeLast: the truncated frame is dropped, not delivered short.
        let leftovers = try channel.finish()
        #expect(leftovers.isClean, "no partial frame reached the next handler")
    }
}

// MARK: - The documented example

@Suite("docs/PROTOCOL.md example frame")
struct DocumentedFrameTests {
    /// "the bytes of a GetOrder call for order W-00000001, call id 7" as the protocol document spells them.
    static let documented: [UInt8] = {
        let payload: [UInt8] = [0x0A, 0x0A] + Array("W-00000001".utf8)
        let method = Array("/waybill.v1.OrderService/GetOrder".utf8)
        let envelope: [UInt8] = [0x08, 0x07, 0x12, 0x21] + method + [0x1A, 0x0C] + payload + [0x30, 0x01]
        return [0x00, 0x00, 0x00, 0x00, 0x35] + envelope
    }()

    @Test("writeFrame produces exactly the documented bytes, and the decoder reads them back")
    func documentedBytes() throws {
        var request = Waybill_V1_GetOrderRequest()
        request.orderID = "W-00000001"
        var envelope = Waybill_V1_RequestEnvelope()
        envelope.callID = 7
        envelope.method = Method.OrderService.getOrder
        envelope.payload = try request.serializedData()
        envelope.protocolVersion = ProtocolVersions.current
        var out = ByteBuffer()
        try out.writeFrame(envelope)
        #expect(Array(out.readableBytesView) == Self.documented)
        #expect(Self.documented.count == Framing.headerBytes + 53)

        var input = buffer(Self.documented)
        var payload = try #require(try FrameDecoder.nextFrame(&input, frameBytesMax: TransportLimits().frameBytesMax))
        let decoded = try Waybill_V1_RequestEnvelope(serializedBytes: payload.readBytes(length: payload.readableBytes)!)
        #expect(decoded == envelope)
        #expect(try Waybill_V1_GetOrderRequest(serializedBytes: decoded.payload).orderID == "W-00000001")
    }

    @Test("the default limits are the documented ones")
    func defaultLimits() {
        let limits = TransportLimits()
        let named = Dictionary(uniqueKeysWithValues: limits.named.map { ($0.name, $0.value) })
        let fourMebibytes: Int64 = 4 * 1024 * 1024
        #expect(named["frameBytesMax"] == fourMebibytes)
        #expect(named["connectionsMax"] == 1_024)
        #expect(named["callsInFlightPerConnectionMax"] == 1_024)
        #expect(named["idleTimeoutMilliseconds"] == 300_000)
        #expect(named["ordersPerBatchMax"] == 1_000)
        #expect(named["listPageSizeMax"] == 1_000)
        #expect(limits.listPageSizeDefault == 100)
        #expect(named["availabilitySkusMax"] == 1_000)
        #expect(named["inventoryChangesPerRequestMax"] == 10_000)
        #expect(named["subscriptionWindowEventsMax"] == 65_536)
        #expect(limits.subscriptionWindowEventsDefault == 4_096)
        #expect(named["eventsPerFrameMax"] == 1_024)
        #expect(Set(limits.named.map(\.name)).count == limits.named.count, "every limit has its own name")
    }
}
