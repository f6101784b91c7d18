// `waybill reconcile`: compare Waybill with an ERP extract within a scope, through a
// reconciliation session (the extract is sent in chunks, so any size works); --repair shows what
// it would repair first and asks for --yes above a number of repairs. Exit status: 0 no
// discrepancy, 1 discrepancies found (repaired or not), 2 error or repair refused.

import ArgumentParser
import Foundation
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare Waybill with an ERP extract within a scope; report discrepancies by kind; --repair fixes them.",
        discussion: """
            The extract is protobuf JSON of waybill.v1.ErpExtract: {"asOfUnixMs": ..., "orders": [{"orderId", \
            "erpDocumentNumber", "status", "lines": [{"sku", "quantity"}]}], "stock": [{"sku", "locationId", "onHand"}], \
            "includeOrdersAfterAsOf": false}. By default orders are compared only when the extract holds order records, \
            and stock only when it holds stock records (a stock-only extract never reports orders missing in the ERP); \
            --orders/--no-orders and --stock/--no-stock force it. --location, --channel, --from/--to narrow the orders \
            compared (and --location the stock). Repairs: orders missing in the ERP or differing are re-emitted \
            (order.resynced); stock counts are applied to Waybill as a variance-corrected snapshot; records only the \
            ERP has, and duplicates, are sent to the ERP as erp.void_requested / erp.duplicate_detected. --repair first \
            prints what would be repaired; more than \(massRepairConfirmationThreshold) repairs need --yes (or a "yes" \
            typed at the terminal). Repairs are idempotent by --request-id: a rerun with the same id repairs nothing \
            and reports the first run's figures. Exit status: 0 no discrepancy, 1 discrepancies found, 2 error or \
            repair refused.
            """)

    /// Repairs above this need --yes or a confirmation typed at the terminal.
    static let massRepairConfirmationThreshold = 100

    @Option(help: "Server address HOST:PORT (default: $WAYBILL_SERVER, else 127.0.0.1:7400).")
    var server = CallOptions.defaultAddress
    @Option(help: "ERP extract file (protobuf JSON of waybill.v1.ErpExtract; - = stdin).")
    var erpExtract: String
    @Flag(inversion: .prefixedNo, help: "Compare orders (default: when the extract holds order records).")
    var orders: Bool?
    @Flag(inversion: .prefixedNo, help: "Compare stock (default: when the extract holds stock records).")
    var stock: Bool?
    @Option(name: .customLong("location"), help: "Only orders fulfilled at (or picked up from) this location, and its stock; repeatable.")
    var locations: [String] = []
    @Option(name: .customLong("channel"), help: "Only orders of this channel (web, mobile_app, marketplace, store_pos, call_centre, click_and_collect); repeatable.")
    var channels: [String] = []
    @Option(help: "Only orders whose time is at or after this (Unix ms or ISO-8601).")
    var from: String?
    @Option(help: "Only orders whose time is before this (Unix ms or ISO-8601).")
    var to: String?
    @Option(help: "The order time --from/--to apply to: captured or updated.")
    var timeField = "captured"
    @Flag(help: "Repair the discrepancies found (shows them first).")
    var repair = false
    @Flag(help: "Repair without asking, whatever the number of repairs.")
    var yes = false
    @Option(help: "Idempotency key of the repair (default: a new one, printed on stderr; reuse it to retry safely).")
    var requestID: String?
    @Option(help: "Discrepancies listed (0 = the server's default); counts are always exact.")
    var list: Int32 = 0
    @Option(help: "Records per chunk sent to the server (0 = the server's chunkRecordsMax).")
    var chunkRecords = 0
    @Flag(help: "Print the report as JSON (waybill.v1.ReconcileReport) instead of a summary.")
    var json = false
    @OptionGroup(title: "Connection") var connection: ConnectionOptions

    func run() async throws {
        do {
            let code = try await reconcile()
            throw ExitCode(code)
        } catch let exit as ExitCode {
            throw exit
        } catch let error as ValidationError {
            throw error
        } catch {
            let line: String
            if let status = error as? WaybillStatusError {
                line = "\(status.code.name): \(status.message)" + (status.details.field.isEmpty ? "" : " (field \(status.details.field))")
            } else {
                line = "error: \(error)"
            }
            FileHandle.standardError.write(Data((line + "\n").utf8))
            throw ExitCode(2)
        }
    }

    func scope() throws -> Waybill_V1_ReconcileScope {
        var scope = Waybill_V1_ReconcileScope()
        scope.orders = orders.map { $0 ? .compare : .skip } ?? .inferred
        scope.stock = stock.map { $0 ? .compare : .skip } ?? .inferred
        scope.locationIds = locations
        scope.channels = try channels.map { name in
            guard let channel = Channel.allCases.first(where: { $0.name == name || "\($0.proto)".lowercased() == name.lowercased() }) else {
                throw ValidationError("unknown channel \"\(name)\"; one of \(Channel.allCases.map(\.name).joined(separator: ", "))")
            }
            return channel.proto
        }
        if let from { scope.fromUnixMs = try unixMilliseconds(from) }
        if let to { scope.toUnixMs = try unixMilliseconds(to) }
        switch timeField {
        case "captured": scope.timeField = .capturedAt
        case "updated": scope.timeField = .updatedAt
        default: throw ValidationError("--time-field: \"captured\" or \"updated\"")
        }
        return scope
    }

    /// The exit status.
    func reconcile() async throws -> Int32 {
        let scope = try scope()
        let extract: Waybill_V1_ErpExtract = try readJSON(erpExtract)
        var configuration = ClientConfiguration()
        configuration.clientID = "waybill-reconcile"
        try connection.apply(to: &configuration)
        let client = try await WaybillClient.connect(server, configuration: configuration)
        defer { Task { await client.close() } }
        let session = try await client.uploadReconciliation(
            scope: scope, asOfUnixMs: extract.asOfUnixMs, includeOrdersAfterAsOf: extract.includeOrdersAfterAsOf,
            orders: extract.orders, stock: extract.stock, chunkRecords: chunkRecords)
        // A repair is shown first: the session stays open for it.
        let found = try await client.finishReconciliation(session: session, discrepanciesMax: list, keepOpen: repair)
        guard repair else {
            emit(found, extract: extract, repair: false)
            return found.discrepanciesTotal == 0 ? 0 : 1
        }
        guard found.discrepanciesTotal > 0 else {
            _ = try? await client.finishReconciliation(session: session, discrepanciesMax: 1)  // closes the session
            emit(found, extract: extract, repair: false)
            return 0
        }
        if found.discrepanciesTotal > Self.massRepairConfirmationThreshold && !yes {
            FileHandle.standardError.write(Data((Self.summary(found, extract: extract, repair: false) + "\n").utf8))
            let question = "\nRepair \(found.discrepanciesTotal) discrepancies (more than \(Self.massRepairConfirmationThreshold))? Type yes to go on: "
            var confirmed = false
            if isatty(0) != 0 {
                FileHandle.standardError.write(Data(question.utf8))
                confirmed = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
            }
            if !confirmed {
                _ = try? await client.finishReconciliation(session: session, discrepanciesMax: 1)  // closes the session
                FileHandle.standardError.write(Data(("not repaired: \(found.discrepanciesTotal) repairs exceed \(Self.massRepairConfirmationThreshold); "
                                                     + "check the summary above and rerun with --yes\n").utf8))
                return 2
            }
        } else if !json {
            print(Self.summary(found, extract: extract, repair: false) + "\n\nRepairing...")
        }
        let requestID: String
        if let given = self.requestID {
            requestID = given
        } else {
            requestID = "reconcile-" + UUID().uuidString.lowercased()
            FileHandle.standardError.write(Data("request-id: \(requestID)\n".utf8))
        }
        let repaired = try await client.finishReconciliation(session: session, repair: true, requestID: requestID, discrepanciesMax: list)
        emit(repaired, extract: extract, repair: true)
        return repaired.discrepanciesTotal == 0 ? 0 : 1
    }

    func emit(_ report: Waybill_V1_ReconcileReport, extract: Waybill_V1_ErpExtract, repair: Bool) {
        if json {
            printJSON(report)
        } else {
            print(Self.summary(report, extract: extract, repair: repair))
        }
    }

    static func kindName(_ kind: Waybill_V1_DiscrepancyKind) -> String {
        switch kind {
        case .missingInErp: "missing in ERP"
        case .missingInWaybill: "missing in Waybill"
        case .statusMismatch: "status mismatch"
        case .quantityMismatch: "quantity mismatch"
        case .duplicate: "duplicate"
        case .exchangeLinkMismatch: "exchange link mismatch"
        default: "unspecified"
        }
    }

    static func part(_ value: Waybill_V1_ReconcilePart) -> String { value == .compare ? "compared" : "not compared" }

    /// The printed report: every number comes from the report's exact counts (the same as --json).
    static func summary(_ report: Waybill_V1_ReconcileReport, extract: Waybill_V1_ErpExtract, repair: Bool) -> String {
        var lines: [String] = []
        let asOf = extract.asOfUnixMs == 0 ? "now" : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(extract.asOfUnixMs) / 1000))
        let total = report.discrepanciesTotal
        lines.append("Reconciliation as of \(asOf): orders \(part(report.scope.orders)), stock \(part(report.scope.stock)); "
                     + "\(report.ordersCompared) orders and \(report.stockPositionsCompared) stock positions compared, "
                     + "\(total) discrepanc\(total == 1 ? "y" : "ies").")
        if report.replayed {
            lines.append("Replayed: this request id already repaired this reconciliation; its figures are shown and nothing was repaired again.")
        }
        for count in report.counts {
            lines.append("  \(kindName(count.kind).padding(toLength: 20, withPad: " ", startingAt: 0)) \(count.count)")
        }
        if !report.discrepancies.isEmpty { lines.append("") }
        for d in report.discrepancies {
            let subject = d.orderID.isEmpty ? "\(d.sku)@\(d.locationID)" : d.orderID
            var line = "\(kindName(d.kind).padding(toLength: 19, withPad: " ", startingAt: 0)) \(subject): Waybill \(d.waybillValue) | ERP \(d.erpValue)"
            if repair { line += d.repaired ? "  [repaired]" : "  [not repaired]" }
            lines.append(line)
            lines.append("    \(d.detail)")
            lines.append("    repair: \(d.repairAction)")
        }
        if report.discrepanciesTruncated && !report.replayed {
            lines.append("(\(report.discrepancies.count) of \(total) discrepancies listed; --list N shows more, --json gives the same counts)")
        }
        if repair { lines.append("\nRepaired: \(report.repaired) of \(total)") }
        return lines.joined(separator: "\n")
    }
}
