// The console's order search (SearchOrders), location queue pages (ListLocationQueue) and dead-letter
// replay (RequestDeadLetterReplay), over real HTTP against a real server. The bridge's side of a
// replay is played by calls as an erp credential: what the console must get right is what it shows
// and what it records, checked through the protocol.

import Foundation
import Testing
import WaybillApplication
import WaybillConsole
import WaybillProto
import WaybillWire

@Suite("Operator console: search, queues, dead letters", .serialized)
struct ConsoleSearchQueueReplayTests {
    static let bridge = Caller(credentialID: "erp", name: "erp", role: .erp)

    @Test("search by email, phone, name or SKU answers that customer's orders only; a channel user finds nothing of another channel")
    func searchByCustomer() async throws {
        try await ConsoleHarness.with { harness in
            let admin = harness.browser()
            _ = try await admin.signIn(harness.tokens["admin"]!)
            let web = harness.orders["web"]!
            let byEmail = try await admin.get("/orders?email=" + web.customer.email.uppercased())
            #expect(byEmail.status == 200)
            let found = Set(harness.orders.values.map(\.orderID).filter { byEmail.body.contains(">\($0)</a>") })
            let expected = Set(harness.orders.values.filter { $0.customer.email.lowercased() == web.customer.email.lowercased() }.map(\.orderID))
            #expect(found == expected && found.contains(web.orderID), "\(found) vs \(expected)")
            let word = try #require(web.customer.name.split(separator: " ").last.map(String.init))
            let byName = try await admin.get("/orders?name=" + word.lowercased())
            #expect(byName.body.contains(">\(web.orderID)</a>"))
            let sku = try #require(web.lines.first?.sku)
            let bySKU = try await admin.get("/orders.csv?sku=" + sku)
            let rows = bySKU.body.split(separator: "\r\n").dropFirst()
            let withSKU = harness.orders.values.filter { $0.lines.contains { $0.sku == sku } }
            #expect(rows.count == withSKU.count && withSKU.allSatisfy { order in rows.contains { $0.hasPrefix(order.orderID + ",") } })
            let nobody = try await admin.get("/orders?email=nobody%40example.com")
            #expect(nobody.body.contains("id=\"result-count\">0<"))

            let pos = harness.browser()
            _ = try await pos.signIn(harness.tokens["pos"]!)
            let hidden = try await pos.get("/orders?email=" + web.customer.email)
            #expect(hidden.status == 200 && !hidden.body.contains(web.orderID))
            let byID = try await pos.get("/orders?q=" + web.orderID)
            #expect(!byID.body.contains(">\(web.orderID)</a>"))
        }
    }

    @Test("consoleCSVSearchCallsMax: an export stops after that many SearchOrders calls and its last line says so; under it, every order")
    func csvSearchCallsLimit() async throws {
        // One candidate per SearchOrders call: an export of every order needs one call per order.
        let everyOrder = "/orders.csv"  // no filter: every order, newest first
        try await ConsoleHarness.with({ $0.csvSearchCallsMax = 2 }, server: { $0.transport.searchCandidatesScannedMax = 1 }) { harness in
            try #require(harness.orders.count > 2)
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let lines = try await browser.get(everyOrder).body.split(separator: "\r\n")
            #expect(lines.count <= 1 + 2 + 1, "the header, what two calls found, the note")
            #expect(lines.last == "# cut at consoleCSVSearchCallsMax = 2 searches; narrow the search for the rest")
        }
        try await ConsoleHarness.with({ $0.csvSearchCallsMax = 100 }, server: { $0.transport.searchCandidatesScannedMax = 1 }) { harness in
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let lines = try await browser.get(everyOrder).body.split(separator: "\r\n")
            #expect(!lines.contains { $0.hasPrefix("# cut") })
            #expect(Set(lines.dropFirst().map { String($0.prefix { $0 != "," }) }) == Set(harness.orders.values.map(\.orderID)))
        }
    }

    @Test("a queue longer than a page: the next page goes on oldest first, without repeats; the CSV holds every entry")
    func queuePages() async throws {
        try await ConsoleHarness.with({ $0.pageSize = 1 }) { harness in
            // A location where the seeded orders left at least two open fulfillments.
            var byLocation: [String: [String]] = [:]
            for order in harness.orders.values {
                for fulfillment in order.fulfillments { byLocation[fulfillment.locationID, default: []].append(fulfillment.fulfillmentID) }
            }
            let (location, fulfillments) = try #require(byLocation.max { $0.value.count < $1.value.count })
            try #require(fulfillments.count >= 2, "the example orders leave two fulfillments at one location")
            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            var seen: [String] = []
            var path = "/queues?location=" + location
            for _ in 0..<(fulfillments.count + 1) {
                let page = try await browser.get(path)
                #expect(page.status == 200)
                seen += fulfillments.filter { page.body.contains("<td>\($0)</td>") }
                guard let range = page.body.range(of: "rel=\"next\"") else { break }
                let link = page.body[..<range.lowerBound]
                let href = try #require(link.range(of: "href=\"", options: .backwards))
                path = String(link[href.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
            }
            #expect(seen.count == fulfillments.count && Set(seen) == Set(fulfillments), "\(seen) vs \(fulfillments)")
            let csv = try await browser.get("/queues.csv?location=" + location)
            #expect(csv.body.split(separator: "\r\n").count == 1 + fulfillments.count)
        }
    }

    @Test("dead letters a bridge reports are listed with their reason; Replay records one request the bridge receives, once; its outcome is shown")
    func replayDeadLetters() async throws {
        try await ConsoleHarness.with { harness in
            let order = harness.orders["marketplace"]!.orderID
            var report = Waybill_V1_BridgeStatus()
            report.consumer = "erp"
            report.target = "webhook http://erp.test/"
            report.deadLettersWaiting = 1
            report.deadLetters = [.with {
                $0.eventID = "evt-3"
                $0.offset = 3
                $0.eventType = "order.captured"
                $0.aggregateType = "order"
                $0.aggregateID = order
                $0.orderID = order
                $0.kind = .refused
                $0.reason = "HTTP 422 unknown customer account"
                $0.attempts = 1
            }]
            let _: Waybill_V1_BridgeStatus = try await harness.server.callInProcess(Method.ErpService.reportBridgeStatus, report, as: Self.bridge)

            let browser = harness.browser()
            _ = try await browser.signIn(harness.tokens["admin"]!)
            let page = try await browser.get("/integration")
            #expect(page.body.contains("HTTP 422 unknown customer account") && page.body.contains("href=\"/orders/\(order)\""))
            let csrf = try #require(page.hidden("csrf"))
            let requestID = try #require(page.hidden("request_id"))
            let form = [("csrf", csrf), ("request_id", requestID), ("consumer", "erp"), ("events[]", "evt-3"), ("selected", "1")]
            let requested = try await browser.post("/integration/replay", form: form)
            #expect(requested.status == 200 && requested.body.contains("requested (\(requestID))"), "\(requested.body)")
            let again = try await browser.post("/integration/replay", form: form)
            #expect(again.body.contains("already requested"))
            #expect(requested.body.contains("pending"))

            // The bridge's next report is answered with the one pending request.
            let answer: Waybill_V1_BridgeStatus = try await harness.server.callInProcess(Method.ErpService.reportBridgeStatus, report, as: Self.bridge)
            #expect(answer.replayRequests.map(\.requestID) == [requestID] && answer.replayRequests.first?.eventIds == ["evt-3"])
            #expect(answer.replayRequests.first?.requestedBy == "ops-admin")

            report.deadLetters = []
            report.deadLettersWaiting = 0
            report.replayResults = [.with { $0.requestID = requestID; $0.replayed = ["evt-3"]; $0.replayedCount = 1 }]
            let _: Waybill_V1_BridgeStatus = try await harness.server.callInProcess(Method.ErpService.reportBridgeStatus, report, as: Self.bridge)
            let after = try await browser.get("/integration")
            #expect(after.body.contains("1 replayed, 0 still failing, 0 unknown") && after.body.contains("Dead letters waiting: <strong>0</strong>"))

            let nothing = try await browser.post("/integration/replay", form: [("csrf", csrf), ("request_id", requestID + "-2"), ("consumer", "erp")])
            #expect(nothing.status == 400 && nothing.body.contains("Select at least one dead letter"))
        }
    }

    @Test("a channel or store user cannot replay dead letters: the protocol refuses it and nothing is recorded")
    func replayNeedsRole() async throws {
        try await ConsoleHarness.with { harness in
            var report = Waybill_V1_BridgeStatus()
            report.consumer = "erp"
            report.deadLettersWaiting = 1
            report.deadLetters = [.with { $0.eventID = "evt-3"; $0.kind = .refused; $0.reason = "HTTP 422" }]
            let _: Waybill_V1_BridgeStatus = try await harness.server.callInProcess(Method.ErpService.reportBridgeStatus, report, as: Self.bridge)
            let store = harness.browser()
            _ = try await store.signIn(harness.tokens["nyc"]!)
            let csrf = try #require(try await store.get("/queues").hidden("csrf"))
            let refused = try await store.post("/integration/replay",
                                               form: [("csrf", csrf), ("request_id", "r-store"), ("consumer", "erp"), ("all", "1")])
            #expect(refused.status == 403)
            let status: Waybill_V1_BridgeStatusList = try await harness.server.callInProcess(
                Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest(), as: .system)
            #expect(status.bridges.map(\.consumer) == ["erp"] && status.bridges[0].replayRequests.isEmpty)
        }
    }
}
