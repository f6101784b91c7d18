// `waybill bench ...`: measured, not guessed. Results go to docs/PERFORMANCE.md with their commands.

import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SwiftProtobuf
import WaybillBenchmarks
import WaybillClient
import WaybillCore
import WaybillFaultInjection
import WaybillGRPC
import WaybillProto
import WaybillServer
import WaybillSimulator
import WaybillStore
import WaybillWire

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: capture throughput and latency, routing, availability, change-feed latency.",
        subcommands: [CaptureBench.self, SearchBench.self, CeilingBench.self, EngineBench.self, CancelBacklogBench.self, RoutingBench.self, AvailabilityBench.self, OptionsBench.self, FeedBench.self, ReconcileBench.self, TLSHandshakeBench.self])
}

/// A small deterministic generator (SplitMix64) for benchmark inputs.
struct BenchRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// A synthetic network: warehouses and stores at real US city coordinates, one carrier, items, stock.
enum BenchNetwork {
    static let cities: [(String, String, Double, Double)] = [
        ("Newark", "NJ", 40.7357, -74.1724), ("Dallas", "TX", 32.7831, -96.8067), ("Reno", "NV", 39.5296, -119.8138),
        ("Chicago", "IL", 41.85, -87.65), ("Atlanta", "GA", 33.749, -84.388), ("Seattle", "WA", 47.6062, -122.3321),
        ("Denver", "CO", 39.7392, -104.9847), ("Phoenix", "AZ", 33.4484, -112.074), ("Boston", "MA", 42.3584, -71.0598),
        ("Columbus", "OH", 39.9612, -82.9988), ("Memphis", "TN", 35.1495, -90.049), ("Austin", "TX", 30.2672, -97.7431),
    ]

    static func model(locations: Int, skus: Int, stockPerSKU: Int32, random: inout BenchRandom) -> Waybill_V1_NetworkModel {
        var model = Waybill_V1_NetworkModel()
        for index in 0..<locations {
            let city = cities[index % cities.count]
            var location = Waybill_V1_Location()
            location.locationID = String(format: "LOC-%03d", index)
            location.type = index < 6 ? .warehouse : .store
            location.coordinates.latitude = city.2 + (random.unit() - 0.5) * 0.5
            location.coordinates.longitude = city.3 + (random.unit() - 0.5) * 0.5
            location.region = city.1
            location.country = "US"
            location.ships = true
            location.pickup = index >= 6
            location.active = true
            location.priority = index < 6 ? 1 : 3
            location.processingCost.minorUnits = index < 6 ? 150 : 350
            location.processingCost.currency = "USD"
            model.locations.append(location)
        }
        var carrier = Waybill_V1_Carrier()
        carrier.carrierID = "UPX"
        carrier.active = true
        var ground = Waybill_V1_CarrierService()
        ground.service = "ground"
        ground.serviceLevel = .standard
        for (distanceIndex, distance) in [300.0, 800, 1600, 3000, 6000].enumerated() {
            for (weightIndex, weight) in [1000, 5000, 20000].enumerated() {
                var band = Waybill_V1_RateBand()
                band.maxDistanceKm = distance
                band.maxWeightGrams = Int32(weight)
                band.cost.minorUnits = Int64(650 + 180 * distanceIndex + 150 * weightIndex)
                band.cost.currency = "USD"
                band.transitDays = Int32(distanceIndex + 1)
                ground.rates.append(band)
            }
        }
        carrier.services = [ground]
        model.carriers = [carrier]
        for index in 0..<skus {
            var item = Waybill_V1_Item()
            item.sku = "SKU-\(index)"
            item.weightGrams = Int32(100 + random.int(1500))
            item.active = true
            model.items.append(item)
            // Warehouses carry most of the range, each store a slice of it: routing has real choices.
            for location in 0..<locations where location < 6 ? random.unit() < 0.8 : random.unit() < 0.15 {
                var change = Waybill_V1_InventoryChange()
                change.kind = .receipt
                change.sku = item.sku
                change.locationID = String(format: "LOC-%03d", location)
                change.quantity = stockPerSKU
                change.changeID = "bench-\(index)-\(location)"
                model.initialStock.append(change)
            }
        }
        return model
    }

    /// An engine over memory storage holding a model's network and opening stock (pure-core benchmarks).
    static func engine(locations: Int, skus: Int, random: inout BenchRandom) throws -> (Engine, MemoryStorage, CommandContext) {
        let model = Self.model(locations: locations, skus: skus, stockPerSKU: 1_000_000, random: &random)
        let storage = MemoryStorage(keepsEvents: false, keepsMovements: false)
        var engine = Engine()
        let context = CommandContext(now: Timestamp(millisecondsSinceEpoch: 1_795_700_000_000))
        for location in model.locations { try engine.upsert(location: Location(proto: location), context: context, storage: storage) }
        for carrier in model.carriers { try engine.upsert(carrier: Carrier(proto: carrier), context: context, storage: storage) }
        for item in model.items { try engine.upsert(item: Item(proto: item), context: context, storage: storage) }
        for change in model.initialStock {
            _ = try engine.applyInventoryChange(InventoryChange(proto: change, defaultKind: .receipt), context: context, storage: storage)
        }
        return (engine, storage, context)
    }

    /// Loads a model through the protocol: the network in one call, opening stock in chunks of
    /// inventoryChangesPerRequestMax (a large network exceeds networkRecordsPerRequestMax).
    static func load(_ model: Waybill_V1_NetworkModel, into client: WaybillClient) async throws {
        var network = model
        network.initialStock = []
        _ = try await client.loadNetwork(network)
        let chunk = TransportLimits().inventoryChangesPerRequestMax
        for start in stride(from: 0, to: model.initialStock.count, by: chunk) {
            let response = try await client.receive(Array(model.initialStock[start..<min(start + chunk, model.initialStock.count)]))
            if let failed = response.results.first(where: { $0.status.code != .ok }) { throw WaybillStatusError(failed.status) }
        }
    }

    /// `count` serialized CaptureOrderRequests of `lines`-line web orders named `prefix-N`.
    static func capturePayloads(_ count: Int, lines: Int, skus: Int, prefix: String, random: inout BenchRandom) throws -> [[UInt8]] {
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(count)
        for number in 0..<count {
            var request = Waybill_V1_CaptureOrderRequest()
            request.order = order(number, lines: lines, skus: skus, random: &random, prefix: prefix)
            payloads.append(try request.serializedBytes())
        }
        return payloads
    }

    /// A customer's contacts, as real orders carry (search terms index them): about one customer
    /// per order, spread over the key space rather than in capture order.
    static func customerNumber(_ order: Int) -> Int { (order &* 2_654_435_761) % 1_000_003 }
    static func customerEmail(_ order: Int) -> String { "customer\(customerNumber(order))@example.com" }
    static func customerPhone(_ order: Int) -> String { "+1 555 \(1_000_000 + customerNumber(order))" }

    static func order(_ number: Int, lines: Int, skus: Int, random: inout BenchRandom, prefix: String) -> Waybill_V1_Order {
        var order = Waybill_V1_Order()
        order.channel = .web
        order.externalOrderID = "\(prefix)-\(number)"
        let city = cities[random.int(cities.count)]
        order.shipTo.postalCode = "10001"
        order.shipTo.country = "US"
        order.shipTo.region = city.1
        order.shipTo.coordinates.latitude = city.2 + (random.unit() - 0.5) * 2
        order.shipTo.coordinates.longitude = city.3 + (random.unit() - 0.5) * 2
        order.customer.name = "Bench Customer \(number % 1000)"
        order.customer.email = customerEmail(number)
        order.customer.phone = customerPhone(number)
        order.createdAtUnixMs = 1_795_700_000_000 + Int64(number)
        var used: Set<Int> = []
        for line in 0..<lines {
            var sku = random.int(skus)
            while used.contains(sku) { sku = (sku + 1) % skus }
            used.insert(sku)
            var orderLine = Waybill_V1_OrderLine()
            orderLine.lineID = "\(line + 1)"
            orderLine.sku = "SKU-\(sku)"
            orderLine.quantity = 1
            orderLine.unitPrice.minorUnits = 1999
            orderLine.unitPrice.currency = "USD"
            order.lines.append(orderLine)
        }
        return order
    }
}


/// CPU time of the whole process (every thread: server, writer and the in-process load generator).
func processCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kilobytes / 1024
}

struct LatencySummary: Codable {
    var count: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double

    init(_ histogram: Histogram<UInt64>) {
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000).rounded(toPlaces: 3) }
        count = histogram.totalCount
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        max = ms(histogram.max)
    }

    var line: String { "p50 \(p50) ms  p90 \(p90) ms  p99 \(p99) ms  p99.9 \(p999) ms  max \(max) ms  (n=\(count))" }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = (0..<places).reduce(1.0) { value, _ in value * 10 }
        return (self * scale).rounded() / scale
    }
}

struct CaptureBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Durable capture over the socket vs the raw SQLite ceiling for the same rows, then open-loop latency.")

    @Option(help: "Orders for the throughput runs (ceiling and Waybill).") var orders = 100_000
    @Option(help: "Client connections.") var connections = 8
    @Option(help: "Calls in flight per connection in the throughput run.") var inFlight = 128
    @Option(help: "Lines per order.") var lines = 3
    @Option(help: "SKUs in the catalogue.") var skus = 5_000
    @Option(help: "Locations in the network.") var locations = 100
    @Option(help: "Open-loop rate for the latency run, orders/s (0 skips it).") var rate = 5_000
    @Option(help: "Seconds of the open-loop latency run.") var seconds = 20
    @Option(help: "Repeat the throughput pair this many times (medians are reported).") var repeats = 1
    @Option(help: "Open-loop sender tick, microseconds: each tick sends what is due (latency counts from each call's own due time).")
    var tickMicroseconds = 100
    @Flag(help: "Capture without stock: no routing choice, no reservations (for the with/without comparison).") var noReservations = false
    @Option(help: "Write the figures as JSON to this file.") var json: String?
    @Option(help: "Server event loop threads (0 = one per core).") var serverThreads = 0
    @Option(help: "WAL checkpoint interval of the background checkpointer (0 = SQLite's automatic checkpoint in the commit).") var walCheckpointMilliseconds = ServerConfiguration().walCheckpointIntervalMilliseconds
    @Option(help: "Benchmark hook: microseconds of delay added to every write, through WaybillFaultInjection's WriteDelay (proves load-regression checks catch a slower write path).") var injectWriteDelayMicroseconds = 0
    @Option(help: "Throughput run over Waybill's frames, standard gRPC (HTTP/2, docs/GRPC.md), or both (each round: frames, then gRPC, same server and sizes).") var transport: BenchTransport = .frames

    @Option(help: "Security of the embedded server: on (TLS with a throwaway CA + bearer-token authentication, as deployed), off (plaintext without authentication: a server setting no `waybill serve` flag reaches), ab (both in every round, interleaved, for what security costs), or parts (neither, authentication alone, TLS alone, both, interleaved).")
    var security: BenchSecurityMode = .on

    struct Report: Codable {
        var orders: Int
        var lines: Int
        var reservations: Bool
        var ceilingOrdersPerSecond: [Double]
        var commitMilliseconds: [Double]
        /// The secured server's (or, with --security off, the plaintext one's) throughput per round.
        var captureOrdersPerSecond: [Double]
        var transport: String?
        var grpcCaptureOrdersPerSecond: [Double]?
        var ratio: Double
        var openLoopRate: Int
        var openLoop: LatencySummary?
        var residentMegabytesBefore: Double
        var residentMegabytesAfter: Double
        /// on, off or ab.
        var security: String?
        /// Process CPU per order (all threads: server, writer, load generator) of each round's measured run.
        var cpuMicrosecondsPerOrder: [Double]?
        /// --security ab: every round's open loop of the secured server (openLoop is the last).
        var openLoops: [LatencySummary]?
        /// --security ab: the plaintext server without authentication, same rounds.
        var plaintextCaptureOrdersPerSecond: [Double]?
        var plaintextCpuMicrosecondsPerOrder: [Double]?
        var plaintextOpenLoops: [LatencySummary]?
    }

    /// One round's figures of one server variant.
    struct VariantFigures {
        var captureOrdersPerSecond = 0.0
        var grpcCaptureOrdersPerSecond: Double?
        var cpuMicrosecondsPerOrder = 0.0
        var openLoop: LatencySummary?
    }

    func run() async throws {
        guard injectWriteDelayMicroseconds >= 0 else { throw ValidationError("--inject-write-delay-microseconds must be at least 0") }
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // One throwaway CA and one set of credentials for every secured server of the run.
        let secured = try EmbeddedServerSecurity.make(tls: true, directory: directory)

        var ceilings: [Double] = []
        var commits: [Double] = []
        var figures: [BenchSecurityVariant: [VariantFigures]] = [:]
        var rssBefore = 0.0, rssAfter = 0.0
        let plainVariant = BenchSecurityVariant(tls: false, authentication: false)
        let securedVariant = BenchSecurityVariant(tls: true, authentication: true)
        let compared = security == .ab || security == .parts
        for round in 0..<repeats {
            // Compared variants run in a rotated order each round, so that none always runs on
            // a warmer (or more fragmented) machine.
            var variants: [BenchSecurityVariant] = switch security {
            case .on: [securedVariant]
            case .off: [plainVariant]
            case .ab: [plainVariant, securedVariant]
            case .parts: [plainVariant, BenchSecurityVariant(tls: false, authentication: true),
                          BenchSecurityVariant(tls: true, authentication: false), securedVariant]
            }
            if compared { variants = Array(variants[(round % variants.count)...] + variants[..<(round % variants.count)]) }
            for (position, variant) in variants.enumerated() {
                // The open loop runs in the last round, and in every round of a comparison (its
                // p99 is compared by medians: one run's p99 moves by milliseconds on this machine).
                let result = try await runVariant(round: round, variant: variant, security: secured, directory: directory,
                                                  measuresCeiling: position == 0,
                                                  measuresOpenLoop: rate > 0 && (round == repeats - 1 || compared),
                                                  ceilings: &ceilings, commits: &commits, rssBefore: &rssBefore, rssAfter: &rssAfter)
                figures[variant, default: []].append(result)
            }
        }
        if security == .parts {
            print("security parts, medians over \(repeats) rounds (throughput, process CPU per order, open-loop p50 / p99 / p99.9):")
            for variant in [plainVariant, BenchSecurityVariant(tls: false, authentication: true),
                            BenchSecurityVariant(tls: true, authentication: false), securedVariant] {
                let runs = figures[variant] ?? []
                let open = runs.compactMap(\.openLoop)
                print("  " + variant.label.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%7.0f orders/s  %6.1f µs  %8.3f / %8.3f / %8.3f ms",
                             median(runs.map(\.captureOrdersPerSecond)), median(runs.map(\.cpuMicrosecondsPerOrder)),
                             median(open.map(\.p50)), median(open.map(\.p99)), median(open.map(\.p999))))
            }
        }
        let primary = figures[security == .off ? plainVariant : securedVariant] ?? []
        let captures = primary.map(\.captureOrdersPerSecond)
        let grpcCaptures = primary.compactMap(\.grpcCaptureOrdersPerSecond)
        let ratio = median(captures) / median(ceilings)
        if repeats > 1 {
            print(String(format: "medians over %d rounds: ceiling %.0f/s, capture %.0f/s, ratio %.2f", repeats, median(ceilings), median(captures), ratio))
        }
        if transport == .both {
            print(String(format: "transports, medians over %d rounds: frames %.0f orders/s, gRPC %.0f orders/s (gRPC = %.0f%% of frames)",
                         repeats, median(captures), median(grpcCaptures), 100 * median(grpcCaptures) / median(captures)))
        }
        let plaintext = figures[plainVariant] ?? []
        if compared {
            let a = median(plaintext.map(\.captureOrdersPerSecond)), b = median(captures)
            let cpuA = median(plaintext.map(\.cpuMicrosecondsPerOrder)), cpuB = median(primary.map(\.cpuMicrosecondsPerOrder))
            print(String(format: "security A/B, medians over %d rounds: plaintext without authentication %.0f orders/s, TLS + authentication %.0f orders/s "
                         + "(%+.1f%%); process CPU per order %.1f vs %.1f µs (%+.1f µs)", repeats, a, b, 100 * (b - a) / a, cpuA, cpuB, cpuB - cpuA))
            print("  rounds (plaintext, secured): " + zip(plaintext, primary).map { String(format: "%.0f/%.0f", $0.captureOrdersPerSecond, $1.captureOrdersPerSecond) }
                .joined(separator: ", "))
            let openA = plaintext.compactMap(\.openLoop), openB = primary.compactMap(\.openLoop)
            if !openA.isEmpty && !openB.isEmpty {
                let p99A = median(openA.map(\.p99)), p99B = median(openB.map(\.p99))
                print(String(format: "  open loop %d/s, medians over %d rounds: p50 %.3f vs %.3f ms, p99 %.3f vs %.3f ms (%+.3f ms), p99.9 %.3f vs %.3f ms",
                             rate, min(openA.count, openB.count), median(openA.map(\.p50)), median(openB.map(\.p50)), p99A, p99B, p99B - p99A,
                             median(openA.map(\.p999)), median(openB.map(\.p999))))
                print("  open loop p99 by round (plaintext/secured, ms): "
                      + zip(openA, openB).map { String(format: "%.2f/%.2f", $0.p99, $1.p99) }.joined(separator: ", "))
            }
        }
        if let json {
            let report = Report(orders: orders, lines: lines, reservations: !noReservations, ceilingOrdersPerSecond: ceilings,
                                commitMilliseconds: commits,
                                captureOrdersPerSecond: captures, transport: transport.rawValue,
                                grpcCaptureOrdersPerSecond: grpcCaptures.isEmpty ? nil : grpcCaptures, ratio: ratio, openLoopRate: rate,
                                openLoop: primary.last?.openLoop,
                                residentMegabytesBefore: rssBefore, residentMegabytesAfter: rssAfter, security: security.rawValue,
                                cpuMicrosecondsPerOrder: primary.map(\.cpuMicrosecondsPerOrder),
                                openLoops: compared ? primary.compactMap(\.openLoop) : nil,
                                plaintextCaptureOrdersPerSecond: compared ? plaintext.map(\.captureOrdersPerSecond) : nil,
                                plaintextCpuMicrosecondsPerOrder: compared ? plaintext.map(\.cpuMicrosecondsPerOrder) : nil,
                                plaintextOpenLoops: compared ? plaintext.compactMap(\.openLoop) : nil)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    /// One server of a round: with TLS or plaintext, with authentication (each client calling with
    /// the web channel's credential, the network loaded by the admin) or without.
    func runVariant(round: Int, variant: BenchSecurityVariant, security: EmbeddedServerSecurity, directory: URL,
                    measuresCeiling: Bool, measuresOpenLoop: Bool,
                    ceilings: inout [Double], commits: inout [Double], rssBefore: inout Double, rssAfter: inout Double) async throws -> VariantFigures {
        var result = VariantFigures()
        let label = variant.label
        // 1. Waybill: an embedded server, clients over loopback, many calls in flight.
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("waybill-\(round)-\(variant.tls)-\(variant.authentication).sqlite").path
        configuration.writeJobInterceptor = WriteDelay.forOption(injectWriteDelayMicroseconds)
        configuration.transport.callsInFlightPerConnectionMax = max(inFlight * 2, 1024)
        configuration.walCheckpointIntervalMilliseconds = walCheckpointMilliseconds
        configuration.eventLoopThreads = serverThreads
        if transport != .frames { configuration.grpcPort = 0 }
        security.configure(&configuration)
        configuration.authenticationRequired = variant.authentication
        if !variant.tls { configuration.tls = nil }
        /// A client of this variant calling with `token`.
        func client(token: String, clientID: String) -> ClientConfiguration {
            var configuration = security.client(token: variant.authentication ? token : nil, clientID: clientID)
            if !variant.tls { configuration.tls = nil }
            return configuration
        }
        let server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var random = BenchRandom(state: 42 &+ UInt64(round))
        var clients: [WaybillClient] = []
        let channelToken = variant.authentication ? security.channelToken(.web) : nil
        let clientConfiguration = client(token: security.channelToken(.web), clientID: "bench")
        for _ in 0..<connections {
            clients.append(try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: clientConfiguration, group: group))
        }
        do {
            // The same network every round (its own seed): rounds differ only in their orders.
            // Without reservations it carries no stock (every capture backordered): a capture
            // needs a network loaded.
            var networkRandom = BenchRandom(state: 42)
            var model = BenchNetwork.model(locations: locations, skus: skus, stockPerSKU: 1_000_000, random: &networkRandom)
            if noReservations { model.initialStock = [] }
            let admin = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                        configuration: client(token: security.adminToken, clientID: "bench-admin"),
                                                        group: group)
            try await BenchNetwork.load(model, into: admin)
            await admin.close()
        }
        // Warm up, then measure.
        var grpcClients: [WaybillGRPCClient] = []
        if let grpcPort = server.grpcPort {
            for _ in 0..<connections {
                grpcClients.append(try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "bench", token: channelToken,
                                                         tls: variant.tls ? security.tls.client : nil, eventLoopGroup: group))
            }
        }
        let primaryIsGRPC = transport == .grpc
        if primaryIsGRPC {
            _ = try await grpcClosedLoop(clients: grpcClients, count: min(5_000, orders), prefix: "warm-\(round)", random: &random)
        } else {
            _ = try await closedLoop(clients: clients, count: min(5_000, orders), prefix: "warm-\(round)", random: &random)
        }
        rssBefore = residentMegabytes()
        let indexingBefore = server.database.searchIndex.indexingCost
        let statsBefore = server.writer.statistics
        let processCPUBefore = processCPUNanoseconds()
        let elapsed = primaryIsGRPC
            ? try await grpcClosedLoop(clients: grpcClients, count: orders, prefix: "run-\(round)", random: &random)
            : try await closedLoop(clients: clients, count: orders, prefix: "run-\(round)", random: &random)
        let processCPU = Double(processCPUNanoseconds() - processCPUBefore) / 1000 / Double(orders)
        result.cpuMicrosecondsPerOrder = processCPU
        let stats = server.writer.statistics
        let batches = stats.batches - statsBefore.batches, jobs = stats.jobs - statsBefore.jobs
        print("[\(label)]")
        print(String(format: "writer: %.1f µs of CPU per order; %d batches, %.0f jobs per batch; busy %.0f%% of the run (jobs %.0f%%, commit+fsync %.0f%%, publish+answer %.0f%%); %.1f µs of jobs per order (wall)",
                     Double(stats.cpuNanoseconds - statsBefore.cpuNanoseconds) / 1000 / Double(max(1, jobs)),
                     batches, Double(jobs) / Double(max(1, batches)),
                     100 * Double(stats.busyNanoseconds - statsBefore.busyNanoseconds) / (elapsed * 1e9),
                     100 * Double(stats.runNanoseconds - statsBefore.runNanoseconds) / (elapsed * 1e9),
                     100 * Double(stats.commitNanoseconds - statsBefore.commitNanoseconds) / (elapsed * 1e9),
                     100 * Double(stats.publishNanoseconds - statsBefore.publishNanoseconds) / (elapsed * 1e9),
                     Double(stats.runNanoseconds - statsBefore.runNanoseconds) / 1000 / Double(max(1, jobs))))
        // On two cores the writer is not the only bound: everything else (decoding, validating,
        // routing ahead, answering, and the load generator) shares the machine with it.
        print(String(format: "process: %.1f µs of CPU per order, all threads (writer %.1f, the rest %.1f); %.2f cores busy",
                     processCPU, Double(stats.cpuNanoseconds - statsBefore.cpuNanoseconds) / 1000 / Double(orders),
                     processCPU - Double(stats.cpuNanoseconds - statsBefore.cpuNanoseconds) / 1000 / Double(orders),
                     processCPU * Double(orders) / 1e6 / elapsed))
        // The order search index is written beside the writer, not by it: how far behind the run
        // left it, how long it took to catch up, and the CPU per order counting that catch-up.
        let searchIndex = server.database.searchIndex
        let feedHead = Int64(try StoreReader(database: server.database).feedBounds().head)
        let lagAtEnd = feedHead - searchIndex.indexedThrough
        let catchUpStarted = DispatchTime.now().uptimeNanoseconds
        let caughtUp = searchIndex.waitUntilIndexed(through: feedHead, seconds: 120)
        let indexing = server.database.searchIndex.indexingCost
        print(String(format: "search index: %lld events behind at the end of the run, %@ %.0f ms later; indexer %.1f µs of CPU per order (%d documents); process CPU with the catch-up %.1f µs per order",
                     lagAtEnd, caughtUp ? "caught up" : "STILL BEHIND", Double(DispatchTime.now().uptimeNanoseconds - catchUpStarted) / 1e6,
                     Double(indexing.cpuNanoseconds - indexingBefore.cpuNanoseconds) / 1000 / Double(orders), indexing.documents - indexingBefore.documents,
                     Double(processCPUNanoseconds() - processCPUBefore) / 1000 / Double(orders)))
        let throughput = Double(orders) / elapsed
        result.captureOrdersPerSecond = throughput
        if primaryIsGRPC { result.grpcCaptureOrdersPerSecond = throughput }
        if transport == .both {
            // The same server, sizes and in-flight count over standard gRPC, right after the frames run.
            _ = try await grpcClosedLoop(clients: grpcClients, count: min(5_000, orders), prefix: "grpc-warm-\(round)", random: &random)
            let grpcElapsed = try await grpcClosedLoop(clients: grpcClients, count: orders, prefix: "grpc-run-\(round)", random: &random)
            result.grpcCaptureOrdersPerSecond = Double(orders) / grpcElapsed
            print(String(format: "capture over frames: %8.0f orders/s; over gRPC: %8.0f orders/s (%d connections × %d in flight each)",
                         throughput, Double(orders) / grpcElapsed, connections, inFlight))
        }

        // 2. The ceiling: exactly the rows and bytes Waybill wrote per order (measured from its
        //    database), through the bare C API, same disk, same run (once a round).
        if measuresCeiling {
            let profile = try SQLiteCeiling.Profile.measured(in: server.database)
            let ceilingPath = directory.appendingPathComponent("ceiling-\(round).sqlite").path
            let ceiling = try SQLiteCeiling.measure(path: ceilingPath, orders: orders, profile: profile)
            ceilings.append(ceiling.ordersPerSecond)
            commits.append(ceiling.commitMilliseconds)
            print(String(format: "raw SQLite ceiling:  %8.0f orders/s  (the same write set: order row of %d bytes, %d lines, %.1f movements, %.1f capacity rows, event of %d bytes; 1000 per transaction, synchronous=FULL); durable commit %.2f ms",
                         ceiling.ordersPerSecond, profile.bodyBytes, profile.linesPerOrder, profile.movementsPerOrder,
                         profile.capacityRowsPerOrder, profile.eventBytes, ceiling.commitMilliseconds))
        }
        let ceilingNow = ceilings.last ?? 0
        print(String(format: "waybill capture:     %8.0f orders/s  (%d connections × %d in flight; %@; %@)  = %.0f%% of the ceiling",
                     throughput, connections, inFlight, noReservations ? "no stock: backordered" : "routed + reserved", label,
                     ceilingNow > 0 ? 100 * throughput / ceilingNow : 0))

        // 3. Open-loop latency at a fixed rate (from each call's intended send time).
        if measuresOpenLoop {
            server.writer.resetMaxima()
            let before = server.writer.statistics
            let latency = try await openLoop(clients: clients, rate: rate, seconds: seconds, random: &random)
            result.openLoop = latency
            let after = server.writer.statistics
            print("open loop \(rate)/s for \(seconds) s (\(label)): \(latency.line)")
            let jobs = Double(max(1, after.jobs - before.jobs))
            print(String(format: "  writer during it: %d batches, %.1f jobs per batch, %.1f µs of CPU per order (jobs %.1f, commit %.1f, publish %.1f µs wall); slowest batch %.1f ms (jobs %.1f ms, commit %.1f ms)",
                         after.batches - before.batches, Double(after.jobs - before.jobs) / Double(max(1, after.batches - before.batches)),
                         Double(after.cpuNanoseconds - before.cpuNanoseconds) / jobs / 1e3,
                         Double(after.runNanoseconds - before.runNanoseconds) / jobs / 1e3,
                         Double(after.commitNanoseconds - before.commitNanoseconds) / jobs / 1e3,
                         Double(after.publishNanoseconds - before.publishNanoseconds) / jobs / 1e3,
                         Double(after.batchNanosecondsMax) / 1e6, Double(after.runNanosecondsMax) / 1e6, Double(after.commitNanosecondsMax) / 1e6))
            print(String(format: "  balance checkpoints during it: %d, %d rows, %.1f ms in all, slowest %.1f ms",
                         after.checkpoints - before.checkpoints, after.checkpointRows - before.checkpointRows,
                         Double(after.checkpointNanoseconds - before.checkpointNanoseconds) / 1e6,
                         Double(after.checkpointNanosecondsMax) / 1e6))
        }
        rssAfter = residentMegabytes()
        print(String(format: "resident memory: %.0f MB before the measured run, %.0f MB after", rssBefore, rssAfter))
        for client in clients { await client.close() }
        for client in grpcClients { await client.close() }
        try await group.shutdownGracefully()
        await server.shutdown()
        return result
    }

    /// Captures `count` orders keeping `inFlight` calls outstanding per connection; returns seconds.
    func closedLoop(clients: [WaybillClient], count: Int, prefix: String, random: inout BenchRandom) async throws -> Double {
        // Payloads are prepared before the clock starts: the generator measures the server.
        let work = try BenchNetwork.capturePayloads(count, lines: lines, skus: skus, prefix: prefix, random: &random)
        let next = SharedSync(Atomic<Int>(0))
        let failures = SharedSync(Atomic<Int>(0))
        let refusals = SharedSync(Atomic<Int>(0))
        let firstFailure = SharedSync(Mutex<String?>(nil))
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                        let outstanding = Atomic<Int>(0)
                        let finished = Atomic<Bool>(false)
                        // A capture refused for overload (retry_after_ms) is sent again after that wait, as a client should.
                        @Sendable func send(_ index: Int) {
                            client.send(method: Method.OrderService.captureOrder, payload: work[index]).whenComplete { result in
                                if case .failure(let error) = result {
                                    if let retry = Self.retryAfter(error) {
                                        refusals.value.wrappingAdd(1, ordering: .relaxed)
                                        client.eventLoop.scheduleTask(in: .milliseconds(retry)) { send(index) }
                                        return
                                    }
                                    failures.value.wrappingAdd(1, ordering: .relaxed)
                                    firstFailure.value.withLock { $0 = $0 ?? "\(error)" }
                                }
                                outstanding.wrappingSubtract(1, ordering: .releasing)
                                pump()
                            }
                        }
                        @Sendable func pump() {
                            let index = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                            if index >= work.count {
                                if outstanding.load(ordering: .acquiring) == 0, !finished.exchange(true, ordering: .acquiringAndReleasing) {
                                    continuation.resume()
                                }
                                return
                            }
                            outstanding.wrappingAdd(1, ordering: .relaxed)
                            send(index)
                        }
                        client.eventLoop.execute {
                            for _ in 0..<inFlight { pump() }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Date().timeIntervalSince(start)
        let failed = failures.value.load(ordering: .relaxed)
        if failed > 0 {
            throw CLIError("\(failed) captures failed during the benchmark; the first: \(firstFailure.value.withLock { $0 } ?? "?")")
        }
        let refused = refusals.value.load(ordering: .relaxed)
        if refused > 0 { print("closed loop: \(refused) refusals for overload (retried after retry_after_ms)") }
        return elapsed
    }

    /// `closedLoop` over standard gRPC: `inFlight` concurrent calls per client (one HTTP/2
    /// connection each); returns seconds. Overload refusals are retried after retry_after_ms.
    func grpcClosedLoop(clients: [WaybillGRPCClient], count: Int, prefix: String, random: inout BenchRandom) async throws -> Double {
        let work = try BenchNetwork.capturePayloads(count, lines: lines, skus: skus, prefix: prefix, random: &random)
        let next = SharedSync(Atomic<Int>(0))
        let start = Date()
        var refused = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            for client in clients {
                for _ in 0..<inFlight {
                    group.addTask {
                        var refusals = 0
                        while true {
                            let index = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                            if index >= work.count { return refusals }
                            while true {
                                do {
                                    _ = try await client.call(Method.OrderService.captureOrder, work[index])
                                    break
                                } catch {
                                    guard let retry = Self.retryAfter(error) else { throw error }
                                    refusals += 1
                                    try await Task.sleep(for: .milliseconds(retry))
                                }
                            }
                        }
                    }
                }
            }
            for try await refusals in group { refused += refusals }
        }
        let elapsed = Date().timeIntervalSince(start)
        if refused > 0 { print("closed loop over gRPC: \(refused) refusals for overload (retried after retry_after_ms)") }
        return elapsed
    }

    /// The retry_after_ms of an overload refusal (RESOURCE_EXHAUSTED or UNAVAILABLE), nil for any other failure.
    static func retryAfter(_ error: Error) -> Int64? {
        guard let status = error as? WaybillStatusError, status.code == .resourceExhausted || status.code == .unavailable,
              status.details.retryAfterMs > 0 else { return nil }
        return Int64(status.details.retryAfterMs)
    }

    /// Sends at a fixed rate regardless of answers; latency counts from each call's intended send time.
    func openLoop(clients: [WaybillClient], rate: Int, seconds: Int, random: inout BenchRandom) async throws -> LatencySummary {
        let work = try BenchNetwork.capturePayloads(rate * seconds, lines: lines, skus: skus, prefix: "open", random: &random)
        return try await Self.openLoop(clients: clients, work: work, rate: rate, tickMicroseconds: tickMicroseconds)
    }

    /// Sends `work` (CaptureOrder payloads) at `rate` per second over `clients` regardless of answers;
    /// latency counts from each call's intended send time (`waybill bench capture` and `bench options`).
    static func openLoop(clients: [WaybillClient], work: [[UInt8]], rate: Int, tickMicroseconds: Int,
                         method: String = Method.OrderService.captureOrder) async throws -> LatencySummary {
        let total = work.count
        let intervalNanoseconds = 1_000_000_000 / UInt64(rate)
        let histograms = SharedSync(Mutex<Histogram<UInt64>>(Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)))
        let refusedHistogram = SharedSync(Mutex<Histogram<UInt64>>(Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)))
        let failures = SharedSync(Atomic<Int>(0))
        let lastAnswer = SharedSync(Atomic<UInt64>(0))
        let start = DispatchTime.now().uptimeNanoseconds + 10_000_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (slot, client) in clients.enumerated() {
                group.addTask {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                        // This connection sends orders slot, slot+N, slot+2N, ...: a timer sends what is due
                        // every tick (100 µs by default; a send waits for its tick, and that wait counts).
                        let state = NIOLoopBoundBox.makeBoxSendingValue(
                            (next: slot, answered: 0, local: Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three),
                             refused: Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)),
                            eventLoop: client.eventLoop)
                        let mine = stride(from: slot, to: work.count, by: clients.count).underestimatedCount
                        client.eventLoop.execute {
                            client.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .microseconds(Int64(tickMicroseconds))) { task in
                                let now = DispatchTime.now().uptimeNanoseconds
                                while state.value.next < work.count {
                                    let index = state.value.next
                                    let intended = start + UInt64(index) * intervalNanoseconds
                                    if intended > now { break }
                                    state.value.next += clients.count
                                    client.send(method: method, payload: work[index]).whenComplete { result in
                                        let answeredAt = DispatchTime.now().uptimeNanoseconds
                                        let latency = (answeredAt - intended) / 1000
                                        switch result {
                                        case .success:
                                            // Admitted: its latency, and when the last one committed (goodput).
                                            _ = state.value.local.record(latency)
                                            _ = lastAnswer.value.max(answeredAt, ordering: .relaxed)
                                        case .failure(let error):
                                            if Self.retryAfter(error) != nil {
                                                _ = state.value.refused.record(latency)
                                            } else {
                                                failures.value.wrappingAdd(1, ordering: .relaxed)
                                            }
                                        }
                                        state.value.answered += 1
                                        if state.value.answered == mine {
                                            let local = state.value.local, refused = state.value.refused
                                            histograms.value.withLock { $0.add(local) }
                                            refusedHistogram.value.withLock { $0.add(refused) }
                                            continuation.resume()
                                        }
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
        let failed = failures.value.load(ordering: .relaxed)
        if failed > 0 { throw CLIError("\(failed) calls (\(method)) failed during the open-loop run") }
        let admitted = histograms.value.withLock { $0 }
        let refused = refusedHistogram.value.withLock { $0 }
        if refused.totalCount > 0 {
            // Goodput: admitted captures per second, from the first intended send to the last commit.
            let span = Double(max(lastAnswer.value.load(ordering: .relaxed), start + 1) - start) / 1e9
            print(String(format: "  offered %d/s: admitted %llu (%.1f%%), refused %llu for overload (answered in p50 %.3f ms, p99 %.3f ms); goodput %.0f admitted/s over %.2f s",
                         rate, admitted.totalCount, 100 * Double(admitted.totalCount) / Double(max(1, total)), refused.totalCount,
                         Double(refused.valueAtPercentile(50)) / 1000, Double(refused.valueAtPercentile(99)) / 1000,
                         Double(admitted.totalCount) / span, span))
        }
        return LatencySummary(admitted)
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Captures through the pure core over memory storage: the writer's CPU cost per order without SQLite.
/// The raw SQLite ceiling for several write sets, interleaved in one run: what any
/// implementation writing these rows durably could reach on this disk, whatever its own costs.
struct CeilingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ceiling",
        abstract: "The raw SQLite ceiling of several capture write sets, side by side in one run.",
        discussion: """
            Each write set is "body,event,movements,capacity-rows": the order row's body bytes, the
            outbox event's bytes, movement rows and capacity rows per order (3 order lines each).
            The defaults compare what a routed, reserved capture writes today with what a capture
            without stock writes, and the smallest write sets a reserved capture could have.
            """)
    @Option(help: "Orders per measurement.") var orders = 50_000
    @Option(help: "Rounds; write sets are interleaved within each round and medians reported.") var repeats = 3
    @Option(parsing: .upToNextOption, help: "Write sets: body,event,movements,capacity-rows.")
    var sets: [String] = ["1192,450,3,1", "286,325,0,0", "600,450,3,1", "600,450,3,0", "600,450,1,0", "286,325,1,0"]

    func run() throws {
        let profiles: [(String, SQLiteCeiling.Profile)] = try sets.map { text in
            let parts = text.split(separator: ",").map { Double($0) }
            guard parts.count == 4, parts.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw CLIError("write set \"\(text)\": expected body,event,movements,capacity-rows")
            }
            var profile = SQLiteCeiling.Profile()
            profile.bodyBytes = Int(parts[0]!)
            profile.eventBytes = Int(parts[1]!)
            profile.movementsPerOrder = parts[2]!
            profile.capacityRowsPerOrder = parts[3]!
            return (text, profile)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-ceiling-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var results = Array(repeating: [Double](), count: profiles.count)
        for round in 0..<repeats {
            for (index, (_, profile)) in profiles.enumerated() {
                let path = directory.appendingPathComponent("ceiling-\(round)-\(index).sqlite").path
                results[index].append(try SQLiteCeiling.measure(path: path, orders: orders, profile: profile).ordersPerSecond)
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
        }
        let medians = results.map { $0.sorted()[$0.count / 2] }
        print("raw SQLite ceiling, \(orders) orders × \(repeats) rounds, 1000 per transaction, synchronous=FULL (medians; relative to the first set)")
        print("body,event,movements,capacity   orders/s   µs/order   vs first")
        for (index, (text, _)) in profiles.enumerated() {
            print(text.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + String(format: " %9.0f %10.1f %9.2f", medians[index], 1e6 / medians[index], medians[index] / medians[0]))
        }
    }
}

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine", abstract: "Engine.capture per CPU-second over memory storage, and the cost of encoding the stored order.")
    @Option var locations = 100
    @Option var skus = 5_000
    @Option var lines = 3
    @Option var orders = 100_000

    func run() throws {
        var random = BenchRandom(state: 7)
        var (engine, storage, context) = try BenchNetwork.engine(locations: locations, skus: skus, random: &random)
        let drafts = try (0..<orders).map { number in
            try OrderDraft(proto: BenchNetwork.order(number, lines: lines, skus: skus, random: &random, prefix: "engine"))
        }
        var captured: [Order] = []
        captured.reserveCapacity(orders)
        let cpuStart = threadCPUTimeNanoseconds()
        for draft in drafts {
            captured.append(try engine.capture(draft, context: context, storage: storage).order)
        }
        let captureCPU = Double(threadCPUTimeNanoseconds() - cpuStart) / 1e9
        var bytes = 0
        let referenceStart = threadCPUTimeNanoseconds()
        for order in captured {
            let encoded: [UInt8] = try order.referenceMessage.serializedBytes()
            bytes += encoded.count
        }
        let referenceCPU = Double(threadCPUTimeNanoseconds() - referenceStart) / 1e9
        let directStart = threadCPUTimeNanoseconds()
        for order in captured { bytes -= order.encodedProto().count }
        let directCPU = Double(threadCPUTimeNanoseconds() - directStart) / 1e9
        if bytes != 0 { throw CLIError("the direct encoder's output differs in size from swift-protobuf's") }
        print(String(format: "engine capture: %.0f orders per CPU-second (%.1f µs each, routing included); encoding the stored order (%d bytes): %.1f µs direct, %.1f µs through swift-protobuf messages",
                     Double(orders) / captureCPU, captureCPU / Double(orders) * 1e6,
                     captured.reduce(0) { $0 + $1.encodedProto().count } / orders,
                     directCPU / Double(orders) * 1e6, referenceCPU / Double(orders) * 1e6))
    }
}

struct CancelBacklogBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel-backlog",
        abstract: "Cancellations per CPU-second while a backlog of backorders waits for the same SKU (pure core over memory storage).")
    @Option var locations = 100
    @Option(help: "Allocated orders (one unit each) that are then cancelled, each freeing one unit.") var cancellations = 5_000
    @Option(help: "Orders (one unit each) backordered behind them.") var backlog = 10_000
    @Flag(help: "Route every release candidate, as before the release skipped orders whose SKUs have no unit left.")
    var routeEveryCandidate = false

    func run() throws {
        var random = BenchRandom(state: 11)
        var (engine, storage, context) = try BenchNetwork.engine(locations: locations, skus: 20, random: &random)
        engine.releaseRoutesEveryCandidate = routeEveryCandidate
        // A SKU of its own: exactly `cancellations` units, all reserved, then the backlog waits for it.
        var item = Waybill_V1_Item()
        item.sku = "SKU-BACKLOG"
        item.weightGrams = 500
        item.active = true
        try engine.upsert(item: Item(proto: item), context: context, storage: storage)
        var receipt = Waybill_V1_InventoryChange()
        receipt.kind = .receipt
        receipt.sku = item.sku
        receipt.locationID = "LOC-000"
        receipt.quantity = Int32(cancellations)
        receipt.changeID = "backlog-stock"
        _ = try engine.applyInventoryChange(InventoryChange(proto: receipt, defaultKind: .receipt), context: context, storage: storage)
        func draft(_ number: Int) throws -> OrderDraft {
            var order = BenchNetwork.order(number, lines: 1, skus: 1, random: &random, prefix: "backlog")
            order.lines[0].sku = item.sku
            return try OrderDraft(proto: order)
        }
        var allocated: [OrderID] = []
        for number in 0..<cancellations {
            let order = try engine.capture(try draft(number), context: context, storage: storage).order
            guard order.backorderedUnits == 0 else { throw CLIError("order \(number) was not allocated") }
            allocated.append(order.orderID)
        }
        for number in cancellations..<(cancellations + backlog) {
            _ = try engine.capture(try draft(number), context: context, storage: storage)
        }
        let waitingBefore = engine.state.backorders.orderCount
        guard waitingBefore == backlog else { throw CLIError("\(waitingBefore) orders backordered, expected \(backlog)") }
        let cpuStart = threadCPUTimeNanoseconds()
        for (index, orderID) in allocated.enumerated() {
            var cancel = context
            cancel.requestID = "cancel-\(index)"
            _ = try engine.apply(.cancelOrder(reason: "bench"), to: orderID, context: cancel, storage: storage)
        }
        let cpu = Double(threadCPUTimeNanoseconds() - cpuStart) / 1e9
        let served = waitingBefore - engine.state.backorders.orderCount
        print(String(format: "cancel with %d units backordered (%@): %.0f cancellations per CPU-second (%.1f µs each); %d backorders served, oldest first",
                     backlog, routeEveryCandidate ? "every release candidate routed, as before" : "release skips orders whose SKUs have no unit",
                     Double(cancellations) / cpu, cpu / Double(cancellations) * 1e6, served))
    }
}

struct RoutingBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routing", abstract: "Routing decisions per second on one core (pure core, no I/O).")
    @Option var locations = 100
    @Option var skus = 5_000
    @Option var lines = 3
    @Option var decisions = 200_000

    func run() throws {
        var random = BenchRandom(state: 7)
        let (engine, _, context) = try BenchNetwork.engine(locations: locations, skus: skus, random: &random)
        let requests: [RoutingRequest] = (0..<1_000).map { number in
            let order = BenchNetwork.order(number, lines: lines, skus: skus, random: &random, prefix: "route")
            return RoutingRequest(lines: order.lines.map { RoutingLine(lineID: $0.lineID, sku: SKU($0.sku), quantity: $0.quantity) },
                                  channel: .web, shipTo: Coordinates(proto: order.shipTo.coordinates), shipToRegion: order.shipTo.region,
                                  now: context.now)
        }
        let router = engine.router
        var shipments = 0
        var slowest: UInt64 = 0
        let start = Date()
        let cpuStart = threadCPUTimeNanoseconds()
        for index in 0..<decisions {
            let before = DispatchTime.now().uptimeNanoseconds
            let plan = router.route(requests[index % requests.count], policy: engine.policy, network: engine.network,
                                    inventory: engine.inventory, capacity: engine.state.capacity)
            slowest = max(slowest, DispatchTime.now().uptimeNanoseconds - before)
            shipments += plan.shipments.count
        }
        let cpu = Double(threadCPUTimeNanoseconds() - cpuStart) / 1e9
        let elapsed = Date().timeIntervalSince(start)
        // CPU time of this thread: "per core" even when the machine is shared.
        print(String(format: "routing: %.0f decisions per CPU-second (%.0f/s wall); slowest %.2f ms; %d-line orders, %d locations, %d SKUs; %.2f shipments per order",
                     Double(decisions) / cpu, Double(decisions) / elapsed, Double(slowest) / 1e6, lines, locations, skus,
                     Double(shipments) / Double(decisions)))
    }
}

struct AvailabilityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "availability",
        abstract: "GetAvailability lookups per second over the socket while captures run at a fixed rate.")
    @Option var locations = 100
    @Option var skus = 5_000
    @Option(help: "SKUs per GetAvailability call (each answers SKUs × their locations).") var skusPerCall = 10
    @Option(help: "Captures per second in the background.") var captureRate = 5_000
    @Option var seconds = 10
    @Option var connections = 4
    @Option var inFlight = 32

    func run() async throws {
        bootstrapLogging(level: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-avail-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var random = BenchRandom(state: 11)
        let bench = try await BenchServer.start(directory: directory, locations: locations, skus: skus, random: &random)
        let group = bench.group, server = bench.server
        let clients = try await bench.channelClients(connections + 1)
        var payloads: [[UInt8]] = []
        for _ in 0..<1_000 {
            var request = Waybill_V1_GetAvailabilityRequest()
            request.skus = (0..<skusPerCall).map { _ in "SKU-\(random.int(skus))" }
            request.locationIds = (0..<3).map { _ in String(format: "LOC-%03d", random.int(locations)) }
            payloads.append(try request.serializedBytes())
        }
        let work = payloads
        let positionsPerCall = skusPerCall * 3
        // Background captures at a fixed rate on their own connection.
        let captureClient = clients[connections]
        let captures = try BenchNetwork.capturePayloads(captureRate * seconds, lines: 3, skus: skus, prefix: "avail", random: &random)
        let captured = Atomic<Int>(0)
        let background = captureClient.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(10)) { _ in
            for _ in 0..<(captureRate / 100) {
                let index = captured.wrappingAdd(1, ordering: .relaxed).oldValue
                if index >= captures.count { return }
                _ = captureClient.send(method: Method.OrderService.captureOrder, payload: captures[index])
            }
        }
        let start = Date()
        let callCount = try await benchClosedLoop(clients: Array(clients.prefix(connections)), inFlight: inFlight,
                                                  until: start.addingTimeInterval(Double(seconds)),
                                                  method: Method.InventoryService.getAvailability, payloads: work) { _, _ in }
        let elapsed = Date().timeIntervalSince(start)
        background.cancel()
        print(String(format: "availability: %.0f calls/s = %.0f SKU × location lookups/s (%d per call) while capturing %.0f orders/s",
                     Double(callCount) / elapsed, Double(callCount * positionsPerCall) / elapsed, positionsPerCall,
                     Double(min(captured.load(ordering: .relaxed), captures.count)) / elapsed))
        for client in clients { await client.close() }
        try await group.shutdownGracefully()
        await server.shutdown()
    }
}

/// Keeps `inFlight` calls of `method` outstanding per client until `deadline`, cycling through
/// `payloads`; `answered` gets each call's result and latency (µs). Returns the calls sent.
func benchClosedLoop(clients: [WaybillClient], inFlight: Int, until deadline: Date, method: String, payloads: [[UInt8]],
                     answered: @escaping @Sendable (Result<[UInt8], Error>, UInt64) -> Void) async throws -> Int {
    let calls = SharedSync(Atomic<Int>(0))
    try await withThrowingTaskGroup(of: Void.self) { taskGroup in
        for client in clients {
            taskGroup.addTask {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    let outstanding = Atomic<Int>(0)
                    let done = Atomic<Bool>(false)
                    @Sendable func pump() {
                        if Date() >= deadline {
                            if outstanding.load(ordering: .acquiring) == 0, !done.exchange(true, ordering: .acquiringAndReleasing) {
                                continuation.resume()
                            }
                            return
                        }
                        let index = calls.value.wrappingAdd(1, ordering: .relaxed).oldValue
                        outstanding.wrappingAdd(1, ordering: .relaxed)
                        let sent = DispatchTime.now().uptimeNanoseconds
                        client.send(method: method, payload: payloads[index % payloads.count]).whenComplete { result in
                            answered(result, (DispatchTime.now().uptimeNanoseconds - sent) / 1000)
                            outstanding.wrappingSubtract(1, ordering: .releasing)
                            pump()
                        }
                    }
                    client.eventLoop.execute { for _ in 0..<inFlight { pump() } }
                }
            }
        }
        try await taskGroup.waitForAll()
    }
    return calls.value.load(ordering: .relaxed)
}

/// An embedded server secured as deployed (TLS with a throwaway CA, bearer tokens), the benchmark
/// network loaded by the admin with 1,000,000 units per SKU and location; clients call as the web
/// channel (`bench availability`, `bench options`).
struct BenchServer {
    let server: WaybillServer
    let group: MultiThreadedEventLoopGroup
    let security: EmbeddedServerSecurity

    static func start(directory: URL, locations: Int, skus: Int, random: inout BenchRandom,
                      configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> BenchServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.databasePath = directory.appendingPathComponent("waybill.sqlite").path
        let security = try EmbeddedServerSecurity.make(tls: true, directory: directory)
        security.configure(&configuration)
        configure(&configuration)
        let server = try await WaybillServer.start(configuration: configuration, logger: Logger(label: "bench"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let admin = try await WaybillClient.connect(host: "127.0.0.1", port: server.port,
                                                    configuration: security.client(token: security.adminToken, clientID: "bench-admin"), group: group)
        try await BenchNetwork.load(BenchNetwork.model(locations: locations, skus: skus, stockPerSKU: 1_000_000, random: &random), into: admin)
        await admin.close()
        return BenchServer(server: server, group: group, security: security)
    }

    /// `count` connections calling as the web channel.
    func channelClients(_ count: Int) async throws -> [WaybillClient] {
        let configuration = security.client(token: security.channelToken(.web), clientID: "bench")
        var clients: [WaybillClient] = []
        for _ in 0..<count {
            clients.append(try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration, group: group))
        }
        return clients
    }
}

/// Shares an Atomic or Mutex with task-group children (a `sending` closure cannot capture a
/// non-copyable local by reference).
final class SharedSync<Value: ~Copyable & Sendable>: Sendable {
    let value: Value
    init(_ value: consuming Value) { self.value = value }
}

/// The transport of `waybill bench capture`'s throughput run.
enum BenchTransport: String, ExpressibleByArgument, CaseIterable {
    case frames, grpc, both
}

/// What `waybill bench capture` runs its embedded servers with.
enum BenchSecurityMode: String, ExpressibleByArgument, CaseIterable {
    /// TLS (throwaway CA) and bearer-token authentication: the deployed path.
    case on
    /// Plaintext without authentication (`ServerConfiguration.authenticationRequired = false`).
    case off
    /// Both in every round, interleaved: what security costs.
    case ab
    /// Four variants in every round, interleaved: neither, authentication alone, TLS alone, both
    /// (where the cost of security goes).
    case parts
}

/// One server set-up of `waybill bench capture`.
struct BenchSecurityVariant: Hashable {
    var tls: Bool
    var authentication: Bool
    var label: String {
        switch (tls, authentication) {
        case (false, false): "plaintext, no authentication"
        case (false, true): "plaintext + authentication"
        case (true, false): "TLS, no authentication"
        case (true, true): "TLS + authentication"
        }
    }
}
