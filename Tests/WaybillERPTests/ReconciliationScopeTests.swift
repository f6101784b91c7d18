// Reconciliation scoped to what the extract covers, extracts larger than one frame sent through a
// session, exact counts with a capped listing, repairs in bounded writer jobs, replays that report
// the first run's figures, the session limits, and the `waybill reconcile` exit status.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Reconciliation scope and sessions", .serialized)
struct ReconciliationScopeTests {
    func count(_ report: Waybill_V1_ReconcileReport, _ kind: Waybill_V1_DiscrepancyKind) -> Int32 {
        report.counts.first { $0.kind == kind }?.count ?? -1
    }

    func oneShot(_ client: WaybillClient, _ extract: Waybill_V1_ErpExtract, scope: Waybill_V1_ReconcileScope = .init(),
                 repair: String? = nil) async throws -> Waybill_V1_ReconcileReport {
        var request = Waybill_V1_ReconcileRequest()
        request.extract = extract
        request.scope = scope
        if let repair {
            request.repair = true
            request.requestID = repair
        }
        return try await client.call(Method.ErpService.reconcile, request)
    }

    /// The ERP's count of every position Waybill has at `location` (in step), one changed by `skew`.
    func stockExtract(_ client: WaybillClient, asOf: Int64, location: String, skewed: String? = nil, skew: Int64 = 0) async throws -> Waybill_V1_ErpExtract {
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = asOf
        for sku in TestNetwork.skus {
            var record = Waybill_V1_ErpStockRecord()
            record.sku = sku
            record.locationID = location
            record.onHand = try await client.position(sku, location).onHand + (sku == skewed ? skew : 0)
            extract.stock.append(record)
        }
        return extract
    }

    func ghost(_ number: Int) -> Waybill_V1_ErpOrderRecord {
        var record = Waybill_V1_ErpOrderRecord()
        record.orderID = "W-9\(String(format: "%07d", number))"
        record.erpDocumentNumber = "DOC-GHOST-\(number)"
        record.status = "shipped"
        var line = Waybill_V1_ErpOrderLine()
        line.sku = "SKU-1"
        line.quantity = 1
        record.lines = [line]
        return record
    }

    @Test("a stock-only extract compares stock only: no order is missing in the ERP, and its repair re-emits none")
    func stockOnlyExtract() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-stock-only", clock: clock)
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        var ids: [String] = []
        for number in 0..<3 { ids.append(try await client.captureOrder(TestNetwork.order("STOCK-ONLY-\(number)", [("SKU-1", 1)])).order.orderID) }
        clock.advance(1_000)

        let clean = try await oneShot(client, try await stockExtract(client, asOf: clock.milliseconds, location: "WH-1"))
        #expect(clean.discrepanciesTotal == 0, "\(clean.discrepancies)")
        #expect(clean.ordersCompared == 0)
        #expect(clean.stockPositionsCompared == 3)
        #expect(clean.scope.orders == .skip)
        #expect(clean.scope.stock == .compare)

        let skewed = try await stockExtract(client, asOf: clock.milliseconds, location: "WH-1", skewed: "SKU-2", skew: -3)
        let repaired = try await oneShot(client, skewed, repair: "stock-only-1")
        #expect(repaired.discrepanciesTotal == 1)
        #expect(count(repaired, .missingInErp) == 0)
        #expect(repaired.repaired == 1)
        for id in ids {
            let history = try await client.orderHistory(id)
            #expect(!history.entries.contains { $0.action == "resynced" }, "order \(id) was re-emitted by a stock-only repair")
        }

        // Asked explicitly, the same extract does compare orders: all three are missing from it.
        var scope = Waybill_V1_ReconcileScope()
        scope.orders = .compare
        let withOrders = try await oneShot(client, skewed, scope: scope)
        #expect(count(withOrders, .missingInErp) == 3)
        #expect(withOrders.scope.orders == .compare)
    }

    @Test("location, channel and time range narrow the orders compared; ERP records of orders outside are ignored")
    func scopeFilters() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-scope", clock: clock)
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        let early = try await client.captureOrder(TestNetwork.order("SCOPE-EARLY", [("SKU-1", 1)])).order
        clock.advance(60_000)
        let middle = clock.milliseconds
        var mobile = TestNetwork.order("SCOPE-MOBILE", [("SKU-2", 1)])
        mobile.channel = .mobileApp
        let late = try await client.captureOrder(mobile).order
        clock.advance(1_000)

        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = clock.milliseconds
        // An ERP record of the early order, with a wrong status: outside a scope from `middle`, it is not compared.
        var record = Waybill_V1_ErpOrderRecord()
        record.orderID = early.orderID
        record.erpDocumentNumber = "DOC-EARLY"
        record.status = "cancelled"
        var line = Waybill_V1_ErpOrderLine()
        line.sku = "SKU-1"
        line.quantity = 1
        record.lines = [line]
        extract.orders = [record]

        var all = Waybill_V1_ReconcileScope()
        all.orders = .compare
        let everything = try await oneShot(client, extract, scope: all)
        #expect(count(everything, .statusMismatch) == 1)
        #expect(count(everything, .missingInErp) == 1)

        var fromMiddle = all
        fromMiddle.fromUnixMs = middle
        let recent = try await oneShot(client, extract, scope: fromMiddle)
        #expect(recent.discrepancies.map(\.orderID) == [late.orderID])
        #expect(count(recent, .statusMismatch) == 0)

        var untilMiddle = all
        untilMiddle.toUnixMs = middle
        let older = try await oneShot(client, extract, scope: untilMiddle)
        #expect(older.discrepancies.map(\.kind) == [.statusMismatch])

        var web = all
        web.channels = [.web]
        #expect(try await oneShot(client, extract, scope: web).discrepancies.map(\.orderID) == [early.orderID])

        let earlyLocation = try #require(early.fulfillments.first?.locationID)
        var atLocation = all
        atLocation.locationIds = [earlyLocation]
        let located = try await oneShot(client, extract, scope: atLocation)
        #expect(located.discrepancies.contains { $0.orderID == early.orderID })
        atLocation.locationIds = ["WH-NOWHERE"]
        #expect(try await oneShot(client, extract, scope: atLocation).discrepanciesTotal == 0)

        var backwards = all
        backwards.fromUnixMs = middle
        backwards.toUnixMs = middle - 1
        await #expect(throws: WaybillStatusError.self) { _ = try await oneShot(client, extract, scope: backwards) }
    }

    @Test("an extract larger than one frame reconciles through a session; counts are exact and the listing is capped")
    func chunkedExtract() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-chunks", clock: clock) { configuration in
            configuration.transport.frameBytesMax = 16 * 1024
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        let captured = try await client.captureOrder(TestNetwork.order("CHUNK-1", [("SKU-1", 1)])).order
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = clock.milliseconds
        extract.orders = (0..<1_500).map(ghost)
        #expect((try extract.serializedBytes() as [UInt8]).count > 16 * 1024 * 4)

        await #expect(throws: (any Error).self) { _ = try await oneShot(client, extract) }

        let again = try await server.client("erp-tests-chunks")
        defer { Task { await again.close() } }
        let session = try await again.uploadReconciliation(scope: .init(), asOfUnixMs: extract.asOfUnixMs, includeOrdersAfterAsOf: false,
                                                           orders: extract.orders, stock: [], chunkRecords: 100)
        let report = try await again.finishReconciliation(session: session, discrepanciesMax: 10)
        #expect(count(report, .missingInWaybill) == 1_500)
        #expect(count(report, .missingInErp) == 1)
        #expect(report.discrepanciesTotal == 1_501)
        #expect(report.discrepancies.count == 10)
        #expect(report.discrepanciesTruncated)
        // The first in report order: the missing order comes before records only the ERP has.
        #expect(report.discrepancies.first?.orderID == captured.orderID)
        await #expect(throws: WaybillStatusError.self) { _ = try await again.finishReconciliation(session: session) }
    }

    @Test("a replay of a repair reports the first run's figures; repaired counts this request's repairs")
    func replayReportsSameNumbers() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-replay", clock: clock)
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        for number in 0..<2 { _ = try await client.captureOrder(TestNetwork.order("REPLAY-\(number)", [("SKU-1", 1)])) }
        clock.advance(1_000)
        let extract = try await stockExtract(client, asOf: clock.milliseconds, location: "WH-2", skewed: "SKU-3", skew: 5)
        var scope = Waybill_V1_ReconcileScope()
        scope.orders = .compare
        clock.advance(1_000)
        let first = try await oneShot(client, extract, scope: scope, repair: "replay-1")
        #expect(first.discrepanciesTotal == 3)
        #expect(first.repaired == 3)
        #expect(!first.replayed)
        let head = try await client.feedInfo().headOffset

        let replay = try await oneShot(client, extract, scope: scope, repair: "replay-1")
        #expect(replay.replayed)
        #expect(replay.discrepanciesTotal == first.discrepanciesTotal)
        #expect(replay.counts == first.counts)
        #expect(replay.repaired == first.repaired)
        #expect(try await client.feedInfo().headOffset == head, "a replay repairs nothing")

        // A fresh comparison sees the stock repaired (the orders are still absent from this extract).
        let fresh = try await oneShot(client, extract, scope: scope)
        #expect(fresh.discrepanciesTotal == 2)
        #expect(count(fresh, .quantityMismatch) == 0)
    }

    @Test("repairs go through the writer in slices of repairsPerWriterJobMax; every one is done")
    func repairsInSlices() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-slices", clock: clock) { configuration in
            configuration.reconciliation.repairsPerWriterJobMax = 2
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        var ids: [String] = []
        for number in 0..<5 { ids.append(try await client.captureOrder(TestNetwork.order("SLICE-\(number)", [("SKU-2", 1)])).order.orderID) }
        clock.advance(1_000)
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = clock.milliseconds
        extract.orders = [ghost(1), ghost(2), ghost(3)]
        let report = try await client.reconcile(extract: extract, repair: true, requestID: "slices-1")
        #expect(count(report, .missingInErp) == 5)
        #expect(count(report, .missingInWaybill) == 3)
        #expect(report.repaired == 8)
        #expect(report.discrepancies.allSatisfy { $0.repaired })
        for id in ids {
            #expect(try await client.orderHistory(id).entries.contains { $0.action == "resynced" })
        }
    }

    @Test("session limits: sessionsMax, chunkRecordsMax, unknown or finished sessions, keep_open")
    func sessionLimits() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-limits", clock: clock) { configuration in
            configuration.reconciliation.sessionsMax = 2
            configuration.reconciliation.chunkRecordsMax = 3
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 5))
        let begin = Waybill_V1_BeginReconciliationRequest()
        let first: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation, begin)
        #expect(first.chunkRecordsMax == 3)
        let second: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation, begin)
        do {
            let _: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation, begin)
            Issue.record("a third session opened past sessionsMax = 2")
        } catch let error as WaybillStatusError {
            #expect(error.code == .resourceExhausted)
            #expect(error.details.limitName == "sessionsMax")
        }

        var chunk = Waybill_V1_ExtractChunk()
        chunk.sessionID = first.sessionID
        chunk.orders = (0..<4).map(ghost)
        do {
            let _: Waybill_V1_ExtractChunkResult = try await client.call(Method.ErpService.addExtractChunk, chunk)
            Issue.record("a chunk of 4 records passed chunkRecordsMax = 3")
        } catch let error as WaybillStatusError {
            #expect(error.code == .invalidArgument)
            #expect(error.details.limitName == "chunkRecordsMax")
        }
        chunk.orders = (0..<3).map(ghost)
        let received: Waybill_V1_ExtractChunkResult = try await client.call(Method.ErpService.addExtractChunk, chunk)
        #expect(received.ordersReceived == 3)

        // keep_open: the same session finishes twice with the same answer, then closes.
        let kept = try await client.finishReconciliation(session: first.sessionID, keepOpen: true)
        #expect(count(kept, .missingInWaybill) == 3)
        let closing = try await client.finishReconciliation(session: first.sessionID)
        #expect(closing.counts == kept.counts)
        do {
            _ = try await client.finishReconciliation(session: first.sessionID)
            Issue.record("a finished session answered")
        } catch let error as WaybillStatusError {
            #expect(error.code == .notFound)
        }
        // A slot is free again.
        let third: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation, begin)
        _ = try await client.finishReconciliation(session: third.sessionID)
        _ = try await client.finishReconciliation(session: second.sessionID)
    }

    @Test("a session past erpOnlyRecordsPerSessionMax records only the ERP has is dropped, with the limit named")
    func erpOnlyRecordsLimit() async throws {
        let server = try await InProcessServer.start("reconcile-erp-only", clock: ManualClock()) { configuration in
            configuration.reconciliation.erpOnlyRecordsPerSessionMax = 5
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 5))
        let session: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation,
                                                                              Waybill_V1_BeginReconciliationRequest())
        var chunk = Waybill_V1_ExtractChunk()
        chunk.sessionID = session.sessionID
        chunk.orders = (0..<5).map(ghost)
        let _: Waybill_V1_ExtractChunkResult = try await client.call(Method.ErpService.addExtractChunk, chunk)
        chunk.orders = [ghost(6)]
        do {
            let _: Waybill_V1_ExtractChunkResult = try await client.call(Method.ErpService.addExtractChunk, chunk)
            Issue.record("a sixth record only the ERP has passed erpOnlyRecordsPerSessionMax = 5")
        } catch let error as WaybillStatusError {
            #expect(error.details.limitName == "erpOnlyRecordsPerSessionMax")
        }
        await #expect(throws: WaybillStatusError.self) { _ = try await client.finishReconciliation(session: session.sessionID) }
    }

    @Test("stockPositionsPerSessionMax, discrepanciesListedMax and the idle timeout are enforced, each named")
    func moreSessionLimits() async throws {
        let server = try await InProcessServer.start("reconcile-more-limits", clock: ManualClock()) { configuration in
            configuration.reconciliation.stockPositionsPerSessionMax = 2
            configuration.reconciliation.discrepanciesListedMax = 50
            configuration.reconciliation.sessionsMax = 1
            configuration.reconciliation.sessionIdleTimeoutMilliseconds = 50
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 5))
        let session: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation,
                                                                              Waybill_V1_BeginReconciliationRequest())
        var chunk = Waybill_V1_ExtractChunk()
        chunk.sessionID = session.sessionID
        chunk.stock = TestNetwork.skus.map { sku in
            var record = Waybill_V1_ErpStockRecord()
            record.sku = sku
            record.locationID = "WH-1"
            record.onHand = 5
            return record
        }
        do {
            let _: Waybill_V1_ExtractChunkResult = try await client.call(Method.ErpService.addExtractChunk, chunk)
            Issue.record("3 stock positions passed stockPositionsPerSessionMax = 2")
        } catch let error as WaybillStatusError {
            #expect(error.details.limitName == "stockPositionsPerSessionMax")
        }
        do {
            _ = try await client.finishReconciliation(session: session.sessionID, discrepanciesMax: 51, keepOpen: true)
            Issue.record("discrepancies_max 51 passed discrepanciesListedMax = 50")
        } catch let error as WaybillStatusError {
            #expect(error.details.limitName == "discrepanciesListedMax")
        }
        // Idle past sessionIdleTimeoutMilliseconds, the session gives its slot (sessionsMax = 1) to a new one.
        try await Task.sleep(for: .milliseconds(200))
        let next: Waybill_V1_ReconciliationSession = try await client.call(Method.ErpService.beginReconciliation,
                                                                           Waybill_V1_BeginReconciliationRequest())
        await #expect(throws: WaybillStatusError.self) { _ = try await client.finishReconciliation(session: session.sessionID) }
        _ = try await client.finishReconciliation(session: next.sessionID)
    }

    @Test("a later record carrying Waybill's document number is the one kept, across chunks")
    func duplicateAcrossChunks() throws {
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = "DUP-1"
        draft.lines = [DraftLine(lineID: "1", sku: SKU("SKU-A"), quantity: 2, unitPrice: Money(minorUnits: 100, currency: "EUR"))]
        var order = Order(id: OrderID("W-00000001"), draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: 1), captureSequence: 1)
        order.erp.documentNumber = "DOC-KNOWN"
        let status = order.status.description.lowercased()
        var tally = ReconciliationTally(scope: ReconcileScope(), asOf: Timestamp(millisecondsSinceEpoch: 10), includeOrdersAfterAsOf: false,
                                        discrepanciesListedMax: 100)
        let waybill = [order.orderID: (sequence: Int64(1), order: order)]
        tally.add(orders: [ErpOrderRecord(orderID: order.orderID, documentNumber: "DOC-STRAY", status: "shipped", lines: [SKU("SKU-A"): 2])],
                  waybill: waybill)
        tally.add(orders: [ErpOrderRecord(orderID: order.orderID, documentNumber: "DOC-KNOWN", status: status, lines: [SKU("SKU-A"): 2])],
                  waybill: waybill)
        var finish = tally.finishing()
        #expect(finish.visit(sequence: 1, order: order) == false)
        let result = finish.result()
        #expect(result.discrepancies.map(\.kind) == [.duplicate], "\(result.discrepancies)")
        #expect(result.discrepancies.first?.documentNumber == "DOC-STRAY")
        #expect(result.count(.statusMismatch) == 0)
        #expect(tally.erpRecordRepairs == [ErpRecordRepair(kind: .duplicate, orderID: order.orderID, documentNumber: "DOC-STRAY")])
        #expect(tally.mismatchedSequences().isEmpty)
    }

    @Test("waybill reconcile: exit 0 in step, 1 with discrepancies (printed count = JSON), 2 for a refused mass repair or an error")
    func commandExitStatus() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-cli", clock: clock)
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        _ = try await client.captureOrder(TestNetwork.order("CLI-1", [("SKU-1", 1)]))
        clock.advance(1_000)
        let directory = try temporaryDirectory("reconcile-cli-files")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ extract: Waybill_V1_ErpExtract, _ name: String) throws -> String {
            let path = directory + "/" + name
            try extract.jsonUTF8Data().write(to: URL(fileURLWithPath: path))
            return path
        }
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let child = try Child("reconcile", arguments: ["reconcile", "--server", server.address, "--token-file", try TestCredentials.tokenFile(in: directory)]
                                  + arguments, log: directory + "/log-\(UUID().uuidString)")
            return (await child.finish(), child.output)
        }

        let inStep = try write(try await stockExtract(client, asOf: clock.milliseconds, location: "WH-1"), "in-step.json")
        #expect(try await run(["--erp-extract", inStep]).status == 0)

        let skewed = try write(try await stockExtract(client, asOf: clock.milliseconds, location: "WH-1", skewed: "SKU-1", skew: 2), "skewed.json")
        let printed = try await run(["--erp-extract", skewed])
        #expect(printed.status == 1)
        #expect(printed.output.contains("1 discrepancy."), "\(printed.output)")
        let json = try await run(["--erp-extract", skewed, "--json"])
        #expect(json.status == 1)
        let report = try Waybill_V1_ReconcileReport(jsonString: String(json.output.drop { $0 != "{" }))
        #expect(report.discrepanciesTotal == 1)

        var many = Waybill_V1_ErpExtract()
        many.asOfUnixMs = clock.milliseconds
        many.orders = (0..<101).map(ghost)
        let mass = try write(many, "mass.json")
        let head = try await client.feedInfo().headOffset
        let refused = try await run(["--erp-extract", mass, "--repair", "--request-id", "cli-mass-1"])
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.output.contains("--yes"))
        #expect(try await client.feedInfo().headOffset == head, "a refused repair changes nothing")
        let confirmed = try await run(["--erp-extract", mass, "--repair", "--yes", "--request-id", "cli-mass-1"])
        #expect(confirmed.status == 1, "\(confirmed.output)")
        #expect(confirmed.output.contains("Repaired: 102 of 102"), "\(confirmed.output)")

        #expect(try await run(["--erp-extract", directory + "/absent.json"]).status == 2)
    }
}
