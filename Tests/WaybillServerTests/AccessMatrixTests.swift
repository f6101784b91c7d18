// The roles table (AccessPolicy) against a live server: every RPC × every role, generated from the
// table, then data scopes in and out of scope. A refusal carries no data.

import Foundation
import NIOCore
import SwiftProtobuf
import Testing
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillProto
import WaybillWire

@Suite("Access matrix") struct AccessMatrixTests {
    /// One credential per role (the channel one is scoped to web, the fulfillment one to WH-EAST).
    static let byRole: [(Role, CredentialSeed)] = [
        (.admin, TestCredentials.admin), (.erp, TestCredentials.erp), (.channel, TestCredentials.web),
        (.fulfillment, TestCredentials.eastWarehouse),
    ]

    @Test("every RPC answers every role as the roles table says, and an unauthenticated call only UNAUTHENTICATED (raw frames: a refusal carries no payload)")
    func everyMethodEveryRole() async throws {
        // Two refused authentications per method: more than a guesser is allowed (AuthenticationTests).
        try await withServer({ $0.transport.authenticationFailuresPerPeerMax = 10_000 }) { server in
            let connection = try await server.raw()
            defer { Task { await connection.close() } }
            var callID: UInt64 = 0
            var expectations: [(callID: UInt64, method: String, who: String, refused: Waybill_V1_StatusCode?)] = []
            for rpc in Method.all {
                let access = try #require(AccessPolicy.byMethod[rpc.path], "\(rpc.path) is missing from AccessPolicy")
                for (role, seed) in Self.byRole {
                    callID += 1
                    try await connection.send(Self.envelope(callID, rpc.path, token: seed.token))
                    expectations.append((callID, rpc.path, role.rawValue, access.roles.contains(role) ? nil : .permissionDenied))
                }
                callID += 1
                try await connection.send(Self.envelope(callID, rpc.path, token: nil))
                expectations.append((callID, rpc.path, "nobody", .unauthenticated))
                callID += 1
                try await connection.send(Self.envelope(callID, rpc.path, token: AccessToken.generate()))
                expectations.append((callID, rpc.path, "an unknown token", .unauthenticated))
            }
            // Each call's first answer (streams that are allowed send their first frame or end).
            let envelopes = try await connection.waitForEnvelopes(expectations.count, timeout: .seconds(60))
            var first: [UInt64: Waybill_V1_ResponseEnvelope] = [:]
            for envelope in envelopes where first[envelope.callID] == nil { first[envelope.callID] = envelope }
            for expected in expectations {
                let answer = try #require(first[expected.callID], "no answer to \(expected.method) as \(expected.who)")
                if let refused = expected.refused {
                    #expect(answer.status.code == refused, "\(expected.method) as \(expected.who): \(answer.status.message)")
                    #expect(answer.payload.isEmpty, "a refusal carries no data")
                    if refused == .unauthenticated {
                        #expect(answer.status.message == "a valid credential is required: send `authorization: Bearer TOKEN` metadata (docs/SECURITY.md)")
                    }
                } else {
                    #expect(answer.status.code != .permissionDenied && answer.status.code != .unauthenticated,
                            "\(expected.method) as \(expected.who): \(answer.status.message)")
                }
            }
        }
    }

    @Test("the same matrix over TLS with the Swift client: every RPC × every role, no token and an unknown token")
    func everyMethodEveryRoleOverTLS() async throws {
        let fixture = try TLSFixture("access-matrix")
        try await withServer({ $0.tls = fixture.serverTLS(); $0.transport.authenticationFailuresPerPeerMax = 10_000 }) { server in
            var callers: [(who: String, role: Role?, client: WaybillClient)] = []
            for (role, seed) in Self.byRole {
                callers.append((role.rawValue, role, try await tlsClient(port: server.port, tls: fixture.clientTLS, token: seed.token)))
            }
            callers.append(("nobody", nil, try await tlsClient(port: server.port, tls: fixture.clientTLS, token: nil)))
            callers.append(("an unknown token", nil, try await tlsClient(port: server.port, tls: fixture.clientTLS, token: AccessToken.generate())))
            for rpc in Method.all {
                let access = try #require(AccessPolicy.byMethod[rpc.path])
                for caller in callers {
                    let code = await Self.firstAnswer(caller.client, rpc)
                    if let role = caller.role {
                        if access.roles.contains(role) {
                            #expect(code != .permissionDenied && code != .unauthenticated, "\(rpc.path) as \(caller.who): \(code.name)")
                        } else {
                            #expect(code == .permissionDenied, "\(rpc.path) as \(caller.who): \(code.name)")
                        }
                    } else {
                        #expect(code == .unauthenticated, "\(rpc.path) as \(caller.who): \(code.name)")
                    }
                }
            }
            for caller in callers { await caller.client.close() }
        }
    }

    /// The status of a call's first answer (OK for a stream's first message).
    static func firstAnswer(_ client: WaybillClient, _ rpc: RPCMethod) async -> Waybill_V1_StatusCode {
        do {
            if rpc.serverStreaming {
                for try await _ in client.stream(method: rpc.path, payload: []) { return .ok }
                return .ok
            }
            _ = try await client.send(method: rpc.path, payload: [], timeoutMilliseconds: 20_000).get()
            return .ok
        } catch let error as WaybillStatusError {
            return error.code
        } catch {
            return .unknown
        }
    }

    @Test("the roles table names exactly the generated methods")
    func tableCoversMethods() {
        #expect(Set(AccessPolicy.byMethod.keys) == Set(Method.all.map(\.path)))
    }

    @Test("docs/PROTOCOL.md's roles table says what AccessPolicy decides, for every RPC and role")
    func rolesTableDocumented() throws {
        let rows = try DocumentationTests.tableRows(try DocumentationTests.document("docs/PROTOCOL.md"), under: "## Authentication and roles")
        let columns: [Role] = [.channel, .fulfillment, .erp, .admin]
        for (path, access) in AccessPolicy.byMethod {
            let name = String(path.dropFirst("/waybill.v1.".count))
            guard let row = rows[name] else {
                Issue.record("docs/PROTOCOL.md, roles table: no row for \(name)")
                continue
            }
            #expect(row.count == 5, "\(name): method and four roles")
            for (index, role) in columns.enumerated() where index + 1 < row.count {
                #expect((row[index + 1] != "—") == access.roles.contains(role), "\(name) as \(role.rawValue): the doc says \(row[index + 1])")
            }
        }
        #expect(rows.count == AccessPolicy.byMethod.count, "rows for methods that do not exist")
    }

    @Test("a channel credential sees only its channels' orders: by id, by external id, in lists and in history")
    func channelScope() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let web = try await server.client(as: TestCredentials.web)
            let webOrder = try await web.captureOrder(Fixture.order("W-1", channel: .web)).order
            // Another channel's capture is refused for the caller's own request.
            await expectStatus(.permissionDenied) { try await web.captureOrder(Fixture.order("M-0", channel: .marketplace)) }
            let marketplaceOrder = try await admin.captureOrder(Fixture.order("M-1", channel: .marketplace, lines: [("SKU-C", 1)])).order

            // By id and by external id: exactly the answer of an order that does not exist.
            let missing = try await answerMessage { try await web.getOrder("ORD-DOES-NOT-EXIST") }
            let hidden = try await answerMessage { try await web.getOrder(marketplaceOrder.orderID) }
            #expect(hidden.code == .notFound)
            #expect(hidden.message.replacingOccurrences(of: marketplaceOrder.orderID, with: "X")
                == missing.message.replacingOccurrences(of: "ORD-DOES-NOT-EXIST", with: "X"))
            await expectStatus(.notFound) { try await web.getOrder(channel: .marketplace, externalOrderID: "M-1") }
            #expect(try await web.getOrder(webOrder.orderID).orderID == webOrder.orderID)
            await expectStatus(.notFound) { try await web.orderHistory(marketplaceOrder.orderID) }

            // Lists: only web orders, even when asked for the marketplace.
            let listed = try await web.allOrders()
            #expect(listed.map(\.orderID) == [webOrder.orderID])
            #expect(try await web.allOrders { $0.channel = .marketplace }.isEmpty)
            #expect(Set(try await admin.allOrders().map(\.orderID)) == [webOrder.orderID, marketplaceOrder.orderID])

            // Changes to another channel's order: NOT_FOUND, and nothing changed.
            await expectStatus(.notFound) { try await web.hold(marketplaceOrder.orderID, request: "h-1") }
            await expectStatus(.notFound) { try await web.cancel(marketplaceOrder.orderID, request: "c-1") }
            #expect(try await admin.getOrder(marketplaceOrder.orderID).status == marketplaceOrder.status)

            // Who acted is the credential's name, whatever client-id says.
            let held = try await web.hold(webOrder.orderID, request: "h-2")
            #expect(held.order.history.last?.clientID == TestCredentials.web.name)
        }
    }

    @Test("a fulfillment credential acts on its locations' fulfillments only")
    func fulfillmentScope() async throws {
        try await withServer { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let east = try await admin.captureOrder(Fixture.order("E-1", lines: [("SKU-A", 1)])).order
            let west = try await admin.captureOrder(Fixture.order("W-1", lines: [("SKU-C", 1)])).order
            #expect(east.fulfillments.first?.locationID == "WH-EAST")
            #expect(west.fulfillments.first?.locationID == "WH-WEST")
            let store = try await server.client(as: TestCredentials.eastWarehouse)
            // Its own fulfillment: allowed.
            let released = try await store.release(east.orderID, east.fulfillments[0].fulfillmentID, request: "r-1")
            #expect(released.order.fulfillments[0].status == .released)
            #expect(released.order.history.last?.clientID == TestCredentials.eastWarehouse.name)
            // Another location's order: not visible at all.
            await expectStatus(.notFound) { try await store.release(west.orderID, west.fulfillments[0].fulfillmentID, request: "r-2") }
            await expectStatus(.notFound) { try await store.getOrder(west.orderID) }
            #expect(try await store.allOrders().map(\.orderID) == [east.orderID])
            // A channel step is not a fulfillment's to take.
            await expectStatus(.permissionDenied) { try await store.cancel(east.orderID, request: "c-1") }
        }
    }

    static func envelope(_ callID: UInt64, _ method: String, token: String?) -> Waybill_V1_RequestEnvelope {
        var envelope = Waybill_V1_RequestEnvelope()
        envelope.callID = callID
        envelope.method = method
        envelope.protocolVersion = .protocolVersion1
        envelope.timeoutMs = 20_000
        if let token { envelope.metadata = ["authorization": "Bearer " + token] }
        return envelope
    }
}

/// The status of a call that is expected to fail.
func answerMessage<T>(_ body: () async throws -> T) async throws -> WaybillStatusError {
    do {
        _ = try await body()
    } catch let error as WaybillStatusError {
        return error
    }
    throw WaybillStatusError(.internal, "the call succeeded")
}
