// Authentication over real sockets beyond the roles table: a guesser is throttled per address;
// a mutual-TLS client certificate stands for the credential naming its subject (frames and gRPC);
// a server refuses to listen on the network without TLS or credentials unless told --insecure.

import Foundation
import Logging
import Testing
import WaybillApplication
import WaybillClient
import WaybillGRPC
import WaybillProto
import WaybillServer
import WaybillTLS
import WaybillWire

@Suite("Authentication") struct AuthenticationTests {
    @Test("a peer guessing tokens is throttled after authenticationFailuresPerPeerMax failures: RESOURCE_EXHAUSTED naming the limit, even for a good token, until its window ends")
    func bruteForceThrottled() async throws {
        try await withServer({
            $0.transport.authenticationFailuresPerPeerMax = 5
            $0.transport.authenticationFailureWindowMilliseconds = 60_000
        }) { server in
            let admin = try await server.client()
            _ = try await admin.serverInfo()
            for _ in 0..<5 {
                var configuration = ClientConfiguration()
                configuration.token = AccessToken.generate()
                let guesser = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration, group: clientGroup)
                await expectStatus(.unauthenticated) { try await guesser.serverInfo() }
                await guesser.close()
            }
            // The sixth guess, and then even the right token from the same address, waits.
            var configuration = ClientConfiguration()
            configuration.token = AccessToken.generate()
            let guesser = try await WaybillClient.connect(host: "127.0.0.1", port: server.port, configuration: configuration, group: clientGroup)
            let throttled = await expectStatus(.resourceExhausted) { try await guesser.serverInfo() }
            #expect(throttled?.details.limitName == "authenticationFailuresPerPeerMax")
            #expect((throttled?.details.retryAfterMs ?? 0) > 0)
            await guesser.close()
            await expectStatus(.resourceExhausted) { try await admin.serverInfo() }
        }
    }

    @Test("mutual TLS: a call without a token is made as the credential whose certificate_subject is the client certificate's common name, on frames and gRPC")
    func certificateStandsForCredential() async throws {
        let fixture = try TLSFixture("mtls-credential")
        var clientAuthority = try ThrowawayCertificateAuthority(name: "Client CA")
        let clientCAPath = try clientAuthority.write(to: fixture.directory.path("client-ca"))
        let store = try clientAuthority.issueClientCertificate(commonName: "store-0042", in: fixture.directory.path("store"))
        let other = try clientAuthority.issueClientCertificate(commonName: "nobody-knows-me", in: fixture.directory.path("other"))
        try await withTLSServer({ $0.tls = fixture.serverTLS(clientCA: clientCAPath); $0.grpcPort = 0 }) { server in
            var withAdmin = fixture.clientTLS
            withAdmin.certificateChainPath = store.certificatePath
            withAdmin.privateKeyPath = store.privateKeyPath
            let admin = try await tlsClient(port: server.port, tls: withAdmin)
            try await admin.loadFixtureNetwork()
            var request = Waybill_V1_CreateCredentialRequest()
            request.name = "store-0042-terminal"
            request.role = .fulfillment
            request.locations = ["WH-EAST"]
            request.certificateSubject = "store-0042"
            _ = try await admin.createCredential(request)
            let order = try await admin.captureOrder(Fixture.order("MTLS-1")).order
            await admin.close()

            // No token: the certificate is the credential (a fulfillment one, so admin calls are refused).
            let terminal = try await tlsClient(port: server.port, tls: withAdmin, token: nil)
            let released = try await terminal.release(order.orderID, order.fulfillments[0].fulfillmentID, request: "mtls-r1")
            #expect(released.order.history.last?.clientID == "store-0042-terminal")
            await expectStatus(.permissionDenied) { try await terminal.serverInfo() }
            await terminal.close()

            // A verified certificate no credential names: UNAUTHENTICATED.
            var withOther = fixture.clientTLS
            withOther.certificateChainPath = other.certificatePath
            withOther.privateKeyPath = other.privateKeyPath
            let stranger = try await tlsClient(port: server.port, tls: withOther, token: nil)
            await expectStatus(.unauthenticated) { try await stranger.getOrder(order.orderID) }
            await stranger.close()

            // gRPC: the same.
            let grpcPort = try #require(server.server.grpcPort)
            let grpc = try WaybillGRPCClient(host: "127.0.0.1", port: grpcPort, clientID: "mtls", token: nil, tls: withAdmin, eventLoopGroup: clientGroup)
            var get = Waybill_V1_GetOrderRequest()
            get.orderID = order.orderID
            let read = try await grpc.call(Method.OrderService.getOrder, get, as: Waybill_V1_Order.self, timeoutMilliseconds: 20_000)
            #expect(read.orderID == order.orderID)
            await expectStatus(.permissionDenied) {
                try await grpc.call(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest(), as: Waybill_V1_ServerInfo.self,
                                    timeoutMilliseconds: 20_000)
            }
            await grpc.close()
        }
    }

    @Test("a change-feed stream ends UNAUTHENTICATED once its credential is revoked, before it carries another event")
    func revokedStreamEnds() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let created = try await admin.createCredential(createRequest("feed-reader", .erp))
            let reader = try await server.client(token: created.token)
            let feed = try FeedCollector.subscribe(reader, consumer: "feed-reader-consumer")
            _ = try await admin.captureOrder(Fixture.order("REV-1"))
            // Every event committed before the revocation has arrived (the replay from offset 0 comes in
            // several frames: counting after the first frame counted a later one as "after").
            let head = try await admin.feedInfo().headOffset
            #expect(await eventually("the events through \(head)") { feed.events.contains { $0.offset == head } })
            let before = feed.events.count
            var revoke = Waybill_V1_RevokeCredentialRequest()
            revoke.name = "feed-reader"
            _ = try await admin.revokeCredential(revoke)
            _ = try await admin.captureOrder(Fixture.order("REV-2"))
            let end = try await feed.waitForEnd()
            #expect(end?.code == .unauthenticated)
            #expect(feed.events.count == before, "no event after the revocation")
            #expect(!feed.events.contains { $0.orderID.isEmpty == false && $0.detail.contains("REV-2") })
        }
    }

    @Test("listening beyond loopback needs TLS and a credential, unless insecure is explicit")
    func exposurePolicy() async throws {
        // Plaintext on every address: refused, naming the fix.
        await #expect(throws: ExposureRefused.self) {
            try await withServer({ $0.host = "0.0.0.0" }) { _ in }
        }
        // TLS but no credential at all: refused.
        let fixture = try TLSFixture("exposure")
        await #expect(throws: ExposureRefused.self) {
            try await withServer({ $0.host = "0.0.0.0"; $0.tls = fixture.serverTLS(); $0.credentials = [] }) { _ in }
        }
        // TLS and a credential: listens. --insecure: listens in plaintext.
        try await withServer({ $0.host = "0.0.0.0"; $0.tls = fixture.serverTLS() }) { server in
            #expect(server.port > 0)
        }
        try await withServer({ $0.host = "0.0.0.0"; $0.insecure = true }) { server in
            _ = try await server.client().serverInfo()
        }
        #expect(ExposurePolicy.isLoopback("127.0.0.1") && ExposurePolicy.isLoopback("::1") && ExposurePolicy.isLoopback("localhost"))
        #expect(!ExposurePolicy.isLoopback("0.0.0.0") && !ExposurePolicy.isLoopback("10.1.2.3"))
    }
}
