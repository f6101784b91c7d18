// Request fingerprints are SHA-256 of the method and the request's bytes (issue 12): a retry
// matches, different content or another method never does.

import Testing
import WaybillApplication
import WaybillCore
import WaybillProto

@Suite("Request fingerprints")
struct RequestFingerprintTests {
    static func hold(_ orderID: String, note: String) -> Waybill_V1_HoldOrderRequest {
        var request = Waybill_V1_HoldOrderRequest()
        request.orderID = orderID
        request.requestID = "r-1"
        request.note = note
        return request
    }

    @Test("a retry matches; other content, another method or a one-bit change never does")
    func distinct() throws {
        let method = "/waybill.v1.OrderService/HoldOrder"
        let first = RequestFingerprint.of(Self.hold("W-1", note: "fraud check"), method: method)
        #expect(RequestFingerprint.of(Self.hold("W-1", note: "fraud check"), method: method) == first)
        #expect(RequestFingerprint.of(Self.hold("W-1", note: "fraud checK"), method: method) != first)
        #expect(RequestFingerprint.of(Self.hold("W-2", note: "fraud check"), method: method) != first)
        #expect(RequestFingerprint.of(Self.hold("W-1", note: "fraud check"), method: "/waybill.v1.OrderService/CancelOrder") != first)
        #expect(first.bytes.count == 32)
        // Many distinct requests: no two share a fingerprint (and none is a derived or legacy value).
        var seen: Set<Fingerprint> = []
        for index in 0..<5_000 { seen.insert(RequestFingerprint.of(Self.hold("W-\(index)", note: ""), method: method)) }
        #expect(seen.count == 5_000)
        #expect(!seen.contains(.none))
        // The method and the bytes are not simply concatenated: moving bytes across the boundary changes it.
        #expect(RequestFingerprint.of(serialized: [0x41], method: "/a") != RequestFingerprint.of(serialized: [], method: "/aA"))
    }

    @Test("it is SHA-256: a known vector")
    func knownVector() {
        // SHA-256("abc")
        #expect(RequestFingerprint.of(bytes: Array("abc".utf8)).description
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("derived parts of one request are distinct from each other and from the request")
    func derived() {
        let base = RequestFingerprint.of(bytes: [1, 2, 3])
        let parts = Set((0..<100).map { base.deriving(UInt64($0)) })
        #expect(parts.count == 100)
        #expect(!parts.contains(base))
    }
}
