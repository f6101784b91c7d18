// `waybill bench reconcile`: reconcile an ERP extract of N orders (one million by default) with a
// server over the socket, through a chunked reconciliation session, and report the wall time and
// the server's peak memory. The server is a child `waybill serve` process: it is restarted after
// the orders are captured, so its VmHWM is the reconciliation's peak, not the capture's. The
// child is given one admin credential (a credentials file, mode 0600: captures and the
// reconciliation both run as it) and speaks plaintext on loopback: the figure is memory, not TLS.

import ArgumentParser
import Foundation
import NIOPosix
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillSimulator
import WaybillWire

struct ReconcileBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Reconcile an extract of N orders through a child server over the socket: wall time and the server's peak RSS.")

    @Option(help: "Orders captured and reconciled.") var orders = 1_000_000
    @Option(help: "Lines per order.") var lines = 2
    @Option(help: "Every Nth order's ERP record has the wrong status (0: none).") var statusMismatchEvery = 1_000
    @Option(help: "Every Nth order is left out of the extract, missing in the ERP (0: none).") var missingEvery = 2_000
    @Option(help: "Records only the ERP has (missing in Waybill).") var ghosts = 100
    @Flag(help: "Also repair what was found (through the writer, in slices).") var repair = false
    @Option(help: "Port of the child server (0: a free one).") var port = 0
    @Option(help: "Keep the database in this directory (default: a temporary one, removed).") var directory: String?
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    struct Report: Codable {
        var orders: Int
        var extractRecords: Int
        var extractBytes: Int
        var captureSeconds: Double
        var uploadSeconds: Double
        var finishSeconds: Double
        var reconcileSeconds: Double
        var repairSeconds: Double?
        var discrepancies: Int64
        var repaired: Int32?
        var serverRssMegabytesBefore: Double
        var serverPeakRssMegabytes: Double
        var serverRssMegabytesAfter: Double
    }

    final class ServerChild {
        let process = Process()
        init(database: String, port: Int, credentialsFile: String) throws {
            process.executableURL = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
            process.arguments = ["serve", "--db", database, "--listen", "127.0.0.1:\(port)", "--log-level", "warning",
                                 "--credentials-file", credentialsFile]
            try process.run()
        }
        /// VmHWM (peak) or VmRSS of the child, in MB.
        func memory(_ field: String) -> Double {
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
                  let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
            return kilobytes / 1024
        }
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// One batch, retried while the server sheds load (captures are idempotent on the external id).
    static func capture(_ orders: [Waybill_V1_Order], _ client: WaybillClient) async throws -> Waybill_V1_CaptureOrdersResponse {
        while true {
            do {
                let answer = try await client.captureOrders(orders)
                if !answer.results.contains(where: { $0.status.code == .resourceExhausted }) { return answer }
            } catch let error as WaybillStatusError where error.code == .resourceExhausted {}
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A port nothing listens on (bound to port 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CLIError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connects to the child (and only while it runs: never to another server on the port).
    func connect(_ group: MultiThreadedEventLoopGroup, _ server: ServerChild, port: Int, token: String) async throws -> WaybillClient {
        var configuration = ClientConfiguration()
        configuration.clientID = "bench-reconcile"
        configuration.token = token
        configuration.defaultTimeoutMilliseconds = 600_000
        for _ in 0..<300 {
            guard server.process.isRunning else { throw CLIError("the child server exited (status \(server.process.terminationStatus))") }
            if let client = try? await WaybillClient.connect(host: "127.0.0.1", port: port, configuration: configuration, group: group) {
                try await Task.sleep(for: .milliseconds(200))
                guard server.process.isRunning else { throw CLIError("the child server exited (status \(server.process.terminationStatus))") }
                return client
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("the server on port \(port) did not come up")
    }

    func run() async throws {
        let base = directory.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("waybill-bench-reconcile-\(getpid())")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: base) } }
        let database = base.appendingPathComponent("waybill.sqlite").path
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        // 1. Capture the orders (no stock: backordered, as fast as the writer goes), building the
        //    ERP's records of them on the way.
        let port = try self.port == 0 ? Self.freePort() : self.port
        let security = try EmbeddedServerSecurity.make(tls: false, directory: base)
        let credentialsFile = base.appendingPathComponent("credentials.json").path
        try? FileManager.default.removeItem(atPath: credentialsFile)  // a kept --directory's previous run
        try security.writeAdminCredential(to: credentialsFile)
        var server = try ServerChild(database: database, port: port, credentialsFile: credentialsFile)
        defer { server.stop() }
        var records: [Waybill_V1_ErpOrderRecord] = []
        records.reserveCapacity(orders + ghosts)
        let captureStart = Date()
        do {
            let clients = try await (0..<4).asyncMap { _ in try await connect(group, server, port: port, token: security.adminToken) }
            let batch = TransportLimits().ordersPerBatchMax
            var random = BenchRandom(state: 7)
            // Items and locations, no stock: every order is captured backordered (no reservations).
            var network = BenchNetwork.model(locations: 6, skus: 5_000, stockPerSKU: 1, random: &random)
            network.initialStock = []
            try await BenchNetwork.load(network, into: clients[0])
            var number = 0
            while number < orders {
                var requests: [[Waybill_V1_Order]] = []
                for _ in clients.indices where number < orders {
                    let count = min(batch, orders - number)
                    requests.append((number..<number + count).map { BenchNetwork.order($0, lines: lines, skus: 5_000, random: &random, prefix: "rec") })
                    number += count
                }
                let answers = try await withThrowingTaskGroup(of: (Int, Waybill_V1_CaptureOrdersResponse).self) { tasks in
                    for (index, request) in requests.enumerated() {
                        let client = clients[index]
                        tasks.addTask { (index, try await Self.capture(request, client)) }
                    }
                    var answers = [Waybill_V1_CaptureOrdersResponse](repeating: .init(), count: requests.count)
                    for try await (index, answer) in tasks { answers[index] = answer }
                    return answers
                }
                for (request, answer) in zip(requests, answers) {
                    for (order, result) in zip(request, answer.results) {
                        guard result.status.code == .ok else { throw WaybillStatusError(result.status) }
                        var record = Waybill_V1_ErpOrderRecord()
                        record.orderID = result.response.order.orderID
                        record.erpDocumentNumber = "SO-" + record.orderID
                        record.status = "backordered"
                        record.lines = order.lines.map { line in
                            var erpLine = Waybill_V1_ErpOrderLine()
                            erpLine.sku = line.sku
                            erpLine.quantity = line.quantity
                            return erpLine
                        }
                        records.append(record)
                    }
                }
                if records.count % 100_000 < batch * clients.count { print("captured \(records.count)") }
            }
            for client in clients { await client.close() }
        }
        let captureSeconds = Date().timeIntervalSince(captureStart)
        server.stop()

        // 2. The extract, with planted discrepancies.
        var extract: [Waybill_V1_ErpOrderRecord] = []
        extract.reserveCapacity(records.count + ghosts)
        var planted = 0
        for (index, record) in records.enumerated() {
            if missingEvery > 0 && index % missingEvery == missingEvery - 1 { planted += 1; continue }
            var record = record
            if statusMismatchEvery > 0 && index % statusMismatchEvery == 0 { record.status = "shipped"; planted += 1 }
            extract.append(record)
        }
        for number in 0..<ghosts {
            var ghost = Waybill_V1_ErpOrderRecord()
            ghost.orderID = "W-GHOST-\(number)"
            ghost.erpDocumentNumber = "SO-GHOST-\(number)"
            ghost.status = "shipped"
            extract.append(ghost)
            planted += 1
        }
        records = []
        let extractBytes = extract.reduce(0) { $0 + ((try? $1.serializedBytes() as [UInt8])?.count ?? 0) + 3 }
        print("extract: \(extract.count) records, \(extractBytes / 1_048_576) MB as protobuf; \(planted) discrepancies planted")

        // 3. A fresh server: its peak memory is the reconciliation's.
        server = try ServerChild(database: database, port: port, credentialsFile: credentialsFile)
        let client = try await connect(group, server, port: port, token: security.adminToken)
        let before = server.memory("VmRSS")
        let uploadStart = Date()
        let session = try await client.uploadReconciliation(scope: .init(), asOfUnixMs: 0, includeOrdersAfterAsOf: true, orders: extract, stock: [])
        let uploadSeconds = Date().timeIntervalSince(uploadStart)
        let finishStart = Date()
        let report = try await client.finishReconciliation(session: session, discrepanciesMax: 10, keepOpen: repair)
        let finishSeconds = Date().timeIntervalSince(finishStart)
        var repairSeconds: Double?
        var repaired: Int32?
        if repair {
            let repairStart = Date()
            let done = try await client.finishReconciliation(session: session, repair: true, requestID: "bench-\(getpid())", discrepanciesMax: 10)
            repairSeconds = Date().timeIntervalSince(repairStart)
            repaired = done.repaired
        }
        let peak = server.memory("VmHWM"), after = server.memory("VmRSS")
        await client.close()
        let result = Report(orders: orders, extractRecords: extract.count, extractBytes: extractBytes, captureSeconds: captureSeconds,
                            uploadSeconds: uploadSeconds, finishSeconds: finishSeconds, reconcileSeconds: uploadSeconds + finishSeconds,
                            repairSeconds: repairSeconds, discrepancies: report.discrepanciesTotal, repaired: repaired,
                            serverRssMegabytesBefore: before, serverPeakRssMegabytes: peak, serverRssMegabytesAfter: after)
        print(String(format: "captured %d orders in %.1f s; reconciled in %.1f s (upload in chunks %.1f s, finish %.1f s): %lld discrepancies (%@)",
                     orders, captureSeconds, uploadSeconds + finishSeconds, uploadSeconds, finishSeconds, report.discrepanciesTotal,
                     report.counts.map { "\($0.kind): \($0.count)" }.joined(separator: ", ")))
        if let repairSeconds, let repaired { print(String(format: "repaired %d in %.1f s", repaired, repairSeconds)) }
        print(String(format: "server RSS: %.0f MB before, peak %.0f MB (VmHWM), %.0f MB after", before, peak, after))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(result).write(to: URL(fileURLWithPath: json))
        }
        if report.discrepanciesTotal != Int64(planted) {
            throw CLIError("expected \(planted) discrepancies, found \(report.discrepanciesTotal)")
        }
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for value in self { result.append(try await transform(value)) }
        return result
    }
}
