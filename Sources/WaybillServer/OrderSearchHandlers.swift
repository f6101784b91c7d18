// waybill.v1.OrderService: SearchOrders and ListLocationQueue, reads on StoreReader (the operator
// console and integrations call them alike). Scope as in ListOrders: a channel credential finds only
// its channels' orders (filtered in the search itself), a fulfillment credential only orders with
// a fulfillment at one of its locations, and reads only its own locations' queues.

import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func searchOrders(_ request: Waybill_V1_SearchOrdersRequest, call: Call) {
        guard let pageSize = self.searchPageSize(call, request.pageSize) else { return }
        var filter = OrderSearchFilter(pageSize: pageSize, candidatesScannedMax: transport.searchCandidatesScannedMax)
        func text(_ value: String) -> String? {
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : trimmed
        }
        do {
            filter.query = text(request.query)
            filter.email = text(request.customerEmail)
            filter.phone = text(request.customerPhone)
            filter.name = text(request.customerName)
            filter.sku = text(request.sku)
            filter.trackingNumber = text(request.trackingNumber)
            filter.locationID = text(request.locationID)
            filter.externalOrderID = text(request.externalOrderID)
            if let phone = filter.phone, SearchText.phone(phone).isEmpty {
                throw DomainError.invalid("customer_phone", "has no digits")
            }
            if let name = filter.name, SearchText.words(name).isEmpty {
                throw DomainError.invalid("customer_name", "has no letters or digits")
            }
            if request.channel != .unspecified {
                guard let channel = Channel(proto: request.channel) else { throw DomainError.invalid("channel", "unknown value") }
                filter.channel = channel
            }
            if filter.externalOrderID != nil && filter.channel == nil {
                throw DomainError.invalid("external_order_id", "requires channel (the capture key is channel and external order id)")
            }
            filter.statuses = try Self.orderStatuses(request.statuses)
            if request.capturedFromUnixMs > 0 { filter.capturedFrom = Timestamp(millisecondsSinceEpoch: request.capturedFromUnixMs) }
            if request.capturedToUnixMs > 0 { filter.capturedTo = Timestamp(millisecondsSinceEpoch: request.capturedToUnixMs) }
            if !request.pageToken.isEmpty {
                guard request.pageToken.hasPrefix("before:"), let sequence = Int64(request.pageToken.dropFirst(7)), sequence > 0 else {
                    throw DomainError.invalid("page_token", "not a token from a previous SearchOrders answer")
                }
                filter.beforeSequence = sequence
            }
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let caller = call.caller
        switch caller.role {
        case .admin, .erp: break
        case .channel:
            filter.channels = Channel.allCases.filter { caller.channels.contains($0.name) }
        case .fulfillment:
            filter.include = { order in caller.maySee(order) }
        }
        self.reader.searchOrders(filter) { result in
            self.answer(call, result) { page in
                var output = repeatedField(1, page.rows.map(\.1))
                if let next = page.nextBeforeSequence { output += stringField(2, "before:\(next)") }
                if page.candidatesLimitReached { output += [0x18, 0x01] }
                return .bytes(output)
            }
        }
    }

    func listLocationQueue(_ request: Waybill_V1_ListLocationQueueRequest, call: Call) {
        guard let pageSize = self.searchPageSize(call, request.pageSize) else { return }
        let locationID = request.locationID
        var filter = LocationQueueFilter(locationID: locationID, pageSize: pageSize)
        do {
            if locationID.isEmpty { throw DomainError.invalid("location_id", "is required") }
            for (index, status) in request.statuses.enumerated() {
                guard let value = FulfillmentStatus(rawValue: status.rawValue), !value.isTerminal else {
                    throw DomainError.invalid("statuses[\(index)]", "not a queued state (CREATED, RELEASED, PICKED, PACKED or SHIPPED)")
                }
                filter.statuses.append(value)
            }
            if !request.pageToken.isEmpty {
                let parts = request.pageToken.split(separator: ":", maxSplits: 2)
                guard parts.count == 3, parts[0] == "q", let createdAt = Int64(parts[1]), !parts[2].isEmpty else {
                    throw DomainError.invalid("page_token", "not a token from a previous ListLocationQueue answer")
                }
                filter.after = (createdAt, String(parts[2]))
            }
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let caller = call.caller
        if caller.role == .fulfillment && !caller.mayActAt(location: locationID) {
            call.responder.respond(.failure(WaybillStatusError(.permissionDenied, "credential \"\(caller.name)\" reads only the queues of its locations ("
                                                               + caller.locations.sorted().joined(separator: ",") + ")")))
            return
        }
        self.reader.locationQueue(filter) { result in
            self.answer(call, result) { page in
                var response = Waybill_V1_ListLocationQueueResponse()
                for row in page.rows {
                    guard let order = try? Waybill_V1_Order(serializedBytes: row.order),
                          let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == row.fulfillmentID }) else { continue }
                    response.entries.append(Self.queueEntry(order, fulfillment))
                }
                if let next = page.next { response.nextPageToken = "q:\(next.createdAt):\(next.fulfillmentID)" }
                return .message(response)
            }
        }
    }

    static func queueEntry(_ order: Waybill_V1_Order, _ fulfillment: Waybill_V1_Fulfillment) -> Waybill_V1_LocationQueueEntry {
        var entry = Waybill_V1_LocationQueueEntry()
        entry.orderID = order.orderID
        entry.fulfillmentID = fulfillment.fulfillmentID
        entry.fulfillmentStatus = fulfillment.status
        entry.method = fulfillment.method == .pickup ? .pickup : .ship
        entry.promisedDeliveryUnixMs = fulfillment.promisedDeliveryUnixMs
        entry.createdAtUnixMs = fulfillment.createdAtUnixMs
        entry.releasedAtUnixMs = fulfillment.releasedAtUnixMs
        entry.channel = order.channel
        entry.customerName = order.customer.name
        entry.lineCount = Int32(fulfillment.lines.count)
        entry.units = fulfillment.lines.reduce(0) { $0 + $1.quantity }
        entry.orderStatus = order.status
        entry.onHold = !order.holds.isEmpty
        return entry
    }

    static func orderStatuses(_ statuses: [Waybill_V1_OrderStatus]) throws -> [OrderStatus] {
        try statuses.enumerated().map { index, status in
            guard status != .unspecified, let value = OrderStatus(rawValue: status.rawValue) else {
                throw DomainError.invalid("statuses[\(index)]", "unknown status")
            }
            return value
        }
    }

    /// Page size of SearchOrders and ListLocationQueue (searchPageSizeMax).
    func searchPageSize(_ call: Call, _ requested: Int32) -> Int? {
        pageSize(call, requested, limit: ("searchPageSizeMax", transport.searchPageSizeMax, transport.searchPageSizeDefault))
    }
}
