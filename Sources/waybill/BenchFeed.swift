// `waybill bench feed`: change-feed latency from commit to consumer, under open-loop capture load.
//
// An embedded server on a temporary database; captures sent at a fixed rate over several
// connections regardless of answers; a subscriber on its own connection and thread. Each
// order.captured event carries occurred_at = its commit batch's clock reading (taken as the batch
// starts, so the figure includes the batch's work and its fsync); the subscriber compares it with
// the wall clock at receipt (same clock, same machine). occurred_at has millisecond resolution and
// is truncated, so figures may read up to 1 ms high, never low.

import ArgumentParser
import Dispatch
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillSimulator
import WaybillWire

struct FeedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed", abstract: "Change-feed latency from commit to a connected consumer under open-loop capture load.")

    @Option(help: "Captures per second (open loop).") var rate = 5_000
    @Option(help: "Seconds of measured load.") var seconds = 10
    @Option(help: "Seconds of load before measuring (warm-up).") var warmupSeconds = 2
    @Option(help: "Client connections sending captures.") var connections = 4
    @Option(help: "Lines per order.") var lines = 1
    @Option(help: "SKUs in the catalogue.") var skus = 2_000
    @Option(help: "Locations in the network.") var locations = 20
    @Option(help: "Subscription window (events beyond the acknowledged offset).") var window: UInt32 = 65_536
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    struct Report: Codable {
        var rate: Int
        var seconds: Int
        var events: UInt64
        var commitToConsumer: LatencySummary
        var captureFailures: Int
        var achievedCapturesPerSecond: Double
        var residentMegabytes: Double
    }

    func run() async throws {
        guard rate > 0, seconds > 0, connections > 0 else { throw ValidationError("--rate, --seconds and --connections must be positive") }
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-feed-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("feed.sqlite").path
        configuration.transport.callsInFlightPerConnectionMax = 65_536
        // Secured as deployed: TLS; the admin loads the network, the web channel captures, the ERP subscribes.
        let security = try EmbeddedServerSecurity.make(tls: true, directory: directory)
        security.configure(&configuration)
        let server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        let senders = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let receiverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var random = BenchRandom(state: 2026)
        var clients: [WaybillClient] = []
        let channelConfiguration = security.client(token: security.channelToken(.web), clientID: "bench")
        for _ in 0..<connections {
            clients.append(try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: channelConfiguration, group: senders))
        }
        let admin = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                    configuration: security.client(token: security.adminToken, clientID: "bench-admin"), group: senders)
        _ = try await admin.loadNetwork(BenchNetwork.model(locations: locations, skus: skus, stockPerSKU: 1_000_000, random: &random))
        await admin.close()

        // The subscriber: starts at the current head, measures order.captured events.
        let subscriber = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                         configuration: security.client(token: security.erpToken, clientID: "bench-feed"), group: receiverGroup)
        let start = try await subscriber.feedInfo().headOffset + 1
        let total = rate * (seconds + warmupSeconds)
        let warmupCount = rate * warmupSeconds
        let shared = FeedBenchState()
        var request = Waybill_V1_SubscribeRequest()
        request.consumer = "bench-feed-\(getpid())"
        request.fromOffset = start
        request.windowEvents = window
        request.maxEventsPerFrame = 1_024
        let frames = subscriber.stream(method: Method.ChangeFeedService.subscribe, payload: try request.serializedBytes())
        let consumer = request.consumer
        let receiving = Task {
            var lastAcknowledged: UInt64 = 0
            for try await frame in frames {
                let receivedMicroseconds = UInt64(Date().timeIntervalSince1970 * 1_000_000)
                let scan = FeedScan.scan(frame)
                if shared.measuring.load(ordering: .relaxed) {
                    shared.histogram.withLock { h in
                        for occurred in scan.capturedAtMilliseconds {
                            let committed = UInt64(occurred) * 1_000
                            _ = h.record(receivedMicroseconds > committed ? receivedMicroseconds - committed : 0)
                        }
                    }
                }
                let count = shared.seen.wrappingAdd(scan.capturedAtMilliseconds.count, ordering: .relaxed).newValue
                if scan.lastOffset > lastAcknowledged + 4_096 {
                    lastAcknowledged = scan.lastOffset
                    _ = subscriber.send(method: Method.ChangeFeedService.acknowledge, payload: try {
                        var ack = Waybill_V1_AcknowledgeRequest()
                        ack.consumer = consumer
                        ack.offset = scan.lastOffset
                        return try ack.serializedBytes()
                    }())
                }
                if count >= total { return }
            }
        }

        // Open loop: order i is due at start + i / rate; a 1 ms timer per connection sends what is due.
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(total)
        for number in 0..<total {
            var capture = Waybill_V1_CaptureOrderRequest()
            capture.order = BenchNetwork.order(number, lines: lines, skus: skus, random: &random, prefix: "feed")
            payloads.append(try capture.serializedBytes())
        }
        let work = payloads
        let senderClients = clients
        let interval = 1_000_000_000 / UInt64(rate)
        let began = DispatchTime.now().uptimeNanoseconds + 10_000_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (slot, client) in senderClients.enumerated() {
                group.addTask {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                        let state = NIOLoopBoundBox.makeBoxSendingValue((next: slot, answered: 0), eventLoop: client.eventLoop)
                        let mine = stride(from: slot, to: work.count, by: senderClients.count).underestimatedCount
                        client.eventLoop.execute {
                            client.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
                                let now = DispatchTime.now().uptimeNanoseconds
                                while state.value.next < work.count {
                                    let index = state.value.next
                                    if began + UInt64(index) * interval > now { break }
                                    if index == warmupCount { shared.measuring.store(true, ordering: .relaxed) }
                                    state.value.next += senderClients.count
                                    client.send(method: Method.OrderService.captureOrder, payload: work[index]).whenComplete { result in
                                        if case .failure(let error) = result {
                                            shared.failures.wrappingAdd(1, ordering: .relaxed)
                                            shared.firstFailure.withLock { $0 = $0 ?? "\(error)" }
                                        }
                                        state.value.answered += 1
                                        if state.value.answered == mine { continuation.resume() }
                                    }
                                }
                                if state.value.next >= work.count { task.cancel() }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        // Every capture has answered; its event was committed before the answer. Wait for the rest.
        let deadline = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
        while shared.seen.load(ordering: .relaxed) < total - shared.failures.load(ordering: .relaxed) && DispatchTime.now().uptimeNanoseconds < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        receiving.cancel()
        let summary = LatencySummary(shared.histogram.withLock { $0 })
        let failed = shared.failures.load(ordering: .relaxed)
        let rss = residentMegabytes()
        print("change feed, commit → consumer, open loop \(rate) captures/s for \(seconds) s (+\(warmupSeconds) s warm-up), \(connections) connections:")
        print("  \(summary.line)")
        print(String(format: "  achieved %.0f captures/s; %d capture failures; %d order.captured events received; resident memory %.0f MB",
                     Double(total) / elapsed, failed, shared.seen.load(ordering: .relaxed), rss))
        if let first = shared.firstFailure.withLock({ $0 }) { print("  first capture failure: \(first)") }
        if let json {
            let report = Report(rate: rate, seconds: seconds, events: summary.count, commitToConsumer: summary, captureFailures: failed,
                                achievedCapturesPerSecond: Double(total) / elapsed, residentMegabytes: rss)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        for client in clients { await client.close() }
        await subscriber.close()
        try await senders.shutdownGracefully()
        try await receiverGroup.shutdownGracefully()
        await server.shutdown()
        if failed > 0 { throw CLIError("\(failed) captures failed during the run") }
    }
}

final class FeedBenchState: Sendable {
    let measuring = Atomic<Bool>(false)
    let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
    let seen = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    let firstFailure = Mutex<String?>(nil)
}

/// Reads what the benchmark needs from a SubscribeResponse without decoding the orders: for each
/// ChangeEvent (field 1), its offset (1), type (3) and occurred_at (7).
enum FeedScan {
    struct Result {
        var capturedAtMilliseconds: [Int64] = []
        var lastOffset: UInt64 = 0
    }

    static func scan(_ bytes: [UInt8]) -> Result {
        var result = Result()
        var index = 0
        while index < bytes.count {
            guard let key = varint(bytes, &index) else { break }
            let field = key >> 3, wire = key & 7
            if field == 1 && wire == 2, let length = varint(bytes, &index) {
                let end = index + Int(length)
                guard end <= bytes.count else { break }
                var offset: UInt64 = 0, occurred: Int64 = 0, captured = false
                while index < end {
                    guard let inner = varint(bytes, &index) else { break }
                    let innerField = inner >> 3, innerWire = inner & 7
                    switch innerWire {
                    case 0:
                        let value = varint(bytes, &index) ?? 0
                        if innerField == 1 { offset = value }
                        if innerField == 7 { occurred = Int64(bitPattern: value) }
                    case 2:
                        let length = Int(varint(bytes, &index) ?? 0)
                        if innerField == 3 { captured = bytes[index..<min(end, index + length)].elementsEqual("order.captured".utf8) }
                        index += length
                    case 1: index += 8
                    case 5: index += 4
                    default: index = end
                    }
                }
                index = end
                if captured { result.capturedAtMilliseconds.append(occurred) }
                result.lastOffset = max(result.lastOffset, offset)
            } else if wire == 0 {
                _ = varint(bytes, &index)
            } else if wire == 2, let length = varint(bytes, &index) {
                index += Int(length)
            } else {
                break
            }
        }
        return result
    }

    static func varint(_ bytes: [UInt8], _ index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count && shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
