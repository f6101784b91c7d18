import GRPCCore

/// A message that gRPC carries as it is: the serialized protobuf bytes of a Waybill request or
/// response. The service hands them to the same dispatch the frames use, so no message is decoded
/// twice and both transports answer with the same bytes.
public struct GRPCBytesSerializer: MessageSerializer {
    public typealias Message = [UInt8]
    public init() {}
    public func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }
}

public struct GRPCBytesDeserializer: MessageDeserializer {
    public typealias Message = [UInt8]
    public init() {}
    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
