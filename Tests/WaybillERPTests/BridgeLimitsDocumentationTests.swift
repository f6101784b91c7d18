// docs/ERP.md's table of the bridge's limits lists every limit the bridge logs at start
// (BridgeLimits.named), with its default, and no other.

import Foundation
import Testing
import WaybillERP

@Suite("Bridge limits documented")
struct BridgeLimitsDocumentationTests {
    /// The rows of the table headed `| limit (`--option`) | default |`: names (before the options in
    /// parentheses, several joined by " / ") paired with the defaults of the second cell.
    static func documentedDefaults() throws -> [String: Int64] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/ERP.md"), encoding: .utf8)
        let start = try #require(text.range(of: "| limit (`--option`) | default |\n"))
        var defaults: [String: Int64] = [:]
        for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2, cells[0].hasPrefix("`") else { continue }
            let names = (cells[0].split(separator: "(").first ?? "").split(separator: "/")
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` ")) }
            let values = cells[1].split(separator: "/").map { Int64($0.filter(\.isNumber)) }
            #expect(names.count == values.count, "docs/ERP.md: \(line)")
            for (name, value) in zip(names, values) { defaults[name] = value }
        }
        return defaults
    }

    @Test("every bridge limit is in docs/ERP.md's table with its default")
    func everyLimitDocumented() throws {
        let documented = try Self.documentedDefaults()
        let limits = BridgeLimits().named
        for limit in limits {
            #expect(documented[limit.name] == limit.value, "docs/ERP.md: \(limit.name) = \(String(describing: documented[limit.name])), the bridge's default \(limit.value)")
        }
        let phantom = Set(documented.keys).subtracting(limits.map(\.name))
        #expect(phantom.isEmpty, "documented, not a bridge limit: \(phantom.sorted())")
    }
}
