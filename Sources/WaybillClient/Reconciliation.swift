// Reconciliation of an extract of any size: open a session, send the extract in chunks (each
// within the server's chunkRecordsMax and well under one frame), finish (compare, optionally repair).

import WaybillProto
import WaybillWire

extension WaybillClient {
    /// Bytes of records per chunk: a quarter of the default frame limit leaves room for the envelope.
    public static let reconciliationChunkBytesMax = TransportLimits().frameBytesMax / 4

    /// Opens a reconciliation session and sends `orders` and `stock` in chunks of at most
    /// `chunkRecords` records (0: the server's chunkRecordsMax) and `reconciliationChunkBytesMax`
    /// bytes. Returns the session id, ready for `finishReconciliation`.
    public func uploadReconciliation(scope: Waybill_V1_ReconcileScope, asOfUnixMs: Int64, includeOrdersAfterAsOf: Bool,
                                     orders: [Waybill_V1_ErpOrderRecord], stock: [Waybill_V1_ErpStockRecord],
                                     chunkRecords: Int = 0, timeoutMilliseconds: UInt32 = 600_000,
                                     progress: ((_ ordersSent: Int, _ stockSent: Int) -> Void)? = nil) async throws -> String {
        var begin = Waybill_V1_BeginReconciliationRequest()
        begin.scope = scope
        begin.asOfUnixMs = asOfUnixMs
        begin.includeOrdersAfterAsOf = includeOrdersAfterAsOf
        let session: Waybill_V1_ReconciliationSession = try await call(Method.ErpService.beginReconciliation, begin)
        let recordsMax = max(1, chunkRecords > 0 ? min(chunkRecords, Int(session.chunkRecordsMax)) : Int(session.chunkRecordsMax))
        var chunk = Waybill_V1_ExtractChunk()
        chunk.sessionID = session.sessionID
        var bytes = 0
        var ordersSent = 0, stockSent = 0
        func send() async throws {
            guard !chunk.orders.isEmpty || !chunk.stock.isEmpty else { return }
            let _: Waybill_V1_ExtractChunkResult = try await call(Method.ErpService.addExtractChunk, chunk, timeoutMilliseconds: timeoutMilliseconds)
            ordersSent += chunk.orders.count
            stockSent += chunk.stock.count
            progress?(ordersSent, stockSent)
            chunk.orders.removeAll(keepingCapacity: true)
            chunk.stock.removeAll(keepingCapacity: true)
            bytes = 0
        }
        for record in orders {
            let size = (try record.serializedBytes() as [UInt8]).count + 8
            if chunk.orders.count + chunk.stock.count >= recordsMax || bytes + size > Self.reconciliationChunkBytesMax { try await send() }
            chunk.orders.append(record)
            bytes += size
        }
        for record in stock {
            let size = (try record.serializedBytes() as [UInt8]).count + 8
            if chunk.orders.count + chunk.stock.count >= recordsMax || bytes + size > Self.reconciliationChunkBytesMax { try await send() }
            chunk.stock.append(record)
            bytes += size
        }
        try await send()
        return session.sessionID
    }

    /// Finishes a session: the report (compared and, with `repair`, repaired).
    public func finishReconciliation(session: String, repair: Bool = false, requestID: String = "", discrepanciesMax: Int32 = 0,
                                     keepOpen: Bool = false, timeoutMilliseconds: UInt32 = 3_600_000) async throws -> Waybill_V1_ReconcileReport {
        var finish = Waybill_V1_FinishReconciliationRequest()
        finish.sessionID = session
        finish.repair = repair
        finish.requestID = requestID
        finish.discrepanciesMax = discrepanciesMax
        finish.keepOpen = keepOpen
        return try await call(Method.ErpService.finishReconciliation, finish, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Reconciles a whole extract through a session (any size).
    public func reconcile(extract: Waybill_V1_ErpExtract, scope: Waybill_V1_ReconcileScope = Waybill_V1_ReconcileScope(),
                          repair: Bool = false, requestID: String = "", discrepanciesMax: Int32 = 0) async throws -> Waybill_V1_ReconcileReport {
        let session = try await uploadReconciliation(scope: scope, asOfUnixMs: extract.asOfUnixMs, includeOrdersAfterAsOf: extract.includeOrdersAfterAsOf,
                                                     orders: extract.orders, stock: extract.stock)
        return try await finishReconciliation(session: session, repair: repair, requestID: requestID, discrepanciesMax: discrepanciesMax)
    }
}
