// The docs cannot rot: docs/ERP.md's JSON examples decode as the messages they name, every
// ErpService request has one, docs/PROTOCOL.md's lifecycle diagram is the state machine's table,
// its limits table lists every limit GetServerInfo reports with its default, and its event types
// table lists exactly the change-event types a server emits.

import Foundation
import SwiftProtobuf
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Documentation matches the code")
struct DocumentationTests {
    static func document(_ path: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)
    }

    /// ```json TypeName … ``` blocks: (type name, body).
    static func jsonExamples(in text: String) -> [(String, String)] {
        var examples: [(String, String)] = []
        var current: (String, [Substring])?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let open = current {
                if line.hasPrefix("```") {
                    examples.append((open.0, open.1.joined(separator: "\n")))
                    current = nil
                } else {
                    current = (open.0, open.1 + [line])
                }
            } else if line.hasPrefix("```json "), let name = line.split(separator: " ").dropFirst().first {
                current = (String(name), [])
            }
        }
        return examples
    }

    static let erpRequestTypes: [String: any SwiftProtobuf.Message.Type] = [
        "ItemMasterMessage": Waybill_V1_ItemMasterMessage.self,
        "StockSnapshotMessage": Waybill_V1_StockSnapshotMessage.self,
        "StockDeltaMessage": Waybill_V1_StockDeltaMessage.self,
        "ErpOrderAcknowledgement": Waybill_V1_ErpOrderAcknowledgement.self,
        "ErpDocumentPosted": Waybill_V1_ErpDocumentPosted.self,
        "ReconcileRequest": Waybill_V1_ReconcileRequest.self,
        "BridgeStatus": Waybill_V1_BridgeStatus.self,
        "GetBridgeStatusRequest": Waybill_V1_GetBridgeStatusRequest.self,
        "DeadLetterReplayRequest": Waybill_V1_DeadLetterReplayRequest.self,
    ]

    static func decode<M: SwiftProtobuf.Message>(_ body: String, as type: M.Type, source: String) throws {
        _ = try ProtoJSONInput.decode(Data(body.utf8), as: M.self, source: source)
    }

    @Test("docs/ERP.md has a JSON example for every ErpService request, and each decodes strictly")
    func erpExamples() throws {
        let examples = Self.jsonExamples(in: try Self.document("docs/ERP.md"))
        let named = Set(examples.map(\.0))
        for name in Self.erpRequestTypes.keys.sorted() {
            #expect(named.contains(name), "docs/ERP.md has no ```json \(name) example")
        }
        for (name, body) in examples {
            let type = try #require(Self.erpRequestTypes[name], "docs/ERP.md: example of unknown message \(name)")
            #expect(throws: Never.self, "docs/ERP.md \(name)") { try Self.decode(body, as: type, source: "docs/ERP.md \(name)") }
        }
    }

    @Test("docs/PROTOCOL.md's lifecycle diagram has exactly the transitions of FulfillmentAction.next")
    func lifecycleDiagram() throws {
        let text = try Self.document("docs/PROTOCOL.md")
        let diagram = try #require(text.range(of: "stateDiagram-v2").map { text[$0.upperBound...] }?.prefix { $0 != "`" })
        var documented: Set<String> = []
        for line in diagram.split(separator: "\n") where line.contains("-->") && !line.contains("[*]") {
            documented.insert(line.trimmingCharacters(in: .whitespaces))
        }
        var table: Set<String> = []
        for state in FulfillmentStatus.allCases {
            for action in FulfillmentAction.allCases {
                if let next = FulfillmentAction.next(state, action) { table.insert("\(state) --> \(next): \(action.callName)") }
            }
        }
        #expect(documented == table, "only in the doc: \(documented.subtracting(table).sorted()); only in the code: \(table.subtracting(documented).sorted())")
    }

    /// Rows of the first markdown table under `heading` whose first cell is `code`: that name
    /// (without backticks) → the cells.
    static func tableRows(_ text: String, under heading: String, skippingTables skipped: Int = 0) throws -> [String: [String]] {
        let start = try #require(text.range(of: "\n" + heading + "\n"), "docs/PROTOCOL.md has \(heading)")
        var rows: [String: [String]] = [:]
        var inTable = false
        var tablesToSkip = skipped
        for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") { break }
            if inTable && !line.hasPrefix("|") {
                if tablesToSkip == 0 { break }
                tablesToSkip -= 1
            }
            inTable = line.hasPrefix("|")
            if tablesToSkip > 0 { continue }
            guard line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells
        }
        return rows
    }

    @Test("docs/PROTOCOL.md's limits table lists every limit GetServerInfo reports, with its default, and no other")
    func limitsDocumented() async throws {
        let defaults = ServerConfiguration()
        // The harness changes a few settings for speed; the doc states `waybill serve`'s defaults.
        try await withServer({ configuration in
            configuration.pruneIntervalMilliseconds = defaults.pruneIntervalMilliseconds
            configuration.drainTimeoutMilliseconds = defaults.drainTimeoutMilliseconds
        }) { server in
            let reported = try await server.client().serverInfo().limits
            let rows = try Self.tableRows(try Self.document("docs/PROTOCOL.md"), under: "## Limits")
            #expect(reported.count >= 50, "GetServerInfo reports \(reported.count) limits")
            for limit in reported {
                guard let row = rows[limit.name] else {
                    Issue.record("docs/PROTOCOL.md, Limits: no row for \(limit.name) (\(limit.value): \(limit.description_p))")
                    continue
                }
                #expect(row.count == 4, "\(limit.name): name, default, what it bounds, when exceeded")
                // The default is the first number of its cell, written with thousands separators.
                let digits = row[1].prefix { $0.isNumber || $0 == "," }.filter(\.isNumber)
                #expect(Int64(digits) == limit.value, "docs/PROTOCOL.md says \(limit.name) defaults to \(row[1]); the server reports \(limit.value)")
            }
            let phantom = Set(rows.keys).subtracting(reported.map(\.name))
            #expect(phantom.isEmpty, "documented but not reported by GetServerInfo: \(phantom.sorted())")
        }
    }

    @Test("docs/PROTOCOL.md's event types and history actions tables list exactly what a server emits and records when everything happens")
    func eventTypesDocumented() async throws {
        try await withServer { server in
            let client = try await server.client()
            try await client.loadFixtureNetwork()  // item.upserted, inventory.received
            let emitted = try await EveryEvent.play(client, clock: server.clock)
            let text = try Self.document("docs/PROTOCOL.md")
            let documented = Set(try Self.tableRows(text, under: "### Event types").keys)
            #expect(emitted.subtracting(documented).isEmpty, "emitted, not documented: \(emitted.subtracting(documented).sorted())")
            #expect(documented.subtracting(emitted).isEmpty, "documented, not emitted by the scenario: \(documented.subtracting(emitted).sorted())")

            // The history actions the same changes recorded, against the second table ("History action").
            var actions: Set<String> = []
            for order in try await client.allOrders() {
                actions.formUnion(try await client.orderHistory(order.orderID).entries.map(\.action))
            }
            let historyRows = try Self.tableRows(text, under: "### Event types", skippingTables: 1)
            let documentedActions = Set(historyRows.values.flatMap { row in
                row[0].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` ")) }
            })
            #expect(actions.contains("order_cancelled") && !actions.contains("cancelled"), "CancelOrder's action: \(actions.sorted())")
            #expect(actions == documentedActions,
                    "recorded, not documented: \(actions.subtracting(documentedActions).sorted()); documented, not recorded: \(documentedActions.subtracting(actions).sorted())")
        }
    }
}
