// The live driver's change-feed subscriptions, and the audit of the whole feed after the run.
// With server faults a subscription ends when the server dies; the driver subscribes again on a
// new connection from the offset after the last one it received, so its consumers see every
// offset once, in order. Without them an ended subscription is a failure, reported as such.

import Foundation
import WaybillClient
import WaybillProto
import WaybillWire

enum LiveFeed {
    /// Follows `consumerName` from offset 1, pushing its events into the inbox until cancelled,
    /// each frame stamped with `serverNow()` on arrival (the sync's delivery lag).
    static func follow(_ consumer: FeedConsumer, consumerName: String, connection: LiveConnection, inbox: Inbox,
                       windowEvents: UInt32, resubscribes: Bool, serverNow: @escaping @Sendable () -> Int64) -> Task<Void, Never> {
        Task.detached {
            var last: UInt64 = 0
            var firstFailure: UInt64?
            while !Task.isCancelled {
                var reason = "not connected"
                let client = connection.client
                if let client {
                    var request = Waybill_V1_SubscribeRequest()
                    request.consumer = consumerName
                    request.fromOffset = last + 1
                    request.windowEvents = windowEvents
                    request.maxEventsPerFrame = 512
                    reason = "stream ended"
                    do {
                        for try await response in try client.subscribe(request) {
                            // A subscription made again may repeat what the last one sent.
                            let events = response.events.filter { $0.offset > last }.map(WireRequest.feedEvent)
                            firstFailure = nil
                            guard let newest = events.last else { continue }
                            last = newest.offset
                            inbox.push(.feed(consumer, events, receivedAt: serverNow()))
                        }
                    } catch {
                        reason = "\(error)"
                    }
                }
                if Task.isCancelled { return }
                let failedAt = firstFailure ?? wallNanoseconds()
                firstFailure = failedAt
                guard resubscribes, wallNanoseconds() - failedAt < LiveFaultLimits.unansweredResendWindowMilliseconds * 1_000_000 else {
                    inbox.push(.feedEnded(consumer, reason))
                    return
                }
                await connection.reconnect(replacing: client)
                try? await Task.sleep(for: .milliseconds(LiveFaultLimits.unansweredResendDelayMilliseconds))
            }
        }
    }

    struct Audit: Sendable {
        var gapFree: Bool
        var eventsRead: UInt64
        var head: UInt64
        var detail: String
    }

    /// How long reading the whole feed back may take.
    static let auditTimeoutMilliseconds: UInt64 = 120_000

    /// Reads the whole stored feed under a consumer of its own and checks that the offsets run
    /// from the earliest stored one to the head without a gap or a repeat.
    static func audit(_ client: WaybillClient, consumerName: String) async throws -> Audit {
        let info = try await client.feedInfo()
        let head = info.headOffset
        guard head > 0 else { return Audit(gapFree: true, eventsRead: 0, head: 0, detail: "the feed is empty") }
        let first = max(1, info.earliestOffset)
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = consumerName
        request.fromOffset = first
        request.maxEventsPerFrame = 512
        var expected = first
        var read: UInt64 = 0
        var problems: [String] = []
        let deadline = wallNanoseconds() + auditTimeoutMilliseconds * 1_000_000
        let stream = try client.subscribe(request)
        var iterator = stream.makeAsyncIterator()
        while expected <= head {
            guard wallNanoseconds() < deadline else {
                problems.append("read stopped at offset \(expected - 1) of \(head) after \(auditTimeoutMilliseconds / 1000) s")
                break
            }
            guard let response = try await iterator.next() else {
                problems.append("the stream ended at offset \(expected - 1) of \(head)")
                break
            }
            for event in response.events where event.offset <= head {
                read += 1
                if event.offset != expected, problems.count < 10 {
                    problems.append(event.offset > expected ? "offsets \(expected)…\(event.offset - 1) missing" : "offset \(event.offset) repeated")
                }
                expected = max(expected, event.offset + 1)
            }
            if let last = response.events.last { _ = try await client.acknowledge(consumer: consumerName, offset: last.offset) }
        }
        var delete = Waybill_V1_DeleteConsumerRequest()
        delete.consumer = consumerName
        _ = try? await client.send(method: Method.ChangeFeedService.deleteConsumer, payload: try delete.serializedBytes()).get()
        let detail = problems.isEmpty
            ? "offsets \(first)…\(head) read back, contiguous" + (first > 1 ? " (1…\(first - 1) pruned by retention)" : "")
            : problems.joined(separator: "; ")
        return Audit(gapFree: problems.isEmpty && read == head - first + 1, eventsRead: read, head: head, detail: detail)
    }
}
