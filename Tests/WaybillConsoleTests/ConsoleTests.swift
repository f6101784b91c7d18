// The operator console over real HTTP against a real server: sign-in and sessions, CSRF and
// origin checks, role and channel scope, actions through the protocol's idempotency, bulk
// actions, exports, queues and limits.

import Foundation
import Testing
import WaybillApplication
import WaybillConsole
import WaybillProto
import WaybillWire

@Suite("Operator console", .serialized)
struct ConsoleTests {
    @Test("a page before sign-in sends to sign-in and back; a wrong token is refused without a cookie")
    func signInRequired() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            let first = try await browser.get("/orders?email=ada%40example.com")
            #expect(first.status == 303)
            #expect(first.location == "/sign-in?next=/orders%3Femail%3Dada%2540example.com")
            let form = try await browser.get(try #require(first.location))
            #expect(form.hidden("next") == "/orders?email=ada%40example.com", "back to the same search after sign-in")
            let wrong = try await browser.post("/sign-in", form: [("token", "wb_not-a-token"), ("next", "/orders")])
            #expect(wrong.status == 401)
            #expect(browser.cookie == nil)
            #expect(wrong.body.contains("role=\"alert\""))
            #expect(!wrong.body.contains("wb_not-a-token"), "the token is never echoed")
        }
    }

    @Test("sign-in sets an HttpOnly, SameSite=Strict session cookie (Secure when configured); sign-out ends the session")
    func sessionCookie() async throws {
        try await ConsoleHarness.with({ $0.secureCookies = true }) { harness in
            let browser = harness.browser()
            let signedIn = try await browser.signIn(harness.tokens["admin"]!)
            #expect(signedIn.status == 303)
            #expect(signedIn.location == "/orders")
            let cookie = try #require(signedIn.headers.first(name: "set-cookie"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(cookie.contains("Secure"))
            #expect(cookie.contains("Path=/"))
            let orders = try await browser.get("/orders")
            #expect(orders.status == 200)
            #expect(orders.body.contains("ops-admin"))
            #expect(orders.headers.first(name: "content-security-policy")?.contains("script-src 'self'") == true)
            #expect(orders.headers.first(name: "x-frame-options") == "DENY")
            let csrf = try #require(orders.hidden("csrf"))
            let out = try await browser.post("/sign-out", form: [("csrf", csrf)])
            #expect(out.status == 303)
            #expect(try await browser.get("/orders").status == 303, "signed out")
        }
    }

    @Test("the next page after sign-in is only ever a path on the console")
    func noOpenRedirect() async throws {
        try await ConsoleHarness.with { harness in
            for next in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
                let browser = harness.browser()
                let page = try await browser.post("/sign-in", form: [("token", harness.tokens["admin"]!), ("next", next)])
                #expect(page.location == "/orders", "next=\(next)")
            }
        }
    }

    @Test("hold and release from the order page; the same form twice is one hold (idempotent); history records who")
    func holdAndRelease() async throws {
        try await ConsoleHarness.with { harness in
            let id = harness.orders["web"]!.orderID
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let page = try await browser.get("/orders/\(id)")
            #expect(page.status == 200)
            #expect(page.body.contains("ada@example.com"))
            let csrf = try #require(page.hidden("csrf"))
            let requestID = try #require(page.hidden("request_id"))
            let form = [("csrf", csrf), ("request_id", requestID), ("reason", "\(Waybill_V1_HoldReason.fraud.rawValue)"), ("note", "check card")]
            let held = try await browser.post("/orders/\(id)/hold", form: form)
            #expect(held.status == 200)
            #expect(held.body.contains("Held \(id)"))
            let again = try await browser.post("/orders/\(id)/hold", form: form)
            #expect(again.status == 200)
            var order = try await harness.order(id)
            #expect(order.holds.count == 1)
            #expect(order.holds.first?.reason == .fraud)
            #expect(order.history.filter { $0.action.contains("hold") }.count == 1, "\(order.history.map(\.action))")
            #expect(order.history.contains { $0.clientID == "ops-admin" })
            let released = try await browser.post("/orders/\(id)/release", form: [("csrf", csrf), ("request_id", requestID + "-release")])
            #expect(released.body.contains("Released every hold"))
            order = try await harness.order(id)
            #expect(order.holds.isEmpty)
        }
    }

    @Test("an action without the session's CSRF token, or from another origin, is refused and changes nothing")
    func csrfAndOrigin() async throws {
        try await ConsoleHarness.with { harness in
            let id = harness.orders["web"]!.orderID
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let csrf = try #require(try await browser.get("/orders/\(id)").hidden("csrf"))
            let missing = try await browser.post("/orders/\(id)/hold", form: [("request_id", "r1"), ("reason", "1")])
            #expect(missing.status == 403)
            let forged = try await browser.post("/orders/\(id)/hold", form: [("csrf", String(csrf.reversed())), ("request_id", "r2"), ("reason", "1")])
            #expect(forged.status == 403)
            let crossSite = try await browser.post("/orders/\(id)/hold", form: [("csrf", csrf), ("request_id", "r3"), ("reason", "1")],
                                                   headers: [("Origin", "http://evil.example")])
            #expect(crossSite.status == 403)
            #expect(try await harness.order(id).holds.isEmpty)
        }
    }

    @Test("a channel user sees its channel's orders only: another channel's order by URL is not found, and no actions it may not take")
    func channelScope() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["pos"]!)
            let own = try await browser.get("/orders/\(harness.orders["store-pos"]!.orderID)")
            #expect(own.status == 200)
            let other = try await browser.get("/orders/\(harness.orders["web"]!.orderID)")
            #expect(other.status == 404)
            #expect(!other.body.contains("ada@example.com"))
            let list = try await browser.get("/orders?all=1")
            #expect(list.status == 200)
            #expect(list.body.contains(harness.orders["store-pos"]!.orderID))
            #expect(!list.body.contains(harness.orders["web"]!.orderID))
            #expect(!list.body.contains("href=\"/integration\""), "no integration menu for a channel")
        }
    }

    @Test("a revoked credential's console session ends at its next request")
    func revocationEndsSession() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["web"]!)
            #expect(try await browser.get("/orders").status == 200)
            var revoke = Waybill_V1_RevokeCredentialRequest()
            revoke.name = "web-service"
            let _: Waybill_V1_RevokeCredentialResponse = try await harness.server.callInProcess(Method.CredentialService.revokeCredential, revoke, as: .system)
            #expect(try await browser.get("/orders").status == 303)
        }
    }

    @Test("consoleSessionsMax: a sign-in beyond it is refused, naming the limit")
    func sessionsLimit() async throws {
        try await ConsoleHarness.with({ $0.sessionsMax = 1 }) { harness in
            #expect(try await harness.browser().signIn(harness.tokens["admin"]!).status == 303)
            let refused = try await harness.browser().signIn(harness.tokens["admin"]!)
            #expect(refused.status == 503)
            #expect(refused.body.contains("consoleSessionsMax = 1"))
        }
    }

    @Test("bulk hold: one result per order, refused orders named; beyond consoleBulkOrdersMax the whole action is refused")
    func bulk() async throws {
        try await ConsoleHarness.with({ $0.bulkOrdersMax = 3 }) { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let list = try await browser.get("/orders?all=1")
            let csrf = try #require(list.hidden("csrf"))
            let requestID = try #require(list.hidden("request_id"))
            let ids = [harness.orders["web"]!.orderID, harness.orders["mobile-app"]!.orderID, "W-NOPE"]
            let done = try await browser.post("/orders-bulk", form: [("csrf", csrf), ("request_id", requestID), ("action", "hold")]
                                              + ids.map { ("orders[]", $0) })
            #expect(done.status == 200)
            #expect(done.body.contains("2 done, 1 refused"))
            #expect(try await harness.order(ids[0]).holds.count == 1)
            #expect(try await harness.order(ids[1]).holds.count == 1)
            let tooMany = try await browser.post("/orders-bulk", form: [("csrf", csrf), ("request_id", requestID + "x"), ("action", "hold")]
                                                 + (ids + ["a"]).map { ("orders[]", $0) })
            #expect(tooMany.status == 413)
            #expect(tooMany.body.contains("consoleBulkOrdersMax = 3"))
        }
    }

    @Test("a form larger than consoleRequestBytesMax is refused with the limit named")
    func requestBytesLimit() async throws {
        try await ConsoleHarness.with({ $0.requestBytesMax = 1024 }) { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let id = harness.orders["web"]!.orderID
            let csrf = try #require(try await browser.get("/orders/\(id)").hidden("csrf"))
            let page = try await browser.post("/orders/\(id)/hold", form: [("csrf", csrf), ("request_id", "big"), ("note", String(repeating: "x", count: 4096))])
            #expect(page.status == 413)
            #expect(page.body.contains("consoleRequestBytesMax"))
            #expect(try await harness.order(id).holds.isEmpty)
        }
    }

    @Test("orders export as CSV with a header and one row per order")
    func ordersCSV() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let csv = try await browser.get("/orders.csv?all=1")
            #expect(csv.status == 200)
            #expect(csv.headers.first(name: "content-type")?.hasPrefix("text/csv") == true)
            let rows = csv.body.split(separator: "\r\n")
            #expect(rows.first?.hasPrefix("order_id,channel,") == true)
            #expect(rows.count == 1 + harness.orders.count)
            #expect(rows.contains { $0.hasPrefix(harness.orders["web"]!.orderID + ",") && $0.contains("ada@example.com") })
        }
    }

    @Test("a store's queue: the pickup order waits at STORE-NYC; the store confirms each step from the list")
    func storeQueue() async throws {
        try await ConsoleHarness.with { harness in
            let order = harness.orders["click-and-collect"]!
            let fulfillment = try #require(order.fulfillments.first { $0.locationID == "STORE-NYC" })
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["nyc"]!)
            let queue = try await browser.get("/queues")
            #expect(queue.status == 200)
            #expect(queue.body.contains(fulfillment.fulfillmentID))
            let csrf = try #require(queue.hidden("csrf"))
            let steps: [(String, Waybill_V1_FulfillmentStatus)] = [("release-fulfillment", .released), ("pick", .picked), ("pack", .packed),
                                                                   ("hand-over", .shipped), ("collected", .delivered)]
            for step in steps {
                try await confirm(step.0, csrf: csrf, order: order.orderID, fulfillment: fulfillment.fulfillmentID, browser: browser)
                let now = try await harness.order(order.orderID).fulfillments.first { $0.fulfillmentID == fulfillment.fulfillmentID }
                #expect(now?.status == step.1, "after \(step.0)")
            }
            let after = try await browser.get("/queues")
            #expect(!after.body.contains("value=\"\(fulfillment.fulfillmentID)\""), "collected: no longer waiting")
        }
    }

    private func confirm(_ action: String, csrf: String, order: String, fulfillment: String, browser: Browser) async throws {
        let requestID = try await browser.get("/queues").hidden("request_id") ?? ""
        let page = try await browser.post("/queues/\(action)", form: [("csrf", csrf), ("request_id", requestID), ("order", order),
                                                                      ("fulfillment", fulfillment), ("location", "STORE-NYC")])
        #expect(page.status == 200, "\(action): \(page.body)")
    }

    @Test("a store may not open another location's queue")
    func otherStoreQueue() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["nyc"]!)
            let page = try await browser.get("/queues?location=DC-RENO")
            #expect(page.status == 403)
        }
    }

    @Test("inventory per location and channel, with movements; integration shows the feed head")
    func inventoryAndIntegration() async throws {
        try await ConsoleHarness.with { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let sku = harness.orders["web"]!.lines[0].sku
            let inventory = try await browser.get("/inventory?sku=\(sku)")
            #expect(inventory.status == 200)
            #expect(inventory.body.contains("DC-NEWARK"))
            #expect(inventory.body.contains("Recent movements"))
            let integration = try await browser.get("/integration")
            #expect(integration.status == 200)
            #expect(integration.body.contains("id=\"feed-head\""))
            let live = try await browser.get("/live.json")
            #expect(live.status == 200)
            #expect(live.body.contains("\"writer_queue_depth\""))
        }
    }
}
