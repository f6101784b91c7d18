// Server-rendered HTML: the Mustache templates and static assets shipped with the target
// (Templates/*.mustache, Assets/*), loaded once at start. Every value is HTML-escaped by Mustache's
// `{{value}}`; no template uses the unescaped form for data.

import Foundation
import Hummingbird
import Mustache
import NIOCore
import WaybillWire

struct ConsoleAsset: Sendable {
    let text: String
    let contentType: String
}

struct ConsoleRendering: Sendable {
    let library: MustacheLibrary
    let assets: [String: ConsoleAsset]

    init() async throws {
        guard let root = Bundle.module.resourceURL else { throw ConsoleRefusal(status: .internalServerError, message: "the console's resources are missing") }
        library = try await MustacheLibrary(directory: root.appendingPathComponent("Templates").path)
        var assets: [String: ConsoleAsset] = [:]
        let folder = root.appendingPathComponent("Assets")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where !name.hasPrefix(".") {
            let type = name.hasSuffix(".css") ? "text/css; charset=utf-8" : name.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "text/plain; charset=utf-8"
            assets[name] = ConsoleAsset(text: try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8), contentType: type)
        }
        self.assets = assets
    }

    /// `template` inside the layout, with the signed-in user's name, role, CSRF token and menu.
    func page(_ template: String, title: String, user: SignedIn?, status: HTTPResponse.Status = .ok, values: [String: Any]) -> Response {
        var context = values
        context["title"] = title
        if let user {
            context["user"] = [
                "name": user.caller.name,
                "role": user.caller.role.rawValue,
                "csrf": user.session.csrfToken,
                "orders": user.may(Method.OrderService.getOrder),
                "queues": user.may(Method.OrderService.confirmPick),
                "inventory": user.may(Method.InventoryService.getAvailability),
                "integration": user.may(Method.ChangeFeedService.getFeedInfo),
                "simulations": user.caller.role == .admin,
                "live": user.may(Method.SystemService.getMetrics),
            ] as [String: Any]
        }
        let html = library.render(Self.withoutEmptyText(context), withTemplate: template) ?? "template \(template) is missing"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Mustache treats "" as true in a section: an empty text is dropped, so `{{#note}}…{{/note}}`
    /// shows only a note that is there.
    static func withoutEmptyText(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]:
            var kept: [String: Any] = [:]
            for (key, item) in dictionary {
                if let text = item as? String, text.isEmpty { continue }
                kept[key] = withoutEmptyText(item)
            }
            return kept
        case let array as [[String: Any]]: return array.map { withoutEmptyText($0) }
        default: return value
        }
    }

    func message(_ refusal: ConsoleRefusal, user: SignedIn?) -> Response {
        page("message", title: refusal.status.reasonPhrase, user: user, status: refusal.status,
             values: ["heading": "\(refusal.status.code) \(refusal.status.reasonPhrase)", "message": refusal.message])
    }

    static func csv(_ export: CSVExport, filename: String) -> Response {
        Response(status: .ok,
                 headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\""],
                 body: .init(byteBuffer: ByteBuffer(string: export.text)))
    }

    static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
