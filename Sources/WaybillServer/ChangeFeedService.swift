// waybill.v1.ChangeFeedService: subscribe (a server stream with a window), acknowledge, feed info.

import Foundation
import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func acknowledge(_ request: Waybill_V1_AcknowledgeRequest, call: Call) {
        if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: self.configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        let head = self.feed.head
        if request.offset > head {
            call.responder.respond(.failure(WaybillStatusError(.outOfRange, "offset \(request.offset) is beyond the head of the feed (\(head))")))
            return
        }
        let caller = call.caller, consumersMax = transport.consumersPerCredentialMax
        self.write(call, { context in
            _ = try context.consumer(request.consumer, for: caller, .acknowledge, consumersPerCredentialMax: consumersMax)
            return try context.acknowledge(consumer: request.consumer, offset: request.offset, ownerCredentialID: caller.credentialID)
        }, respond: { record in
            self.feed.acknowledged(consumer: record.name, offset: record.acknowledgedOffset)
            var response = Waybill_V1_AcknowledgeResponse()
            response.consumer = self.consumerInfo(record, head: self.feed.head, connected: self.feed.connectedConsumers())
            return .message(response)
        })
    }

    func getFeedInfo(_ request: Waybill_V1_GetFeedInfoRequest, call: Call) {
        self.blocking(call, { try self.feedInfo() }) { .message($0) }
    }

    func deleteConsumer(_ request: Waybill_V1_DeleteConsumerRequest, call: Call) {
        let caller = call.caller, consumersMax = transport.consumersPerCredentialMax
        self.write(call, { context in
            _ = try context.consumer(request.consumer, for: caller, .delete, consumersPerCredentialMax: consumersMax)
            return try context.deleteConsumer(request.consumer)
        }, respond: { deleted in
            guard deleted else { return .failure(WaybillStatusError(.notFound, "consumer \(request.consumer) not found")) }
            do {
                return .message(try self.feedInfo())
            } catch {
                return .from(error)
            }
        })
    }

    /// Stores the acknowledgement a filtered subscription makes for the events its client may not see.
    func acknowledgePassed(consumer: String, offset: UInt64) {
        writer.submit(Job(kind: "AcknowledgePassed", { context in try context.advanceAcknowledgement(consumer: consumer, to: offset) }) { result in
            if case .success(true) = result { self.feed.acknowledged(consumer: consumer, offset: offset) }
        })
    }

    static func subscriptionsExhausted(_ limit: Int) -> WaybillStatusError {
        var error = WaybillStatusError.limit(.resourceExhausted, name: "subscriptionsMax", value: limit, "too many open subscriptions")
        error.details.retryAfterMs = 1_000
        return error
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
    func subscribe(_ request: Waybill_V1_SubscribeRequest, call: Call, stream connection: CallStream) {
        if let error = Validation.checkIdentifier(request.consumer, field: "consumer", limits: configuration.domain) {
            call.responder.respond(.failure(WaybillStatusError(error)))
            return
        }
        guard within(call, Int(request.windowEvents), "subscriptionWindowEventsMax", Int(transport.subscriptionWindowEventsMax), "window_events"),
              within(call, Int(request.maxEventsPerFrame), "eventsPerFrameMax", Int(transport.eventsPerFrameMax), "max_events_per_frame")
        else { return }
        // A cheap early refusal; the authoritative check is the hub's atomic add below.
        if feed.subscriptionCount >= transport.subscriptionsMax {
            metrics.rejected(reason: "subscriptionsMax")
            call.responder.respond(.failure(Self.subscriptionsExhausted(transport.subscriptionsMax)))
            return
        }
        let caller = call.caller, consumersMax = transport.consumersPerCredentialMax
        let window = UInt64(request.windowEvents == 0 ? transport.subscriptionWindowEventsDefault : request.windowEvents)
        let perFrame = Int(request.maxEventsPerFrame == 0 ? transport.eventsPerFrameDefault : request.maxEventsPerFrame)
        let box = call.responder.connectionBox
        // Registration goes through the writer (the consumers table), then the stream starts on the loop.
        writer.submit(Job(kind: "Subscribe", deadlineUptimeNanoseconds: .max, { context -> (ConsumerRecord, UInt64, UInt64) in
            let existing = try context.consumer(request.consumer, for: caller, .subscribe, consumersPerCredentialMax: consumersMax)
            let record = try existing ?? context.acknowledge(consumer: request.consumer, offset: 0, ownerCredentialID: caller.credentialID)
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
                    let subscription = FeedSubscription(consumer: request.consumer, visibleChannels: FeedConsumerRules.visibleChannels(caller),
                                                        callID: call.callID, from: start,
                                                        acknowledged: acknowledged, window: window, eventsPerFrame: perFrame,
                                                        box: box, hub: self.feed, metrics: self.metrics,
                                                        invisibleAcknowledgementLagEventsMax: self.transport.filteredAcknowledgementLagEventsMax,
                                                        acknowledgeInvisible: { offset in self.acknowledgePassed(consumer: request.consumer, offset: offset) },
                                                        credentialStillValid: self.streamCredentialCheck(caller))
                    guard self.feed.add(subscription, subscriptionsMax: self.transport.subscriptionsMax) else {
                        self.metrics.rejected(reason: "subscriptionsMax")
                        connection.finish(callID: call.callID, response: .failure(Self.subscriptionsExhausted(self.transport.subscriptionsMax)))
                        return
                    }
                    guard connection.attachStream(callID: call.callID, subscription) else {
                        self.feed.remove(subscription)
                        return
                    }
                    subscription.pump()
                }
            }
        })
    }
}
