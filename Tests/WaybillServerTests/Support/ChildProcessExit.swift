// Waiting for a child process without blocking the cooperative pool.

import Foundation
import Testing

/// Whether `process` exited within `bound`. Polls instead of `waitUntilExit()`, which would block
/// one of the cooperative pool's threads (two on a 2-core machine) while the in-process servers
/// and clients of other tests need them.
func exited(_ process: Process, within bound: Duration) async -> Bool {
    let deadline = ContinuousClock.now + bound
    while process.isRunning {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// Waits for a command to finish; one still running after `bound` is killed and fails the test,
/// so a hang costs one test, not the whole run.
func finish(_ process: Process, _ what: String, within bound: Duration = .seconds(120)) async {
    if await exited(process, within: bound) { return }
    Issue.record("\(what) did not finish within \(bound); killed")
    kill(process.processIdentifier, SIGKILL)
    _ = await exited(process, within: .seconds(10))
}
