// waybill.v1.NetworkService: locations, carriers, items and the routing policy.

import Dispatch
import SwiftProtobuf
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func upsertLocations(_ request: Waybill_V1_UpsertLocationsRequest, call: Call) {
        guard self.within(call, request.locations.count, "networkRecordsPerRequestMax",
                              self.transport.networkRecordsPerRequestMax, "locations") else { return }
        self.write(call, { context in
            try context.atomically {
                for (index, proto) in request.locations.enumerated() {
                    try indexed("locations[\(index)]") {
                        try context.engine.upsert(location: Location(proto: proto), context: self.context(call, context),
                                                  storage: context.engineStorage)
                    }
                }
                context.networkChanged = true
            }
            return request.locations
        }, respond: { locations in
            var response = Waybill_V1_LocationsResponse()
            response.locations = locations
            return .message(response)
        })
    }

    func upsertCarriers(_ request: Waybill_V1_UpsertCarriersRequest, call: Call) {
        guard self.within(call, request.carriers.count, "networkRecordsPerRequestMax",
                              self.transport.networkRecordsPerRequestMax, "carriers") else { return }
        self.write(call, { context in
            try context.atomically {
                for (index, proto) in request.carriers.enumerated() {
                    try indexed("carriers[\(index)]") {
                        try context.engine.upsert(carrier: Carrier(proto: proto), context: self.context(call, context),
                                                  storage: context.engineStorage)
                    }
                }
                context.networkChanged = true
            }
            return request.carriers
        }, respond: { carriers in
            var response = Waybill_V1_CarriersResponse()
            response.carriers = carriers
            return .message(response)
        })
    }

    func upsertItems(_ request: Waybill_V1_UpsertItemsRequest, call: Call) {
        guard self.within(call, request.items.count, "networkRecordsPerRequestMax",
                              self.transport.networkRecordsPerRequestMax, "items") else { return }
        self.write(call, { context in
            try context.atomically {
                for (index, proto) in request.items.enumerated() {
                    try indexed("items[\(index)]") {
                        try context.engine.upsert(item: Item(proto: proto), context: self.context(call, context),
                                                  storage: context.engineStorage)
                    }
                }
                context.networkChanged = true
            }
            return request.items
        }, respond: { items in
            var response = Waybill_V1_ItemsResponse()
            response.items = items
            return .message(response)
        })
    }

    func listLocations(_ request: Waybill_V1_ListRequest, call: Call) {
        guard let page = self.page(call, request, ids: self.writer.committed.networkSnapshot.locations.keys.map(\.rawValue)) else { return }
        let network = self.writer.committed.networkSnapshot
        var response = Waybill_V1_LocationsResponse()
        response.locations = page.ids.compactMap { network.locations[LocationID($0)]?.proto }
        response.nextPageToken = page.next
        call.responder.respond(.message(response))
    }

    func listCarriers(_ request: Waybill_V1_ListRequest, call: Call) {
        let network = self.writer.committed.networkSnapshot
        guard let page = self.page(call, request, ids: Array(network.carriers.keys)) else { return }
        var response = Waybill_V1_CarriersResponse()
        response.carriers = page.ids.compactMap { network.carriers[$0]?.proto }
        response.nextPageToken = page.next
        call.responder.respond(.message(response))
    }

    func listItems(_ request: Waybill_V1_ListRequest, call: Call) {
        let network = self.writer.committed.networkSnapshot
        guard let page = self.page(call, request, ids: network.items.keys.map(\.rawValue)) else { return }
        var response = Waybill_V1_ItemsResponse()
        response.items = page.ids.compactMap { network.items[SKU($0)]?.proto }
        response.nextPageToken = page.next
        call.responder.respond(.message(response))
    }

    func setRoutingPolicy(_ request: Waybill_V1_RoutingPolicy, call: Call) {
        let policy: RoutingPolicy
        do {
            policy = try RoutingPolicy(proto: request)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        self.write(call, { context in
            try context.engine.setPolicy(policy, context: self.context(call, context), storage: context.engineStorage)
        }, respond: { .message($0.proto) })
    }

    func getRoutingPolicy(_ request: Waybill_V1_GetRoutingPolicyRequest, call: Call) {
        if request.version == 0 {
            call.responder.respond(.message(self.writer.committed.currentPolicy.proto))
            return
        }
        self.blocking(call, { try self.reader.policy(version: request.version) }) { policy in
            guard let policy else { return .failure(WaybillStatusError(.notFound, "routing policy version \(request.version) not found")) }
            return .message(policy.proto)
        }
    }

    func loadNetwork(_ request: Waybill_V1_NetworkModel, call: Call) {
        let records = request.locations.count + request.carriers.count + request.items.count + request.initialStock.count
            + request.channelSettings.count
        guard self.within(call, records, "networkRecordsPerRequestMax", self.transport.networkRecordsPerRequestMax, "records") else {
            return
        }
        self.write(call, { context in
            try context.atomically {
                try Self.loadNetwork(request, call: call, services: self, context: context)
            }
        }, respond: { .message($0) })
    }

    /// Applies a whole network model (locations, carriers, items, policy, opening stock).
    static func loadNetwork(_ model: Waybill_V1_NetworkModel, call: Call, services: Services,
                            context: WriteContext) throws -> Waybill_V1_LoadNetworkResponse {
        let command = services.context(call, context)
        for (index, proto) in model.locations.enumerated() {
            try indexed("locations[\(index)]") {
                try context.engine.upsert(location: Location(proto: proto), context: command, storage: context.engineStorage)
            }
        }
        for (index, proto) in model.carriers.enumerated() {
            try indexed("carriers[\(index)]") {
                try context.engine.upsert(carrier: Carrier(proto: proto), context: command, storage: context.engineStorage)
            }
        }
        for (index, proto) in model.items.enumerated() {
            try indexed("items[\(index)]") {
                try context.engine.upsert(item: Item(proto: proto), context: command, storage: context.engineStorage)
            }
        }
        for (index, proto) in model.channelSettings.enumerated() {
            try indexed("channel_settings[\(index)]") {
                try context.engine.set(channelSettings: ChannelSettings(proto: proto), context: command, storage: context.engineStorage)
            }
        }
        context.networkChanged = true
        var response = Waybill_V1_LoadNetworkResponse()
        response.channelSettings = Channel.allCases.map { context.engine.network.settings(of: $0).proto }
        if model.hasRoutingPolicy {
            let policy = try indexed("routing_policy") { try RoutingPolicy(proto: model.routingPolicy) }
            response.routingPolicyVersion = try indexed("routing_policy") {
                try context.engine.setPolicy(policy, context: command, storage: context.engineStorage).version
            }
        } else {
            response.routingPolicyVersion = context.engine.policy.version
        }
        for (index, proto) in model.initialStock.enumerated() {
            var change = proto
            // Opening stock is idempotent: loading the same file twice does not double it.
            if change.changeID.isEmpty { change.changeID = "initial:\(change.sku)@\(change.locationID)" }
            let receipt = try indexed("initial_stock[\(index)]") { try InventoryChange(proto: change, defaultKind: .receipt) }
            _ = try indexed("initial_stock[\(index)]") {
                try context.engine.applyInventoryChange(receipt, context: CommandContext(now: context.now, clientID: call.caller.name,
                                                                                       fingerprint: fingerprint(change)),
                                                        storage: context.engineStorage)
            }
        }
        response.locations = Int32(model.locations.count)
        response.carriers = Int32(model.carriers.count)
        response.items = Int32(model.items.count)
        response.stockChanges = Int32(model.initialStock.count)
        return response
    }

    struct Page {
        var ids: [String]
        var next: String
    }

    /// A page of sorted ids after the request's token.
    func page(_ call: Call, _ request: Waybill_V1_ListRequest, ids: [String]) -> Page? {
        guard let size = pageSize(call, request.pageSize) else { return nil }
        var sorted = ids.sorted()
        if !request.pageToken.isEmpty {
            guard request.pageToken.hasPrefix("after:") else {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous answer")))
                return nil
            }
            let after = String(request.pageToken.dropFirst(6))
            sorted = sorted.filter { $0 > after }
        }
        let page = Array(sorted.prefix(size))
        return Page(ids: page, next: sorted.count > size ? "after:\(page.last!)" : "")
    }
}

/// Prefixes a DomainError's field and message with the record it concerns ("locations[3].region").
func indexed<T>(_ prefix: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch var error as DomainError {
        error.field = error.field.map { "\(prefix).\($0)" } ?? prefix
        error.message = "\(prefix).\(error.message)"
        throw error
    }
}
