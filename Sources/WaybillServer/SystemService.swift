// waybill.v1.SystemService: server info (versions, limits, operator settings) and metrics.

import Foundation
import SwiftProtobuf
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func getServerInfo(_ request: Waybill_V1_GetServerInfoRequest, call: Call) {
        var info = Waybill_V1_ServerInfo()
        info.serverVersion = self.configuration.version
        info.protocolVersions = ProtocolVersions.supported.map { Int32($0.rawValue) }
        var limits = self.transport.named
        let domain = self.configuration.domain
        let reconciliation = self.configuration.reconciliation
        limits += [
            ("linesPerOrderMax", Int64(domain.linesPerOrderMax), "lines per order"),
            ("quantityPerLineMax", Int64(domain.quantityPerLineMax), "units per line"),
            ("identifierBytesMax", Int64(domain.identifierBytesMax), "bytes per identifier"),
            ("textBytesMax", Int64(domain.textBytesMax), "bytes per free-text field"),
            ("attributesPerOrderMax", Int64(domain.attributesPerOrderMax), "attributes per order"),
            ("holdsPerOrderMax", Int64(domain.holdsPerOrderMax), "holds per order"),
            ("returnsPerOrderMax", Int64(domain.returnsPerOrderMax), "returns per order"),
            ("historyEntriesPerOrderMax", Int64(domain.historyEntriesPerOrderMax), "changes recorded per order"),
            ("backorderReleaseBatchMax", Int64(domain.backorderReleaseBatchMax), "backordered orders retried per stock arrival"),
            ("shortageOrdersScannedMax", Int64(domain.shortageOrdersScannedMax), "orders holding reservations examined, newest first, when a count leaves reservations short"),
            ("reallocateOrdersPerCallMax", Int64(domain.reallocateOrdersPerCallMax), "orders one ReallocateOrders call routes again"),
            ("cartsOpenMax", Int64(domain.cartsOpenMax), "carts holding stock at once"),
            ("cartTtlSecondsMax", Int64(domain.cartTtlSecondsMax), "seconds a cart may hold stock from one ReserveCart or ExtendCart"),
            ("cartsExpiredPerJobMax", Int64(domain.cartsExpiredPerJobMax), "carts one expiry job releases"),
            ("orderEditsPerRequestMax", Int64(domain.orderEditsPerRequestMax), "edits one EditOrder request applies together"),
            ("expectedReceiptsOpenMax", Int64(domain.expectedReceiptsOpenMax), "expected receipts open at once"),
            ("expectedReceiptLinesMax", Int64(domain.expectedReceiptLinesMax), "SKU lines per expected receipt"),
            ("receiptReleaseOrdersMax", Int64(domain.receiptReleaseOrdersMax), "backordered orders a receipt's arrival serves in capture order"),
            ("writeQueueDepthMax", Int64(self.configuration.writer.writeQueueDepthMax), "writes waiting for the writer"),
            ("writeBatchMax", Int64(self.configuration.writer.writeBatchMax), "writes per transaction"),
            ("searchIndexLagEventsMax", Int64(self.configuration.searchIndex.lagEventsMax), "change-feed events the order search index may be behind before a SearchOrders call with a term filter answers UNAVAILABLE"),
            ("searchIndexQueuedOrdersMax", Int64(self.configuration.searchIndex.queuedOrdersMax), "written orders waiting in memory for the search indexer (past it they are read back from the database)"),
            ("writeQueueDelayTargetMilliseconds", self.configuration.writer.admission.writeQueueDelayTargetMilliseconds, "queueing delay of writes beyond which, for an interval, client writes are refused"),
            ("writeQueueDelayIntervalMilliseconds", self.configuration.writer.admission.writeQueueDelayIntervalMilliseconds, "how long the delay stays above its target before refusals start"),
            ("routingCandidatesMax", Int64(self.configuration.routing.routingCandidatesMax), "locations in the split search"),
            ("routingSearchSetsMax", Int64(self.configuration.routing.routingSearchSetsMax), "location sets examined per routing decision"),
            ("routingCandidatesPerLineMax", Int64(self.configuration.routing.routingCandidatesPerLineMax), "candidate locations per line kept for the split search"),
            ("routingDecisionsPerOrderMax", Int64(domain.routingDecisionsPerOrderMax), "routing decisions an order keeps (older ones are dropped)"),
            ("routingExplanationLocationsMax", Int64(domain.routingExplanationLocationsMax), "locations a routing decision explains one by one"),
            ("checkpointDirtyBalancesMax", Int64(self.configuration.writer.checkpointDirtyBalancesMax), "balances behind their rows before the writer checkpoints them"),
            ("slowJobLogMilliseconds", Int64(self.configuration.writer.slowJobLogMilliseconds), "writer jobs slower than this are logged with their kind"),
            ("sessionsMax", Int64(reconciliation.sessionsMax), "reconciliation sessions open at once"),
            ("chunkRecordsMax", Int64(reconciliation.chunkRecordsMax), "orders + stock records in one AddExtractChunk"),
            ("sessionIdleTimeoutMilliseconds", reconciliation.sessionIdleTimeoutMilliseconds, "a reconciliation session untouched this long is dropped"),
            ("stockPositionsPerSessionMax", Int64(reconciliation.stockPositionsPerSessionMax), "stock records one reconciliation session keeps"),
            ("erpOnlyRecordsPerSessionMax", Int64(reconciliation.erpOnlyRecordsPerSessionMax), "ERP records of orders Waybill lacks kept by one session"),
            ("discrepanciesListedMax", Int64(reconciliation.discrepanciesListedMax), "discrepancies listed in one report (counts stay exact)"),
            ("repairsPerWriterJobMax", Int64(reconciliation.repairsPerWriterJobMax), "reconciliation repairs per writer job"),
        ]
        limits += self.configuration.credentialLimits.named
        limits += operatorSettings(self.configuration)
        info.limits = limits.map { limit in
            var l = Waybill_V1_Limit()
            l.name = limit.name
            l.value = limit.value
            l.description_p = limit.description
            return l
        }
        info.startedAtUnixMs = self.startedAt.millisecondsSinceEpoch
        info.nowUnixMs = self.configuration.clock().millisecondsSinceEpoch
        info.databasePath = self.configuration.databasePath
        info.connections = Int32(self.connectionCount())
        call.responder.respond(.message(info))
    }

    func getMetrics(_ request: Waybill_V1_GetMetricsRequest, call: Call) {
        var text = Waybill_V1_MetricsText()
        text.text = self.configuration.metricsText()
        call.responder.respond(.message(text))
    }
}
