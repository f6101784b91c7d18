// The docs cannot rot: docs/ERP.md's JSON examples decode as the messages they name, every
// ErpService request has one, and docs/PROTOCOL.md's lifecycle diagram is the state machine's table.

import Foundation
import SwiftProtobuf
import Testing
import WaybillCore
import WaybillProto

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
}
