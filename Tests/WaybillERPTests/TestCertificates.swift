// A throwaway CA's server certificate for 127.0.0.1, and an HTTPS fake ERP: the webhook's TLS
// verification is tested against a real handshake.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import WaybillTLS

struct TestCertificates {
    let caPEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String

    /// A CA (`name`) and a certificate it signs for 127.0.0.1 and localhost (WaybillTLS's
    /// throwaway authority, read back as PEM text).
    static func make(name: String = "Waybill ERP tests CA") throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("erp-tls-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var authority = try ThrowawayCertificateAuthority(name: name)
        let caPath = try authority.write(to: directory)
        let server = try authority.issueServerCertificate(in: directory, commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"])
        return TestCertificates(caPEM: try String(contentsOfFile: caPath, encoding: .utf8),
                                serverCertificatePEM: try String(contentsOfFile: server.certificatePath, encoding: .utf8),
                                serverKeyPEM: try String(contentsOfFile: server.privateKeyPath, encoding: .utf8))
    }

    /// Writes the CA certificate to `directory` and returns its path.
    func writeCA(in directory: String) throws -> String {
        let path = directory + "/ca-\(UInt32.random(in: 0...UInt32.max)).pem"
        try caPEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// An HTTPS server answering 200 to every POST and counting them.
final class HTTPSErp: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<(any NIOCore.Channel)?> = Mutex(nil)
    private let bodies = Mutex<[[UInt8]]>([])

    func start(_ certificates: TestCertificates) async throws -> Int {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificates.serverCertificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificates.serverKeyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: tls)
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPSErpHandler(erp: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        return bound.localAddress!.port!
    }

    func received(_ body: [UInt8]) { bodies.withLock { $0.append(body) } }
    var count: Int { bodies.withLock { $0.count } }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
        try? await group.shutdownGracefully()
    }
}

final class HTTPSErpHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let erp: HTTPSErp
    private var body: [UInt8] = []

    init(erp: HTTPSErp) { self.erp = erp }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            erp.received(body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
