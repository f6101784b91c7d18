// Orders: search (server-side, paged), the order page, its actions, bulk actions and CSV export.

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerOrders(on router: Router<ConsoleContext>) {
        router.get("/orders") { request, context in
            try await self.page(request, context) { request, user in try await self.ordersPage(request, user) }
        }
        router.get("/orders.csv") { request, context in
            try await self.page(request, context) { request, user in try await self.ordersCSV(request, user) }
        }
        router.get("/orders/:id") { request, context in
            try await self.page(request, context) { _, user in
                try await self.orderPage(try context.parameters.require("id"), user, banner: nil)
            }
        }
        router.post("/orders/:id/:action") { request, context in
            try await self.action(request, context) { request, user in
                try await self.orderAction(try context.parameters.require("id"), try context.parameters.require("action"), request, user)
            }
        }
        router.post("/orders-bulk") { request, context in
            try await self.action(request, context) { request, user in try await self.bulkAction(request, user) }
        }
    }

    /// `path?filter&extra`, every value percent-encoded.
    static func link(_ path: String, _ filter: OrderFilter, extra: [(String, String)] = []) -> String {
        var components = URLComponents()
        components.queryItems = (filter.fields + extra).filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
        let query = components.percentEncodedQuery ?? ""
        return query.isEmpty ? path : path + "?" + query
    }

    private func ordersPage(_ request: Request, _ user: SignedIn) async throws -> Response {
        let filter = OrderFilter(request)
        let pageToken = request.uri.queryParameters.get("page").map { String($0) } ?? ""
        var values = filter.templateValues
        if !filter.isEmpty || !pageToken.isEmpty || request.uri.queryParameters.get("all") != nil {
            let started = ContinuousClock.now
            let page = try await user.backend.searchOrders(filter, pageSize: configuration.pageSize, pageToken: pageToken)
            let elapsed = ContinuousClock.now - started
            values["searched"] = true
            values["orders"] = page.orders.map(OrderView.row)
            values["count"] = page.orders.count
            values["elapsedMs"] = String(format: "%.1f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            values["next"] = page.nextPageToken.isEmpty ? "" : Self.link("/orders", filter, extra: [("page", page.nextPageToken)])
            values["limitReached"] = page.candidatesLimitReached
            values["csv"] = "/orders.csv?" + filter.queryString
            values["bulk"] = user.may(Method.OrderService.holdOrder) || user.may(Method.OrderService.cancelOrder)
            values["requestID"] = ConsoleSessions.randomToken()
        }
        return views.page("orders", title: "Orders", user: user, values: values)
    }

    private func ordersCSV(_ request: Request, _ user: SignedIn) async throws -> Response {
        let filter = OrderFilter(request)
        var export = CSVExport(header: OrderView.csvHeader())
        var token = ""
        var calls = 0
        repeat {
            let page = try await user.backend.searchOrders(filter, pageSize: 200, pageToken: token)
            for order in page.orders where export.rows < configuration.csvRowsMax { export.append(OrderView.csvRow(order)) }
            token = page.nextPageToken
            calls += 1
        } while !token.isEmpty && export.rows < configuration.csvRowsMax && calls < configuration.csvSearchCallsMax
        if !token.isEmpty {
            let bound = export.rows < configuration.csvRowsMax
                ? "consoleCSVSearchCallsMax = \(configuration.csvSearchCallsMax) searches" : "consoleCSVRowsMax = \(configuration.csvRowsMax) rows"
            export.append(["# cut at \(bound); narrow the search for the rest"])
        }
        return ConsoleRendering.csv(export, filename: "orders.csv")
    }

    func orderPage(_ id: String, _ user: SignedIn, banner: (ok: Bool, text: String)?, status: HTTPResponse.Status = .ok) async throws -> Response {
        let order = try await user.backend.order(id)
        let history = (try? await user.backend.history(id)) ?? order.history
        var values = OrderView.detail(order, history: history)
        values["requestID"] = ConsoleSessions.randomToken()
        values["may"] = [
            "hold": user.may(Method.OrderService.holdOrder), "release": user.may(Method.OrderService.releaseHold),
            "cancel": user.may(Method.OrderService.cancelLines), "reject": user.may(Method.OrderService.rejectFulfillment),
            "return": user.may(Method.OrderService.createReturn), "reallocate": user.may(Method.OrderService.reallocateOrders),
        ]
        values["holdReasons"] = ConsoleFormat.options([Waybill_V1_HoldReason.payment, .fraud, .address, .customerRequest, .other], selected: nil)
        if let banner { values["banner"] = ["ok": banner.ok, "text": banner.text] }
        return views.page("order", title: "Order \(order.orderID)", user: user, status: status, values: values)
    }

    /// One action from the order page; the page is shown again with its outcome.
    private func orderAction(_ id: String, _ action: String, _ request: Request, _ user: SignedIn) async throws -> Response {
        struct Form: Decodable {
            var requestID: String
            var reason: Int?
            var note: String?
            var fulfillment: String?
            var line: String?
            var quantity: Int32?
            enum CodingKeys: String, CodingKey { case requestID = "request_id", reason, note, fulfillment, line, quantity }
        }
        let form = try await decodeForm(Form.self, request)
        guard !form.requestID.isEmpty else { throw ConsoleRefusal(status: .badRequest, message: "The form has no request id; reload the page.") }
        let done: String
        do {
            done = try await user.backend.act(action, orderID: id, requestID: form.requestID, reason: form.reason ?? 0,
                                              note: form.note ?? "", fulfillmentID: form.fulfillment ?? "",
                                              lineID: form.line ?? "", quantity: form.quantity ?? 0)
        } catch let error as WaybillStatusError {
            return try await orderPage(id, user, banner: (false, "\(ConsoleFormat.words(error.code)): \(error.message)"),
                                       status: Self.httpStatus(error.code))
        }
        return try await orderPage(id, user, banner: (true, done))
    }

    /// The same action on every selected order, each with its own idempotency key derived from the
    /// form's request id, answered with a result per order.
    private func bulkAction(_ request: Request, _ user: SignedIn) async throws -> Response {
        struct Form: Decodable {
            var requestID: String
            var action: String
            var orders: [String]?
            var reason: Int?
            enum CodingKeys: String, CodingKey { case requestID = "request_id", action, orders, reason }
        }
        let form = try await decodeForm(Form.self, request)
        let orders = form.orders ?? []
        guard !orders.isEmpty else { throw ConsoleRefusal(status: .badRequest, message: "Select at least one order.") }
        guard orders.count <= configuration.bulkOrdersMax else {
            throw ConsoleRefusal(status: .contentTooLarge,
                                 message: "\(orders.count) orders selected; one bulk action takes at most consoleBulkOrdersMax = \(configuration.bulkOrdersMax).")
        }
        var results: [[String: Any]] = []
        for orderID in orders {
            do {
                let done = try await user.backend.act(form.action, orderID: orderID, requestID: form.requestID + "-" + orderID,
                                                      reason: form.reason ?? Waybill_V1_HoldReason.other.rawValue, note: "console bulk action",
                                                      fulfillmentID: "", lineID: "", quantity: 0)
                results.append(["order": orderID, "ok": true, "text": done])
            } catch let error as WaybillStatusError {
                results.append(["order": orderID, "ok": false, "text": "\(ConsoleFormat.words(error.code)): \(error.message)"])
            } catch let refusal as ConsoleRefusal {
                results.append(["order": orderID, "ok": false, "text": refusal.message])
            }
        }
        let failed = results.filter { ($0["ok"] as? Bool) == false }.count
        return views.page("bulk", title: "Bulk \(form.action)", user: user,
                          values: ["action": form.action, "results": results, "succeeded": results.count - failed, "failed": failed])
    }
}
