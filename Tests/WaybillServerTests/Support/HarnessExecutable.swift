// The test-only `waybill-harness` executable (Sources/waybill-harness: the real server with fault
// injection), built by `swift build` next to `waybill`; found the same way as WaybillExecutable.

import Foundation

enum HarnessExecutable {
    static let url: URL? = locate()

    private static func locate() -> URL? {
        let name = "waybill-harness"
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["WAYBILL_HARNESS_EXECUTABLE"] {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        if let first = CommandLine.arguments.first {
            let bundle = URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent()
            candidates.append(bundle.appendingPathComponent(name))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent(name))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name))
        // Tests/WaybillServerTests/Support/HarnessExecutable.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/\(name)"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
