// `waybill sim` (being built: see the simulator issue).

import ArgumentParser

struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sim", abstract: "Run a traffic simulation (not built yet).")
    func run() async throws { throw CLIError("sim is not built yet") }
}
