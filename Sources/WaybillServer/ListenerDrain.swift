// Draining a listener at shutdown with swift-nio-extras' ServerQuiescingHelper, within a bound.

import Dispatch
import NIOCore
import NIOExtras
import Synchronization

/// Starts the quiescing of a listener (it stops accepting; every open connection receives
/// `ChannelShouldQuiesceEvent`) and waits until all its connections closed — true — or until
/// `deadline` (uptime nanoseconds) passes — false: the caller closes what is left.
func drainListener(_ quiescing: ServerQuiescingHelper, on loop: any EventLoop, until deadline: UInt64) async -> Bool {
    let closed = DrainCompletion()
    let promise = loop.makePromise(of: Void.self)
    promise.futureResult.whenComplete { _ in closed.set() }
    quiescing.initiateShutdown(promise: promise)
    // Polled with Task.sleep: nothing blocks a thread of the cooperative pool, and the bound holds
    // whatever the connections do.
    while !closed.isSet {
        if DispatchTime.now().uptimeNanoseconds >= deadline {
            // Fulfilled here so it never leaks (a later completion by the helper is a no-op).
            promise.succeed(())
            return false
        }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return true
}

/// Milliseconds since an uptime instant, for shutdown logs.
func elapsedMilliseconds(since uptimeNanoseconds: UInt64) -> UInt64 {
    (DispatchTime.now().uptimeNanoseconds - uptimeNanoseconds) / 1_000_000
}

/// Set once when every connection of a quiesced listener closed.
final class DrainCompletion: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
