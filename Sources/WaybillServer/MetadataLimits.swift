// Caps on a call's metadata (issue 12): entries, key bytes, value bytes, and `client-id`'s form.
// Checked before the call is dispatched, on both transports; a call over a cap is refused
// INVALID_ARGUMENT (that call only, the connection stays). Refusals name the limit and the key,
// never a value: a value may be a bearer token.

import GRPCCore
import WaybillProto
import WaybillWire

enum MetadataLimits {
    /// The key of the software label a client sends for logs (who acted comes from the credential).
    static let clientIDKey = "client-id"

    /// The first cap `metadata` (frames: RequestEnvelope.metadata) breaks, or nil.
    static func violation(_ metadata: [String: String], limits: TransportLimits) -> WaybillStatusError? {
        if metadata.count > limits.metadataEntriesMax {
            return WaybillStatusError.limit(.invalidArgument, name: "metadataEntriesMax", value: limits.metadataEntriesMax,
                                            "\(metadata.count) metadata entries")
        }
        for (key, value) in metadata {
            if let error = violation(key: key, valueBytes: value.utf8.count, limits: limits) { return error }
        }
        return metadata[clientIDKey].flatMap { clientIDViolation($0, limits: limits) }
    }

    /// The same for a gRPC call's headers. The transport's own headers (pseudo-headers, `grpc-*`,
    /// content-type, te, user-agent) are not the caller's metadata and are not counted; HTTP/2
    /// bounds the whole header block already (SETTINGS_MAX_HEADER_LIST_SIZE).
    static func violation(_ metadata: Metadata, limits: TransportLimits) -> WaybillStatusError? {
        var entries = 0
        var clientID: String?
        for (key, value) in metadata where !isTransportHeader(key) {
            entries += 1
            if entries > limits.metadataEntriesMax {
                return WaybillStatusError.limit(.invalidArgument, name: "metadataEntriesMax", value: limits.metadataEntriesMax,
                                                "more than \(limits.metadataEntriesMax) metadata entries")
            }
            let valueBytes: Int
            switch value {
            case .string(let text):
                valueBytes = text.utf8.count
                if key == clientIDKey { clientID = text }
            case .binary(let bytes): valueBytes = bytes.count
            }
            if let error = violation(key: key, valueBytes: valueBytes, limits: limits) { return error }
        }
        return clientID.flatMap { clientIDViolation($0, limits: limits) }
    }

    static func isTransportHeader(_ key: String) -> Bool {
        key.hasPrefix(":") || key.hasPrefix("grpc-") || key == "content-type" || key == "te" || key == "user-agent"
    }

    private static func violation(key: String, valueBytes: Int, limits: TransportLimits) -> WaybillStatusError? {
        let keyBytes = key.utf8.count
        if keyBytes > limits.metadataKeyBytesMax {
            return WaybillStatusError.limit(.invalidArgument, name: "metadataKeyBytesMax", value: limits.metadataKeyBytesMax,
                                            "a metadata key of \(keyBytes) bytes")
        }
        if valueBytes > limits.metadataValueBytesMax {
            return WaybillStatusError.limit(.invalidArgument, name: "metadataValueBytesMax", value: limits.metadataValueBytesMax,
                                            "metadata \"\(key)\": a value of \(valueBytes) bytes")
        }
        return nil
    }

    /// `client-id` is a label for logs: at most clientIDBytesMax characters of [A-Za-z0-9._-].
    static func clientIDViolation(_ clientID: String, limits: TransportLimits) -> WaybillStatusError? {
        let bytes = clientID.utf8
        if bytes.count > limits.clientIDBytesMax {
            var error = WaybillStatusError.limit(.invalidArgument, name: "clientIDBytesMax", value: limits.clientIDBytesMax,
                                                 "metadata \"client-id\": \(bytes.count) bytes")
            error.details.field = clientIDKey
            return error
        }
        if !bytes.allSatisfy(isClientIDByte) {
            var details = Waybill_V1_StatusDetails()
            details.field = clientIDKey
            return WaybillStatusError(.invalidArgument, "metadata \"client-id\": only letters, digits, '.', '_' and '-' are allowed",
                                      details: details)
        }
        return nil
    }

    private static func isClientIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
