// Dead letters seen and replayed from the server (ErpService.RequestDeadLetterReplay): the bridge
// lists its oldest letters with their reason in every status report (never a payload or a
// secret), carries out the replay requests the server hands back with the answer, as `waybill
// erp-bridge replay` does, and reports the outcome, which marks the request done. Requests are rows
// on the server: a bridge (and a server) restarted between the request and the replay still
// replays. Limits refuse with their names; a channel credential may not ask.

import Foundation
import NIOHTTP1
import Synchronization
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Dead-letter replay requested through the server", .serialized)
struct DeadLetterReplayRequestTests {
    static let channelToken = AccessToken.make(from: Array(repeating: 0xC3, count: AccessToken.randomBytes))

    /// A bench whose server also knows a channel credential.
    static func bench(_ name: String, configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
                      script: @escaping ScriptedErp.Script) async throws -> BridgeBench {
        try await BridgeBench.start(name, configure: { configuration in
            configuration.credentials.append(CredentialSeed(name: "web-shop", role: .channel, channels: ["web"], token: Self.channelToken))
            configure(&configuration)
        }, script: script)
    }

    @Test("a refused event is reported with its reason; a replay requested through the server after the ERP is fixed delivers it once, in order, its parked event following; the letters leave the report, the request is done")
    func refusedReportedThenReplayed() async throws {
        let fixed = Toggle(false)
        let bench = try await Self.bench("dl-replay") { message, _ in
            (message.externalOrderId == "POISON" && message.type == "order.captured" && !fixed.isOn) ? .status(.unprocessableEntity) : .ok
        }
        let consumer = "erp-replay"
        let bridge = try bench.bridge(consumer: consumer) { $0.replayAttemptsMax = 2 }
        let running = Task { try await bridge.run() }
        let poison = try await bench.client.captureOrder(TestNetwork.order("POISON", [("SKU-2", 1)])).order
        _ = try await bench.client.holdOrder(.with {
            $0.orderID = poison.orderID
            $0.requestID = "poison-hold"
            $0.reason = .fraud
        })
        for number in 0..<3 { _ = try await bench.client.captureOrder(TestNetwork.order("OTHER-\(number)", [("SKU-1", 1)])) }
        let head = try await bench.client.feedInfo().headOffset
        try await bridge.delivered(through: head)

        try await eventually("the server shows both dead letters") { try await bench.serverStatus(consumer)?.deadLetters.count == 2 }
        let status = try #require(try await bench.serverStatus(consumer))
        #expect(status.deadLettersWaiting == 2)
        let refused = status.deadLetters[0], parked = status.deadLetters[1]
        #expect(refused.kind == .refused && refused.eventType == "order.captured" && refused.orderID == poison.orderID)
        #expect(refused.aggregateType == "order" && refused.aggregateID == poison.orderID)
        #expect(refused.reason.contains("422") && refused.attempts == 1 && refused.deadLetteredAtUnixMs > 0 && refused.blockedBy.isEmpty)
        #expect(refused.target.hasPrefix("webhook http://127.0.0.1:"))
        #expect(parked.kind == .parked && parked.eventType == "order.hold_placed" && parked.blockedBy == refused.eventID && parked.offset > refused.offset)
        // What and why, never a payload or a secret.
        let text = try status.jsonString()
        for secret in [TestSecrets.first, TestCredentials.erpToken, TestCredentials.adminToken, "erpLines", "SKU-2"] {
            #expect(!text.contains(secret), "the status shows \(secret)")
        }

        fixed.set(true)
        let requested = try await bench.requestReplay(consumer, ids: [refused.eventID], requestID: "replay-1")
        #expect(requested.status == .pending && !requested.alreadyRequested && requested.requestedBy == "erp-tests-admin")
        #expect(requested.eventIds == [refused.eventID] && requested.requestedAtUnixMs > 0)
        // The same request id again: the recorded request, nothing new.
        let again = try await bench.requestReplay(consumer, ids: [refused.eventID], requestID: "replay-1")
        #expect(again.alreadyRequested && again.requestedAtUnixMs == requested.requestedAtUnixMs)
        // The same id for another request is refused.
        let conflict = await expectStatus(.alreadyExists) { _ = try await bench.requestReplay(consumer, all: true, requestID: "replay-1") }
        #expect(conflict?.details.field == "request_id")

        try await eventually("the request is done") { try await bench.replay(consumer, "replay-1")?.status == .done }
        let done = try #require(try await bench.replay(consumer, "replay-1"))
        #expect(done.replayed == [refused.eventID, parked.eventID] && done.replayedCount == 2)
        #expect(done.stillFailing.isEmpty && done.unknown.isEmpty && done.finishedAtUnixMs >= done.requestedAtUnixMs)
        try await eventually("the letters leave the report") {
            guard let status = try await bench.serverStatus(consumer) else { return false }
            return status.deadLetters.isEmpty && status.deadLettersWaiting == 0
        }
        #expect(try DeadLetterStore(stateDirectory: bench.state).count() == 0)
        try await eventually("the outcome kept for the report is removed once the server recorded it") {
            ((try? FileManager.default.contentsOfDirectory(atPath: bench.state + "/replay-results")) ?? []).isEmpty
        }
        // Delivered once each, the capture before the cancel.
        let poisonEvents = bench.erp.accepted.filter { $0.orderId == poison.orderID }.map(\.eventId)
        #expect(poisonEvents == [refused.eventID, parked.eventID])
        // The same request id after it is done still answers the recorded (done) request.
        let after = try await bench.requestReplay(consumer, ids: [refused.eventID], requestID: "replay-1")
        #expect(after.alreadyRequested && after.status == .done)
        // The order flows again: a later event is delivered, not parked.
        _ = try await bench.client.cancel(poison.orderID, requestID: "poison-cancel")
        let later = try await bench.client.feedInfo().headOffset
        try await bridge.delivered(through: later)
        #expect(try DeadLetterStore(stateDirectory: bench.state).count() == 0)
        #expect(bench.erp.accepted.filter { $0.orderId == poison.orderID }.map(\.type)
                    == ["order.captured", "order.hold_placed", "order.cancelled"])
        await bench.stop(running)
    }

    @Test("a request survives a restart of the bridge and the server; an unknown event id is reported as such")
    func durableAcrossRestarts() async throws {
        let fixed = Toggle(false)
        var bench = try await Self.bench("dl-restart") { message, _ in
            (message.externalOrderId == "POISON" && !fixed.isOn) ? .status(.unprocessableEntity) : .ok
        }
        let consumer = "erp-restart"
        let first = try bench.bridge(consumer: consumer) { $0.replayAttemptsMax = 2 }
        var running = Task { try await first.run() }
        _ = try await bench.client.captureOrder(TestNetwork.order("POISON", [("SKU-2", 1)]))
        let head = try await bench.client.feedInfo().headOffset
        try await first.delivered(through: head)
        try await eventually("the server shows the dead letter") { try await bench.serverStatus(consumer)?.deadLetters.count == 1 }
        let letter = try #require(try await bench.serverStatus(consumer)?.deadLetters.first)
        // The bridge stops; the request is made while no bridge runs.
        running.cancel()
        _ = await running.result
        let requested = try await bench.requestReplay(consumer, ids: [letter.eventID, "evt-999999"], requestID: "replay-restart")
        #expect(requested.status == .pending)
        // The server restarts too: the request is a row.
        await bench.client.close()
        let restarted = try await bench.server.restart()
        bench = BridgeBench(server: restarted, client: try await restarted.client(), erp: bench.erp, url: bench.url, state: bench.state)
        #expect(try await bench.replay(consumer, "replay-restart")?.status == .pending)
        fixed.set(true)
        let second = try bench.bridge(consumer: consumer) { $0.replayAttemptsMax = 2 }
        running = Task { try await second.run() }
        try await eventually("the restarted bridge carries the request out") { try await bench.replay(consumer, "replay-restart")?.status == .done }
        let done = try #require(try await bench.replay(consumer, "replay-restart"))
        #expect(done.replayed == [letter.eventID] && done.unknown == ["evt-999999"] && done.unknownCount == 1 && done.stillFailing.isEmpty)
        #expect(bench.erp.accepted.filter { $0.eventId == letter.eventID }.count == 1)
        try await eventually("the letter leaves the report") { try await bench.serverStatus(consumer)?.deadLettersWaiting == 0 }
        await bench.stop(running)
    }

    @Test("an event of the order the bridge parks while the replay runs follows it in the same request")
    func parkedDuringTheReplayFollows() async throws {
        let fixed = Toggle(false)
        let heldDuringReplay = Toggle(false)
        let client = Mutex<WaybillClient?>(nil)
        let bench = try await Self.bench("dl-during") { message, _ in
            guard message.externalOrderId == "POISON" else { return .ok }
            if !fixed.isOn { return .status(.unprocessableEntity) }
            if message.type == "order.captured" && !heldDuringReplay.isOn, let orderID = message.orderId, let caller = client.withLock({ $0 }) {
                // While the ERP takes the replayed capture, the order changes: the running bridge
                // parks the new event behind the letter the replay is delivering.
                heldDuringReplay.set(true)
                Task { _ = try? await caller.holdOrder(.with { $0.orderID = orderID; $0.requestID = "held-during"; $0.reason = .fraud }) }
                usleep(500_000)
            }
            return .ok
        }
        client.withLock { $0 = bench.client }
        let consumer = "erp-during"
        let bridge = try bench.bridge(consumer: consumer) { $0.replayAttemptsMax = 2 }
        let running = Task { try await bridge.run() }
        let poison = try await bench.client.captureOrder(TestNetwork.order("POISON", [("SKU-2", 1)])).order
        try await bridge.delivered(through: try await bench.client.feedInfo().headOffset)
        try await eventually("the server shows the dead letter") { try await bench.serverStatus(consumer)?.deadLetters.count == 1 }
        fixed.set(true)
        _ = try await bench.requestReplay(consumer, all: true, requestID: "replay-during")
        try await eventually("the request is done") { try await bench.replay(consumer, "replay-during")?.status == .done }
        let done = try #require(try await bench.replay(consumer, "replay-during"))
        #expect(heldDuringReplay.isOn)
        #expect(done.replayedCount == 2 && done.stillFailing.isEmpty, "\(done)")
        #expect(try DeadLetterStore(stateDirectory: bench.state).count() == 0)
        #expect(bench.erp.accepted.filter { $0.orderId == poison.orderID }.map(\.type) == ["order.captured", "order.hold_placed"])
        await bench.stop(running)
    }

    @Test("an outcome carried out but not yet reported survives a bridge restart: reported as it was, not replayed again")
    func outcomeKeptAcrossRestart() async throws {
        let bench = try await Self.bench("dl-outcome") { _, _ in .ok }
        let consumer = "erp-outcome"
        // A bridge reported once (so requests may be made), then stopped.
        let _: Waybill_V1_BridgeStatus = try await bench.client.call(Method.ErpService.reportBridgeStatus,
                                                                     Waybill_V1_BridgeStatus.with { $0.consumer = consumer })
        let requested = try await bench.requestReplay(consumer, ids: ["evt-5"], requestID: "replay/outcome")
        // What a bridge that replayed evt-5 and stopped before its next report left in its state directory.
        var outcome = requested
        outcome.status = .done
        outcome.replayed = ["evt-5"]
        outcome.replayedCount = 1
        let directory = bench.state + "/replay-results"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "replay-" + "replay/outcome".utf8.map { String(format: "%02x", $0) }.joined() + ".pb"
        try Data(try outcome.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: directory + "/" + name))

        let bridge = try bench.bridge(consumer: consumer)
        let running = Task { try await bridge.run() }
        try await eventually("the kept outcome is recorded") { try await bench.replay(consumer, "replay/outcome")?.status == .done }
        let done = try #require(try await bench.replay(consumer, "replay/outcome"))
        #expect(done.replayed == ["evt-5"] && done.unknown.isEmpty, "reported as carried out, not replayed again (evt-5 is in no store)")
        try await eventually("the kept outcome is removed once recorded") {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? ["?"]).isEmpty
        }
        await bench.stop(running)
    }

    @Test("a replay that fails again is reported still failing, the letter stays")
    func stillFailing() async throws {
        let bench = try await Self.bench("dl-still") { message, _ in
            message.externalOrderId == "POISON" ? .status(.unprocessableEntity) : .ok
        }
        let consumer = "erp-still"
        let bridge = try bench.bridge(consumer: consumer) { $0.replayAttemptsMax = 2 }
        let running = Task { try await bridge.run() }
        _ = try await bench.client.captureOrder(TestNetwork.order("POISON", [("SKU-2", 1)]))
        try await bridge.delivered(through: try await bench.client.feedInfo().headOffset)
        try await eventually("the server shows the dead letter") { try await bench.serverStatus(consumer)?.deadLetters.count == 1 }
        _ = try await bench.requestReplay(consumer, all: true, requestID: "replay-all")
        try await eventually("the request is done") { try await bench.replay(consumer, "replay-all")?.status == .done }
        let done = try #require(try await bench.replay(consumer, "replay-all"))
        #expect(done.replayed.isEmpty && done.stillFailingCount == 1 && done.stillFailing.first?.error.contains("422") == true)
        let status = try #require(try await bench.serverStatus(consumer))
        #expect(status.deadLettersWaiting == 1 && status.deadLetters.first?.attempts == 2)
        await bench.stop(running)
    }

    @Test("a reason passed on is cut to textBytesMax on a character boundary, marked")
    func reasonsAreCut() {
        let long = String(repeating: "é", count: 600)  // 1,200 bytes
        let cut = Validation.truncated(long, bytesMax: 1_024)
        #expect(cut.utf8.count <= 1_024 && cut.hasSuffix("...") && cut.dropLast(3).allSatisfy { $0 == "é" })
        #expect(Validation.truncated("HTTP 422", bytesMax: 1_024) == "HTTP 422")
    }

    @Test("limits refuse with their names; a bridge never reported is NOT_FOUND; ids or all; a channel credential is PERMISSION_DENIED; results reported mark requests done")
    func limitsAndAccess() async throws {
        let bench = try await Self.bench("dl-limits", configure: { configuration in
            configuration.transport.deadLetterReplayEventIdsMax = 3
            configuration.transport.deadLetterReplayRequestsPendingMax = 2
            configuration.transport.bridgeDeadLettersReportedMax = 2
        }, script: { _, _ in .ok })
        let consumer = "erp-limits"
        // A bridge that never reported cannot be asked.
        let unknown = await expectStatus(.notFound) { _ = try await bench.requestReplay(consumer, all: true, requestID: "r-0") }
        #expect(unknown?.details.field == "consumer")
        // A report as a bridge would send it (the admin may report for a bridge).
        var report = Waybill_V1_BridgeStatus()
        report.consumer = consumer
        report.deadLetters = (1...3).map { n in
            Waybill_V1_ReportedDeadLetter.with { $0.eventID = "evt-\(n)"; $0.offset = UInt64(n); $0.kind = .refused }
        }
        let tooMany = await expectStatus(.invalidArgument) {
            let _: Waybill_V1_BridgeStatus = try await bench.client.call(Method.ErpService.reportBridgeStatus, report)
        }
        #expect(tooMany?.details.limitName == "bridgeDeadLettersReportedMax" && tooMany?.details.limitValue == 2)
        report.deadLetters.removeLast()
        let first: Waybill_V1_BridgeStatus = try await bench.client.call(Method.ErpService.reportBridgeStatus, report)
        #expect(first.replayRequests.isEmpty && first.deadLetters.count == 2)

        let overIDs = await expectStatus(.invalidArgument) {
            _ = try await bench.requestReplay(consumer, ids: ["evt-1", "evt-2", "evt-3", "evt-4"], requestID: "r-ids")
        }
        #expect(overIDs?.details.limitName == "deadLetterReplayEventIdsMax" && overIDs?.details.limitValue == 3)
        _ = await expectStatus(.invalidArgument) { _ = try await bench.requestReplay(consumer, ids: ["evt-1"], all: true, requestID: "r-both") }
        _ = await expectStatus(.invalidArgument) { _ = try await bench.requestReplay(consumer, requestID: "r-none") }
        _ = await expectStatus(.invalidArgument) { _ = try await bench.requestReplay(consumer, all: true, requestID: "") }

        _ = try await bench.requestReplay(consumer, ids: ["evt-1"], requestID: "r-1")
        _ = try await bench.requestReplay(consumer, ids: ["evt-2", "evt-404"], requestID: "r-2")
        let full = await expectStatus(.resourceExhausted) { _ = try await bench.requestReplay(consumer, all: true, requestID: "r-3") }
        #expect(full?.details.limitName == "deadLetterReplayRequestsPendingMax" && full?.details.limitValue == 2)

        // A channel credential may not ask (nor read the bridge's status).
        let channel = try await TestCredentials.connect(bench.server.address, token: Self.channelToken)
        _ = await expectStatus(.permissionDenied) { _ = try await bench.requestReplay(consumer, all: true, requestID: "r-web", client: channel) }
        _ = await expectStatus(.permissionDenied) {
            let _: Waybill_V1_BridgeStatusList = try await channel.call(Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest())
        }
        await channel.close()
        // The erp credential (the bridge's own) may.
        let erp = try await TestCredentials.connect(bench.server.address, token: TestCredentials.erpToken)

        // The next report's answer hands both pending requests, oldest first.
        let answer: Waybill_V1_BridgeStatus = try await erp.call(Method.ErpService.reportBridgeStatus, report)
        #expect(answer.replayRequests.map(\.requestID) == ["r-1", "r-2"] && answer.replayRequests.allSatisfy { $0.status == .pending })
        // A report carrying r-2's outcome marks it done (an outcome for an unknown request is ignored).
        report.replayResults = [
            .with { $0.requestID = "r-2"; $0.replayed = ["evt-2"]; $0.unknown = ["evt-404"]; $0.replayedCount = 1; $0.unknownCount = 1 },
            .with { $0.requestID = "r-nope"; $0.replayed = ["evt-1"] },
        ]
        let next: Waybill_V1_BridgeStatus = try await erp.call(Method.ErpService.reportBridgeStatus, report)
        #expect(next.replayRequests.map(\.requestID) == ["r-1"])
        #expect(next.replayResults.isEmpty)
        let listed = try #require(try await bench.serverStatus(consumer))
        #expect(listed.replayRequests.map(\.requestID) == ["r-1", "r-2"])
        #expect(listed.replayRequests[1].status == .done && listed.replayRequests[1].unknown == ["evt-404"])
        #expect(listed.replayResults.isEmpty)
        // A slot is free again.
        _ = try await bench.requestReplay(consumer, all: true, requestID: "r-3", client: erp)
        await erp.close()

        // Every limit is published by name.
        let info: Waybill_V1_ServerInfo = try await bench.client.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest())
        let names = Set(info.limits.map(\.name))
        for name in ["bridgeDeadLettersReportedMax", "deadLetterReplayEventIdsMax", "deadLetterReplayRequestsPendingMax",
                     "deadLetterReplaysFinishedListedMax"] {
            #expect(names.contains(name), "GetServerInfo lists \(name)")
        }
        await bench.stop(nil)
    }
}

/// Runs `body`, expecting it to fail with `code`; the error, for its details.
@discardableResult
private func expectStatus(_ code: Waybill_V1_StatusCode, sourceLocation: SourceLocation = #_sourceLocation,
                          _ body: () async throws -> Void) async -> WaybillStatusError? {
    do {
        try await body()
        Issue.record("expected \(code.name), the call succeeded", sourceLocation: sourceLocation)
    } catch let error as WaybillStatusError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code.name), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

extension BridgeBench {
    func requestReplay(_ consumer: String, ids: [String] = [], all: Bool = false, requestID: String,
                       client: WaybillClient? = nil) async throws -> Waybill_V1_DeadLetterReplay {
        let request = Waybill_V1_DeadLetterReplayRequest.with {
            $0.consumer = consumer
            $0.eventIds = ids
            $0.all = all
            $0.requestID = requestID
        }
        return try await (client ?? self.client).call(Method.ErpService.requestDeadLetterReplay, request)
    }

    /// The request as GetBridgeStatus lists it.
    func replay(_ consumer: String, _ requestID: String) async throws -> Waybill_V1_DeadLetterReplay? {
        try await serverStatus(consumer)?.replayRequests.first { $0.requestID == requestID }
    }
}
