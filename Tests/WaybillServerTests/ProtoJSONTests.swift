// Protobuf JSON that people write and read: failures name the line, column, field path and the
// valid names; output carries zero values and empty lists.

import Foundation
import SwiftProtobuf
import Testing
import WaybillProto

@Suite("Protobuf JSON input errors and output")
struct ProtoJSONTests {
    static func decodeError<M: SwiftProtobuf.Message>(_ text: String, as type: M.Type) -> String? {
        do {
            _ = try ProtoJSONInput.decode(Data(text.utf8), as: M.self, source: "order.json")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("the issue's example: \"channel\":\"WEB\" names the line, column, field and the valid values")
    func enumValue() {
        let text = """
            {
              "externalOrderId": "x-1",
              "channel": "WEB"
            }
            """
        #expect(Self.decodeError(text, as: Waybill_V1_Order.self) == """
            order.json:3:14: channel: unknown value "WEB"; valid values: CHANNEL_UNSPECIFIED, CHANNEL_WEB, CHANNEL_MOBILE_APP, \
            CHANNEL_MARKETPLACE, CHANNEL_STORE_POS, CHANNEL_CALL_CENTRE, CHANNEL_CLICK_AND_COLLECT (did you mean "CHANNEL_WEB"?)
            """)
    }

    @Test("an unknown field deep in a list names its path and the message's known fields")
    func unknownNestedField() throws {
        let text = """
            {"channel": "CHANNEL_WEB",
             "lines": [{"lineId": "1", "sku": "A", "quantity": 1},
                       {"lineId": "2", "sku": "B", "quantity": 1, "unitPrice": {"minorUnits": "5", "currncy": "USD"}}]}
            """
        let error = try #require(Self.decodeError(text, as: Waybill_V1_Order.self))
        #expect(error == "order.json:3:88: lines[1].unitPrice.currncy: unknown field \"currncy\" in waybill.v1.Money; known fields: minorUnits, currency")
    }

    @Test("an enum inside a list of messages, and a top-level unknown field")
    func moreFieldPaths() throws {
        let status = try #require(Self.decodeError(#"{"statuses": ["ORDER_STATUS_ALLOCATED", "SHIPPED"]}"#, as: Waybill_V1_ListOrdersRequest.self))
        #expect(status.hasPrefix("order.json:1:41: statuses[1]: unknown value \"SHIPPED\"; valid values: ORDER_STATUS_UNSPECIFIED,"), "\(status)")
        #expect(status.hasSuffix("(did you mean \"ORDER_STATUS_SHIPPED\"?)"), "\(status)")
        let unknown = try #require(Self.decodeError(#"{"shipto": {}}"#, as: Waybill_V1_Order.self))
        #expect(unknown.hasPrefix("order.json:1:2: shipto: unknown field \"shipto\" in waybill.v1.Order; known fields: orderId, "), "\(unknown)")
        #expect(unknown.contains("shipTo"), "\(unknown)")
        let quantity = try #require(Self.decodeError(#"{"lines": [{"quantity": "two"}]}"#, as: Waybill_V1_Order.self))
        #expect(quantity == "order.json:1:25: lines[0].quantity: expected a number, got the string \"two\"")
        let fraction = try #require(Self.decodeError(#"{"lines": [{"quantity": 1.5}]}"#, as: Waybill_V1_Order.self))
        #expect(fraction == "order.json:1:25: lines[0].quantity: expected an integer, got 1.5")
        let large = try #require(Self.decodeError(#"{"lines": [{"quantity": 3000000000}]}"#, as: Waybill_V1_Order.self))
        #expect(large == "order.json:1:25: lines[0].quantity: 3000000000 is out of range (-2147483648...2147483647)")
    }

    @Test("JSON syntax errors carry line and column", arguments: [
        ("{\n  \"channel\": \"CHANNEL_WEB\"\n  \"externalOrderId\": \"x\"\n}", "order.json:3:3: invalid JSON: unexpected character '\"': expected ',' or '}'"),
        ("{\"lines\": [1, 2,]}", "order.json:1:17: invalid JSON: unexpected character ']': expected a value"),
        ("{channel: 1}", "order.json:1:2: invalid JSON: unexpected character 'c': expected a field name in double quotes"),
        ("{\"a\": \"unterminated}", "order.json:1:7: invalid JSON: unterminated string"),
        ("", "order.json:1:1: invalid JSON: unexpected end of input: a value is missing"),
    ])
    func syntax(text: String, expected: String) {
        #expect(Self.decodeError(text, as: Waybill_V1_Order.self) == expected)
    }

    @Test("valid JSON decodes as SwiftProtobuf decodes it (escapes, numbers as strings, proto field names)")
    func valid() throws {
        let text = #"{"external_order_id": "caf\u00e9 \"1\"", "channel": "CHANNEL_WEB", "lines": [{"quantity": "3", "unitPrice": {"minorUnits": 1e3}}]}"#
        let order = try ProtoJSONInput.decode(Data(text.utf8), as: Waybill_V1_Order.self, source: "x")
        #expect(order.externalOrderID == "café \"1\"")
        #expect(order.lines.first?.quantity == 3)
        #expect(order.lines.first?.unitPrice.minorUnits == 1000)
    }

    @Test("names and kinds come from the generated types")
    func schema() {
        #expect(ProtoSchema.caseNames(of: Waybill_V1_Channel.self).map(\.proto).prefix(3) == ["CHANNEL_UNSPECIFIED", "CHANNEL_WEB", "CHANNEL_MOBILE_APP"])
        let fields = ProtoSchema.fields(of: Waybill_V1_OrderLine.self)
        #expect(fields.map(\.jsonName) == ["lineId", "sku", "quantity", "unitPrice", "status", "quantities", "preordered",
                                           "expectedSupplyAtUnixMs", "backorderPromisedAtUnixMs"])
        #expect(fields.map(\.protoName) == ["line_id", "sku", "quantity", "unit_price", "status", "quantities", "preordered",
                                            "expected_supply_at_unix_ms", "backorder_promised_at_unix_ms"])
        if case .message(let type) = fields[3].kind { #expect(ObjectIdentifier(type) == ObjectIdentifier(Waybill_V1_Money.self)) } else { Issue.record("unitPrice: \(fields[3].kind)") }
        if case .enumeration(let type) = fields[4].kind { #expect(ObjectIdentifier(type) == ObjectIdentifier(Waybill_V1_LineStatus.self)) } else { Issue.record("status: \(fields[4].kind)") }
        let order = ProtoSchema.fields(of: Waybill_V1_Order.self)  // a message kept in heap storage
        let lines = order.first { $0.jsonName == "lines" }
        #expect(lines?.isRepeated == true)
        if case .message(let type)? = lines?.kind { #expect(ObjectIdentifier(type) == ObjectIdentifier(Waybill_V1_OrderLine.self)) } else { Issue.record("lines: \(String(describing: lines?.kind))") }
    }

    @Test("output has zero values, empty lists and the zero enum, as proto3's 'always print primitive fields'")
    func zeroValues() throws {
        var line = Waybill_V1_OrderLine()
        line.unitPrice = Waybill_V1_Money()
        let object = try ProtoJSONOutput.object(line)
        #expect(object["quantity"] as? Int == 0)
        #expect(object["sku"] as? String == "")
        #expect(object["status"] as? String == "LINE_STATUS_UNSPECIFIED")
        #expect((object["unitPrice"] as? [String: Any])?["minorUnits"] as? String == "0")
        #expect(object["quantities"] == nil, "an unset message stays absent")
        let empty = try ProtoJSONOutput.object(Waybill_V1_ListOrdersResponse())
        #expect((empty["orders"] as? [Any])?.isEmpty == true)
        #expect(empty["nextPageToken"] as? String == "")
    }
}
