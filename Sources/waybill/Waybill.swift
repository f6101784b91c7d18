// `waybill`: the server, the client calls, benchmarks, the simulator and the ERP bridge.

import ArgumentParser

@main
struct Waybill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waybill",
        abstract: "Waybill: an order management service beside your ERP.",
        subcommands: [Serve.self, CallCommand.self, SimCommand.self, ErpBridgeCommand.self, ReconcileCommand.self, Bench.self, Demo.self, BackupCommand.self, CheckCommand.self, ClientsCommand.self])
}
