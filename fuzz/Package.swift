// swift-tools-version: 6.1
// libFuzzer targets for Waybill (issue 14, docs/RELIABILITY.md). A package of its own so that the
// root package's builds never compile fuzz code and the product carries none. Build and run with
// scripts/fuzz.sh (it passes -Xswiftc -sanitize=fuzzer,address and uses fuzz/.build).
import PackageDescription

// Each target is one file with LLVMFuzzerTestOneInput and an @main that calls libFuzzer's
// LLVMFuzzerRunDriver (FuzzHarness.runLibFuzzer). The @main is needed: SwiftPM links an executable
// target with `--defsym main=<Target>_main`, and a target without a main fails to link
// ("undefined symbol 'FuzzRequest_main'"); that symbol is what @main compiles to.
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
        // The declaration of libFuzzer's LLVMFuzzerRunDriver (the definition comes with -sanitize=fuzzer).
        .target(name: "CLibFuzzerDriver"),
        // FuzzEntryPoints.swift and FuzzScenarioEntryPoint.swift are symlinks into Tests/: the same
        // code replays the committed corpus in the ordinary test suite.
        .target(name: "WaybillFuzzEntryPoints", dependencies: [
            "CLibFuzzerDriver",
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
