// swift-tools-version: 6.1
// libFuzzer targets for Waybill (issue 14, docs/RELIABILITY.md). A package of its own so that the
// root package's builds never compile fuzz code and the product carries none. Build and run with
// scripts/fuzz.sh (it passes --sanitize=fuzzer --sanitize=address and uses fuzz/.build).
import PackageDescription

// No main: libFuzzer's main calls LLVMFuzzerTestOneInput.
let fuzzTargetSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzTarget(_ name: String) -> Target {
    .executableTarget(name: name, dependencies: ["WaybillFuzzEntryPoints"], swiftSettings: fuzzTargetSettings)
}

let package = Package(
    name: "WaybillFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Waybill", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // FuzzEntryPoints.swift and FuzzScenarioEntryPoint.swift are symlinks into Tests/: the same
        // code replays the committed corpus in the ordinary test suite.
        .target(name: "WaybillFuzzEntryPoints", dependencies: [
            .product(name: "WaybillCore", package: "Waybill"),
            .product(name: "WaybillProto", package: "Waybill"),
            .product(name: "WaybillWire", package: "Waybill"),
            .product(name: "WaybillServer", package: "Waybill"),
            .product(name: "WaybillClient", package: "Waybill"),
            .product(name: "WaybillERP", package: "Waybill"),
            .product(name: "WaybillSimulator", package: "Waybill"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        fuzzTarget("FuzzFrame"),
        fuzzTarget("FuzzRequest"),
        fuzzTarget("FuzzErpDrop"),
        fuzzTarget("FuzzErpExtract"),
        fuzzTarget("FuzzPolicy"),
        fuzzTarget("FuzzScenario"),
    ]
)
