// Idempotency fingerprints: a retry with the same idempotency key must carry the same content.
// A request is fingerprinted from its bytes (deterministic serialization) and the method it was
// sent to, so the same content sent to another method under the same key is another request.
// SHA-256 (swift-crypto): with a 64-bit non-cryptographic hash a client could craft a different
// request with the fingerprint of another's and have it answered as that one's retry.

import Crypto
import SwiftProtobuf
import WaybillCore
import WaybillProto

public enum RequestFingerprint {
    /// The fingerprint of `request` sent to `method` ("/waybill.v1.OrderService/CancelOrder").
    public static func of(_ request: some SwiftProtobuf.Message, method: String) -> Fingerprint {
        of(serialized: deterministicBytes(request), method: method)
    }

    /// The same from the request's serialized bytes (the in-process simulator encodes the request
    /// it would send; messages without maps serialize deterministically).
    public static func of(serialized bytes: [UInt8], method: String) -> Fingerprint {
        var hasher = SHA256()
        // The method's length first: no (method, bytes) pair reads as another.
        let methodBytes = Array(method.utf8)
        hasher.update(data: lengthPrefix(methodBytes.count))
        hasher.update(data: methodBytes)
        hasher.update(data: bytes)
        return Fingerprint(bytes: Array(hasher.finalize()))!
    }

    /// A request's content alone (its key names one kind of request: ERP message ids, inventory
    /// change ids, reconciliation request ids).
    public static func of(_ request: some SwiftProtobuf.Message) -> Fingerprint {
        of(bytes: deterministicBytes(request))
    }

    public static func of(bytes: [UInt8]) -> Fingerprint {
        Fingerprint(bytes: Array(SHA256.hash(data: bytes)))!
    }

    /// A fingerprint over `previous` and then `request` (a request sent in parts: an extract's chunks).
    public static func chaining(_ previous: Fingerprint, _ request: some SwiftProtobuf.Message) -> Fingerprint {
        var hasher = SHA256()
        hasher.update(data: previous.bytes)
        hasher.update(data: deterministicBytes(request))
        return Fingerprint(bytes: Array(hasher.finalize()))!
    }

    static func deterministicBytes(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return (try? message.serializedBytes(options: options)) ?? []
    }

    private static func lengthPrefix(_ count: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(count).bigEndian) { Array($0) }
    }
}

extension RequestFingerprint {
    /// An ERP message's fingerprint: its message id is the idempotency key and names one kind of
    /// message, so the content alone is fingerprinted.
    public static func ofErpMessage(serialized bytes: [UInt8]) -> Fingerprint { of(bytes: bytes) }
}

/// The fingerprint of a request's content (the server's handlers: `fingerprint(request)`).
public func fingerprint(_ message: some SwiftProtobuf.Message) -> Fingerprint { RequestFingerprint.of(message) }
