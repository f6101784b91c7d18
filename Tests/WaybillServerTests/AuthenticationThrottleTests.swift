// AuthenticationThrottle on injected time: a peer past authenticationFailuresPerPeerMax failures in
// its window is refused until the window ends; other peers are not; memory stays bounded.

import Testing
import WaybillProto
import WaybillWire
@testable import WaybillServer

@Suite("Authentication throttle")
struct AuthenticationThrottleTests {
    static let millisecond: UInt64 = 1_000_000

    static func throttle(failures: Int = 3, windowMilliseconds: Int64 = 1_000, peers: Int = 100) -> AuthenticationThrottle {
        var limits = TransportLimits()
        limits.authenticationFailuresPerPeerMax = failures
        limits.authenticationFailureWindowMilliseconds = windowMilliseconds
        limits.authenticationThrottlePeersMax = peers
        return AuthenticationThrottle(limits: limits)
    }

    @Test("the failure that reaches the limit throttles the peer until its window ends; other peers go on")
    func throttlesAPeer() {
        let throttle = Self.throttle()
        let start: UInt64 = 5_000 * Self.millisecond
        for step in 0..<3 {
            #expect(throttle.allows(peer: "203.0.113.7", now: start + UInt64(step) * Self.millisecond))
            throttle.recordFailure(peer: "203.0.113.7", now: start + UInt64(step) * Self.millisecond)
        }
        #expect(!throttle.allows(peer: "203.0.113.7", now: start + 3 * Self.millisecond))
        #expect(throttle.allows(peer: "198.51.100.1", now: start + 3 * Self.millisecond), "another address is not throttled")
        let refusal = throttle.refusal(peer: "203.0.113.7", now: start + 400 * Self.millisecond)
        #expect(refusal?.code == .resourceExhausted)
        #expect(refusal?.details.limitName == "authenticationFailuresPerPeerMax")
        #expect(refusal?.details.limitValue == 3)
        #expect(refusal?.details.retryAfterMs == 600, "the rest of the window: \(String(describing: refusal))")
        #expect(!throttle.allows(peer: "203.0.113.7", now: start + 999 * Self.millisecond))
        #expect(throttle.allows(peer: "203.0.113.7", now: start + 1_000 * Self.millisecond), "the window is over")
        #expect(throttle.refusal(peer: "203.0.113.7", now: start + 1_000 * Self.millisecond) == nil)
    }

    @Test("failures spread over more than a window never throttle; a new window counts from its first failure")
    func failuresOutsideTheWindowDoNotAccumulate() {
        let throttle = Self.throttle()
        var now: UInt64 = 1
        for _ in 0..<10 {
            throttle.recordFailure(peer: "p", now: now)
            throttle.recordFailure(peer: "p", now: now + 10 * Self.millisecond)
            #expect(throttle.allows(peer: "p", now: now + 20 * Self.millisecond))
            now += 1_001 * Self.millisecond
        }
        throttle.recordFailure(peer: "p", now: now)
        throttle.recordFailure(peer: "p", now: now + 1)
        throttle.recordFailure(peer: "p", now: now + 2)
        #expect(!throttle.allows(peer: "p", now: now + 3))
    }

    @Test("at most authenticationThrottlePeersMax peers are remembered; the oldest window is forgotten first")
    func memoryIsBounded() {
        let throttle = Self.throttle(failures: 1, windowMilliseconds: 60_000, peers: 50)
        for index in 0..<10_000 {
            throttle.recordFailure(peer: "peer-\(index)", now: UInt64(index + 1) * Self.millisecond)
            #expect(throttle.peersTracked <= 50)
        }
        let now: UInt64 = 10_001 * Self.millisecond
        #expect(!throttle.allows(peer: "peer-9999", now: now), "the newest peers are still throttled")
        #expect(!throttle.allows(peer: "peer-9950", now: now))
        #expect(throttle.allows(peer: "peer-0", now: now), "the oldest was forgotten")
        #expect(throttle.allows(peer: "peer-9949", now: now))
    }

    @Test("windows that ended are forgotten as new failures arrive")
    func expiredWindowsAreForgotten() {
        let throttle = Self.throttle(failures: 1, windowMilliseconds: 10, peers: 1_000)
        for index in 0..<500 {
            throttle.recordFailure(peer: "peer-\(index)", now: UInt64(index) * 100 * Self.millisecond)
        }
        #expect(throttle.peersTracked == 1, "only the last peer's window is still running")
    }
}

@Suite("Peer addresses")
struct PeerAddressTests {
    @Test("IPv4 by address, IPv6 by /64, IPv4-mapped IPv6 as IPv4")
    func keys() throws {
        #expect(PeerAddress.key(try .init(ipAddress: "203.0.113.7", port: 1)) == "203.0.113.7")
        #expect(PeerAddress.key(try .init(ipAddress: "2001:db8:1:2:3:4:5:6", port: 1)) == "2001:db8:1:2::/64")
        #expect(PeerAddress.key(try .init(ipAddress: "2001:db8:1:2:ffff::1", port: 1)) == "2001:db8:1:2::/64")
        #expect(PeerAddress.key(try .init(ipAddress: "::ffff:198.51.100.9", port: 1)) == "198.51.100.9")
        #expect(PeerAddress.key(nil) == "unknown")
    }
}
