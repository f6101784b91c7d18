// Transport security over real sockets: certificates from a throwaway CA, clients that must refuse
// what they cannot verify (wrong CA, expired, wrong name), plaintext and TLS crossing the wrong
// port, mutual TLS, key permissions, and certificates replaced while calls keep flowing.

import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WaybillApplication
import WaybillClient
import WaybillGRPC
import WaybillProto
import WaybillServer
import WaybillTLS
import WaybillWire

/// A CA, a server certificate signed by it, and the files, in a temporary directory.
struct TLSFixture {
    let directory: TemporaryDirectory
    var authority: ThrowawayCertificateAuthority
    let caPath: String
    let server: ThrowawayCertificateAuthority.Issued

    init(_ label: String = "tls", name: String = "Test CA", serverValidFrom: Date? = nil, serverValidity: TimeInterval = 86_400,
         dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1"]) throws {
        directory = try TemporaryDirectory(label)
        authority = try ThrowawayCertificateAuthority(name: name)
        caPath = try authority.write(to: directory.path("ca"))
        server = try authority.issueServerCertificate(in: directory.path("server"), dnsNames: dnsNames, ipAddresses: ipAddresses,
                                                      validFrom: serverValidFrom, validity: serverValidity)
    }

    func serverTLS(clientCA: String? = nil) -> ServerTLSConfiguration {
        ServerTLSConfiguration(certificateChainPath: server.certificatePath, privateKeyPath: server.privateKeyPath,
                               clientCertificateAuthorityPath: clientCA)
    }

    var clientTLS: ClientTLSConfiguration { .certificateAuthority(caPath) }
}

/// The admin these tests call as (added to the test servers' credentials).
let tlsAdmin = CredentialSeed(name: "tls-tests-admin", role: .admin, token: AccessToken.generate())

/// A test server (ServerHarness) that also knows `tlsAdmin`.
func withTLSServer<T>(_ configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (TestServer) async throws -> T) async throws -> T {
    try await withServer({ configuration in
        configuration.credentials.append(tlsAdmin)
        configure(&configuration)
    }, body)
}

/// A frames client over TLS calling as the test admin; the caller closes it.
func tlsClient(port: Int, tls: ClientTLSConfiguration?, token: String? = tlsAdmin.token) async throws -> WaybillClient {
    var configuration = ClientConfiguration()
    configuration.clientID = "tls-tests"
    configuration.token = token
    configuration.tls = tls
    configuration.connectTimeoutMilliseconds = 10_000
    return try await WaybillClient.connect(host: "127.0.0.1", port: port, configuration: configuration, group: clientGroup)
}

/// Connects and calls GetServerInfo; the error of either step.
func serverInfoOverTLS(port: Int, tls: ClientTLSConfiguration?) async throws -> Waybill_V1_ServerInfo {
    let client = try await tlsClient(port: port, tls: tls)
    do {
        let info = try await client.serverInfo()
        await client.close()
        return info
    } catch {
        await client.close()
        throw error
    }
}

@Suite("TLS", .serialized)
struct TLSTests {
    @Test("a TLS client calls a TLS server; the frames and gRPC ports both speak TLS")
    func callsOverTLS() async throws {
        let fixture = try TLSFixture()
        try await withTLSServer({ $0.tls = fixture.serverTLS(); $0.grpcPort = 0 }) { server in
            let info = try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS)
            #expect(info.serverVersion == server.server.configuration.version)
            // By name too: the certificate holds localhost.
            var byName = fixture.clientTLS
            byName.serverName = "localhost"
            _ = try await serverInfoOverTLS(port: server.port, tls: byName)

            let grpcPort = try #require(server.server.grpcPort)
            let grpc = try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "tls-grpc", token: tlsAdmin.token,
                                             tls: fixture.clientTLS, eventLoopGroup: clientGroup)
            let answer = try await grpc.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(),
                                             as: Waybill_V1_ServerInfo.self, timeoutMilliseconds: 20_000)
            #expect(answer.serverVersion == info.serverVersion)
            await grpc.close()

            // gRPC refuses a server it cannot verify.
            let other = try TLSFixture("tls-other", name: "Other CA")
            let untrusting = try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "tls-grpc-wrong-ca",
                                                   token: tlsAdmin.token, tls: other.clientTLS, eventLoopGroup: clientGroup)
            await expectStatus(.unavailable) {
                try await untrusting.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(),
                                          as: Waybill_V1_ServerInfo.self, timeoutMilliseconds: 5_000)
            }
            await untrusting.close()
        }
    }

    @Test("a server certificate from a CA the client does not trust: UNAVAILABLE naming an unknown CA")
    func wrongCertificateAuthority() async throws {
        let fixture = try TLSFixture()
        let other = try TLSFixture("tls-other", name: "Other CA")
        try await withTLSServer({ $0.tls = fixture.serverTLS() }) { server in
            let error = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: other.clientTLS) }
            #expect(error?.message.contains("unknown CA") == true, "\(String(describing: error))")
            #expect(error?.message.contains("Test CA") == true, "names the issuer: \(String(describing: error))")
        }
    }

    @Test("an expired server certificate: UNAVAILABLE saying it expired")
    func expiredServerCertificate() async throws {
        let fixture = try TLSFixture(serverValidFrom: Date().addingTimeInterval(-10 * 86_400), serverValidity: 86_400)
        try await withTLSServer({ $0.tls = fixture.serverTLS() }) { server in
            let error = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS) }
            #expect(error?.message.contains("expired") == true, "\(String(describing: error))")
        }
    }

    @Test("a server certificate for another name: UNAVAILABLE naming the mismatch")
    func hostnameMismatch() async throws {
        let fixture = try TLSFixture(dnsNames: ["orders.example.com"], ipAddresses: [])
        try await withTLSServer({ $0.tls = fixture.serverTLS() }) { server in
            let error = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS) }
            #expect(error?.message.contains("hostname mismatch") == true, "\(String(describing: error))")
            // Expecting the name the certificate holds works.
            var named = fixture.clientTLS
            named.serverName = "orders.example.com"
            _ = try await serverInfoOverTLS(port: server.port, tls: named)
        }
    }

    @Test("plaintext to the TLS port: a Waybill client is told TLS is required; other bytes are closed; the server keeps serving")
    func plaintextToTLSPort() async throws {
        let fixture = try TLSFixture()
        try await withTLSServer({ $0.tls = fixture.serverTLS() }) { server in
            let error = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: nil) }
            #expect(error?.message.contains("requires TLS") == true, "\(String(describing: error))")

            let http = try await server.raw()
            try await http.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            _ = try await http.waitUntilClosed(timeout: .seconds(10))
            await http.close()
            // A broken TLS record: TLS answers with an alert (not a frame) and closes.
            let garbage = try await server.raw()
            try await garbage.send([0x16, 0x03, 0x01, 0x00, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            #expect(await eventually("the broken TLS connection to be closed", timeout: .seconds(10)) { garbage.isClosed })
            await garbage.close()

            _ = try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS)
            #expect(await eventually("the refused connections to be gone") { server.server.connectionCount == 0 })
        }
    }

    @Test("a TLS handshake that never comes is closed after tlsHandshakeTimeoutMilliseconds")
    func handshakeTimeout() async throws {
        let fixture = try TLSFixture()
        var tls = fixture.serverTLS()
        tls.handshakeTimeoutMilliseconds = 300
        try await withTLSServer({ $0.tls = tls }) { server in
            // Measured from before the connection exists: the server's bound starts at its accept.
            let started = ContinuousClock.now
            let silent = try await server.raw()
            _ = try await silent.waitUntilClosed(timeout: .seconds(10))
            #expect(ContinuousClock.now - started >= .milliseconds(250))
            await silent.close()
        }
    }

    @Test("TLS to a plaintext port: UNAVAILABLE saying the server does not speak TLS")
    func tlsToPlaintextPort() async throws {
        let fixture = try TLSFixture()
        try await withTLSServer { server in
            let error = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS) }
            #expect(error?.message.contains("does not speak TLS") == true, "\(String(describing: error))")
        }
    }

    @Test("mutual TLS: a client certificate from the client CA is served; an unknown one or none is refused")
    func mutualTLS() async throws {
        let fixture = try TLSFixture()
        var clientAuthority = try ThrowawayCertificateAuthority(name: "Client CA")
        let clientCAPath = try clientAuthority.write(to: fixture.directory.path("client-ca"))
        let known = try clientAuthority.issueClientCertificate(commonName: "store-0042", in: fixture.directory.path("clients"))
        let stranger = try ThrowawayCertificateAuthority(name: "Stranger CA")
        let unknown = try stranger.issueClientCertificate(commonName: "store-0042", in: fixture.directory.path("strangers"))
        try await withTLSServer({ $0.tls = fixture.serverTLS(clientCA: clientCAPath); $0.grpcPort = 0 }) { server in
            var withKnown = fixture.clientTLS
            withKnown.certificateChainPath = known.certificatePath
            withKnown.privateKeyPath = known.privateKeyPath
            _ = try await serverInfoOverTLS(port: server.port, tls: withKnown)

            var withUnknown = fixture.clientTLS
            withUnknown.certificateChainPath = unknown.certificatePath
            withUnknown.privateKeyPath = unknown.privateKeyPath
            let refused = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: withUnknown) }
            #expect(refused?.message.contains("unknown CA") == true || refused?.message.contains("refused") == true,
                    "\(String(describing: refused))")

            let none = await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS) }
            #expect(none?.message.contains("client certificate") == true, "\(String(describing: none))")

            // gRPC: the same CA bundle.
            let grpcPort = try #require(server.server.grpcPort)
            let grpc = try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "mtls-grpc", token: tlsAdmin.token,
                                             tls: withKnown, eventLoopGroup: clientGroup)
            _ = try await grpc.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(),
                                    as: Waybill_V1_ServerInfo.self, timeoutMilliseconds: 20_000)
            await grpc.close()
            let grpcStranger = try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "mtls-grpc-stranger",
                                                     token: tlsAdmin.token, tls: withUnknown, eventLoopGroup: clientGroup)
            await expectStatus(.unavailable) {
                try await grpcStranger.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(),
                                            as: Waybill_V1_ServerInfo.self, timeoutMilliseconds: 5_000)
            }
            await grpcStranger.close()
        }
    }

    @Test("mutual TLS: the verified client certificate's subject common name is read from the connection (TLSPeerIdentity)")
    func peerIdentity() async throws {
        let fixture = try TLSFixture()
        var clientAuthority = try ThrowawayCertificateAuthority(name: "Client CA")
        let clientCAPath = try clientAuthority.write(to: fixture.directory.path("client-ca"))
        let known = try clientAuthority.issueClientCertificate(commonName: "store-0042", in: fixture.directory.path("clients"))
        let holder = try ServerTLSContextHolder(configuration: fixture.serverTLS(clientCA: clientCAPath), logger: quietLogger)
        let seen = PeerNames()
        let listener = try await ServerBootstrap(group: clientGroup)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ServerTLSPipeline.addHandlers(to: channel, holder: holder, logger: quietLogger)
                    try channel.pipeline.syncOperations.addHandler(PeerNameRecorder(seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        var withKnown = fixture.clientTLS
        withKnown.certificateChainPath = known.certificatePath
        withKnown.privateKeyPath = known.privateKeyPath
        let client = try await tlsClient(port: port, tls: withKnown)
        _ = try? await client.send(method: Method.SystemService.getServerInfo, payload: [], timeoutMilliseconds: 5_000).get()
        await client.close()
        try? await listener.close()
        #expect(seen.names.withLock { $0 } == ["store-0042"])
    }

    @Test("a private key file readable by group or others (0644) is refused at start, naming the file and chmod 600")
    func keyReadableByOthersIsRefused() async throws {
        let fixture = try TLSFixture()
        #expect(chmod(fixture.server.privateKeyPath, 0o644) == 0)
        do {
            let started = try await TestServer.start { $0.credentials.append(tlsAdmin); $0.tls = fixture.serverTLS() }
            await started.stop()
            Issue.record("the server started with a 0644 key")
        } catch let error as TLSConfigurationError {
            #expect(error.kind == .keyPermissions)
            #expect(error.message.contains(fixture.server.privateKeyPath))
            #expect(error.message.contains("chmod 600"))
        } catch {
            Issue.record("expected a TLSConfigurationError, got \(error)")
        }
        // The same file at 0600 is accepted.
        #expect(chmod(fixture.server.privateKeyPath, 0o600) == 0)
        try await withTLSServer({ $0.tls = fixture.serverTLS() }) { server in
            _ = try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS)
        }
    }

    @Test("a key that does not belong to the certificate, or a file that is not PEM, is refused with the file named")
    func mismatchedMaterialIsRefused() async throws {
        let fixture = try TLSFixture()
        let other = try TLSFixture("tls-other", name: "Other CA")
        var mismatched = fixture.serverTLS()
        mismatched.privateKeyPath = other.server.privateKeyPath
        let error = #expect(throws: TLSConfigurationError.self) { try ServerTLSContextHolder(configuration: mismatched, logger: quietLogger) }
        #expect(error?.kind == .keyDoesNotMatchCertificate)
        #expect(error?.message.contains(other.server.privateKeyPath) == true)

        let notPEM = fixture.directory.path("not.pem")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notPEM))
        var garbage = fixture.serverTLS()
        garbage.certificateChainPath = notPEM
        let garbageError = #expect(throws: TLSConfigurationError.self) { try ServerTLSContextHolder(configuration: garbage, logger: quietLogger) }
        #expect(garbageError?.message.contains(notPEM) == true)
    }

    @Test("certificate reload under load: the files are replaced by another CA's pair while calls run; no call fails, new connections get the new certificate")
    func reloadUnderLoad() async throws {
        let fixture = try TLSFixture("tls-reload", name: "First CA")
        let next = try ThrowawayCertificateAuthority(name: "Second CA")
        var nextAuthority = next
        let nextCAPath = try nextAuthority.write(to: fixture.directory.path("next-ca"))
        // Clients trust both during the change; afterwards, one trusting only the second CA proves the swap.
        let bothPath = fixture.directory.path("both.pem")
        try Data((fixture.authority.certificatePEM + next.certificatePEM).utf8).write(to: URL(fileURLWithPath: bothPath))
        let trustingBoth = ClientTLSConfiguration.certificateAuthority(bothPath)
        var tls = fixture.serverTLS()
        tls.reloadCheckIntervalMilliseconds = 50
        try await withTLSServer({ $0.tls = tls; $0.grpcPort = 0 }) { server in
            let holder = try #require(server.server.tls)
            let load = LoadState()
            let port = server.port
            let liveKey = fixture.server.privateKeyPath, liveCertificate = fixture.server.certificatePath
            let staging = fixture.directory.path("staging")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<3 {
                    group.addTask {
                        var client = try await tlsClient(port: port, tls: trustingBoth)
                        var made = 0
                        while !load.stop.load(ordering: .relaxed) {
                            do {
                                _ = try await client.serverInfo()
                                load.calls.add(1, ordering: .relaxed)
                            } catch {
                                load.failures.withLock { $0.append("worker \(worker) call: \(error)") }
                            }
                            made += 1
                            // A new connection now and then: handshakes across the swap.
                            if made % 10 == 0 {
                                await client.close()
                                do {
                                    client = try await tlsClient(port: port, tls: trustingBoth)
                                } catch {
                                    load.failures.withLock { $0.append("worker \(worker) connect: \(error)") }
                                    load.stop.store(true, ordering: .relaxed)
                                    return
                                }
                            }
                        }
                        await client.close()
                    }
                }
                group.addTask {
                    #expect(await eventually("calls to flow before the swap") { load.calls.load(ordering: .relaxed) >= 200 })
                    let staged = try next.issueServerCertificate(in: staging)
                    // Replace the live files (key first, each by rename, as an operator's deploy would).
                    #expect(rename(staged.privateKeyPath, liveKey) == 0)
                    #expect(rename(staged.certificatePath, liveCertificate) == 0)
                    #expect(await eventually("the reload", timeout: .seconds(20)) {
                        (try? await serverInfoOverTLS(port: port, tls: .certificateAuthority(nextCAPath))) != nil
                    })
                    let atSwap = load.calls.load(ordering: .relaxed)
                    #expect(await eventually("calls to flow after the swap") { load.calls.load(ordering: .relaxed) >= atSwap + 200 })
                    load.stop.store(true, ordering: .relaxed)
                }
                try await group.waitForAll()
            }
            #expect(load.failures.withLock { $0 } == [])
            #expect(holder.reloads >= 1)
            // New connections present the new certificate: the first CA alone no longer verifies it.
            await expectStatus(.unavailable) { try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS) }
            _ = try await serverInfoOverTLS(port: server.port, tls: .certificateAuthority(nextCAPath))
            // gRPC takes the reloaded certificate too.
            let grpc = try WaybillGRPCClient(host: "127.0.0.1", port: try #require(server.server.grpcPort), clientID: "reload-grpc",
                                             token: tlsAdmin.token, tls: .certificateAuthority(nextCAPath),
                                             eventLoopGroup: clientGroup)
            _ = try await grpc.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(),
                                    as: Waybill_V1_ServerInfo.self, timeoutMilliseconds: 20_000)
            await grpc.close()
        }
    }

    @Test("a reload that fails (not PEM, key readable by others) keeps the certificate in use, is counted, and open connections keep working")
    func failedReloadKeepsServing() async throws {
        let fixture = try TLSFixture()
        var tls = fixture.serverTLS()
        tls.reloadCheckIntervalMilliseconds = 50
        try await withTLSServer({ $0.tls = tls }) { server in
            let holder = try #require(server.server.tls)
            let open = try await tlsClient(port: server.port, tls: fixture.clientTLS)
            let original = try Data(contentsOf: URL(fileURLWithPath: fixture.server.certificatePath))
            try Data("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".utf8)
                .write(to: URL(fileURLWithPath: fixture.server.certificatePath))
            #expect(await eventually("the failed reload to be counted") { holder.reloadFailures >= 1 })
            _ = try await open.serverInfo()
            _ = try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS)

            try original.write(to: URL(fileURLWithPath: fixture.server.certificatePath))
            #expect(chmod(fixture.server.privateKeyPath, 0o640) == 0)
            let refused = holder.reload(reason: "test")
            #expect(refused?.kind == .keyPermissions)
            _ = try await serverInfoOverTLS(port: server.port, tls: fixture.clientTLS)
            #expect(chmod(fixture.server.privateKeyPath, 0o600) == 0)
            #expect(holder.reload(reason: "test") == nil)
            _ = try await open.serverInfo()
            await open.close()
        }
    }
}

/// What the load of the reload test shares between its tasks.
private final class LoadState: Sendable {
    let failures = Mutex<[String]>([])
    let calls = Atomic(0)
    let stop = Atomic(false)
}

/// Common names a test listener read from its connections.
private final class PeerNames: Sendable {
    let names = Mutex<[String?]>([])
}

/// On the first bytes after the handshake: records the peer's certificate name, then closes.
private final class PeerNameRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let seen: PeerNames
    init(_ seen: PeerNames) { self.seen = seen }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let name = TLSPeerIdentity.clientCertificateCommonName(of: context.channel)
        seen.names.withLock { $0.append(name) }
        context.close(promise: nil)
    }
}
