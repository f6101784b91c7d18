// The order search form's fields, read from a query string and written back into links (next
// page, CSV export, bulk selection) so a list can be paged, exported and acted on as searched.

import Foundation
import Hummingbird
import WaybillProto

struct OrderFilter: Sendable {
    var query = ""
    var email = ""
    var phone = ""
    var name = ""
    var sku = ""
    var tracking = ""
    var location = ""
    var channel = 0
    var status = 0
    var from = ""
    var to = ""
    /// Statuses the form cannot name together (the inventory page's backorders); with `status`.
    var otherStatuses: [Int] = []

    init() {}

    var statuses: [Int] { (status == 0 ? [] : [status]) + otherStatuses }

    /// From a request's query string (each field cut at 200 characters).
    init(_ request: Request) {
        let parameters = request.uri.queryParameters
        func text(_ key: String) -> String { String((parameters.get(key) ?? "").prefix(200)).trimmingCharacters(in: .whitespaces) }
        query = text("q")
        email = text("email")
        phone = text("phone")
        name = text("name")
        sku = text("sku")
        tracking = text("tracking")
        location = text("location")
        channel = Int(text("channel")) ?? 0
        status = Int(text("status")) ?? 0
        from = text("from")
        to = text("to")
    }

    var fields: [(String, String)] {
        [("q", query), ("email", email), ("phone", phone), ("name", name), ("sku", sku), ("tracking", tracking),
         ("location", location), ("channel", channel == 0 ? "" : String(channel)), ("status", status == 0 ? "" : String(status)),
         ("from", from), ("to", to)]
    }

    var isEmpty: Bool { fields.allSatisfy { $0.1.isEmpty } }

    /// "q=…&email=…" of the fields that are set.
    var queryString: String {
        var components = URLComponents()
        components.queryItems = fields.filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.percentEncodedQuery ?? ""
    }

    var templateValues: [String: Any] {
        var values: [String: Any] = Dictionary(uniqueKeysWithValues: fields.map { ($0.0, $0.1 as Any) })
        values["channels"] = ConsoleFormat.options(ConsoleFormat.channels, selected: channel)
        values["statuses"] = ConsoleFormat.options(ConsoleFormat.orderStatuses, selected: status)
        return values
    }
}
