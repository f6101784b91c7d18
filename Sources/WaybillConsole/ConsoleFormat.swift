// How the console shows protocol values: times in UTC, money with its currency, enum cases as words.

import Foundation
import WaybillProto

enum ConsoleFormat {
    /// "2026-12-05 14:03:07 UTC", or "" for 0 (not set).
    static func time(_ unixMilliseconds: Int64) -> String {
        guard unixMilliseconds != 0 else { return "" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: Double(unixMilliseconds) / 1000))
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }

    /// "12.50 USD" (two minor digits).
    static func money(_ money: Waybill_V1_Money) -> String {
        guard !money.currency.isEmpty || money.minorUnits != 0 else { return "" }
        let sign = money.minorUnits < 0 ? "-" : ""
        let units = abs(money.minorUnits)
        return "\(sign)\(units / 100).\(String(format: "%02d", units % 100)) \(money.currency)"
    }

    /// "partially shipped" for `.partiallyShipped`.
    static func words<E>(_ value: E) -> String {
        var text = ""
        for character in String(describing: value) {
            if character.isUppercase { text += " " + character.lowercased() } else { text.append(character) }
        }
        return text
    }

    /// "2026-12-05" → Unix milliseconds at 00:00 UTC; nil for anything else.
    static func day(_ text: String?) -> Int64? {
        guard let text, text.count == 10 else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])) else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    static let channels: [Waybill_V1_Channel] = [.web, .mobileApp, .marketplace, .storePos, .callCentre, .clickAndCollect]
    static let orderStatuses: [Waybill_V1_OrderStatus] = (1...30).compactMap { Waybill_V1_OrderStatus(rawValue: $0) }.filter {
        if case .UNRECOGNIZED = $0 { return false }
        return true
    }

    /// <option> rows for a select: value (raw), label, whether selected.
    static func options<E: RawRepresentable>(_ cases: [E], selected: Int?) -> [[String: Any]] where E.RawValue == Int {
        cases.map { ["value": $0.rawValue, "label": words($0), "selected": $0.rawValue == selected] }
    }
}
