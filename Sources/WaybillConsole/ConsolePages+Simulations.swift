// Simulation: the reports runs left on the server's machine (`<reports>/<run>/report.json` and
// report.html) and a side-by-side comparison of two runs' figures (admin only).

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension ConsoleRoutes {
    func registerSimulations(on router: Router<ConsoleContext>) {
        router.get("/simulations") { request, context in
            try await self.page(request, context) { request, user in try self.simulationsPage(request, user) }
        }
        router.get("/simulations/:run/report.html") { request, context in
            try await self.page(request, context) { _, user in try self.simulationReport(try context.parameters.require("run"), user) }
        }
    }

    private func reportRuns(_ user: SignedIn) throws -> (root: URL, runs: [SimulationRun]) {
        guard user.caller.role == .admin else { throw ConsoleRefusal(status: .forbidden, message: "Simulation reports are for administrators.") }
        guard let directory = configuration.reportsDirectory else {
            throw ConsoleRefusal(status: .notFound, message: "No reports directory is configured (waybill serve --console-reports DIR).")
        }
        let root = URL(fileURLWithPath: directory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var runs: [SimulationRun] = []
        for name in names.sorted() where SimulationRun.isSafeName(name) {
            if let run = SimulationRun(root: root, name: name) { runs.append(run) }
        }
        return (root, runs)
    }

    private func simulationsPage(_ request: Request, _ user: SignedIn) throws -> Response {
        let (_, runs) = try reportRuns(user)
        let a = request.uri.queryParameters.get("a").map { String($0) } ?? ""
        let b = request.uri.queryParameters.get("b").map { String($0) } ?? ""
        var values: [String: Any] = ["runs": runs.map { $0.row(a: a, b: b) }, "directory": configuration.reportsDirectory ?? ""]
        if let left = runs.first(where: { $0.name == a }), let right = runs.first(where: { $0.name == b }) {
            values["comparison"] = SimulationRun.compare(left, right)
            values["compared"] = true
            values["a"] = a
            values["b"] = b
        }
        return views.page("simulations", title: "Simulations", user: user, values: values)
    }

    private func simulationReport(_ name: String, _ user: SignedIn) throws -> Response {
        let (root, runs) = try reportRuns(user)
        guard runs.contains(where: { $0.name == name }),
              let html = try? String(contentsOf: root.appendingPathComponent(name).appendingPathComponent("report.html"), encoding: .utf8) else {
            throw ConsoleRefusal(status: .notFound, message: "No report.html for run \(name).")
        }
        var response = Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
        // The report is the simulator's own self-contained page (inline SVG and style): it gets a
        // policy of its own that still runs no script and loads nothing.
        response.headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        return response
    }
}

/// One run's report.json, flattened to the figures the list and the comparison show.
struct SimulationRun {
    let name: String
    let figures: [(key: String, value: Double)]
    let scenario: String
    let policy: String
    let passed: Bool

    /// Directory names only: no separators, no dot-dot.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }

    init?(root: URL, name: String) {
        guard let data = try? Data(contentsOf: root.appendingPathComponent(name).appendingPathComponent("report.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        self.name = name
        scenario = object["scenario"] as? String ?? ""
        policy = object["policy"] as? String ?? ""
        passed = object["passed"] as? Bool ?? false
        var figures: [(String, Double)] = []
        for section in ["orders", "kpis", "throughput"] {
            guard let values = object[section] as? [String: Any] else { continue }
            for key in values.keys.sorted() {
                if let number = values[key] as? NSNumber, !(values[key] is Bool) { figures.append(("\(section).\(key)", number.doubleValue)) }
            }
        }
        self.figures = figures
    }

    func row(a: String, b: String) -> [String: Any] {
        ["name": name, "scenario": scenario, "policy": policy, "passed": passed, "isA": name == a, "isB": name == b,
         "orders": figures.first { $0.key == "orders.acknowledged" }.map { Int($0.value) } ?? 0]
    }

    static func compare(_ a: SimulationRun, _ b: SimulationRun) -> [[String: Any]] {
        let right = Dictionary(b.figures.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        return a.figures.compactMap { key, left in
            guard let value = right[key] else { return nil }
            let change = left == 0 ? "" : String(format: "%+.1f%%", (value - left) / abs(left) * 100)
            return ["key": key, "a": format(left), "b": format(value), "change": change]
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e12 ? String(Int64(value)) : String(format: "%.4g", value)
    }
}
