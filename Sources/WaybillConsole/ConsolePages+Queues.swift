// Store and warehouse queues: per location, the fulfillments to release, pick, pack, ship or hand
// over (pickup) and those awaiting collection, oldest first, confirmed from the list.

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerQueues(on router: Router<ConsoleContext>) {
        router.get("/queues") { request, context in
            try await self.page(request, context) { request, user in
                let parameters = request.uri.queryParameters
                return try await self.queuePage(parameters.get("location").map { String($0) }, user, banner: nil,
                                                pageToken: parameters.get("page").map { String($0) } ?? "")
            }
        }
        router.get("/queues.csv") { request, context in
            try await self.page(request, context) { request, user in try await self.queueCSV(request, user) }
        }
        router.post("/queues/:action") { request, context in
            try await self.action(request, context) { request, user in
                try await self.queueAction(try context.parameters.require("action"), request, user)
            }
        }
    }

    /// The locations this user may open a queue for: a fulfillment credential's own, every location for others.
    private func queueLocations(_ user: SignedIn) async throws -> [String] {
        if user.caller.role == .fulfillment { return user.caller.locations.sorted() }
        return try await user.backend.locations().map(\.locationID)
    }

    private func queuePage(_ chosen: String?, _ user: SignedIn, banner: (ok: Bool, text: String)?,
                           status: HTTPResponse.Status = .ok, pageToken: String = "") async throws -> Response {
        let locations = try await queueLocations(user)
        let location = chosen ?? locations.first ?? ""
        if user.caller.role == .fulfillment && !location.isEmpty && !user.caller.mayActAt(location: location) {
            throw ConsoleRefusal(status: .forbidden, message: "Your credential acts for \(locations.joined(separator: ", ")), not \(location).")
        }
        var values: [String: Any] = [
            "locations": locations.map { ["id": $0, "selected": $0 == location] },
            "location": location,
            "requestID": ConsoleSessions.randomToken(),
        ]
        if !location.isEmpty {
            let page = try await user.backend.locationQueue(location, pageSize: configuration.pageSize, pageToken: pageToken)
            values["entries"] = page.entries.map(QueueView.row)
            values["count"] = page.entries.count
            values["more"] = !page.nextPageToken.isEmpty
            values["later"] = !pageToken.isEmpty
            values["csv"] = Self.queueLink("/queues.csv", location: location)
            values["next"] = page.nextPageToken.isEmpty ? "" : Self.queueLink("/queues", location: location, page: page.nextPageToken)
            values["first"] = Self.queueLink("/queues", location: location)
        }
        if let banner { values["banner"] = ["ok": banner.ok, "text": banner.text] }
        return views.page("queue", title: "Queue \(location)", user: user, status: status, values: values)
    }

    private func queueCSV(_ request: Request, _ user: SignedIn) async throws -> Response {
        let location = request.uri.queryParameters.get("location").map { String($0) } ?? ""
        var export = CSVExport(header: QueueView.csvHeader())
        var token = ""
        repeat {
            let page = try await user.backend.locationQueue(location, pageSize: 200, pageToken: token)
            for entry in page.entries where export.rows < configuration.csvRowsMax { export.append(QueueView.csvRow(entry)) }
            token = page.nextPageToken
        } while !token.isEmpty && export.rows < configuration.csvRowsMax
        if !token.isEmpty { export.append(["# cut at consoleCSVRowsMax = \(configuration.csvRowsMax) rows"]) }
        return ConsoleRendering.csv(export, filename: "queue-\(location).csv")
    }

    static func queueLink(_ path: String, location: String, page: String = "") -> String {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "location", value: location)] + (page.isEmpty ? [] : [URLQueryItem(name: "page", value: page)])
        return path + "?" + (components.percentEncodedQuery ?? "")
    }

    private func queueAction(_ action: String, _ request: Request, _ user: SignedIn) async throws -> Response {
        struct Form: Decodable {
            var requestID: String
            var order: String
            var fulfillment: String
            var location: String
            var tracking: String?
            enum CodingKeys: String, CodingKey { case requestID = "request_id", order, fulfillment, location, tracking }
        }
        let form = try await decodeForm(Form.self, request)
        do {
            let done = try await user.backend.act(action, orderID: form.order, requestID: form.requestID, reason: 0, note: form.tracking ?? "",
                                                  fulfillmentID: form.fulfillment, lineID: "", quantity: 0)
            return try await queuePage(form.location, user, banner: (true, done))
        } catch let error as WaybillStatusError {
            return try await queuePage(form.location, user, banner: (false, "\(ConsoleFormat.words(error.code)): \(error.message)"),
                                       status: Self.httpStatus(error.code))
        }
    }
}
