// Protobuf JSON read from files, with errors a person can act on: the line and column, the field
// path, the known fields of the message or the valid values of the enum. SwiftProtobuf decides
// what is valid; this only explains its refusals.

import Foundation
import SwiftProtobuf

public struct ProtoJSONInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

public enum ProtoJSONInput {
    /// Decodes `data` as protobuf JSON of `M` (unknown fields refused). `source` names the input
    /// in errors ("order.json"): "order.json:3:14: channel: unknown value "WEB"; valid values: …".
    public static func decode<M: SwiftProtobuf.Message>(_ data: Data, as type: M.Type = M.self, source: String) throws -> M {
        let bytes = [UInt8](data)
        let root: JSONNode
        do {
            var parser = JSONNodeParser(bytes)
            root = try parser.parseDocument()
        } catch let error as JSONSyntaxError {
            let (line, column) = position(of: error.offset, in: bytes)
            throw ProtoJSONInputError(description: "\(source):\(line):\(column): invalid JSON: \(error.message)")
        }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = false
        do {
            return try M(jsonUTF8Bytes: bytes, options: options)
        } catch {
            if let problem = check(root, M.self, path: "") {
                let (line, column) = position(of: problem.offset, in: bytes)
                let location = problem.path.isEmpty ? "" : "\(problem.path): "
                throw ProtoJSONInputError(description: "\(source):\(line):\(column): \(location)\(problem.message)")
            }
            throw ProtoJSONInputError(description: "\(source) is not a valid \(M.protoMessageName) in protobuf JSON: \(error)")
        }
    }

    struct Problem {
        var offset: Int
        var path: String
        var message: String
    }

    /// The first field of `node` that `type` cannot take, walking nested messages and lists.
    static func check(_ node: JSONNode, _ type: any SwiftProtobuf.Message.Type, path: String) -> Problem? {
        if type.protoMessageName.hasPrefix("google.protobuf.") { return nil }  // well-known types have their own JSON forms
        guard case .object(let members) = node.value else {
            if case .null = node.value { return nil }
            return Problem(offset: node.offset, path: path, message: "expected an object (\(type.protoMessageName)), got \(node.value.kindName)")
        }
        let fields = ProtoSchema.fields(of: type)
        for member in members {
            let fieldPath = path.isEmpty ? member.key : "\(path).\(member.key)"
            guard let field = fields.first(where: { $0.jsonName == member.key || $0.protoName == member.key }) else {
                return Problem(offset: member.keyOffset, path: fieldPath,
                               message: "unknown field \"\(member.key)\" in \(type.protoMessageName); known fields: "
                                   + fields.map(\.jsonName).joined(separator: ", "))
            }
            if case .null = member.value.value { continue }
            if field.isRepeated {
                guard case .array(let items) = member.value.value else {
                    return Problem(offset: member.value.offset, path: fieldPath, message: "expected a list, got \(member.value.value.kindName)")
                }
                for (index, item) in items.enumerated() {
                    if let problem = checkValue(item, field.kind, path: "\(fieldPath)[\(index)]") { return problem }
                }
            } else if let problem = checkValue(member.value, field.kind, path: fieldPath) {
                return problem
            }
        }
        return nil
    }

    static func checkValue(_ node: JSONNode, _ kind: ProtoField.Kind, path: String) -> Problem? {
        switch kind {
        case .message(let type):
            return check(node, type, path: path)
        case .enumeration(let type):
            let names = ProtoSchema.caseNames(of: type)
            switch node.value {
            case .string(let text) where names.contains(where: { $0.proto == text }):
                return nil
            case .number(let text) where Int(text).map { number in names.contains { $0.number == number } } ?? false:
                return nil
            default:
                let valid = names.map(\.proto)
                var message = "unknown value \(node.value.shortText); valid values: " + valid.joined(separator: ", ")
                if case .string(let text) = node.value,
                   // The shortest name ending in the value: SHIPPED suggests ORDER_STATUS_SHIPPED, not …_PARTIALLY_SHIPPED.
                   let suggestion = valid.filter({ $0.hasSuffix("_" + text.uppercased().replacingOccurrences(of: "-", with: "_")) })
                       .min(by: { $0.count < $1.count }) {
                    message += " (did you mean \"\(suggestion)\"?)"
                }
                return Problem(offset: node.offset, path: path, message: message)
            }
        case .scalar(let scalar):
            let fits: Bool = switch (scalar, node.value) {
            case (.string, .string), (.bytes, .string), (.bool, .bool): true
            case (.int32, .number), (.uint32, .number), (.int64, .number), (.uint64, .number), (.float, .number), (.double, .number): true
            case (.int32, .string(let text)), (.uint32, .string(let text)), (.int64, .string(let text)), (.uint64, .string(let text)):
                Int64(text) != nil || UInt64(text) != nil
            case (.float, .string(let text)), (.double, .string(let text)):
                Double(text) != nil || ["NaN", "Infinity", "-Infinity"].contains(text)
            default: false
            }
            if !fits {
                let expected = switch scalar {
                case .string, .bytes: "a string"
                case .bool: "true or false"
                default: "a number"
                }
                return Problem(offset: node.offset, path: path, message: "expected \(expected), got \(node.value.kindName)")
            }
            if let range = integerRange(scalar), case .number(let text) = node.value {
                guard let value = Double(text), value == value.rounded(.towardZero) else {
                    return Problem(offset: node.offset, path: path, message: "expected an integer, got \(text)")
                }
                if !range.contains(value) {
                    return Problem(offset: node.offset, path: path, message: "\(text) is out of range (\(Int64(range.lowerBound))...\(Int64(range.upperBound)))")
                }
            }
            return nil
        case .map, .unresolved:
            return nil
        }
    }

    /// The values a 32-bit integer field holds (64-bit ones are not checked: a Double cannot tell their bounds).
    static func integerRange(_ scalar: ProtoScalar) -> ClosedRange<Double>? {
        switch scalar {
        case .int32: Double(Int32.min)...Double(Int32.max)
        case .uint32: 0...Double(UInt32.max)
        default: nil
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    static func position(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}

/// A JSON value and the byte offset where it starts.
struct JSONNode {
    struct Member {
        var key: String
        var keyOffset: Int
        var value: JSONNode
    }

    enum Value {
        case object([Member])
        case array([JSONNode])
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        var kindName: String {
            switch self {
            case .object: "an object"
            case .array: "a list"
            case .string(let text): "the string \"\(text)\""
            case .number(let text): "the number \(text)"
            case .bool(let value): "\(value)"
            case .null: "null"
            }
        }

        var shortText: String {
            switch self {
            case .string(let text): "\"\(text)\""
            case .number(let text): text
            default: kindName
            }
        }
    }

    var value: Value
    var offset: Int
}

struct JSONSyntaxError: Error {
    var offset: Int
    var message: String
}

/// A strict JSON (RFC 8259) parser that keeps where each value starts.
struct JSONNodeParser {
    /// Nesting deeper than this is refused (a stack-overflow guard, far above any real request).
    static let depthMax = 200
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONNode {
        skipWhitespace()
        if index == 0 && bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        let node = try parseValue()
        skipWhitespace()
        if index < bytes.count { throw JSONSyntaxError(offset: index, message: "unexpected \(describe(bytes[index])) after the JSON value") }
        return node
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    }

    private func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "character '\(Character(UnicodeScalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    private mutating func parseValue() throws -> JSONNode {
        skipWhitespace()
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, message: "unexpected end of input: a value is missing") }
        let start = index
        switch bytes[index] {
        case UInt8(ascii: "{"): return JSONNode(value: try parseObject(), offset: start)
        case UInt8(ascii: "["): return JSONNode(value: try parseArray(), offset: start)
        case UInt8(ascii: "\""): return JSONNode(value: .string(try parseString()), offset: start)
        case UInt8(ascii: "t"): try literal("true"); return JSONNode(value: .bool(true), offset: start)
        case UInt8(ascii: "f"): try literal("false"); return JSONNode(value: .bool(false), offset: start)
        case UInt8(ascii: "n"): try literal("null"); return JSONNode(value: .null, offset: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return JSONNode(value: .number(try parseNumber()), offset: start)
        default: throw JSONSyntaxError(offset: index, message: "unexpected \(describe(bytes[index])): expected a value")
        }
    }

    private mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard bytes[index...].starts(with: expected) else {
            throw JSONSyntaxError(offset: index, message: "unexpected \(describe(bytes[index])): expected a value (strings need double quotes)")
        }
        index += expected.count
    }

    private mutating func nested<T>(_ body: (inout JSONNodeParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.depthMax { throw JSONSyntaxError(offset: index, message: "nesting deeper than \(Self.depthMax)") }
        return try body(&self)
    }

    private mutating func parseObject() throws -> JSONNode.Value {
        try nested { parser in
            parser.index += 1
            var members: [JSONNode.Member] = []
            parser.skipWhitespace()
            if parser.index < parser.bytes.count && parser.bytes[parser.index] == UInt8(ascii: "}") {
                parser.index += 1
                return .object(members)
            }
            while true {
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count else {
                    throw JSONSyntaxError(offset: parser.index, message: "unexpected end of input inside an object")
                }
                guard parser.bytes[parser.index] == UInt8(ascii: "\"") else {
                    throw JSONSyntaxError(offset: parser.index, message: "unexpected \(parser.describe(parser.bytes[parser.index])): expected a field name in double quotes")
                }
                let keyOffset = parser.index
                let key = try parser.parseString()
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: ":") else {
                    throw JSONSyntaxError(offset: parser.index, message: "expected ':' after \"\(key)\"")
                }
                parser.index += 1
                members.append(JSONNode.Member(key: key, keyOffset: keyOffset, value: try parser.parseValue()))
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count else {
                    throw JSONSyntaxError(offset: parser.index, message: "unexpected end of input: expected ',' or '}'")
                }
                switch parser.bytes[parser.index] {
                case UInt8(ascii: ","): parser.index += 1
                case UInt8(ascii: "}"): parser.index += 1; return .object(members)
                default: throw JSONSyntaxError(offset: parser.index, message: "unexpected \(parser.describe(parser.bytes[parser.index])): expected ',' or '}'")
                }
            }
        }
    }

    private mutating func parseArray() throws -> JSONNode.Value {
        try nested { parser in
            parser.index += 1
            var items: [JSONNode] = []
            parser.skipWhitespace()
            if parser.index < parser.bytes.count && parser.bytes[parser.index] == UInt8(ascii: "]") {
                parser.index += 1
                return .array(items)
            }
            while true {
                items.append(try parser.parseValue())
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count else {
                    throw JSONSyntaxError(offset: parser.index, message: "unexpected end of input: expected ',' or ']'")
                }
                switch parser.bytes[parser.index] {
                case UInt8(ascii: ","): parser.index += 1
                case UInt8(ascii: "]"): parser.index += 1; return .array(items)
                default: throw JSONSyntaxError(offset: parser.index, message: "unexpected \(parser.describe(parser.bytes[parser.index])): expected ',' or ']'")
                }
            }
        }
    }

    private mutating func parseString() throws -> String {
        let start = index
        index += 1
        var scalars = String.UnicodeScalarView()
        var run = index  // start of the current run of plain bytes
        func flush(_ parser: JSONNodeParser, _ end: Int, into scalars: inout String.UnicodeScalarView) {
            scalars.append(contentsOf: String(decoding: parser.bytes[run..<end], as: UTF8.self).unicodeScalars)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                flush(self, index, into: &scalars)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 { throw JSONSyntaxError(offset: index, message: "control character in a string (write \\n, \\t…)") }
            if byte == UInt8(ascii: "\\") {
                flush(self, index, into: &scalars)
                guard index + 1 < bytes.count else { break }
                let escape = bytes[index + 1]
                index += 2
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code), bytes[index...].starts(with: Array("\\u".utf8)) {
                        let next = index
                        index += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            // Not a pair: the high surrogate stands alone (U+FFFD, as an unpaired
                            // one at the end does) and the next escape is read on its own.
                            index = next
                        }
                    }
                    scalars.append(UnicodeScalar(code) ?? "\u{FFFD}")
                default:
                    throw JSONSyntaxError(offset: index - 2, message: "invalid escape \\\(Character(UnicodeScalar(escape)))")
                }
                run = index
                continue
            }
            index += 1
        }
        throw JSONSyntaxError(offset: start, message: "unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
            throw JSONSyntaxError(offset: index, message: "\\u needs four hex digits")
        }
        index += 4
        return value
    }

    private mutating func parseNumber() throws -> String {
        let start = index
        func digits(_ parser: inout JSONNodeParser) -> Int {
            let first = parser.index
            while parser.index < parser.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index]) { parser.index += 1 }
            return parser.index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard digits(&self) > 0 else { throw JSONSyntaxError(offset: start, message: "a number needs digits") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw JSONSyntaxError(offset: index, message: "digits expected after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw JSONSyntaxError(offset: index, message: "digits expected in the exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
