// How Waybill's statuses, client identity and deadlines travel over standard gRPC (docs/GRPC.md).

import Foundation
import GRPCCore
import SwiftProtobuf
import WaybillProto

/// Metadata keys Waybill reads or writes on gRPC calls.
public enum WaybillGRPCMetadata {
    /// Request metadata: the caller's identity, as the frames' `metadata["client-id"]`.
    public static let clientID = "client-id"
    /// Trailing metadata of a failed call: the serialized `waybill.v1.StatusDetails`, when it has any field set.
    public static let statusDetails = "waybill-status-details-bin"
    /// Trailing metadata of a failed call, the standard form: a serialized `google.rpc.Status`
    /// (code, message, and the same StatusDetails packed in a `google.protobuf.Any`).
    public static let standardStatusDetails = "grpc-status-details-bin"
    /// The `type_url` of the StatusDetails packed in `grpc-status-details-bin`.
    public static let statusDetailsTypeURL = "type.googleapis.com/waybill.v1.StatusDetails"
}

extension WaybillStatusError {
    /// The gRPC error a client receives: the same code and message as over frames, the details in
    /// trailing metadata (both keys of `WaybillGRPCMetadata`) when any field is set.
    public var rpcError: RPCError {
        var metadata = Metadata()
        if details != Waybill_V1_StatusDetails(), let bytes: [UInt8] = try? details.serializedBytes() {
            metadata.addBinary(bytes, forKey: WaybillGRPCMetadata.statusDetails)
            if let standard = try? googleRPCStatus(detailsBytes: bytes) {
                metadata.addBinary(standard, forKey: WaybillGRPCMetadata.standardStatusDetails)
            }
        }
        return RPCError(code: rpcCode, message: message, metadata: metadata)
    }

    /// Waybill's codes are gRPC's canonical codes, number for number.
    var rpcCode: RPCError.Code {
        Status.Code(rawValue: code.rawValue).flatMap(RPCError.Code.init) ?? .unknown
    }

    /// The status a Waybill gRPC client reads from a failed call (details from the trailers).
    public init(_ error: RPCError) {
        let code = Waybill_V1_StatusCode(rawValue: error.code.rawValue) ?? .unknown
        var details = Waybill_V1_StatusDetails()
        if let bytes = error.metadata[binaryValues: WaybillGRPCMetadata.statusDetails].first(where: { _ in true }),
           let decoded = try? Waybill_V1_StatusDetails(serializedBytes: bytes) {
            details = decoded
        }
        self.init(code, error.message, details: details)
    }

    /// google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
    /// written by hand: one message, three fields, no dependency on the googleapis protos.
    private func googleRPCStatus(detailsBytes: [UInt8]) throws -> [UInt8] {
        var any = Google_Protobuf_Any()
        any.typeURL = WaybillGRPCMetadata.statusDetailsTypeURL
        any.value = Data(detailsBytes)
        let anyBytes: [UInt8] = try any.serializedBytes()
        var output: [UInt8] = []
        if code.rawValue != 0 {
            output.append(0x08)
            appendVarint(UInt64(code.rawValue), to: &output)
        }
        let messageBytes = Array(message.utf8)
        if !messageBytes.isEmpty {
            output.append(0x12)
            appendVarint(UInt64(messageBytes.count), to: &output)
            output.append(contentsOf: messageBytes)
        }
        output.append(0x1A)
        appendVarint(UInt64(anyBytes.count), to: &output)
        output.append(contentsOf: anyBytes)
        return output
    }
}

private func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
    var value = value
    while value >= 0x80 {
        output.append(UInt8(truncatingIfNeeded: value) | 0x80)
        value >>= 7
    }
    output.append(UInt8(value))
}

/// The `grpc-timeout` header ("100m", "5S", "2500000u"; at most 8 digits and a unit), in whole
/// milliseconds rounded up (a sub-millisecond timeout still expires): nil when absent or malformed.
public func grpcTimeoutMilliseconds(_ metadata: Metadata) -> Int64? {
    guard let value = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }) else { return nil }
    return grpcTimeoutMilliseconds(value)
}

public func grpcTimeoutMilliseconds(_ value: String) -> Int64? {
    guard let unit = value.last, value.count >= 2, value.count <= 9, let amount = Int64(value.dropLast()), amount >= 0 else { return nil }
    func ceilingDivide(_ value: Int64, _ divisor: Int64) -> Int64 { (value + divisor - 1) / divisor }
    switch unit {
    case "H": return amount * 3_600_000
    case "M": return amount * 60_000
    case "S": return amount * 1_000
    case "m": return amount
    case "u": return ceilingDivide(amount, 1_000)
    case "n": return ceilingDivide(amount, 1_000_000)
    default: return nil
    }
}

extension MethodDescriptor {
    /// "/waybill.v1.OrderService/CaptureOrder" (the frames' method name) as a gRPC descriptor.
    public init?(waybillMethod: String) {
        let parts = waybillMethod.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2, waybillMethod.hasPrefix("/") else { return nil }
        self.init(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
    }
}
