// `waybill erp-bridge` and `waybill reconcile` (being built: see the ERP synchronisation issue).

import ArgumentParser

struct ErpBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "erp-bridge", abstract: "Deliver the change feed to the ERP (not built yet).")
    func run() async throws { throw CLIError("erp-bridge is not built yet") }
}

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reconcile", abstract: "Compare Waybill with an ERP extract (not built yet).")
    func run() async throws { throw CLIError("reconcile is not built yet") }
}
