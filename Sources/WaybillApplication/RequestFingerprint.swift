// Idempotency fingerprints: a retry with the same idempotency key must carry the same content.
// A request is fingerprinted from its bytes (deterministic serialization) and the method it was
// sent to, so the same content sent to another method under the same key is another request.

import SwiftProtobuf
import WaybillProto

public enum RequestFingerprint {
    /// The fingerprint of `request` sent to `method` ("/waybill.v1.OrderService/CancelOrder").
    public static func of(_ request: some SwiftProtobuf.Message, method: String) -> UInt64 {
        fingerprint(request) ^ fingerprint(Array(method.utf8))
    }

    /// The same from the request's serialized bytes (the in-process simulator encodes the request
    /// it would send; messages without maps serialize deterministically).
    public static func of(serialized bytes: [UInt8], method: String) -> UInt64 {
        fingerprint(bytes) ^ fingerprint(Array(method.utf8))
    }
}

extension RequestFingerprint {
    /// An ERP message's fingerprint: its message id is the idempotency key and names one kind of
    /// message, so the content alone is fingerprinted.
    public static func ofErpMessage(serialized bytes: [UInt8]) -> UInt64 { fingerprint(bytes) }
}
