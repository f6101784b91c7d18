// Protobuf JSON for people and scripts: proto3 JSON leaves out zero values and empty lists, so a
// reader cannot tell "0" from "not reported". This puts them back (as the proto3 JSON option
// "always print primitive fields" does; this SwiftProtobuf version has no such option).

import Foundation
import SwiftProtobuf

public enum ProtoJSONOutput {
    /// The JSON object of `message` with every scalar, enum, list and map field present.
    public static func object(_ message: some SwiftProtobuf.Message) throws -> [String: Any] {
        let data = try message.jsonUTF8Data()
        var object = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        fillDefaults(&object, type(of: message))
        return object
    }

    /// Pretty-printed, keys sorted, zero values present.
    public static func prettyText(_ message: some SwiftProtobuf.Message) throws -> String {
        let object = try Self.object(message)
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        // Foundation prints an empty list as "[", blank line, "]": make it "[]" (a newline inside a
        // JSON string is always escaped, so only formatting matches).
        return String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: #"\[\n\s*\n\s*\]"#, with: "[]", options: .regularExpression)
            .replacingOccurrences(of: #"\{\n\s*\n\s*\}"#, with: "{}", options: .regularExpression)
    }

    static func fillDefaults(_ object: inout [String: Any], _ type: any SwiftProtobuf.Message.Type) {
        if type.protoMessageName.hasPrefix("google.protobuf.") { return }
        for field in ProtoSchema.fields(of: type) {
            if let present = object[field.jsonName] {
                guard case .message(let nested) = field.kind else { continue }
                if field.isRepeated, let items = present as? [Any] {
                    object[field.jsonName] = items.map { item -> Any in
                        guard var element = item as? [String: Any] else { return item }
                        fillDefaults(&element, nested)
                        return element
                    }
                } else if var element = present as? [String: Any] {
                    fillDefaults(&element, nested)
                    object[field.jsonName] = element
                }
                continue
            }
            if field.isRepeated { object[field.jsonName] = [Any](); continue }
            switch field.kind {
            case .map: object[field.jsonName] = [String: Any]()
            case .enumeration(let enumeration):
                if let zero = ProtoSchema.caseNames(of: enumeration).first(where: { $0.number == 0 }) { object[field.jsonName] = zero.proto }
            case .scalar(let scalar):
                object[field.jsonName] = switch scalar {
                case .string, .bytes: ""
                case .bool: false
                case .int64, .uint64: "0"  // proto3 JSON writes 64-bit integers as strings
                case .int32, .uint32, .float, .double: 0
                }
            case .message, .unresolved:
                break  // an unset message stays absent, as proto3 JSON has it
            }
        }
    }
}
