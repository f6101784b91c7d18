// A client shared by tasks and closed by one of them while the others call: every call ends
// (answered, or UNAVAILABLE), none waits forever. Before the fix, a call issued as the client's own
// event loop shut down was queued on the dead loop and its caller hung (it stopped CI for 90 minutes).

import Synchronization
import Testing
import WaybillClient
import WaybillProto

@Suite("A closed client")
struct ClientCloseTests {
    @Test("calls racing close() all end: answered or UNAVAILABLE, none hangs; calls after close fail at once")
    func callsRacingCloseAllEnd() async throws {
        try await withServer { server in
            for round in 0..<20 {
                // Its own event loop group: the one close() shuts down.
                let client = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: .testAdmin)
                let tally = CallTally()
                let callers = 6, callsEach = 40
                let calls = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<callers {
                            group.addTask {
                                for _ in 0..<callsEach {
                                    do {
                                        _ = try await client.serverInfo()
                                    } catch let error as WaybillStatusError where error.code == .unavailable {
                                    } catch {
                                        tally.unexpected.withLock { $0.append("\(error)") }
                                    }
                                    tally.ended.add(1, ordering: .relaxed)
                                }
                            }
                        }
                    }
                }
                // Close while the calls stream (later rounds close later).
                try await Task.sleep(for: .microseconds(200 * round))
                await client.close()
                let allEnded = await eventually("round \(round): all \(callers * callsEach) calls end", timeout: .seconds(60)) {
                    tally.ended.load(ordering: .relaxed) == callers * callsEach
                }
                #expect(allEnded)
                if !allEnded { calls.cancel(); return }
                await calls.value
                #expect(tally.unexpected.withLock { $0 }.isEmpty, "\(tally.unexpected.withLock { $0 }.prefix(3))")
                // After close: at once, UNAVAILABLE, naming the closed client.
                let error = await #expect(throws: WaybillStatusError.self) { try await client.serverInfo() }
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("closed") == true)
            }
        }
    }
}

/// What the racing callers saw.
private final class CallTally: Sendable {
    let ended = Atomic<Int>(0)
    let unexpected = Mutex<[String]>([])
}
