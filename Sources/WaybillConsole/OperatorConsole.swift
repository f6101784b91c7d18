// The operator console's HTTP application: Hummingbird routes, sign-in and sessions, CSRF
// checks, security headers. Pages live in ConsolePages+*.swift, one file per area; each reads and
// acts through `ConsoleBackend` (in-process calls as the signed-in credential).
//
// Security (docs/CONSOLE.md, "Security"): sign-in with a credential token; the session cookie is
// HttpOnly, SameSite=Strict, Secure when `secureCookies`; every POST carries the session's CSRF
// token and, when the browser sends Origin, must come from the console's own origin; pages are
// served with a strict Content-Security-Policy (no inline script), no framing, no referrer.

import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WaybillApplication
import WaybillProto
import WaybillServer

public enum OperatorConsole {
    static let sessionCookie = "waybill_console"

    /// The console as a Hummingbird application on `configuration.host:port`; `onRunning` gets the bound port.
    public static func application(server: WaybillServer, configuration: ConsoleConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        async throws -> some ApplicationProtocol {
        let console = try await ConsoleRoutes(server: server, configuration: configuration, logger: logger)
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        console.register(on: router)
        return Application(router: router,
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                serverName: nil),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }
}

/// Headers on every answer: nothing inline runs, nothing frames the console, nothing leaks the URL.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ConsoleContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Who is signed in on a request, and the backend that calls as them.
struct SignedIn {
    let session: ConsoleSession
    let caller: Caller
    let backend: ConsoleBackend

    func may(_ method: String) -> Bool {
        if case .allowed = AccessPolicy.decide(caller, method: method) { return true }
        return false
    }
}

/// A refusal the console answers with a page (status and a plain message).
struct ConsoleRefusal: Error {
    let status: HTTPResponse.Status
    let message: String
}

final class ConsoleRoutes: Sendable {
    let server: WaybillServer
    let configuration: ConsoleConfiguration
    let logger: Logger
    let sessions: ConsoleSessions
    let views: ConsoleRendering

    init(server: WaybillServer, configuration: ConsoleConfiguration, logger: Logger) async throws {
        self.server = server
        self.configuration = configuration
        self.logger = logger
        sessions = ConsoleSessions(configuration: configuration)
        views = try await ConsoleRendering()
    }

    func register(on router: Router<ConsoleContext>) {
        router.get("/") { _, _ in Response.redirect(to: "/orders") }
        router.get("/assets/:file") { _, context in try self.asset(context.parameters.require("file")) }
        router.get("/sign-in") { request, _ in self.signInPage(next: request.uri.queryParameters.get("next"), error: nil) }
        router.post("/sign-in") { request, context in try await self.signIn(request, context) }
        router.post("/sign-out") { request, context in
            try await self.action(request, context) { _, user in
                self.sessions.close(user.session.id)
                var response = Response.redirect(to: "/sign-in")
                response.setCookie(self.cookie(value: "", maxAge: 0))
                return response
            }
        }
        registerOrders(on: router)
        registerQueues(on: router)
        registerInventory(on: router)
        registerIntegration(on: router)
        registerReconciliation(on: router)
        registerSimulations(on: router)
        registerLive(on: router)
    }

    // MARK: sign-in

    private func signInPage(next: String?, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        views.page("sign-in", title: "Sign in", user: nil, status: status,
                   values: ["next": safeNext(next) ?? "/orders", "error": error ?? ""])
    }

    private func signIn(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        try checkOrigin(request)
        struct Form: Decodable { var token: String; var next: String? }
        let form: Form
        do { form = try await decodeForm(Form.self, request) } catch { return signInPage(next: nil, error: "Enter a credential token.", status: .badRequest) }
        let token = form.token.trimmingCharacters(in: .whitespacesAndNewlines)
        switch server.authenticate(token: token, peer: context.peer) {
        case .failure(let error):
            // The server's own message (unauthenticated, or throttled with a wait), never the token.
            return signInPage(next: form.next, error: error.message, status: .unauthorized)
        case .success(let caller):
            switch sessions.open(token: token) {
            case .failure(.full(let max)):
                return signInPage(next: form.next, error: "Too many console sessions are open (consoleSessionsMax = \(max)); try again later.",
                                  status: .serviceUnavailable)
            case .success(let session):
                logger.notice("console sign-in", metadata: ["credential": "\(caller.name)", "role": "\(caller.role.rawValue)", "peer": "\(context.peer)"])
                var response = Response.redirect(to: safeNext(form.next) ?? "/orders")
                response.setCookie(cookie(value: session.id, maxAge: Int(configuration.sessionLifetimeSeconds)))
                return response
            }
        }
    }

    func cookie(value: String, maxAge: Int) -> Cookie {
        Cookie(name: OperatorConsole.sessionCookie, value: value, maxAge: maxAge, path: "/",
               secure: configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// Only a path on this console (no scheme, no host, no `//`): sign-in never redirects elsewhere.
    private func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("://") else { return nil }
        return next
    }

    // MARK: the signed-in user of a request

    func signedIn(_ request: Request, _ context: ConsoleContext) -> SignedIn? {
        guard let id = request.cookies[OperatorConsole.sessionCookie]?.value, !id.isEmpty, let session = sessions.use(id) else { return nil }
        // Authenticated again on every request: a revoked or expired credential is signed out at once.
        switch server.authenticate(token: session.token, peer: context.peer) {
        case .success(let caller): return SignedIn(session: session, caller: caller, backend: ConsoleBackend(server: server, caller: caller))
        case .failure:
            sessions.close(id)
            return nil
        }
    }

    /// A page for a signed-in user; others are sent to sign in first (and back here after).
    func page(_ request: Request, _ context: ConsoleContext,
              _ body: (Request, SignedIn) async throws -> Response) async throws -> Response {
        guard let user = signedIn(request, context) else {
            let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return Response.redirect(to: "/sign-in?next=" + (next.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(.init(charactersIn: "&=?"))) ?? "/orders"))
        }
        do {
            return try await body(request, user)
        } catch let refusal as ConsoleRefusal {
            return views.message(refusal, user: user)
        } catch let error as WaybillStatusError {
            return views.message(ConsoleRefusal(status: Self.httpStatus(error.code), message: "\(error.code): \(error.message)"), user: user)
        }
    }

    /// An action (POST): signed in, from this console's origin, with the session's CSRF token.
    func action(_ request: Request, _ context: ConsoleContext,
                _ body: (Request, SignedIn) async throws -> Response) async throws -> Response {
        guard let user = signedIn(request, context) else {
            return views.message(ConsoleRefusal(status: .unauthorized, message: "Your session ended; sign in again."), user: nil)
        }
        var request = request
        do {
            try checkOrigin(request)
            let form = try await request.collectBody(upTo: configuration.requestBytesMax)
            struct CSRF: Decodable { var csrf: String? }
            let posted = (try? URLEncodedFormDecoder().decode(CSRF.self, from: String(buffer: form)))?.csrf ?? ""
            guard ConsoleSessions.tokensMatch(posted, user.session.csrfToken) else {
                throw ConsoleRefusal(status: .forbidden, message: "The form's security token does not match your session; reload the page and try again.")
            }
            return try await self.page(request, context, body)
        } catch let refusal as ConsoleRefusal {
            return views.message(refusal, user: user)
        } catch is NIOTooManyBytesError {
            return views.message(ConsoleRefusal(status: .contentTooLarge,
                                                message: "The form is larger than consoleRequestBytesMax (\(configuration.requestBytesMax) bytes)."), user: user)
        }
    }

    /// A browser's Origin, when it sends one, must be this console's (cross-site forms are refused).
    private func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin], origin != "null" else { return }
        guard let host = request.head.authority,
              let originHost = URL(string: origin).flatMap({ url in url.host.map { $0 + (url.port.map { ":\($0)" } ?? "") } }),
              originHost == host else {
            throw ConsoleRefusal(status: .forbidden, message: "A form from another site was refused (Origin does not match the console).")
        }
    }

    func decodeForm<Form: Decodable>(_ type: Form.Type, _ request: Request) async throws -> Form {
        var request = request
        let body = try await request.collectBody(upTo: configuration.requestBytesMax)
        return try URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
    }

    private func asset(_ name: String) throws -> Response {
        guard let asset = views.assets[name] else { throw HTTPError(.notFound) }
        var response = Response(status: .ok, headers: [.contentType: asset.contentType], body: .init(byteBuffer: ByteBuffer(string: asset.text)))
        response.headers[.cacheControl] = "max-age=300"
        return response
    }

    static func httpStatus(_ code: Waybill_V1_StatusCode) -> HTTPResponse.Status {
        switch code {
        case .invalidArgument, .outOfRange: return .badRequest
        case .notFound: return .notFound
        case .permissionDenied: return .forbidden
        case .unauthenticated: return .unauthorized
        case .alreadyExists, .aborted, .failedPrecondition: return .conflict
        case .resourceExhausted: return .tooManyRequests
        case .unavailable: return .serviceUnavailable
        case .deadlineExceeded: return .gatewayTimeout
        default: return .internalServerError
        }
    }
}
