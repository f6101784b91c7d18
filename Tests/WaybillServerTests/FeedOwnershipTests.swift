// Change-feed consumers belong to the credential that created them; a per-credential cap;
// subscriptionsMax checked atomically; a channel caller's subscription carries only its channels'
// orders (issue 12).

import Testing
import WaybillApplication
import WaybillClient
import WaybillProto
import WaybillServer
import WaybillWire

@Suite("Feed ownership", .timeLimit(.minutes(3)))
struct FeedOwnershipTests {
    static let otherErp = TestCredentials.seed("test-erp-other", .erp)

    static func deleteConsumer(_ client: WaybillClient, _ name: String) async throws -> Waybill_V1_FeedInfo {
        var request = Waybill_V1_DeleteConsumerRequest()
        request.consumer = name
        return try await client.call(Method.ChangeFeedService.deleteConsumer, request)
    }

    @Test("another credential's Acknowledge, Subscribe and DeleteConsumer on a consumer are NOT_FOUND, as for a name never used; an admin may delete it")
    func consumersBelongToTheirCreator() async throws {
        try await withServer({ $0.credentials = TestCredentials.all + [Self.otherErp] }) { server in
            let owner = try await server.client(as: TestCredentials.erp)
            let other = try await server.client(as: Self.otherErp)
            _ = try await owner.acknowledge(consumer: "erp-orders", offset: 0)

            let neverUsed = await expectStatus(.notFound) { try await Self.deleteConsumer(other, "never-used") }
            let deleted = await expectStatus(.notFound) { try await Self.deleteConsumer(other, "erp-orders") }
            #expect(deleted?.message == neverUsed?.message.replacingOccurrences(of: "never-used", with: "erp-orders"),
                    "indistinguishable from a consumer that does not exist")
            await expectStatus(.notFound) { try await other.acknowledge(consumer: "erp-orders", offset: 0) }
            let stream = try FeedCollector.subscribe(other, consumer: "erp-orders")
            #expect(try await stream.waitForEnd()?.code == .notFound)

            // The owner still has it, untouched.
            #expect(try await owner.acknowledge(consumer: "erp-orders", offset: 0).consumer.consumer == "erp-orders")
            let own = try FeedCollector.subscribe(owner, consumer: "erp-orders")
            // An admin may delete any (it holds back pruning for everyone), even while it streams.
            let admin = try await server.client()
            // Once its registration has committed: a Subscribe still on its way would register the
            // consumer again after the delete (a CI run saw that race).
            #expect(await eventually("the owner's subscription to be registered") {
                (try? await admin.feedInfo())?.consumers.contains { $0.consumer == "erp-orders" && $0.connected } == true
            })
            let info = try await Self.deleteConsumer(admin, "erp-orders")
            #expect(!info.consumers.contains { $0.consumer == "erp-orders" })
            own.cancel()
        }
    }

    @Test("a credential owns at most consumersPerCredentialMax consumers; others are not affected; deleting one makes room")
    func perCredentialCap() async throws {
        try await withServer({
            $0.credentials = TestCredentials.all + [Self.otherErp]
            $0.transport.consumersPerCredentialMax = 2
        }) { server in
            let erp = try await server.client(as: TestCredentials.erp)
            _ = try await erp.acknowledge(consumer: "c-1", offset: 0)
            let stream = try FeedCollector.subscribe(erp, consumer: "c-2")
            _ = await eventually("c-2 registered") {
                (try? await server.client().feedInfo().consumers.contains { $0.consumer == "c-2" }) == true
            }
            let refused = await expectStatus(.resourceExhausted) { try await erp.acknowledge(consumer: "c-3", offset: 0) }
            #expect(refused?.details.limitName == "consumersPerCredentialMax")
            #expect(refused?.details.limitValue == 2)
            let refusedStream = try FeedCollector.subscribe(erp, consumer: "c-3")
            #expect(try await refusedStream.waitForEnd()?.details.limitName == "consumersPerCredentialMax")
            // Its own consumers still work; another credential has its own allowance.
            _ = try await erp.acknowledge(consumer: "c-1", offset: 0)
            _ = try await server.client(as: Self.otherErp).acknowledge(consumer: "other-1", offset: 0)
            _ = try await Self.deleteConsumer(erp, "c-1")
            _ = try await erp.acknowledge(consumer: "c-3", offset: 0)
            stream.cancel()
        }
    }

    @Test("Subscribes racing for the last slots: exactly subscriptionsMax are open, the rest RESOURCE_EXHAUSTED subscriptionsMax")
    func subscriptionsMaxIsAtomic() async throws {
        try await withServer({ $0.transport.subscriptionsMax = 3; $0.transport.consumersPerCredentialMax = 20 }) { server in
            let client = try await server.client()
            let streams = try (0..<10).map { try FeedCollector.subscribe(client, consumer: "race-\($0)") }
            #expect(await eventually("every refusal to arrive") { streams.filter(\.ended).count >= 7 })
            let refused = streams.filter(\.ended)
            #expect(refused.count == 7, "refused: \(refused.count)")
            for stream in refused {
                #expect(stream.error?.code == .resourceExhausted)
                #expect(stream.error?.details.limitName == "subscriptionsMax")
            }
            // The three open ones are served.
            _ = try await client.loadFixtureNetwork()
            for stream in streams where !stream.ended { _ = try await stream.waitForEvents(1) }
            #expect(streams.filter(\.ended).count == 7)
            for stream in streams { stream.cancel() }
        }
    }

    @Test("a channel consumer's stored acknowledgement follows the events it passed unseen, but never passes an event it was sent and has not acknowledged")
    func filteredConsumersDoNotHoldBackPruning() async throws {
        try await withServer({ $0.transport.filteredAcknowledgementLagEventsMax = 1 }) { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            let webClient = try await server.client(as: TestCredentials.web)
            let web = try FeedCollector.subscribe(webClient, consumer: "web-quiet")
            func stored() async throws -> UInt64 {
                try await admin.feedInfo().consumers.first { $0.consumer == "web-quiet" }?.acknowledgedOffset ?? 0
            }
            // Only other channels' orders: the consumer's acknowledgement follows the head.
            _ = try await admin.captureOrder(Fixture.order("QUIET-m1", channel: .marketplace))
            var head = try await admin.feedInfo().headOffset
            #expect(await eventually("the passed events acknowledged") { (try? await stored()) == head })
            // A web order is sent and not acknowledged: later invisible events do not move the stored
            // acknowledgement past it.
            let mine = try await admin.captureOrder(Fixture.order("QUIET-w1", channel: .web))
            let sent = try await web.waitForEvents(1)
            _ = try await admin.captureOrder(Fixture.order("QUIET-m2", channel: .marketplace))
            head = try await admin.feedInfo().headOffset
            #expect(sent.allSatisfy { $0.orderID == mine.order.orderID })
            let firstSent = try #require(sent.first?.offset)
            #expect(try await stored() < firstSent, "not past an unacknowledged event it was sent")
            // Once the client acknowledges what it saw, the rest follows.
            #expect(await eventually("the acknowledgement to reach the head") {
                if let last = web.events.last?.offset { _ = try? await webClient.acknowledge(consumer: "web-quiet", offset: last) }
                return (try? await stored()) == head
            })
            #expect(web.events.allSatisfy { $0.orderID == mine.order.orderID })
            web.cancel()
        }
    }

    @Test("a channel caller's subscription carries only its channels' orders, from memory and read back from SQLite",
          arguments: [false, true])
    func channelSubscriptionsAreFiltered(readBack: Bool) async throws {
        try await withServer({ if readBack { $0.feedMemoryEventsMax = 1 } }) { server in
            let admin = try await server.client()
            try await admin.loadFixtureNetwork()
            var captured: [String: Waybill_V1_Channel] = [:]
            for index in 0..<6 {
                let channel: Waybill_V1_Channel = index % 2 == 0 ? .web : .marketplace
                let response = try await admin.captureOrder(Fixture.order("OWN-\(index)", channel: channel))
                captured[response.order.orderID] = channel
            }
            let everything = try FeedCollector.subscribe(try await server.client(as: TestCredentials.erp), consumer: "erp-all")
            let web = try FeedCollector.subscribe(try await server.client(as: TestCredentials.web), consumer: "web-orders", window: 2)
            let all = try await everything.waitForEvents(Int(try await admin.feedInfo().headOffset))
            let webOrders = Set(captured.filter { $0.value == .web }.keys)
            let expected = all.filter { $0.aggregateType == "order" && webOrders.contains($0.orderID) }
            #expect(expected.count >= 3)
            // A window of 2: the stream pauses after two visible events until they are acknowledged,
            // whatever number of invisible events lies between.
            var received: [Waybill_V1_ChangeEvent] = []
            let webClient = try await server.client(as: TestCredentials.web)
            while received.count < expected.count {
                received = try await web.waitForEvents(received.count + 1)
                _ = try await webClient.acknowledge(consumer: "web-orders", offset: received.last!.offset)
            }
            #expect(received.map(\.offset) == expected.map(\.offset))
            #expect(received.allSatisfy { $0.aggregateType == "order" && $0.order.channel == .web })
            // Later events are filtered too.
            let late = try await admin.captureOrder(Fixture.order("OWN-late-m", channel: .marketplace))
            let lateWeb = try await admin.captureOrder(Fixture.order("OWN-late-w", channel: .web))
            let next = try await web.waitForEvents(received.count + 1)
            #expect(next.last?.orderID == lateWeb.order.orderID)
            #expect(!next.contains { $0.orderID == late.order.orderID })
            everything.cancel()
            web.cancel()
        }
    }
}
