// How call answers print: protobuf JSON for scripts (the default, zero values included), or a
// plain aligned table for people (--output table): scalar fields as "name  value" lines, each
// list of messages as a table, nested messages flattened ("shipTo.city"), *UnixMs times as
// ISO-8601 UTC. Driven by the message's own fields, so every answer has a table form.

import ArgumentParser
import Foundation
import SwiftProtobuf
import WaybillProto

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, table
}

enum CallOutput {
    static func print(_ message: some SwiftProtobuf.Message, as format: OutputFormat) {
        switch format {
        case .json: printJSON(message)
        case .table: Swift.print(TableText.render(message), terminator: "")
        }
    }
}

enum TableText {
    static func render(_ message: some SwiftProtobuf.Message) -> String {
        guard let object = try? ProtoJSONOutput.object(message) else { return prettyJSON(message) + "\n" }
        var pairs: [(String, String)] = []
        var sections: [Section] = []
        flatten(object, type(of: message), prefix: "", pairs: &pairs, sections: &sections)
        var text = aligned(pairs.map { [$0.0, $0.1] })
        for section in sections {
            if !text.isEmpty { text += "\n" }
            text += "\(section.title) (\(section.rows.count))\n" + table(section)
        }
        return text
    }

    /// A list of messages: printed as a table.
    struct Section {
        var title: String
        var rows: [[String: Any]]
        var type: any SwiftProtobuf.Message.Type
    }

    /// Scalars, enums, lists of scalars and nested messages become (name, text) pairs; lists of
    /// messages become sections.
    static func flatten(_ object: [String: Any], _ type: any SwiftProtobuf.Message.Type, prefix: String,
                        pairs: inout [(String, String)], sections: inout [Section]) {
        for field in ProtoSchema.fields(of: type) {
            guard let value = object[field.jsonName] else { continue }
            let name = prefix + field.jsonName
            if case .message(let nested) = field.kind, !nested.protoMessageName.hasPrefix("google.protobuf.") {
                if field.isRepeated {
                    sections.append(Section(title: name, rows: value as? [[String: Any]] ?? [], type: nested))
                } else if let child = value as? [String: Any] {
                    flatten(child, nested, prefix: name + ".", pairs: &pairs, sections: &sections)
                }
                continue
            }
            pairs.append((name, cell(value, field: field)))
        }
    }

    static func table(_ section: Section) -> String {
        var columns: [String] = []
        var rows: [[String: String]] = []
        for row in section.rows {
            var pairs: [(String, String)] = []
            var nested: [Section] = []
            flatten(row, section.type, prefix: "", pairs: &pairs, sections: &nested)
            pairs += nested.map { ($0.title, compact($0)) }
            for (name, _) in pairs where !columns.contains(name) { columns.append(name) }
            rows.append(Dictionary(pairs, uniquingKeysWith: { first, _ in first }))
        }
        // A column nobody filled in (an unused optional text) only widens the table.
        columns = columns.filter { name in rows.contains { !($0[name] ?? "").isEmpty } }
        if columns.isEmpty { return "" }
        return aligned([columns] + rows.map { row in columns.map { row[$0] ?? "" } })
    }

    /// Fields of a list element small enough to show inline in a table cell (fulfillment lines);
    /// a list of larger messages (an order's lines in list-orders) shows as its count.
    static let inlineFieldsMax = 4

    /// A list inside a table cell: each element's values in one run, elements separated by ", ".
    static func compact(_ section: Section) -> String {
        if ProtoSchema.fields(of: section.type).count > inlineFieldsMax { return "\(section.rows.count)" }
        return section.rows.map { row in
            var pairs: [(String, String)] = []
            var nested: [Section] = []
            flatten(row, section.type, prefix: "", pairs: &pairs, sections: &nested)
            return pairs.map(\.1).filter { !$0.isEmpty }.joined(separator: " ")
        }.joined(separator: ", ")
    }

    static func cell(_ value: Any, field: ProtoField) -> String {
        if let list = value as? [Any] { return list.map { cell($0, field: field) }.joined(separator: ", ") }
        if let map = value as? [String: Any] { return map.keys.sorted().map { "\($0)=\(map[$0].map { "\($0)" } ?? "")" }.joined(separator: ", ") }
        if case .scalar(.bool) = field.kind { return (value as? Bool) == true ? "true" : "false" }
        let text = "\(value)"
        if field.jsonName.hasSuffix("UnixMs"), let milliseconds = Int64(text) { return iso8601(milliseconds: milliseconds) }
        return text
    }

    /// "2026-03-02T15:00:00.000Z"; 0 (not set) prints as "-".
    static func iso8601(milliseconds: Int64) -> String {
        if milliseconds == 0 { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// Rows of cells in columns padded to the widest cell, two spaces apart.
    static func aligned(_ rows: [[String]]) -> String {
        guard let width = rows.map(\.count).max(), width > 0 else { return "" }
        let widths = (0..<width).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, text in
                index == row.count - 1 ? text : text.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
