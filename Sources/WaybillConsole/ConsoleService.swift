// The console as a lifecycle service beside the server in `waybill serve`: it waits for the
// server to start, serves until graceful shutdown, and is stopped before the server drains.

import Hummingbird
import Logging
import ServiceLifecycle
import WaybillServer

public struct ConsoleService: Service {
    let started: StartedServer
    let configuration: ConsoleConfiguration
    let logger: Logger

    public init(started: StartedServer, configuration: ConsoleConfiguration, logger: Logger) {
        self.started = started
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        // A group that shuts down before the server listened cancels the wait (no console then).
        guard let server = await cancelWhenGracefulShutdown({ await started.server() }) else { return }
        let logger = self.logger
        let application = try await OperatorConsole.application(server: server, configuration: configuration, logger: logger) { port in
            logger.info("console listening", metadata: ["address": "http://\(configuration.host):\(port)/"])
        }
        try await application.run()
    }
}
