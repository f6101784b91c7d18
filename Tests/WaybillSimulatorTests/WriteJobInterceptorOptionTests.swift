// SimulationOptions.writeJobInterceptor (`waybill sim --inject-write-delay-microseconds`) wraps the
// writer of an embedded server only: with --target or with server faults (a `waybill serve` child,
// which has no such hook) the run is refused before anything starts.

import Testing
import WaybillStore
@testable import WaybillSimulator

private struct PassThrough: WriteJobInterceptor {
    func intercept(_ job: any WriteJob, proceed: () throws -> Void) throws { try proceed() }
}

@Suite struct WriteJobInterceptorOptionTests {
    @Test func refusedAgainstATarget() async throws {
        var options = SimulationOptions()
        options.driver = .live
        options.target = "127.0.0.1:1"
        options.writeJobInterceptor = PassThrough()
        let error = await #expect(throws: ScenarioError.self) { try await Simulation.run(try smokeScenario(), options: options) }
        #expect(error?.description.contains("embedded server only") == true, "\(String(describing: error))")
    }

    @Test func refusedWithServerFaults() async throws {
        var options = SimulationOptions()
        options.driver = .live
        options.writeJobInterceptor = PassThrough()
        let error = await #expect(throws: ScenarioError.self) { try await Simulation.run(try faultScenario("kill-restart"), options: options) }
        #expect(error?.description.contains("embedded server only") == true, "\(String(describing: error))")
    }
}
