// Every order-level command (hold, releaseHold, cancelOrder, cancelLines, createReturn,
// receiveReturn) against an order in every reachable OrderStatus. Whether a command is legal is
// decided by an oracle written from the proto's unit semantics (open units, returnable units,
// holds, returns), not from OrderStatus; legal commands must have their effect, illegal ones
// must be a typed error naming the state that changes nothing.
import Testing
import WaybillCore

/// Ways to bring an order into each reachable status. Stock: SKU-A only at WH-EAST, SKU-B only
/// at WH-WEST, so the two-line order A×2 + B×1 splits into F1 (WH-EAST) and F2 (WH-WEST).
enum OrderScenario: String, CaseIterable, Sendable {
    case onHold, allocated, partiallyAllocated, backordered, released, partiallyReleased, picked, packed
    case partiallyShipped, shipped, partiallyDelivered, delivered, cancelled, partiallyReturned, returned
    /// Not new statuses, but different unit situations behind the same status.
    case heldAfterPartialShipment, deliveredWithOpenReturn, partiallyReturnedWithOpenUnits, partiallyCancelled

    var expectedStatus: OrderStatus {
        switch self {
        case .onHold, .heldAfterPartialShipment: .onHold
        case .allocated, .partiallyCancelled: .allocated
        case .partiallyAllocated: .partiallyAllocated
        case .backordered: .backordered
        case .released: .released
        case .partiallyReleased: .partiallyReleased
        case .picked: .picked
        case .packed: .packed
        case .partiallyShipped: .partiallyShipped
        case .shipped: .shipped
        case .partiallyDelivered: .partiallyDelivered
        case .delivered, .deliveredWithOpenReturn: .delivered
        case .cancelled: .cancelled
        case .partiallyReturned, .partiallyReturnedWithOpenUnits: .partiallyReturned
        case .returned: .returned
        }
    }

    func build() throws -> (Harness, OrderID) {
        let harness = try Harness(stock: [(Net.skuA, Net.whEast, 10), (Net.skuB, Net.whWest, 10)])
        var lines: [(SKU, Int32)] = [(Net.skuA, 2), (Net.skuB, 1)]
        if self == .partiallyAllocated { lines = [(Net.skuA, 2), (Net.skuC, 1)] }
        if self == .backordered { lines = [(Net.skuC, 1), (Net.skuD, 2)] }
        let holds = self == .onHold ? [Hold(reason: .payment, note: "card declined")] : []
        let order = try harness.capture(Net.draft("EXT-\(rawValue)", lines, holds: holds))
        let id = order.orderID
        let f1 = "\(id)-F1", f2 = "\(id)-F2"
        func receiveAll(_ returnID: String, _ lines: [(String, Int32)]) throws {
            try harness.apply(.createReturn(returnID: returnID, lines: lines.map { LineQuantity(lineID: $0.0, quantity: $0.1) }, reason: "unwanted"), to: id)
            try harness.apply(.receiveReturn(returnID: returnID, locationID: Net.whEast,
                                             lines: lines.map { ReturnLine(lineID: $0.0, quantity: $0.1, disposition: .restock) }), to: id)
        }
        switch self {
        case .onHold, .allocated, .partiallyAllocated, .backordered: break
        case .released: try harness.apply(.releaseFulfillment(nil), to: id)
        case .partiallyReleased: try harness.apply(.releaseFulfillment(f1), to: id)
        case .picked:
            try harness.advance(id, f1, to: .picked); try harness.advance(id, f2, to: .picked)
        case .packed:
            try harness.advance(id, f1, to: .packed); try harness.advance(id, f2, to: .packed)
        case .partiallyShipped: try harness.advance(id, f1, to: .shipped)
        case .shipped:
            try harness.advance(id, f1, to: .shipped); try harness.advance(id, f2, to: .shipped)
        case .partiallyDelivered:
            try harness.advance(id, f1, to: .delivered); try harness.advance(id, f2, to: .shipped)
        case .delivered:
            try harness.advance(id, f1, to: .delivered); try harness.advance(id, f2, to: .delivered)
        case .cancelled: try harness.apply(.cancelOrder(reason: "fraud"), to: id)
        case .partiallyReturned:
            try harness.advance(id, f1, to: .delivered); try harness.advance(id, f2, to: .delivered)
            try receiveAll("RMA-0", [("L1", 1)])
        case .returned:
            try harness.advance(id, f1, to: .delivered); try harness.advance(id, f2, to: .delivered)
            try receiveAll("RMA-0", [("L1", 2), ("L2", 1)])
        case .heldAfterPartialShipment:
            try harness.advance(id, f1, to: .shipped)
            try harness.apply(.hold(.address, note: "address check"), to: id)
        case .deliveredWithOpenReturn:
            try harness.advance(id, f1, to: .delivered); try harness.advance(id, f2, to: .delivered)
            try harness.apply(.createReturn(returnID: "RMA-0", lines: [LineQuantity(lineID: "L2", quantity: 1)], reason: "damaged"), to: id)
        case .partiallyReturnedWithOpenUnits:
            // F1 delivered and returned; F2 (line L2) still waiting to be released.
            try harness.advance(id, f1, to: .delivered)
            try receiveAll("RMA-0", [("L1", 2)])
        case .partiallyCancelled:
            try harness.apply(.cancelLines([LineQuantity(lineID: "L1", quantity: 1)], reason: "too many"), to: id)
        }
        return (harness, id)
    }
}

enum OrderLevelCommand: String, CaseIterable, Sendable {
    case hold, releaseHold, cancelOrder, cancelLines, createReturn, receiveReturn
}

struct OrderCommandMatrixTests {
    @Test("the scenarios reach every OrderStatus but CAPTURED, which the quantity identity makes unreachable")
    func scenariosCoverTheStatuses() throws {
        var reached: Set<OrderStatus> = []
        for scenario in OrderScenario.allCases {
            let (harness, id) = try scenario.build()
            let order = harness.order(id)
            #expect(order.status == scenario.expectedStatus, "\(scenario)")
            #expect(lineBookkeepingProblems(order).isEmpty, "\(lineBookkeepingProblems(order))")
            reached.insert(order.status)
        }
        // CAPTURED needs allocated == 0 and backordered < active with nothing shipped, but
        // active = backordered + allocated + shipped: every captured order is routed at once.
        #expect(reached == Set(OrderStatus.allCases).subtracting([.captured]))
    }

    /// What the proto's semantics say about a command, from the order's units alone.
    enum Verdict: Equatable { case legal, illegal(DomainError.Code) }

    struct Prepared {
        var command: OrderCommand
        var verdict: Verdict
        var phrase: String
        /// The state an illegal command's error must name.
        var state: String
    }

    static func prepare(_ kind: OrderLevelCommand, for order: Order) -> Prepared {
        let openLine = order.lines.first { $0.openQuantity > 0 }
        let returnable = order.lines.first { $0.quantities.shipped - $0.quantities.returned - $0.quantities.returnRequested > 0 }
        let status = order.status.description
        switch kind {
        case .hold:
            let legal = order.openUnits > 0 && !order.holds.contains { $0.reason == .fraud }
            return Prepared(command: .hold(.fraud, note: "chargeback"), verdict: legal ? .legal : .illegal(.failedPrecondition),
                            phrase: "hold", state: status)
        case .releaseHold:
            return Prepared(command: .releaseHold(nil, note: "cleared"), verdict: order.isOnHold ? .legal : .illegal(.failedPrecondition),
                            phrase: "release hold", state: status)
        case .cancelOrder:
            return Prepared(command: .cancelOrder(reason: "customer request"), verdict: order.openUnits > 0 ? .legal : .illegal(.failedPrecondition),
                            phrase: "cancel", state: status)
        case .cancelLines:
            let line = openLine ?? order.lines[0]
            return Prepared(command: .cancelLines([LineQuantity(lineID: line.lineID, quantity: 1)], reason: "one less"),
                            verdict: openLine != nil ? .legal : .illegal(.failedPrecondition), phrase: "cancel", state: status)
        case .createReturn:
            let line = returnable ?? order.lines[0]
            return Prepared(command: .createReturn(returnID: "RMA-new", lines: [LineQuantity(lineID: line.lineID, quantity: 1)], reason: "unwanted"),
                            verdict: returnable != nil ? .legal : .illegal(.failedPrecondition), phrase: "return", state: status)
        case .receiveReturn:
            if let open = order.returns.first(where: { $0.status == .requested }) {
                return Prepared(command: .receiveReturn(returnID: open.returnID, locationID: Net.whEast,
                                                        lines: open.lines.map { ReturnLine(lineID: $0.lineID, quantity: $0.quantity, disposition: .restock) }),
                                verdict: .legal, phrase: "receive return", state: "REQUESTED")
            }
            if let done = order.returns.first {
                return Prepared(command: .receiveReturn(returnID: done.returnID, locationID: Net.whEast,
                                                        lines: done.lines.map { ReturnLine(lineID: $0.lineID, quantity: $0.quantity, disposition: .restock) }),
                                verdict: .illegal(.failedPrecondition), phrase: "receive return", state: "RECEIVED")
            }
            return Prepared(command: .receiveReturn(returnID: "RMA-none", locationID: Net.whEast,
                                                    lines: [ReturnLine(lineID: "L1", quantity: 1, disposition: .restock)]),
                            verdict: .illegal(.notFound), phrase: "return RMA-none", state: "")
        }
    }

    @Test("order-level commands in every reachable status: legal ones take effect, illegal ones change nothing",
          arguments: OrderScenario.allCases, OrderLevelCommand.allCases)
    func commandInStatus(scenario: OrderScenario, kind: OrderLevelCommand) throws {
        let (harness, id) = try scenario.build()
        let before = harness.order(id)
        try #require(before.status == scenario.expectedStatus)
        let prepared = Self.prepare(kind, for: before)
        let figures = liveFigures(harness.engine)
        let movements = harness.storage.movements.count, events = harness.storage.events.count
        let capacity = harness.engine.state.capacity.used

        if case .illegal(let code) = prepared.verdict {
            harness.tick()
            let error = expectDomainError(code, "\(scenario) × \(kind)") {
                _ = try harness.engine.apply(prepared.command, to: id, context: harness.context(requestID: "matrix", fingerprint: 7),
                                             storage: harness.storage)
            }
            if let error {
                #expect(error.message.contains(prepared.phrase), "\(error.message)")
                if code == .failedPrecondition {
                    #expect(error.message.contains("state \(prepared.state)"), "must name the state \(prepared.state): \(error.message)")
                    #expect(error.currentState == prepared.state)
                }
            }
            let unchanged = harness.order(id) == before
            #expect(unchanged, "\(scenario) × \(kind): the order changed")
            #expect(liveFigures(harness.engine) == figures)
            #expect(harness.engine.state.capacity.used == capacity)
            #expect(harness.storage.movements.count == movements && harness.storage.events.count == events)
            return
        }

        let after = try harness.apply(prepared.command, to: id)
        #expect(after.version == before.version + 1)
        #expect(lineBookkeepingProblems(after).isEmpty, "\(lineBookkeepingProblems(after))")
        #expect(ledgerMismatches(harness.engine, harness.storage).isEmpty, "\(ledgerMismatches(harness.engine, harness.storage))")
        let reserved = reservedByFulfillments(harness.storage)
        for (key, figure) in liveFigures(harness.engine) {
            #expect(figure.reserved == reserved[key, default: 0], "\(key.sku)@\(key.locationID)")
        }
        switch prepared.command {
        case .hold:
            #expect(after.holds.map(\.reason).contains(.fraud))
            // ON_HOLD: "at least one active hold" — on an order that still has units to release.
            #expect(after.status == .onHold, "\(scenario): a held order with open units must read ON_HOLD, reads \(after.status)")
        case .releaseHold:
            #expect(after.holds.isEmpty && after.status != .onHold)
        case .cancelOrder:
            #expect(after.openUnits == 0)
            #expect(!after.fulfillments.contains { $0.status.holdsReservation })
            #expect(after.backorderedUnits == 0)
            for location in [Net.whEast, Net.whWest] {
                let stillUsed = after.fulfillments.filter { $0.locationID == location && ($0.status == .shipped || $0.status == .delivered) }.count
                #expect(harness.capacityUsed(location) == Int32(stillUsed), "capacity of cancelled fulfillments is given back at \(location)")
            }
        case .cancelLines(let lines, _):
            let index = after.lineIndex(lines[0].lineID)!
            #expect(after.lines[index].quantities.cancelled == before.lines[index].quantities.cancelled + 1)
            #expect(after.lines[index].openQuantity == before.lines[index].openQuantity - 1)
        case .createReturn(_, let lines, _, _):
            let index = after.lineIndex(lines[0].lineID)!
            #expect(after.lines[index].quantities.returnRequested == before.lines[index].quantities.returnRequested + 1)
            #expect(after.returns.count == before.returns.count + 1)
        case .receiveReturn(let returnID, _, let lines):
            #expect(after.returns.first { $0.returnID == returnID }?.status == .received)
            for line in lines {
                let index = after.lineIndex(line.lineID)!
                #expect(after.lines[index].quantities.returned == before.lines[index].quantities.returned + line.quantity)
                let sku = after.lines[index].sku
                let onHandBefore = figures[InventoryKey(sku: sku, locationID: Net.whEast)]?.onHand ?? 0
                #expect(harness.balance(sku, Net.whEast).onHand == onHandBefore + Int64(line.quantity), "restocked at WH-EAST")
            }
        default:
            Issue.record("unexpected command \(prepared.command)")
        }
    }
}
