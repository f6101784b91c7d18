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
                try await self.queuePage(request.uri.queryParameters.get("location").map { String($0) }, user, banner: nil)
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
                           status: HTTPResponse.Status = .ok) async throws -> Response {
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
            let entries = try await user.backend.locationQueue(location, limit: configuration.pageSize * 4)
            values["entries"] = entries.map(QueueView.row)
            values["count"] = entries.count
            values["csv"] = "/queues.csv?location=" + (location.addingPercentEncoding(withAllowedCharacters: CharacterSet.urlQueryAllowed) ?? "")
        }
        if let banner { values["banner"] = ["ok": banner.ok, "text": banner.text] }
        return views.page("queue", title: "Queue \(location)", user: user, status: status, values: values)
    }

    private func queueCSV(_ request: Request, _ user: SignedIn) async throws -> Response {
        let location = request.uri.queryParameters.get("location").map { String($0) } ?? ""
        var export = CSVExport(header: QueueView.csvHeader())
        for entry in try await user.backend.locationQueue(location, limit: configuration.csvRowsMax) { export.append(QueueView.csvRow(entry)) }
        return ConsoleRendering.csv(export, filename: "queue-\(location).csv")
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
