// Arguments of call subcommands: enum values in one spelling everywhere, LINE=QTY lists, and
// signed quantities that may start with "-".

import ArgumentParser
import SwiftProtobuf
import WaybillProto

extension SwiftProtobuf.Enum {
    /// The proto names of the cases a flag may name (the zero "unspecified" case means "none").
    static var flagCaseNames: [ProtoName] { ProtoSchema.caseNames(of: Self.self).filter { $0.number != 0 } }

    /// "ORDER_STATUS_" for ORDER_STATUS_ALLOCATED, ORDER_STATUS_SHIPPED, ...: the common prefix, to the last "_".
    static var flagPrefix: String {
        let names = ProtoSchema.caseNames(of: Self.self).map(\.proto)
        guard var prefix = names.first else { return "" }
        for name in names.dropFirst() { prefix = String(prefix.commonPrefix(with: name)) }
        guard let underscore = prefix.lastIndex(of: "_") else { return "" }
        return String(prefix[...underscore])
    }

    /// The valid values as a flag's help and errors list them.
    static var flagValues: String {
        let prefix = flagPrefix
        return flagCaseNames.map { $0.proto.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-") }
            .joined(separator: ", ")
    }

    /// Accepts the proto name ("ORDER_STATUS_ALLOCATED"), the short name ("ALLOCATED") and lower or
    /// kebab case ("allocated", "click-and-collect"), case-insensitively.
    static func parseFlag(_ text: String) throws -> Self {
        let wanted = text.uppercased().replacingOccurrences(of: "-", with: "_")
        let prefix = flagPrefix
        if let match = flagCaseNames.first(where: { $0.proto == wanted || $0.proto == prefix + wanted }),
           let value = Self(rawValue: match.number) {
            return value
        }
        throw ValidationError("unknown value \"\(text)\"; valid values: \(flagValues) (or the proto names, e.g. \(flagCaseNames.first?.proto ?? ""))")
    }
}

/// "LINE=QTY" arguments.
func lineQuantities(_ arguments: [String]) throws -> [Waybill_V1_LineQuantity] {
    try arguments.map { argument in
        let parts = argument.split(separator: "=")
        guard parts.count == 2, let quantity = Int32(parts[1]) else { throw ValidationError("expected LINE=QUANTITY, got \(argument)") }
        var line = Waybill_V1_LineQuantity()
        line.lineID = String(parts[0])
        line.quantity = quantity
        return line
    }
}

/// "LINE=QTY:restock" or "LINE=QTY:dispose" arguments of receive-return.
func returnLines(_ arguments: [String]) throws -> [Waybill_V1_ReturnLine] {
    try arguments.map { argument in
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let quantity = try? lineQuantities([String(parts[0])]).first else {
            throw ValidationError("expected LINE=QTY:restock or LINE=QTY:dispose, got \(argument)")
        }
        var line = Waybill_V1_ReturnLine()
        line.lineID = quantity.lineID
        line.quantity = quantity.quantity
        line.disposition = try Waybill_V1_Disposition.parseFlag(String(parts[1]))
        return line
    }
}

/// A stock quantity or delta: a positional that may be negative ("-3" is a value, not an option).
/// receive, adjust and transfer read it the same way; "--" before it works too.
struct SignedQuantity: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Units (may be negative, e.g. -3).", valueName: "quantity"))
    var words: [String] = []

    func value() throws -> Int32 {
        guard words.count == 1, let value = Int32(words[0]) else {
            throw ValidationError("expected one integer quantity, got \(words.isEmpty ? "none" : words.joined(separator: " "))")
        }
        return value
    }
}
