// `waybill-harness`: the test-and-benchmark executable, in no product. It runs the real server
// (`WaybillServer.runUntilSignalled`, exactly what `waybill serve` runs) with harness code that
// the product never carries: today a delay around every writer job, for tests that need a slow
// write path in a process of its own (SIGTERM drains, the drain bound).

import ArgumentParser

@main
struct Harness: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waybill-harness",
        abstract: "Test and benchmark harness: the Waybill server with fault injection (not shipped).",
        subcommands: [HarnessServe.self])
}
