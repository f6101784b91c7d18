// The NIO event loops of `waybill serve` as a swift-service-lifecycle service, listed first so
// that they stop last: the writer's last jobs still hand their answers to an event loop, and
// scheduling on a stopped loop is an error in SwiftNIO.

import Logging
import NIOPosix
import ServiceLifecycle

public struct EventLoopGroupService: Service {
    public let group: MultiThreadedEventLoopGroup

    public init(group: MultiThreadedEventLoopGroup) { self.group = group }

    public func run() async throws {
        try? await gracefulShutdown()
        try await group.shutdownGracefully()
    }
}
