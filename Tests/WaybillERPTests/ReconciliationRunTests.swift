// Recorded reconciliation runs over the real socket: the one-shot Reconcile and a session's
// FinishReconciliation each record a run (who, when, scope, repair, counts, the first
// discrepancies), ListReconciliationRuns pages them newest first, GetReconciliationRun answers one
// with its discrepancies or NOT_FOUND naming the id, a channel credential may do neither, and what
// the caller of a reconciliation receives is what it would receive without the record.

import Foundation
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Reconciliation runs recorded and read", .serialized)
struct ReconciliationRunTests {
    static let channelToken = AccessToken.make(from: Array(repeating: 0xC4, count: AccessToken.randomBytes))

    func count(_ counts: [Waybill_V1_DiscrepancyCount], _ kind: Waybill_V1_DiscrepancyKind) -> Int32 {
        counts.first { $0.kind == kind }?.count ?? -1
    }

    /// An ERP order record of an order Waybill does not have (missing in Waybill).
    func ghost(_ number: Int) -> Waybill_V1_ErpOrderRecord {
        .with {
            $0.orderID = "W-8\(String(format: "%07d", number))"
            $0.erpDocumentNumber = "DOC-GHOST-\(number)"
            $0.status = "captured"
            $0.lines = [.with { $0.sku = "SKU-1"; $0.quantity = 1 }]
        }
    }

    func list(_ client: WaybillClient, pageSize: Int32 = 0, token: String = "") async throws -> Waybill_V1_ReconciliationRunList {
        try await client.call(Method.ErpService.listReconciliationRuns, Waybill_V1_ListReconciliationRunsRequest.with {
            $0.pageSize = pageSize
            $0.pageToken = token
        })
    }

    func get(_ client: WaybillClient, _ id: String) async throws -> Waybill_V1_ReconciliationRun {
        try await client.call(Method.ErpService.getReconciliationRun, Waybill_V1_GetReconciliationRunRequest.with { $0.runID = id })
    }

    @Test("Reconcile and a session each record a run with the right counts and caller; newest first in pages; Get answers the kept discrepancies; NOT_FOUND names the id; a channel credential is refused; the caller's report is unchanged")
    func runsRecordedAndRead() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconciliation-runs", clock: clock) { configuration in
            configuration.credentials.append(CredentialSeed(name: "web-shop", role: .channel, channels: ["web"], token: Self.channelToken))
            configuration.transport.reconciliationRunDiscrepanciesKeptMax = 2
        }
        let admin = try await server.client()
        var erpConfiguration = TestCredentials.erpConnection
        erpConfiguration.clientID = "erp-runs"
        let erp = try await WaybillClient.connect(host: "127.0.0.1", port: server.server.port, configuration: erpConfiguration)
        let channel = try await TestCredentials.connect(server.address, token: Self.channelToken)
        defer { Task { await admin.close(); await erp.close(); await channel.close(); await server.stop() } }
        _ = try await admin.loadNetwork(TestNetwork.model(stock: 20))
        clock.advance(1_000)
        for number in 0..<3 { _ = try await admin.captureOrder(TestNetwork.order("RUNS-\(number)", [("SKU-1", 1)])) }
        clock.advance(1_000)

        // One-shot, dry run, as the erp credential: 3 Waybill orders missing in the ERP, 2 ERP records missing in Waybill.
        var request = Waybill_V1_ReconcileRequest()
        request.extract.asOfUnixMs = clock.milliseconds
        request.extract.orders = [ghost(1), ghost(2)]
        request.discrepanciesMax = 4
        let startedOneShot = clock.milliseconds
        let report: Waybill_V1_ReconcileReport = try await erp.call(Method.ErpService.reconcile, request)
        #expect(report.discrepanciesTotal == 5 && report.discrepancies.count == 4 && report.discrepanciesTruncated)
        #expect(count(report.counts, .missingInErp) == 3 && count(report.counts, .missingInWaybill) == 2)
        // The same request again: the same report (the record adds nothing to what the caller receives).
        let again: Waybill_V1_ReconcileReport = try await erp.call(Method.ErpService.reconcile, request)
        #expect(again == report)

        let afterOneShot = try await list(admin)
        #expect(afterOneShot.runs.count == 2 && afterOneShot.nextPageToken.isEmpty)
        let oneShot = try #require(afterOneShot.runs.last)
        #expect(oneShot.method == "Reconcile" && oneShot.runBy == "erp-bridge")
        #expect(oneShot.startedAtUnixMs == startedOneShot && oneShot.finishedAtUnixMs == startedOneShot)
        #expect(!oneShot.repair && oneShot.requestID.isEmpty && !oneShot.replayed)
        #expect(oneShot.ordersCompared == report.ordersCompared && oneShot.stockPositionsCompared == report.stockPositionsCompared)
        #expect(oneShot.counts == report.counts && oneShot.discrepanciesTotal == 5)
        #expect(oneShot.scope == report.scope && oneShot.scope.orders == .compare && oneShot.scope.stock == .skip)
        #expect(oneShot.discrepancies.isEmpty, "a listing carries no discrepancies")
        #expect(oneShot.discrepanciesDropped == 3)

        // Get: the first two discrepancies in report order (reconciliationRunDiscrepanciesKeptMax = 2), 3 dropped.
        let recorded = try await get(erp, oneShot.runID)
        #expect(recorded.discrepancies == Array(report.discrepancies.prefix(2)))
        #expect(recorded.discrepanciesDropped == 3 && recorded.discrepanciesTotal == 5)

        // A session, with repair, as the admin: begun, one chunk, finished later.
        clock.advance(1_000)
        let startedSession = clock.milliseconds
        let session: Waybill_V1_ReconciliationSession = try await admin.call(
            Method.ErpService.beginReconciliation, Waybill_V1_BeginReconciliationRequest.with { $0.asOfUnixMs = clock.milliseconds })
        let _: Waybill_V1_ExtractChunkResult = try await admin.call(Method.ErpService.addExtractChunk, Waybill_V1_ExtractChunk.with {
            $0.sessionID = session.sessionID
            $0.orders = [ghost(3)]
        })
        clock.advance(5_000)
        let repaired: Waybill_V1_ReconcileReport = try await admin.call(Method.ErpService.finishReconciliation, Waybill_V1_FinishReconciliationRequest.with {
            $0.sessionID = session.sessionID
            $0.repair = true
            $0.requestID = "runs-repair-1"
        })
        #expect(repaired.discrepanciesTotal == 4 && repaired.repaired == 4)

        // Newest first, one per page.
        let first = try await list(admin, pageSize: 1)
        let sessionRun = try #require(first.runs.first)
        #expect(first.runs.count == 1 && !first.nextPageToken.isEmpty)
        #expect(sessionRun.method == "FinishReconciliation" && sessionRun.runBy == "erp-tests-admin")
        #expect(sessionRun.startedAtUnixMs == startedSession && sessionRun.finishedAtUnixMs == startedSession + 5_000)
        #expect(sessionRun.repair && sessionRun.requestID == "runs-repair-1" && sessionRun.repaired == 4)
        #expect(count(sessionRun.counts, .missingInErp) == 3 && count(sessionRun.counts, .missingInWaybill) == 1)
        let second = try await list(admin, pageSize: 1, token: first.nextPageToken)
        let third = try await list(admin, pageSize: 1, token: second.nextPageToken)
        #expect(third.nextPageToken.isEmpty && third.runs.map(\.runID) == [oneShot.runID])
        let ids = [sessionRun.runID] + second.runs.map(\.runID) + third.runs.map(\.runID)
        #expect(ids == [sessionRun.runID] + afterOneShot.runs.map(\.runID))
        #expect(Set(ids).count == 3)
        let fromSession = try await get(admin, sessionRun.runID)
        #expect(fromSession.discrepancies.count == 2 && fromSession.discrepancies.allSatisfy(\.repaired))

        // Unknown id: NOT_FOUND naming it. A token not from an answer: INVALID_ARGUMENT.
        await expectRefusal(.notFound, mentioning: "run-09999999") { _ = try await get(admin, "run-09999999") }
        await expectRefusal(.invalidArgument, mentioning: "page_token") { _ = try await list(admin, token: "after:1") }
        // A channel credential may neither list nor read runs.
        await expectRefusal(.permissionDenied, mentioning: "web-shop") { _ = try await list(channel) }
        await expectRefusal(.permissionDenied, mentioning: "web-shop") { _ = try await get(channel, oneShot.runID) }
    }

    @Test("past reconciliationRunsKeptMax the oldest run goes; a replayed repair is recorded as replayed")
    func keptMaxAndReplay() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconciliation-runs-kept", clock: clock) { configuration in
            configuration.transport.reconciliationRunsKeptMax = 2
        }
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 20))
        var request = Waybill_V1_ReconcileRequest()
        request.extract.orders = [ghost(1)]
        request.repair = true
        request.requestID = "kept-1"
        let original: Waybill_V1_ReconcileReport = try await client.call(Method.ErpService.reconcile, request)
        let firstID = try #require(try await list(client).runs.first?.runID)
        let replay: Waybill_V1_ReconcileReport = try await client.call(Method.ErpService.reconcile, request)
        #expect(replay.replayed && replay.discrepanciesTotal == original.discrepanciesTotal)
        let replayed = try #require(try await list(client).runs.first)
        #expect(replayed.replayed && replayed.repair && replayed.requestID == "kept-1" && replayed.runID != firstID)
        #expect(replayed.discrepanciesTotal == original.discrepanciesTotal && replayed.discrepanciesDropped == original.discrepanciesTotal)

        request.repair = false
        request.requestID = ""
        let _: Waybill_V1_ReconcileReport = try await client.call(Method.ErpService.reconcile, request)
        let kept = try await list(client)
        #expect(kept.runs.count == 2 && !kept.runs.contains { $0.runID == firstID })
        #expect(kept.runs.first?.repair == false && kept.runs.last?.runID == replayed.runID)
        await expectRefusal(.notFound, mentioning: firstID) { _ = try await get(client, firstID) }
    }
}

/// Runs `body`, expecting a refusal with `code` whose message mentions `text`.
private func expectRefusal(_ code: Waybill_V1_StatusCode, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code.name), the call succeeded", sourceLocation: sourceLocation)
    } catch let error as WaybillStatusError {
        #expect(error.code == code && error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code.name): \(error)", sourceLocation: sourceLocation)
    }
}
