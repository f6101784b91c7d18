// `waybill call` and `waybill demo` as a user runs them: the built executable as a child process
// against a real server on loopback.

import Foundation
import Testing
import WaybillProto
import WaybillWire

/// The package root (Tests/WaybillServerTests/CLITests.swift → ../..).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the waybill executable; output goes through files (no pipe can fill up and block it).
func runWaybill(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) async throws -> CommandResult {
    let executable = try #require(WaybillExecutable.url, "the waybill executable was not found (run `swift build` first)")
    let folder = try TemporaryDirectory("cli")
    let out = folder.path("stdout"), err = folder.path("stderr")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var merged = ProcessInfo.processInfo.environment
    merged["WAYBILL_SERVER"] = nil
    // The CLI calls as the test servers' admin unless a test says otherwise.
    merged["WAYBILL_TOKEN"] = TestCredentials.admin.token
    for (key, value) in environment { merged[key] = value }
    process.environment = merged
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    await finish(process, "waybill \(arguments.prefix(2).joined(separator: " "))")
    return CommandResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
}

@Suite("The waybill command line", .timeLimit(.minutes(3)))
struct CLITests {
    static let network = packageRoot.appendingPathComponent("examples/network.json").path
    static let webOrder = packageRoot.appendingPathComponent("examples/orders/web.json").path

    /// A server with the example network loaded through the CLI; `call` runs `waybill call …` against it.
    static func withExampleServer(_ body: (TestServer, ([String]) async throws -> CommandResult) async throws -> Void) async throws {
        try await withServer { server in
            let call = { (arguments: [String]) in try await runWaybill(["call"] + arguments + ["--server", "127.0.0.1:\(server.port)"]) }
            let loaded = try await call(["load-network", network])
            try #require(loaded.status == 0, "\(loaded.stderr)")
            try await body(server, call)
        }
    }

    @Test("every spelling of an enum is accepted; an unknown one lists the valid values")
    func enumSpellings() async throws {
        try await Self.withExampleServer { _, call in
            for spelling in ["ORDER_STATUS_ALLOCATED", "ALLOCATED", "allocated", "Allocated"] {
                let result = try await call(["list-orders", "--status", spelling, "--channel", "click-and-collect"])
                #expect(result.status == 0, "\(spelling): \(result.stderr)")
            }
            let bad = try await call(["list-orders", "--status", "SHIPPPED"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("unknown value \"SHIPPPED\"; valid values: "), "\(bad.stderr)")
            #expect(bad.stderr.contains("allocated"), "\(bad.stderr)")
            #expect(bad.stderr.contains("ORDER_STATUS_"), "\(bad.stderr)")
        }
    }

    @Test("capture-order and get-order print the order identically; empty lists and zero values appear")
    func captureAndGetPrintTheSame() async throws {
        try await Self.withExampleServer { _, call in
            let captured = try await call(["capture-order", Self.webOrder])
            try #require(captured.status == 0, "\(captured.stderr)")
            let order = try Waybill_V1_Order(jsonString: captured.stdout)
            let read = try await call(["get-order", order.orderID])
            #expect(read.status == 0, "\(read.stderr)")
            #expect(read.stdout == captured.stdout)
            #expect(captured.stdout.contains("\"returns\" : []"), "an empty list prints as []")
            let replay = try await call(["capture-order", Self.webOrder])
            #expect(replay.stdout == captured.stdout)
            #expect(replay.stderr.contains("replayed"), "\(replay.stderr)")
        }
    }

    @Test("search-orders by email and free text, and location-queue of the order's location")
    func searchAndQueue() async throws {
        try await Self.withExampleServer { _, call in
            let captured = try await call(["capture-order", Self.webOrder])
            try #require(captured.status == 0, "\(captured.stderr)")
            let order = try Waybill_V1_Order(jsonString: captured.stdout)
            let byEmail = try await call(["search-orders", "--email", "ADA@example.com", "--sku", "tshirt-blk-m"])
            #expect(byEmail.status == 0, "\(byEmail.stderr)")
            #expect(try Waybill_V1_SearchOrdersResponse(jsonString: byEmail.stdout).orders.map(\.orderID) == [order.orderID])
            let byText = try await call(["search-orders", "lovelace", "--status", "shipped"])
            #expect(try Waybill_V1_SearchOrdersResponse(jsonString: byText.stdout).orders.isEmpty)
            let location = try #require(order.fulfillments.first?.locationID)
            let queue = try await call(["location-queue", "--location", location, "--status", "created"])
            #expect(queue.status == 0, "\(queue.stderr)")
            #expect(Set(try Waybill_V1_ListLocationQueueResponse(jsonString: queue.stdout).entries.map(\.orderID)) == [order.orderID])
        }
    }

    @Test("receive and adjust read negative quantities the same way")
    func negativeQuantities() async throws {
        try await Self.withExampleServer { _, call in
            let received = try await call(["receive", "TSHIRT-BLK-M", "DC-NEWARK", "5", "--change-id", "r-1"])
            #expect(received.status == 0, "\(received.stderr)")
            let adjusted = try await call(["adjust", "TSHIRT-BLK-M", "DC-NEWARK", "-3", "--change-id", "a-1"])
            #expect(adjusted.status == 0, "\(adjusted.stderr)")
            // A negative receipt reaches the server (which refuses it), as the adjustment did.
            let negativeReceipt = try await call(["receive", "TSHIRT-BLK-M", "DC-NEWARK", "-3", "--change-id", "r-2"])
            #expect(negativeReceipt.stderr.hasPrefix("INVALID_ARGUMENT"), "\(negativeReceipt.stderr)")
        }
    }

    @Test("help shows required fulfillment ids as required")
    func helpMatchesRequiredness() async throws {
        for command in ["confirm-pick", "confirm-pack", "confirm-delivery", "confirm-shipment"] {
            let help = try await runWaybill(["call", command, "--help"])
            #expect(help.stdout.contains("<order-id> <fulfillment-id>"), "\(command): \(help.stdout)")
            #expect(!help.stdout.contains("[<fulfillment-id>]"), "\(command): \(help.stdout)")
        }
        let release = try await runWaybill(["call", "release-fulfillment", "--help"])
        #expect(release.stdout.contains("[<fulfillment-id>]"), "\(release.stdout)")
    }

    @Test("$WAYBILL_SERVER is the default server; nothing listening says so")
    func serverFromEnvironment() async throws {
        try await withServer { server in
            let info = try await runWaybill(["call", "server-info"], environment: ["WAYBILL_SERVER": "127.0.0.1:\(server.port)"])
            #expect(info.status == 0, "\(info.stderr)")
        }
        let port = try await FixedAnswerPeer.unusedPort()
        let refused = try await runWaybill(["call", "server-info"], environment: ["WAYBILL_SERVER": "127.0.0.1:\(port)"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "UNAVAILABLE: cannot connect to 127.0.0.1:\(port): connection refused (is `waybill serve` running? default port 7400)\n")
    }

    @Test("edit-order: ship-to (inline JSON), service level, quantities and a new line in one request; a malformed --add-line names the shape")
    func editOrder() async throws {
        try await Self.withExampleServer { _, call in
            let captured = try await call(["capture-order", Self.webOrder])
            let order = try Waybill_V1_Order(jsonString: captured.stdout)
            let shipTo = #"{"name":"Ada Lovelace","lines":["1 Beacon St"],"city":"Cambridge","region":"MA","postalCode":"02139","country":"US","coordinates":{"latitude":42.3736,"longitude":-71.1097}}"#
            let edited = try await call(["edit-order", order.orderID, "--request-id", "cli-edit-1", "--ship-to", shipTo,
                                         "--service-level", "expedited", "--quantity", "1=3",
                                         "--add-line", "3=TSHIRT-BLK-M:1:1999:USD", "--reason", "customer called"])
            #expect(edited.status == 0, "\(edited.stderr)")
            let after = try Waybill_V1_Order(jsonString: edited.stdout)
            #expect(after.shipTo.city == "Cambridge" && after.fulfillment.serviceLevel == .expedited)
            #expect(after.lines.map(\.quantity) == [3, 1, 1] && after.lines.last?.lineID == "3")
            #expect(after.history.last?.action == "edited" && after.history.last?.reason == "customer called")
            let bad = try await call(["edit-order", order.orderID, "--request-id", "cli-edit-2", "--add-line", "4=MUG:2"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("LINE=SKU:QTY:PRICE_MINOR_UNITS:CURRENCY"), "\(bad.stderr)")
            let nothing = try await call(["edit-order", order.orderID, "--request-id", "cli-edit-3"])
            #expect(nothing.status != 0 && nothing.stderr.contains("nothing to edit"), "\(nothing.stderr)")
        }
    }

    @Test("carts from the command line: reserve-cart holds stock, get-cart and extend-cart read and extend it, release-cart gives it back; an expected receipt through rpc")
    func carts() async throws {
        try await Self.withExampleServer { _, call in
            let reserved = try await call(["reserve-cart", Self.webOrder, "--cart-id", "cli-cart", "--ttl", "600"])
            #expect(reserved.status == 0, "\(reserved.stderr)")
            let cart = try Waybill_V1_CartResponse(jsonString: reserved.stdout).cart
            #expect(cart.status == .active && !cart.reservations.isEmpty && cart.channel == .web)
            let extended = try Waybill_V1_CartResponse(jsonString: try await call(["extend-cart", "--cart-id", "cli-cart", "--ttl", "1200"]).stdout).cart
            #expect(extended.expiresAtUnixMs > cart.expiresAtUnixMs)
            let read = try Waybill_V1_CartResponse(jsonString: try await call(["get-cart", "--cart-id", "cli-cart", "--channel", "web"]).stdout).cart
            #expect(read.version == extended.version)
            let released = try Waybill_V1_CartResponse(jsonString: try await call(["release-cart", "--cart-id", "cli-cart"]).stdout).cart
            #expect(released.status == .released && released.reservations.isEmpty)
            let missing = try await call(["get-cart", "--cart-id", "no-such-cart"])
            #expect(missing.status != 0 && missing.stderr.contains("NOT_FOUND"), "\(missing.stderr)")
            let receipts = packageRoot.appendingPathComponent("examples/expected-receipts.json").path
            let applied = try await call(["rpc", "ErpService/ApplyExpectedReceipts", receipts])
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(try Waybill_V1_ErpMessageResult(jsonString: applied.stdout).applied == 1)
        }
    }

    @Test("create-return --exchange-line --reserve-at creation: the replacement is captured and get-order shows the link both ways")
    func exchange() async throws {
        try await Self.withExampleServer { _, call in
            let order = try Waybill_V1_Order(jsonString: try await call(["capture-order", Self.webOrder]).stdout)
            let released = try await call(["release-fulfillment", order.orderID, "--request-id", "cli-x-release"])
            #expect(released.status == 0, "\(released.stderr)")
            for fulfillment in try Waybill_V1_Order(jsonString: released.stdout).fulfillments {
                let shipped = try await call(["confirm-shipment", order.orderID, fulfillment.fulfillmentID, "--request-id", "cli-x-ship-\(fulfillment.fulfillmentID)",
                                              "--carrier", fulfillment.carrierID, "--tracking", "T-\(fulfillment.fulfillmentID)"])
                #expect(shipped.status == 0, "\(shipped.stderr)")
            }
            let bad = try await call(["create-return", order.orderID, "R1", "1=1", "--request-id", "cli-x-bad", "--reserve-at", "creation"])
            #expect(bad.status != 0 && bad.stderr.contains("--exchange-line"), "\(bad.stderr)")
            let created = try await call(["create-return", order.orderID, "R1", "1=1", "--request-id", "cli-x-return",
                                          "--exchange-line", "1=TSHIRT-BLK-M:1:1999:USD", "--reserve-at", "creation"])
            #expect(created.status == 0, "\(created.stderr)")
            let exchange = try #require(try Waybill_V1_Order(jsonString: created.stdout).returns.first).exchange
            #expect(exchange.status == .created && exchange.reserveAt == .atCreation)
            let replacement = try Waybill_V1_Order(jsonString: try await call(["get-order", exchange.replacementOrderID]).stdout)
            #expect(replacement.exchangeOf.orderID == order.orderID && replacement.exchangeOf.returnID == "R1")
            #expect(replacement.externalOrderID == order.externalOrderID + "/exchange/R1")
        }
    }

    @Test("--output table: aligned columns, ISO-8601 UTC times, a table per list")
    func tableOutput() async throws {
        try await Self.withExampleServer { _, call in
            let captured = try await call(["capture-order", Self.webOrder])
            let order = try Waybill_V1_Order(jsonString: captured.stdout)
            let table = try await call(["get-order", order.orderID, "--output", "table"])
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.contains("orderId"), "\(table.stdout)")
            #expect(table.stdout.contains("2026-03-02T15:"), "captured time as ISO-8601: \(table.stdout)")
            #expect(table.stdout.contains("\nlines (\(order.lines.count))\n"), "\(table.stdout)")
            #expect(table.stdout.contains("\nfulfillments (\(order.fulfillments.count))\n"), "\(table.stdout)")
            let list = try await call(["list-orders", "--output", "table"])
            #expect(list.stdout.contains("orders (1)\n"), "\(list.stdout)")
            for command in [["availability", "TSHIRT-BLK-M"], ["order-history", order.orderID], ["feed-info"], ["bridge-status"], ["server-info"]] {
                let result = try await call(command + ["--output", "table"])
                #expect(result.status == 0 && !result.stdout.isEmpty && !result.stdout.hasPrefix("{"), "\(command): \(result.stdout) \(result.stderr)")
            }
        }
    }

    @Test("delete-consumer forgets a consumer's position")
    func deleteConsumer() async throws {
        try await Self.withExampleServer { _, call in
            _ = try await call(["capture-order", Self.webOrder])
            #expect(try await call(["ack", "reports", "1"]).status == 0)
            #expect(try await call(["feed-info"]).stdout.contains("\"reports\""))
            let deleted = try await call(["delete-consumer", "reports"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(!deleted.stdout.contains("\"reports\""), "\(deleted.stdout)")
        }
    }

    @Test("bridge-status shows a bridge's dead letters with their reason; replay-dead-letters records a request (ids or --all), the same --request-id answers it again")
    func deadLetterReplayCommands() async throws {
        try await Self.withExampleServer { server, call in
            let client = try await server.client()
            var report = Waybill_V1_BridgeStatus()
            report.consumer = "erp-cli"
            report.deadLettersWaiting = 1
            report.deadLetters = [Waybill_V1_ReportedDeadLetter.with {
                $0.eventID = "evt-7"
                $0.offset = 7
                $0.eventType = "order.captured"
                $0.kind = .refused
                $0.reason = "HTTP 422 unknown sku"
            }]
            let _: Waybill_V1_BridgeStatus = try await client.call(Method.ErpService.reportBridgeStatus, report)
            await client.close()
            let status = try await call(["bridge-status", "--consumer", "erp-cli"])
            #expect(status.status == 0 && status.stdout.contains("\"evt-7\"") && status.stdout.contains("HTTP 422 unknown sku"), "\(status.stdout) \(status.stderr)")
            let both = try await call(["replay-dead-letters", "--consumer", "erp-cli", "--all", "evt-7"])
            #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.stderr)")
            let requested = try await call(["replay-dead-letters", "--consumer", "erp-cli", "evt-7", "--request-id", "cli-1"])
            #expect(requested.status == 0 && requested.stdout.contains("DEAD_LETTER_REPLAY_STATUS_PENDING"), "\(requested.stdout) \(requested.stderr)")
            let again = try await call(["replay-dead-letters", "--consumer", "erp-cli", "evt-7", "--request-id", "cli-1"])
            #expect(again.status == 0 && again.stderr.contains("already recorded"), "\(again.stderr)")
            let listed = try await call(["bridge-status", "--consumer", "erp-cli", "--output", "table"])
            #expect(listed.status == 0 && listed.stdout.contains("cli-1") && listed.stdout.contains("evt-7"), "\(listed.stdout)")
        }
    }

    @Test("waybill reconcile records a run: reconciliation-runs lists it (JSON and table), reconciliation-run shows its discrepancies; an unknown id fails naming it")
    func reconciliationRunCommands() async throws {
        try await Self.withExampleServer { server, call in
            let folder = try TemporaryDirectory("cli-reconcile")
            let file = folder.path("extract.json")
            var extract = Waybill_V1_ErpExtract()
            extract.orders = [.with { $0.orderID = "W-77777777"; $0.erpDocumentNumber = "DOC-CLI"; $0.status = "shipped" }]
            try extract.jsonUTF8Data().write(to: URL(fileURLWithPath: file))
            let reconciled = try await runWaybill(["reconcile", "--erp-extract", file, "--server", "127.0.0.1:\(server.port)"])
            #expect(reconciled.status == 1, "discrepancies found: \(reconciled.stdout) \(reconciled.stderr)")

            let listed = try await call(["reconciliation-runs", "--page-size", "5"])
            #expect(listed.status == 0, "\(listed.stderr)")
            let list = try Waybill_V1_ReconciliationRunList(jsonString: listed.stdout)
            let run = try #require(list.runs.first)
            #expect(list.runs.count == 1 && run.runBy == TestCredentials.admin.name && run.method == "FinishReconciliation")
            #expect(run.runID.hasPrefix("run-") && run.discrepanciesTotal >= 1 && run.discrepancies.isEmpty)
            let table = try await call(["reconciliation-runs", "--output", "table"])
            #expect(table.status == 0 && table.stdout.contains(run.runID) && table.stdout.contains(TestCredentials.admin.name), "\(table.stdout)")

            let shown = try await call(["reconciliation-run", run.runID, "--output", "table"])
            #expect(shown.status == 0 && shown.stdout.contains("W-77777777") && shown.stdout.contains("DISCREPANCY_KIND_MISSING_IN_WAYBILL"),
                    "\(shown.stdout) \(shown.stderr)")
            let unknown = try await call(["reconciliation-run", "run-09999999"])
            #expect(unknown.status != 0 && unknown.stderr.contains("run-09999999"), "\(unknown.stderr)")
        }
    }

    @Test("bad JSON in a file names the file, line, column and field")
    func badOrderFile() async throws {
        let folder = try TemporaryDirectory("cli-json")
        let file = folder.path("order.json")
        try "{\n  \"channel\": \"WEB\"\n}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await runWaybill(["call", "capture-order", file, "--server", "127.0.0.1:1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(file):2:14: channel: unknown value \"WEB\"; valid values: CHANNEL_UNSPECIFIED, CHANNEL_WEB"), "\(result.stderr)")
    }

    @Test("waybill demo runs from any directory and removes its temporary folder")
    func demoFromAnyDirectory() async throws {
        let result = try await runWaybill(["demo"], directory: "/tmp")
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("web.json: W-"), "\(result.stdout)")
        let database = try #require(result.stdout.split(separator: "\n").first?.split(separator: " ").first { $0.hasSuffix("demo.sqlite") })
        let folder = URL(fileURLWithPath: String(database)).deletingLastPathComponent().path
        #expect(!FileManager.default.fileExists(atPath: folder), "\(folder) was left behind")
    }
}
