// waybill.v1.ChangeFeedService, waybill.v1.ErpService and waybill.v1.SystemService.

import Foundation
import SwiftProtobuf
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    static func registerChangeFeedService(_ handlers: inout [String: Handler]) {
        handlers[Method.ChangeFeedService.subscribe] = { services, call, connection in
            guard let request = call.parse(Waybill_V1_SubscribeRequest.self) else { return }
            services.subscribe(call, request, connection: connection)
        }

        on(&handlers, Method.ChangeFeedService.acknowledge, Waybill_V1_AcknowledgeRequest.self) { services, call, request in
            if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: services.configuration.domain) {
                call.responder.respond(.failure(WaybillStatusError(error)))
                return
            }
            let head = services.feed.head
            if request.offset > head {
                call.responder.respond(.failure(WaybillStatusError(.outOfRange, "offset \(request.offset) is beyond the head of the feed (\(head))")))
                return
            }
            services.write(call, { context in try context.acknowledge(consumer: request.consumer, offset: request.offset) },
                           respond: { record in
                services.feed.acknowledged(consumer: record.name, offset: record.acknowledgedOffset)
                var response = Waybill_V1_AcknowledgeResponse()
                response.consumer = services.consumerInfo(record, head: services.feed.head, connected: services.feed.connectedConsumers())
                return .message(response)
            })
        }

        on(&handlers, Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest.self) { services, call, _ in
            services.blocking(call, { try services.feedInfo() }) { .message($0) }
        }

        on(&handlers, Method.ChangeFeedService.deleteConsumer, Waybill_V1_DeleteConsumerRequest.self) { services, call, request in
            services.write(call, { context in try context.deleteConsumer(request.consumer) }, respond: { deleted in
                guard deleted else { return .failure(WaybillStatusError(.notFound, "consumer \(request.consumer) not found")) }
                do {
                    return .message(try services.feedInfo())
                } catch {
                    return .from(error)
                }
            })
        }
    }

    func consumerInfo(_ record: ConsumerRecord, head: UInt64, connected: Set<String>) -> Waybill_V1_ConsumerInfo {
        var info = Waybill_V1_ConsumerInfo()
        info.consumer = record.name
        info.acknowledgedOffset = record.acknowledgedOffset
        info.lagEvents = head > record.acknowledgedOffset ? head - record.acknowledgedOffset : 0
        info.acknowledgedAtUnixMs = record.acknowledgedAt.millisecondsSinceEpoch
        info.connected = connected.contains(record.name)
        return info
    }

    func feedInfo() throws -> Waybill_V1_FeedInfo {
        let bounds = try reader.feedBounds()
        let connected = feed.connectedConsumers()
        var info = Waybill_V1_FeedInfo()
        info.earliestOffset = bounds.earliest
        info.headOffset = max(bounds.head, feed.head)
        info.consumers = try reader.consumers().map { consumerInfo($0, head: info.headOffset, connected: connected) }
        return info
    }

    /// Registers the consumer (so retention waits for it), resolves the start offset, then streams.
    func subscribe(_ call: Call, _ request: Waybill_V1_SubscribeRequest, connection: ConnectionHandler) {
        if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        guard within(call, Int(request.windowEvents), "subscriptionWindowEventsMax", Int(transport.subscriptionWindowEventsMax), "window_events"),
              within(call, Int(request.maxEventsPerFrame), "eventsPerFrameMax", Int(transport.eventsPerFrameMax), "max_events_per_frame"),
              within(call, feed.subscriptionCount + 1, "subscriptionsMax", transport.subscriptionsMax, "subscriptions")
        else { return }
        let window = UInt64(request.windowEvents == 0 ? transport.subscriptionWindowEventsDefault : request.windowEvents)
        let perFrame = Int(request.maxEventsPerFrame == 0 ? transport.eventsPerFrameDefault : request.maxEventsPerFrame)
        let box = call.responder.connectionBox
        // Registration goes through the writer (the consumers table), then the stream starts on the loop.
        writer.submit(Job(kind: "Subscribe", deadlineUptimeNanoseconds: .max, { context -> (ConsumerRecord, UInt64, UInt64) in
            let existing = try context.consumers().first { $0.name == request.consumer }
            let record = try existing ?? context.acknowledge(consumer: request.consumer, offset: 0)
            let bounds = try context.feedBounds()
            return (record, bounds.earliest, bounds.head)
        }) { result in
            box.eventLoop.execute {
                guard let connection = box.value else { return }
                switch result {
                case .failure(let error):
                    connection.finish(callID: call.callID, response: .from(error))
                case .success(let (record, storedEarliest, head)):
                    let earliest = storedEarliest == 0 ? head + 1 : storedEarliest
                    let start = request.fromOffset == 0 ? max(record.acknowledgedOffset + 1, earliest) : request.fromOffset
                    if start > head + 1 {
                        connection.finish(callID: call.callID, response: .failure(WaybillStatusError(
                            .outOfRange, "offset \(start) is beyond the head of the feed (\(head)); the next event will have offset \(head + 1)")))
                        return
                    }
                    if start < earliest {
                        var details = Waybill_V1_StatusDetails()
                        details.earliestOffset = earliest
                        connection.finish(callID: call.callID, response: .failure(WaybillStatusError(
                            .outOfRange, "offset \(start) has been pruned; the earliest available is \(earliest)", details: details)))
                        return
                    }
                    // The window counts from what this stream starts after, or from the stored acknowledgement.
                    let acknowledged = max(record.acknowledgedOffset, start - 1)
                    let subscription = FeedSubscription(consumer: request.consumer, callID: call.callID, from: start,
                                                        acknowledged: acknowledged, window: window, eventsPerFrame: perFrame,
                                                        box: box, hub: self.feed, metrics: self.metrics)
                    guard connection.attachStream(callID: call.callID, subscription) else { return }
                    _ = self.feed.add(subscription)
                    subscription.pump()
                }
            }
        })
    }

    // MARK: - ERP

    static func registerErpService(_ handlers: inout [String: Handler]) {
        on(&handlers, Method.ErpService.applyItemMaster, Waybill_V1_ItemMasterMessage.self) { services, call, request in
            guard services.within(call, request.items.count, "networkRecordsPerRequestMax", services.transport.networkRecordsPerRequestMax, "items") else { return }
            let print = fingerprint(request)
            services.write(call, { context -> Waybill_V1_ErpMessageResult in
                var result = Waybill_V1_ErpMessageResult()
                result.messageID = request.messageID
                if try services.alreadyApplied(request.messageID, fingerprint: print, context: context) {
                    result.replayed = true
                    return result
                }
                try context.atomically {
                    for (index, proto) in request.items.enumerated() {
                        try indexed("items[\(index)]") {
                            try context.engine.upsert(item: Item(proto: proto), context: services.context(call, context), storage: context.engineStorage)
                        }
                    }
                    try services.markApplied(request.messageID, fingerprint: print, subject: "item master", context: context)
                }
                context.networkChanged = true
                result.applied = Int32(request.items.count)
                return result
            }, respond: { .message($0) })
        }

        on(&handlers, Method.ErpService.applyStockSnapshot, Waybill_V1_StockSnapshotMessage.self) { services, call, request in
            guard services.within(call, request.levels.count, "snapshotLevelsMax", services.transport.snapshotLevelsMax, "levels") else { return }
            let print = fingerprint(request)
            services.write(call, { context -> Waybill_V1_ErpMessageResult in
                let outcome = try context.engine.applyStockSnapshot(
                    locationID: LocationID(request.locationID), asOf: Timestamp(millisecondsSinceEpoch: request.asOfUnixMs),
                    levels: request.levels.map { (SKU($0.sku), $0.onHand) }, complete: request.complete, messageID: request.messageID,
                    context: services.context(call, context, fingerprint: print), storage: context.engineStorage)
                var result = Waybill_V1_ErpMessageResult()
                result.messageID = request.messageID
                result.replayed = outcome.replayed
                result.applied = Int32(outcome.applied)
                result.positions = outcome.positions.map { $0.1.position($0.0) }
                return result
            }, respond: { .message($0) })
        }

        on(&handlers, Method.ErpService.applyStockDeltas, Waybill_V1_StockDeltaMessage.self) { services, call, request in
            guard services.within(call, request.changes.count, "inventoryChangesPerRequestMax",
                                  services.transport.inventoryChangesPerRequestMax, "changes") else { return }
            let print = fingerprint(request)
            var changes: [InventoryChange] = []
            do {
                for (index, proto) in request.changes.enumerated() {
                    var change = proto
                    if change.changeID.isEmpty { change.changeID = "\(request.messageID)#\(index)" }
                    changes.append(try indexed("changes[\(index)]") { try InventoryChange(proto: change, defaultKind: .adjustment) })
                }
            } catch {
                call.responder.respond(.from(error))
                return
            }
            let prepared = changes
            services.write(call, { context -> Waybill_V1_ErpMessageResult in
                var result = Waybill_V1_ErpMessageResult()
                result.messageID = request.messageID
                if try services.alreadyApplied(request.messageID, fingerprint: print, context: context) {
                    result.replayed = true
                    return result
                }
                try context.atomically {
                    for (index, change) in prepared.enumerated() {
                        let outcome = try indexed("changes[\(index)]") {
                            try context.engine.applyInventoryChange(change, context: services.context(call, context, fingerprint: print ^ UInt64(index)),
                                                                    storage: context.engineStorage)
                        }
                        result.positions += outcome.positions.map { $0.1.position($0.0) }
                    }
                    try services.markApplied(request.messageID, fingerprint: print, subject: "stock deltas", context: context)
                }
                result.applied = Int32(prepared.count)
                return result
            }, respond: { .message($0) })
        }

        on(&handlers, Method.ErpService.recordOrderAcknowledgement, Waybill_V1_ErpOrderAcknowledgement.self) { services, call, request in
            let print = fingerprint(request)
            let status: ErpPostingStatus = request.postingStatus == .unspecified ? .pending
                : ErpPostingStatus(rawValue: request.postingStatus.rawValue) ?? .pending
            services.write(call, { context -> Waybill_V1_ErpMessageResult in
                let outcome = try context.engine.recordErpAcknowledgement(
                    orderID: OrderID(request.orderID), documentNumber: request.erpDocumentNumber, status: status,
                    messageID: request.messageID, context: services.context(call, context, fingerprint: print), storage: context.engineStorage)
                var result = Waybill_V1_ErpMessageResult()
                result.messageID = request.messageID
                result.replayed = outcome.replayed
                result.applied = outcome.replayed ? 0 : 1
                return result
            }, respond: { .message($0) })
        }

        on(&handlers, Method.ErpService.recordDocumentPosted, Waybill_V1_ErpDocumentPosted.self) { services, call, request in
            let print = fingerprint(request)
            let document = ErpDocument(kind: request.document.kind, documentNumber: request.document.documentNumber,
                                       amount: request.document.hasAmount ? Money(proto: request.document.amount) : nil,
                                       postedAt: Timestamp(millisecondsSinceEpoch: request.document.postedAtUnixMs))
            if document.kind != "invoice" && document.kind != "credit_note" {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "document.kind: must be \"invoice\" or \"credit_note\"")))
                return
            }
            services.write(call, { context -> Waybill_V1_ErpMessageResult in
                let outcome = try context.engine.recordErpDocument(
                    orderID: OrderID(request.orderID), document: document, messageID: request.messageID,
                    context: services.context(call, context, fingerprint: print), storage: context.engineStorage)
                var result = Waybill_V1_ErpMessageResult()
                result.messageID = request.messageID
                result.replayed = outcome.replayed
                result.applied = outcome.replayed ? 0 : 1
                return result
            }, respond: { .message($0) })
        }

        on(&handlers, Method.ErpService.reportBridgeStatus, Waybill_V1_BridgeStatus.self) { services, call, request in
            if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: services.configuration.domain) {
                call.responder.respond(.failure(WaybillStatusError(error)))
                return
            }
            var status = request
            // Computed when read, never stored.
            status.stale = false
            status.reportAgeMs = 0
            services.write(call, { context in
                status.reportedAtUnixMs = context.now.millisecondsSinceEpoch
                try context.saveBridgeStatus(status)
                return status
            }, respond: { saved in
                services.metrics.bridgeReported(saved)
                return .message(saved)
            })
        }

        on(&handlers, Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest.self) { services, call, request in
            services.blocking(call, { try services.reader.bridgeStatuses() }) { statuses in
                var list = Waybill_V1_BridgeStatusList()
                let now = services.configuration.clock().millisecondsSinceEpoch
                list.bridges = statuses.filter { request.consumer.isEmpty || $0.consumer == request.consumer }
                    .map { BridgeStatusFreshness.annotated($0, nowUnixMs: now) }
                return .message(list)
            }
        }

        registerReconciliation(&handlers)
    }

    func alreadyApplied(_ messageID: String, fingerprint: UInt64, context: WriteContext) throws -> Bool {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: configuration.domain) { throw error }
        guard let record = try context.engineStorage.requestRecord("erp:" + messageID) else { return false }
        if record.fingerprint != fingerprint {
            throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
        }
        return true
    }

    func markApplied(_ messageID: String, fingerprint: UInt64, subject: String, context: WriteContext) throws {
        try context.engineStorage.recordRequest(RequestRecord(key: "erp:" + messageID, fingerprint: fingerprint, subject: subject, at: context.now))
    }

    // MARK: - System

    static func registerSystemService(_ handlers: inout [String: Handler]) {
        on(&handlers, Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest.self) { services, call, _ in
            var info = Waybill_V1_ServerInfo()
            info.serverVersion = services.configuration.version
            info.protocolVersions = ProtocolVersions.supported.map { Int32($0.rawValue) }
            var limits = services.transport.named
            let domain = services.configuration.domain
            let reconciliation = services.configuration.reconciliation
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
                ("writeQueueDepthMax", Int64(services.configuration.writer.writeQueueDepthMax), "writes waiting for the writer"),
                ("writeBatchMax", Int64(services.configuration.writer.writeBatchMax), "writes per transaction"),
                ("writeQueueDelayTargetMilliseconds", services.configuration.writer.admission.writeQueueDelayTargetMilliseconds, "queueing delay of writes beyond which, for an interval, client writes are refused"),
                ("writeQueueDelayIntervalMilliseconds", services.configuration.writer.admission.writeQueueDelayIntervalMilliseconds, "how long the delay stays above its target before refusals start"),
                ("routingCandidatesMax", Int64(services.configuration.routing.routingCandidatesMax), "locations in the split search"),
                ("routingSearchSetsMax", Int64(services.configuration.routing.routingSearchSetsMax), "location sets examined per routing decision"),
                ("sessionsMax", Int64(reconciliation.sessionsMax), "reconciliation sessions open at once"),
                ("chunkRecordsMax", Int64(reconciliation.chunkRecordsMax), "orders + stock records in one AddExtractChunk"),
                ("sessionIdleTimeoutMilliseconds", reconciliation.sessionIdleTimeoutMilliseconds, "a reconciliation session untouched this long is dropped"),
                ("stockPositionsPerSessionMax", Int64(reconciliation.stockPositionsPerSessionMax), "stock records one reconciliation session keeps"),
                ("erpOnlyRecordsPerSessionMax", Int64(reconciliation.erpOnlyRecordsPerSessionMax), "ERP records of orders Waybill lacks kept by one session"),
                ("discrepanciesListedMax", Int64(reconciliation.discrepanciesListedMax), "discrepancies listed in one report (counts stay exact)"),
                ("repairsPerWriterJobMax", Int64(reconciliation.repairsPerWriterJobMax), "reconciliation repairs per writer job"),
            ]
            limits += operatorSettings(services.configuration)
            info.limits = limits.map { limit in
                var l = Waybill_V1_Limit()
                l.name = limit.name
                l.value = limit.value
                l.description_p = limit.description
                return l
            }
            info.startedAtUnixMs = services.startedAt.millisecondsSinceEpoch
            info.nowUnixMs = services.configuration.clock().millisecondsSinceEpoch
            info.databasePath = services.configuration.databasePath
            info.connections = Int32(services.connectionCount())
            call.responder.respond(.message(info))
        }

        on(&handlers, Method.SystemService.getMetrics, Waybill_V1_GetMetricsRequest.self) { services, call, _ in
            var text = Waybill_V1_MetricsText()
            text.text = services.configuration.metricsText()
            call.responder.respond(.message(text))
        }
    }
}
