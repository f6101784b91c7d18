// `waybill bench options`: GetFulfillmentOptions queries per second while captures run open-loop,
// and what the options load does to the captures' latency. Interleaved in one run on one server:
// (A) captures alone at --capture-rate, (B) the same captures while an options load runs over its
// own connections — closed-loop (as fast as answered), or open-loop at --options-rate, the rate the
// target names; rounds alternate A-B and B-A, figures are medians (issue 15).

import ArgumentParser
import Foundation
import Histogram
import NIOCore
import Synchronization
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

struct OptionsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "GetFulfillmentOptions queries/s for 3-line carts while captures run open-loop, and the captures' p99 with and without them.")

    @Option var locations = 100
    @Option var skus = 5_000
    @Option(help: "Lines per cart and per captured order.") var lines = 3
    @Option(help: "Open-loop captures per second, in A and in B.") var captureRate = 5_000
    @Option(help: "Seconds of each phase.") var seconds = 10
    @Option(help: "Rounds (each one A and one B, alternating which goes first); medians are reported.") var repeats = 3
    @Option(help: "Connections of the open-loop captures.") var captureConnections = 4
    @Option(help: "Connections of the options load (separate from the captures').") var optionConnections = 4
    @Option(help: "Options calls in flight per options connection (closed loop).") var inFlight = 4
    @Option(help: "Options queries per second in B, open-loop (calls of --queries-per-call); 0: closed loop, as fast as answered.")
    var optionsRate = 0
    @Option(help: "Queries (carts) per GetFulfillmentOptions call.") var queriesPerCall = 10
    @Option(help: "Share of queries that ask for pickup at the 2 stores nearest the ship-to (pickup_only) instead of shipping.")
    var pickupShare = 0.2
    @Option(help: "Open-loop sender tick, microseconds.") var tickMicroseconds = 100
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    struct Phase: Codable {
        var capture: LatencySummary
        var cpuMicrosecondsPerSecond: Double
        var optionQueriesPerSecond: Double?
        var optionCall: LatencySummary?
    }

    struct Report: Codable {
        var captureRate: Int
        /// B's options load: queries/s offered open-loop, or 0 for a closed loop.
        var optionsRate: Int
        var queriesPerCall: Int
        var lines: Int
        var alone: [Phase]
        var withOptions: [Phase]
        var medianOptionQueriesPerSecond: Double
        var medianCaptureP99Alone: Double
        var medianCaptureP99WithOptions: Double
        var medianP99DifferenceMilliseconds: Double
        var cpuMicrosecondsPerQuery: Double
        /// The options load with no captures: queries/s and process CPU per query (all threads).
        var aloneQueriesPerSecond: [Double]
        var aloneCpuMicrosecondsPerQuery: [Double]
    }

    func run() async throws {
        guard queriesPerCall >= 1, queriesPerCall <= TransportLimits().fulfillmentOptionQueriesPerCallMax else {
            throw ValidationError("--queries-per-call must be in 1...\(TransportLimits().fulfillmentOptionQueriesPerCallMax)")
        }
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-options-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var random = BenchRandom(state: 15)
        let bench = try await BenchServer.start(directory: directory, locations: locations, skus: skus, random: &random)
        let captureClients = try await bench.channelClients(captureConnections)
        let optionClients = try await bench.channelClients(optionConnections)
        let optionPayloads = try (0..<1_000).map { _ in try optionsRequest(&random).serializedBytes() as [UInt8] }

        // The queries are answered, not refused: every result OK, and what their options are.
        let sample = try Waybill_V1_GetFulfillmentOptionsResponse(serializedBytes: try await optionClients[0].send(
            method: Method.CheckoutService.getFulfillmentOptions, payload: optionPayloads[0]).get())
        if let refused = sample.results.first(where: { $0.status.code != .ok }) {
            throw CLIError("an options query was refused: \(refused.status.code.name) \(refused.status.message)")
        }
        let outcomes = Dictionary(grouping: sample.results.flatMap(\.options), by: { "\($0.method == .pickup ? "pickup" : "ship") \(String(describing: $0.outcome))" })
        print("one call's options: " + outcomes.keys.sorted().map { "\(outcomes[$0]!.count) \($0)" }.joined(separator: ", "))
        // Warm up both paths.
        _ = try await CaptureBench.openLoop(clients: captureClients, work: try BenchNetwork.capturePayloads(
            captureRate, lines: lines, skus: skus, prefix: "warm", random: &random), rate: captureRate, tickMicroseconds: tickMicroseconds)
        _ = try await optionsLoad(clients: optionClients, payloads: optionPayloads, seconds: 1)

        var alone: [Phase] = [], withOptions: [Phase] = []
        var optionsOnly: [(queries: Double, cpu: Double)] = []
        for round in 0..<repeats {
            // C: the options load alone (no captures): its own ceiling, and its CPU per query.
            let cpuBefore = processCPUNanoseconds()
            let only = try await optionsLoad(clients: optionClients, payloads: optionPayloads, seconds: Double(seconds) / 2)
            let cpuPerQuery = Double(processCPUNanoseconds() - cpuBefore) / 1000 / (only.queriesPerSecond * Double(seconds) / 2)
            optionsOnly.append((only.queriesPerSecond, cpuPerQuery))
            print(String(format: "round %d C (options alone): %.0f queries/s, %.1f µs of process CPU per query, call ", round + 1,
                         only.queriesPerSecond, cpuPerQuery) + only.latency.line)
            for loaded in round % 2 == 0 ? [false, true] : [true, false] {
                let work = try BenchNetwork.capturePayloads(captureRate * seconds, lines: lines, skus: skus,
                                                            prefix: "r\(round)-\(loaded ? "b" : "a")", random: &random)
                let cpuBefore = processCPUNanoseconds()
                let wallBefore = Date()
                var phase: Phase
                if loaded && optionsRate > 0 {
                    // Open loop at the target's rate: the options calls are sent on schedule whatever
                    // their answers take, over the same seconds as the captures.
                    let callRate = max(1, optionsRate / queriesPerCall)
                    let calls = (0..<callRate * seconds).map { optionPayloads[$0 % optionPayloads.count] }
                    let started = Date()
                    async let load = CaptureBench.openLoop(clients: optionClients, work: calls, rate: callRate,
                                                           tickMicroseconds: tickMicroseconds, method: Method.CheckoutService.getFulfillmentOptions)
                    let capture = try await CaptureBench.openLoop(clients: captureClients, work: work, rate: captureRate,
                                                                  tickMicroseconds: tickMicroseconds)
                    let options = try await load
                    let answered = Double(options.count) * Double(queriesPerCall) / Date().timeIntervalSince(started)
                    phase = Phase(capture: capture, cpuMicrosecondsPerSecond: 0, optionQueriesPerSecond: answered, optionCall: options)
                } else if loaded {
                    async let load = optionsLoad(clients: optionClients, payloads: optionPayloads, seconds: Double(seconds) + 0.5)
                    let capture = try await CaptureBench.openLoop(clients: captureClients, work: work, rate: captureRate,
                                                                  tickMicroseconds: tickMicroseconds)
                    let options = try await load
                    phase = Phase(capture: capture, cpuMicrosecondsPerSecond: 0, optionQueriesPerSecond: options.queriesPerSecond,
                                  optionCall: options.latency)
                } else {
                    let capture = try await CaptureBench.openLoop(clients: captureClients, work: work, rate: captureRate,
                                                                  tickMicroseconds: tickMicroseconds)
                    phase = Phase(capture: capture, cpuMicrosecondsPerSecond: 0)
                }
                phase.cpuMicrosecondsPerSecond = Double(processCPUNanoseconds() - cpuBefore) / 1000 / Date().timeIntervalSince(wallBefore)
                if loaded { withOptions.append(phase) } else { alone.append(phase) }
                print("round \(round + 1) \(loaded ? "B (with options)" : "A (alone)       "): captures \(captureRate)/s \(phase.capture.line); "
                      + String(format: "process CPU %.2f cores", phase.cpuMicrosecondsPerSecond / 1e6))
                if let queries = phase.optionQueriesPerSecond, let call = phase.optionCall {
                    print(String(format: "  options: %.0f queries/s (%d per call), call ", queries, queriesPerCall) + call.line)
                }
            }
        }
        let queries = median(withOptions.compactMap(\.optionQueriesPerSecond))
        let p99A = median(alone.map(\.capture.p99)), p99B = median(withOptions.map(\.capture.p99))
        // CPU the options load added per query: B's process CPU minus A's, per query (medians).
        let cpuPerQuery = queries > 0 ? (median(withOptions.map(\.cpuMicrosecondsPerSecond)) - median(alone.map(\.cpuMicrosecondsPerSecond))) / queries : 0
        print(String(format: "medians over %d rounds: options %.0f queries/s (%d-line carts, %d per call, %.0f%% pickup) while capturing %d/s; "
                     + "capture p50 %.3f / %.3f ms, p99 %.3f / %.3f ms (%+.3f ms), p99.9 %.3f / %.3f ms (A alone / B with options); "
                     + "process CPU %.1f µs per query (B − A)",
                     repeats, queries, lines, queriesPerCall, pickupShare * 100, captureRate,
                     median(alone.map(\.capture.p50)), median(withOptions.map(\.capture.p50)), p99A, p99B, p99B - p99A,
                     median(alone.map(\.capture.p999)), median(withOptions.map(\.capture.p999)), cpuPerQuery))
        print(String(format: "  options alone (no captures): %.0f queries/s, %.1f µs of process CPU per query (medians)",
                     median(optionsOnly.map(\.queries)), median(optionsOnly.map(\.cpu))))
        print("  capture p99 by round (A/B, ms): " + zip(alone, withOptions).map { String(format: "%.2f/%.2f", $0.capture.p99, $1.capture.p99) }
            .joined(separator: ", "))
        if let json {
            let report = Report(captureRate: captureRate, optionsRate: optionsRate, queriesPerCall: queriesPerCall, lines: lines, alone: alone, withOptions: withOptions,
                                medianOptionQueriesPerSecond: queries, medianCaptureP99Alone: p99A, medianCaptureP99WithOptions: p99B,
                                medianP99DifferenceMilliseconds: p99B - p99A, cpuMicrosecondsPerQuery: cpuPerQuery,
                                aloneQueriesPerSecond: optionsOnly.map(\.queries), aloneCpuMicrosecondsPerQuery: optionsOnly.map(\.cpu))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        for client in captureClients + optionClients { await client.close() }
        try await bench.group.shutdownGracefully()
        await bench.server.shutdown()
    }

    /// One options call: `queriesPerCall` carts of `lines` distinct SKUs, shipped (standard: the
    /// benchmark network's one carrier service) to a random US place, or picked up at the nearest stores.
    func optionsRequest(_ random: inout BenchRandom) -> Waybill_V1_GetFulfillmentOptionsRequest {
        var request = Waybill_V1_GetFulfillmentOptionsRequest()
        for number in 0..<queriesPerCall {
            let order = BenchNetwork.order(number, lines: lines, skus: skus, random: &random, prefix: "q")
            var query = Waybill_V1_FulfillmentOptionsQuery()
            query.queryID = "q\(number)"
            query.channel = .web
            query.lines = order.lines
            query.shipTo = order.shipTo
            if random.unit() < pickupShare {
                query.pickupOnly = true
                query.nearbyPickupStores = 2
            } else {
                query.serviceLevels = [.standard]
            }
            request.queries.append(query)
        }
        return request
    }

    /// Closed loop: `inFlight` options calls outstanding per connection for `seconds`; queries/s and call latency.
    func optionsLoad(clients: [WaybillClient], payloads: [[UInt8]], seconds: Double) async throws -> (queriesPerSecond: Double, latency: LatencySummary) {
        let histogram = SharedSync(Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)))
        let failures = SharedSync(Atomic<Int>(0))
        let firstFailure = SharedSync(Mutex<String?>(nil))
        let start = Date()
        _ = try await benchClosedLoop(clients: clients, inFlight: inFlight, until: start.addingTimeInterval(seconds),
                                      method: Method.CheckoutService.getFulfillmentOptions, payloads: payloads) { result, latency in
            switch result {
            case .success: histogram.value.withLock { _ = $0.record(latency) }
            case .failure(let error):
                failures.value.wrappingAdd(1, ordering: .relaxed)
                firstFailure.value.withLock { $0 = $0 ?? "\(error)" }
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        let failed = failures.value.load(ordering: .relaxed)
        if failed > 0 { throw CLIError("\(failed) options calls failed; the first: \(firstFailure.value.withLock { $0 } ?? "?")") }
        let answered = histogram.value.withLock { $0 }
        return (Double(answered.totalCount) * Double(queriesPerCall) / elapsed, LatencySummary(answered))
    }
}
