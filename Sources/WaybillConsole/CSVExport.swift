// CSV exports of the console's lists (RFC 4180: fields with a comma, quote or line break are
// quoted, quotes doubled). A cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR
// at its start) is prefixed with an apostrophe: an email or a note typed by a shopper must not
// become a formula in the operator's spreadsheet.

import Foundation

struct CSVExport {
    private(set) var text = ""
    private(set) var rows = 0

    init(header: [String]) {
        append(header)
        rows = 0
    }

    mutating func append(_ fields: [String]) {
        text += fields.map(Self.field).joined(separator: ",") + "\r\n"
        rows += 1
    }

    static func field(_ raw: String) -> String {
        var value = raw
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
