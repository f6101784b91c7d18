// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Waybill",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "waybill", targets: ["waybill"]),
        .library(name: "WaybillCore", targets: ["WaybillCore"]),
        .library(name: "WaybillClient", targets: ["WaybillClient"]),
        // For the fuzz package (fuzz/Package.swift), which calls the product's own entry points.
        .library(name: "WaybillProto", targets: ["WaybillProto"]),
        .library(name: "WaybillWire", targets: ["WaybillWire"]),
        .library(name: "WaybillTLS", targets: ["WaybillTLS"]),
        .library(name: "WaybillServer", targets: ["WaybillServer"]),
        .library(name: "WaybillERP", targets: ["WaybillERP"]),
        .library(name: "WaybillSimulator", targets: ["WaybillSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "WaybillCore"),
        .target(name: "WaybillProto", dependencies: [
            "WaybillCore",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // The protoc plugin that generates the method table, the server's handler protocol and the
        // client's typed calls from proto/ (scripts/generate-proto.sh).
        .executableTarget(name: "protoc-gen-waybill", dependencies: [
            .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
        ]),
        .target(name: "WaybillWire", dependencies: [
            "WaybillProto",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // Transport security for every listener and client: TLS configurations, certificate reload,
        // a throwaway certificate authority for embedded servers and tests (docs/SECURITY.md).
        .target(name: "WaybillTLS", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Standard gRPC beside the frames: pass-through codecs, the method descriptors, status details
        // in metadata, and a raw-bytes client (docs/GRPC.md). The service itself lives in WaybillServer.
        .target(name: "WaybillGRPC", dependencies: [
            "WaybillProto", "WaybillWire", "WaybillTLS",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // The application layer: the rules that are neither transport nor pure domain (validation and
        // routing ahead of a capture, the channel availability rule, idempotency fingerprints,
        // authorization), called by the server and the in-process simulator alike. No NIO, no GRDB.
        .target(name: "WaybillApplication", dependencies: [
            "WaybillCore", "WaybillProto",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "WaybillStore", dependencies: [
            "WaybillCore", "WaybillProto", "WaybillApplication",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        .target(name: "WaybillServer", dependencies: [
            "WaybillCore", "WaybillProto", "WaybillWire", "WaybillStore", "WaybillGRPC", "WaybillApplication", "WaybillTLS",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "WaybillClient", dependencies: [
            "WaybillProto", "WaybillWire", "WaybillTLS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .target(name: "WaybillERP", dependencies: [
            "WaybillCore", "WaybillProto", "WaybillClient", "WaybillWire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "WaybillSimulator", dependencies: [
            "WaybillCore", "WaybillProto", "WaybillClient", "WaybillServer", "WaybillStore", "WaybillWire", "WaybillApplication", "WaybillTLS",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Collections", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], path: "simulator/Sources/WaybillSimulator"),
        // The operator console: server-rendered pages (Hummingbird, Mustache templates) whose every
        // read and action is an in-process call through the server's own dispatch, as the signed-in
        // credential (docs/CONSOLE.md).
        .target(name: "WaybillConsole", dependencies: [
            "WaybillServer", "WaybillProto", "WaybillWire", "WaybillApplication",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], resources: [.copy("Templates"), .copy("Assets")]),
        // The harness, in no product: measurement code (the raw SQLite ceiling, the event engine
        // alone) and fault injection around the writer, for `waybill bench`/`sim`, tests and the
        // test-only server executable `waybill-harness`.
        .target(name: "WaybillBenchmarks", dependencies: [
            "WaybillStore", "WaybillSimulator",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "WaybillFaultInjection", dependencies: ["WaybillStore"]),
        .executableTarget(name: "waybill-harness", dependencies: [
            "WaybillServer", "WaybillStore", "WaybillFaultInjection", "WaybillApplication",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "waybill", dependencies: [
            "WaybillCore", "WaybillProto", "WaybillWire", "WaybillStore", "WaybillServer",
            "WaybillClient", "WaybillERP", "WaybillSimulator", "WaybillBenchmarks", "WaybillFaultInjection", "WaybillGRPC",
            "WaybillTLS", "WaybillConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .testTarget(name: "WaybillSimulatorTests", dependencies: [
            "WaybillSimulator", "WaybillCore", "WaybillBenchmarks", "WaybillApplication", "WaybillClient", "WaybillProto", "WaybillServer", "WaybillTLS",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "WaybillCoreTests", dependencies: [
            "WaybillCore",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "WaybillWireTests", dependencies: [
            "WaybillWire", "WaybillProto",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOTestUtils", package: "swift-nio"),
        ]),
        .testTarget(name: "WaybillStoreTests", dependencies: [
            "WaybillStore", "WaybillCore", "WaybillProto", "WaybillBenchmarks",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "WaybillServerTests", dependencies: [
            "WaybillServer", "WaybillClient", "WaybillStore", "WaybillCore", "WaybillProto", "WaybillWire", "WaybillFaultInjection",
            "WaybillGRPC", "WaybillTLS", "WaybillApplication",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        // The application layer's promise: the server and the in-process simulator answer alike.
        .testTarget(name: "WaybillApplicationTests", dependencies: [
            "WaybillApplication", "WaybillSimulator", "WaybillServer", "WaybillClient", "WaybillCore", "WaybillProto",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "WaybillConsoleTests", dependencies: [
            "WaybillConsole", "WaybillServer", "WaybillClient", "WaybillProto", "WaybillApplication", "WaybillTLS",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "WaybillERPTests", dependencies: [
            "WaybillERP", "WaybillServer", "WaybillClient", "WaybillStore", "WaybillCore", "WaybillProto", "WaybillWire", "WaybillApplication",
            "WaybillTLS",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
