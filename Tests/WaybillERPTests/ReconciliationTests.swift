// Reconciliation end to end: the bridge delivers the feed to a file-drop "ERP", which builds its
// records from the messages; an extract of it reconciles to zero; each planted discrepancy kind is
// found with the right order or SKU and nothing else; repair (idempotent by request id), then the
// bridge delivers the repairs, and the ERP's next extract reconciles to zero again.

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

/// An ERP that applies delivered messages: order records (latest aggregate sequence wins),
/// void instructions, and stock from inventory events.
struct ModelErp {
    struct Record: Equatable {
        var orderID: String
        var document: String
        var status: String
        var lines: [String: Int32]
        var sequence: Int64
        /// An exchange's replacement: the original order, as the messages said (exchangeOfOrderId).
        var exchangeOf = ""
    }
    var records: [Record] = []
    /// Per SKU@location: the position of the latest inventory event, and the offset it was at.
    var stock: [String: (onHand: Int64, sequence: Int64, offset: UInt64)] = [:]
    /// Stock moved by order events (shipments, restocked returns), by offset.
    var orderMovements: [String: [(offset: UInt64, delta: Int64)]] = [:]
    var applied: Set<String> = []

    mutating func apply(_ messages: [ErpMessage]) {
        for message in messages where applied.insert(message.eventId).inserted {
            switch message.aggregateType {
            case "order":
                let orderID = message.orderId!
                let lines = Dictionary((message.erpLines ?? []).map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
                if let index = records.firstIndex(where: { $0.orderID == orderID }) {
                    if records[index].sequence < message.aggregateSequence {
                        records[index].status = message.erpStatus!
                        records[index].lines = lines
                        records[index].sequence = message.aggregateSequence
                        records[index].exchangeOf = message.exchangeOfOrderId ?? ""
                    }
                } else {
                    records.append(Record(orderID: orderID, document: "DOC-\(orderID)", status: message.erpStatus!, lines: lines,
                                          sequence: message.aggregateSequence, exchangeOf: message.exchangeOfOrderId ?? ""))
                }
                for change in message.stockChanges ?? [] {
                    orderMovements["\(change.sku)@\(change.locationId)", default: []].append((message.offset, change.onHandDelta))
                }
            case "erp_record":
                if message.type == Reconciler.voidRequestedEvent || message.type == Reconciler.duplicateDetectedEvent {
                    if let index = records.lastIndex(where: { $0.orderID == message.orderId && $0.document == message.erpDocumentNumber }) {
                        records.remove(at: index)
                    }
                }
            case "inventory":
                let key = "\(message.sku!)@\(message.locationId!)"
                if (stock[key]?.sequence ?? 0) < message.aggregateSequence {
                    stock[key] = (message.onHand ?? 0, message.aggregateSequence, message.offset)
                }
            default:
                break
            }
        }
    }

    func extract(asOf: Int64) -> Waybill_V1_ErpExtract {
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = asOf
        extract.orders = records.map { record in
            var r = Waybill_V1_ErpOrderRecord()
            r.orderID = record.orderID
            r.erpDocumentNumber = record.document
            r.status = record.status
            r.exchangeOfOrderID = record.exchangeOf
            r.lines = record.lines.sorted { $0.key < $1.key }.map { sku, quantity in
                var line = Waybill_V1_ErpOrderLine()
                line.sku = sku
                line.quantity = quantity
                return line
            }
            return r
        }
        extract.stock = stock.sorted { $0.key < $1.key }.map { key, value in
            var s = Waybill_V1_ErpStockRecord()
            let parts = key.split(separator: "@")
            s.sku = String(parts[0])
            s.locationID = String(parts[1])
            s.onHand = value.onHand + (orderMovements[key] ?? []).filter { $0.offset > value.offset }.reduce(0) { $0 + $1.delta }
            return s
        }
        return extract
    }
}

@Suite("Reconciliation", .serialized)
struct ReconciliationTests {
    func reconcile(_ client: WaybillClient, _ extract: Waybill_V1_ErpExtract, repair: String? = nil) async throws -> Waybill_V1_ReconcileReport {
        var request = Waybill_V1_ReconcileRequest()
        request.extract = extract
        if let repair {
            request.repair = true
            request.requestID = repair
        }
        return try await client.call(Method.ErpService.reconcile, request)
    }

    func count(_ report: Waybill_V1_ReconcileReport, _ kind: Waybill_V1_DiscrepancyKind) -> Int32 {
        report.counts.first { $0.kind == kind }?.count ?? -1
    }

    @Test("planted discrepancies are found exactly, repaired, and the ERP then agrees")
    func plantedDiscrepancies() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile", clock: clock)
        let client = try await server.client()
        let drop = try temporaryDirectory("reconcile-drop")
        let state = try temporaryDirectory("reconcile-state")
        var configuration = BridgeConfiguration(server: server.address, consumer: "erp-files", target: .files(directory: drop, format: .jsonl),
                                                stateDirectory: state)
        configuration.connection = TestCredentials.erpConnection
        configuration.limits.fileBatchLingerMilliseconds = 0
        configuration.limits.ackIntervalMilliseconds = 10
        let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
        let running = Task { try await bridge.run() }
        defer {
            running.cancel()
            Task {
                _ = await running.result
                await client.close()
                await server.stop()
                try? FileManager.default.removeItem(atPath: drop)
                try? FileManager.default.removeItem(atPath: state)
            }
        }

        // Waybill: orders in several states.
        _ = try await client.loadNetwork(TestNetwork.model(stock: 50))
        clock.advance(1_000)
        var ids: [String] = []
        for number in 0..<6 {
            ids.append(try await client.captureOrder(TestNetwork.order("REC-\(number)", [("SKU-1", 2), ("SKU-2", Int32(number + 1))])).order.orderID)
        }
        clock.advance(1_000)
        _ = try await client.shipAll(ids[1], requestPrefix: "rec-1")
        _ = try await client.cancel(ids[2], requestID: "rec-2-cancel")
        var cancelLines = Waybill_V1_CancelLinesRequest()
        cancelLines.requestID = "rec-3-lines"
        cancelLines.orderID = ids[3]
        var line = Waybill_V1_LineQuantity()
        line.lineID = "2"
        line.quantity = 1
        cancelLines.lines = [line]
        _ = try await client.lifecycle(Method.OrderService.cancelLines, cancelLines)
        // An exchange of a unit of the shipped order: a replacement order linked to it.
        var exchange = Waybill_V1_CreateReturnRequest()
        exchange.requestID = "rec-1-exchange"
        exchange.orderID = ids[1]
        exchange.returnID = "RMA-1"
        exchange.lines = [line]
        exchange.exchange.lines = [TestNetwork.order("REC-1-X", [("SKU-1", 1)]).lines[0]]
        exchange.exchange.reserveAt = .atCreation
        let replacementID = try await client.lifecycle(Method.OrderService.createReturn, exchange).order.returns[0].exchange.replacementOrderID
        #expect(!replacementID.isEmpty)
        // An edited order: the ERP learns its new content from order.edited (never a dead letter).
        _ = try await client.editOrder(Waybill_V1_EditOrderRequest(
            requestID: "rec-4-edit", orderID: ids[4],
            edits: [.changeLineQuantity(lineID: "1", quantity: 4),
                    .addLine(DraftLine(lineID: "3", sku: SKU("SKU-2"), quantity: 2, unitPrice: Money(minorUnits: 500, currency: "USD")))],
            reason: "customer called"))
        clock.advance(1_000)

        // The ERP applies everything the bridge delivered.
        var head = try await client.feedInfo().headOffset
        try await bridge.delivered(through: head)
        var erp = ModelErp()
        erp.apply(try droppedMessages(drop))
        #expect(erp.records.count == 7)
        #expect(erp.records.first { $0.orderID == replacementID }?.exchangeOf == ids[1], "the replacement's messages carry the link")
        #expect(erp.records.first { $0.orderID == ids[2] }?.status == "cancelled")
        #expect(erp.records.first { $0.orderID == ids[3] }?.lines == ["SKU-1": 2, "SKU-2": 3])
        #expect(erp.records.first { $0.orderID == ids[4] }?.lines == ["SKU-1": 4, "SKU-2": 7], "the edit reached the ERP")
        let edited = try droppedMessages(drop).filter { $0.type == "order.edited" }
        let editedAmount: Int64 = 4 * 1_000 + 5 * 1_000 + 2 * 500
        #expect(edited.count == 1)
        #expect(edited.first?.orderAmountMinor == editedAmount)
        #expect(edited.first?.detail?.contains("line 1 quantity: 2 -> 4") == true)
        let deadLettered = await bridge.makeStatus().deadLettered
        #expect(deadLettered == 0)

        // In step: nothing to report.
        let clean = try await reconcile(client, erp.extract(asOf: clock.milliseconds))
        #expect(clean.discrepancies.isEmpty, "\(clean.discrepancies)")
        #expect(clean.ordersCompared == 7)
        #expect(clean.stockPositionsCompared == 6)

        // Plant one of each kind.
        var planted = erp
        planted.records.removeAll { $0.orderID == ids[0] }                                            // missing in ERP
        planted.records.append(.init(orderID: "W-09999999", document: "DOC-GHOST", status: "shipped", lines: ["SKU-1": 1], sequence: 1)) // missing in Waybill
        planted.records[planted.records.firstIndex { $0.orderID == ids[1] }!].status = "allocated"     // status mismatch
        planted.records[planted.records.firstIndex { $0.orderID == ids[4] }!].lines["SKU-2"] = 9       // quantity mismatch (order)
        var duplicate = planted.records.first { $0.orderID == ids[5] }!
        duplicate.document = "DOC-DUP"
        planted.records.append(duplicate)                                                             // duplicate
        planted.records[planted.records.firstIndex { $0.orderID == replacementID }!].exchangeOf = ""  // exchange link mismatch
        let stockKey = "SKU-3@WH-2"
        let waybillCount = try await client.position("SKU-3", "WH-2").onHand
        planted.stock[stockKey] = (waybillCount - 4, 99, planted.stock[stockKey]!.offset)               // quantity mismatch (stock)
        let extract = planted.extract(asOf: clock.milliseconds)

        let report = try await reconcile(client, extract)
        #expect(count(report, .missingInErp) == 1)
        #expect(count(report, .missingInWaybill) == 1)
        #expect(count(report, .statusMismatch) == 1)
        #expect(count(report, .quantityMismatch) == 2)
        #expect(count(report, .duplicate) == 1)
        #expect(count(report, .exchangeLinkMismatch) == 1)
        #expect(report.discrepancies.count == 7)
        let found = report.discrepancies.map { "\($0.kind) \($0.orderID)\($0.sku)@\($0.locationID)" }
        #expect(found == [
            "missingInErp \(ids[0])@", "missingInWaybill W-09999999@", "statusMismatch \(ids[1])@",
            "quantityMismatch \(ids[4])@", "quantityMismatch SKU-3@WH-2", "duplicate \(ids[5])@",
            "exchangeLinkMismatch \(replacementID)@",
        ])
        #expect(report.discrepancies.first { $0.kind == .statusMismatch }?.waybillValue == "shipped")
        #expect(report.discrepancies.first { $0.kind == .quantityMismatch && !$0.sku.isEmpty }?.erpValue == "\(waybillCount - 4)")
        // Deterministic: the same extract gives the same report.
        let repeated = try await reconcile(client, extract)
        #expect(repeated == report)

        // Repair, idempotently.
        clock.advance(1_000)
        let repaired = try await reconcile(client, extract, repair: "repair-1")
        #expect(repaired.repaired == 7)
        let allRepaired = repaired.discrepancies.allSatisfy { $0.repaired }
        #expect(allRepaired)
        let headAfterRepair = try await client.feedInfo().headOffset
        #expect(headAfterRepair > head)
        let again = try await reconcile(client, extract, repair: "repair-1")
        #expect(again.repaired == 7)
        #expect(try await client.feedInfo().headOffset == headAfterRepair, "a replayed repair emits nothing")
        await #expect(throws: WaybillStatusError.self) {
            _ = try await reconcile(client, erp.extract(asOf: clock.milliseconds), repair: "repair-1")
        }
        #expect(try await client.position("SKU-3", "WH-2").onHand == waybillCount - 4)

        // The ERP applies the repairs the bridge delivered; its next extract agrees.
        head = headAfterRepair
        try await bridge.delivered(through: head)
        planted.apply(try droppedMessages(drop))
        clock.advance(1_000)
        let after = try await reconcile(client, planted.extract(asOf: clock.milliseconds))
        #expect(after.discrepancies.isEmpty, "\(after.discrepancies)")
        #expect(!planted.records.contains { $0.orderID == "W-09999999" })
        #expect(planted.records.filter { $0.orderID == ids[5] }.count == 1)
        #expect(planted.records.first { $0.orderID == replacementID }?.exchangeOf == ids[1], "the re-emitted replacement carries its link")
    }

    @Test("orders captured after the extract's time are not missing unless asked")
    func ordersAfterAsOf() async throws {
        let clock = ManualClock()
        let server = try await InProcessServer.start("reconcile-asof", clock: clock)
        let client = try await server.client()
        defer { Task { await client.close(); await server.stop() } }
        _ = try await client.loadNetwork(TestNetwork.model(stock: 10))
        let asOf = clock.milliseconds
        clock.advance(1_000)
        let late = try await client.captureOrder(TestNetwork.order("LATE-1", [("SKU-1", 1)])).order
        var extract = Waybill_V1_ErpExtract()
        extract.asOfUnixMs = asOf
        #expect(try await reconcile(client, extract).discrepancies.isEmpty)
        extract.includeOrdersAfterAsOf = true
        // An extract without order records compares no orders unless the scope asks for them.
        #expect(try await reconcile(client, extract).discrepancies.isEmpty)
        var request = Waybill_V1_ReconcileRequest()
        request.extract = extract
        request.scope.orders = .compare
        let report: Waybill_V1_ReconcileReport = try await client.call(Method.ErpService.reconcile, request)
        #expect(report.discrepancies.map(\.orderID) == [late.orderID])
        #expect(report.discrepancies.first?.kind == .missingInErp)
        // Repair requires a request id.
        request.repair = true
        await #expect(throws: WaybillStatusError.self) {
            let _: Waybill_V1_ReconcileReport = try await client.call(Method.ErpService.reconcile, request)
        }
    }

    @Test("the bridge's status and lines match Reconciler.erpStatus and erpLines")
    func messageMatchesReconciler() throws {
        var event = Waybill_V1_ChangeEvent()
        event.offset = 7
        event.eventID = "evt-7"
        event.type = "order.lines_cancelled"
        event.aggregateType = "order"
        event.aggregateID = "W-00000001"
        event.aggregateSequence = 3
        event.orderID = "W-00000001"
        var draft = OrderDraft()
        draft.channel = .web
        draft.externalOrderID = "X-1"
        draft.lines = [DraftLine(lineID: "1", sku: SKU("SKU-B"), quantity: 3, unitPrice: Money(minorUnits: 500, currency: "EUR")),
                       DraftLine(lineID: "2", sku: SKU("SKU-A"), quantity: 2, unitPrice: Money(minorUnits: 100, currency: "EUR")),
                       DraftLine(lineID: "3", sku: SKU("SKU-B"), quantity: 1, unitPrice: Money(minorUnits: 500, currency: "EUR"))]
        var order = Order(id: OrderID("W-00000001"), draft: draft, capturedAt: Timestamp(millisecondsSinceEpoch: 1), captureSequence: 1)
        order.lines[0].quantities.cancelled = 1
        order.lines[0].quantities.backordered = 2
        order.lines[1].quantities.cancelled = 2
        order.lines[2].quantities.backordered = 1
        event.order = order.proto
        let message = try ErpMessage(event: event)
        #expect(message.erpStatus == Reconciler.erpStatus(order))
        #expect(message.erpStatus == "backordered")
        #expect(message.erpLines == [ErpLine(sku: "SKU-B", quantity: 3)])
        #expect(Reconciler.erpLines(order) == [SKU("SKU-B"): 3])
        #expect(message.orderAmountMinor == 1_500)
        #expect(message.idempotencyKey == "evt-7")
        #expect(message.csvRow.hasPrefix("evt-7,7,order.lines_cancelled,order,W-00000001,3,"))
        #expect(message.csvRow.contains(",SKU-B:3,"))
    }
}
