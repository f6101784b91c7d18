// The background WAL checkpointer is never silently broken: a connection it cannot open is counted
// and reported (`problem`, which the server's /readyz shows), it retries every interval, and it
// recovers by itself once the database can be opened.

import Foundation
import Testing
@testable import WaybillStore

@Suite("WAL checkpointer health")
struct WalCheckpointerHealthTests {
    private func eventually(_ timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("a connection that cannot be opened is counted and reported, and it recovers once the file is there")
    func openFailureIsReported() async throws {
        let directory = try TemporaryDirectory("checkpointer")
        let path = directory.path("later.sqlite")
        // No file yet: the checkpointer opens without SQLITE_OPEN_CREATE, so opening fails.
        let checkpointer = WalCheckpointer(path: path, intervalMilliseconds: 5, logger: quietLogger)
        checkpointer.start()
        #expect(await eventually { checkpointer.failureCount >= 2 }, "failures are counted, and retried")
        let problem = try #require(checkpointer.problem)
        #expect(problem.contains("cannot open its connection"), "\(problem)")
        #expect(checkpointer.count == 0)
        // The database appears: the checkpointer opens it and checkpoints; the problem clears.
        let database = try WaybillDatabase(path: path)
        #expect(await eventually { checkpointer.problem == nil && checkpointer.count > 0 }, "\(checkpointer.problem ?? "")")
        checkpointer.stop()
        database.close()
    }
}
