// waybill.v1.InventoryService and waybill.v1.NetworkService.

import Dispatch
import SwiftProtobuf
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    /// Runs a blocking store read on a dispatch queue (never on an event loop) and answers.
    func blocking<T: Sendable>(_ call: Call, _ body: @escaping @Sendable () throws -> T, _ respond: @escaping @Sendable (T) -> CallResponse) {
        DispatchQueue.global(qos: .userInitiated).async {
            self.answer(call, Result { try body() }, respond)
        }
    }

    static func registerInventoryService(_ handlers: inout [String: Handler]) {
        on(&handlers, Method.InventoryService.getAvailability, Waybill_V1_GetAvailabilityRequest.self) { services, call, request in
            guard services.within(call, request.skus.count, "availabilitySkusMax", services.transport.availabilitySkusMax, "SKUs") else { return }
            for (index, sku) in request.skus.enumerated() {
                if let error = Validation.checkSKU(sku, field: "skus[\(index)]", limits: services.configuration.domain) {
                    call.responder.respond(.failure(WaybillStatusError(error)))
                    return
                }
            }
            var channel: Channel?
            if request.channel != .unspecified {
                guard let value = Channel(proto: request.channel) else {
                    call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "channel: unknown value")))
                    return
                }
                channel = value
            }
            if request.networkOnly && channel == nil {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "channel: required with network_only")))
                return
            }
            let limit = services.transport.availabilityPositionsMax
            if !request.locationIds.isEmpty && !request.networkOnly {
                guard services.within(call, request.skus.count * request.locationIds.count, "availabilityPositionsMax", limit,
                                      "SKU × location positions") else { return }
            }
            // Served from the committed in-memory balances: no SQLite, no wait for the writer.
            let network = channel == nil ? nil : services.writer.committed.networkSnapshot
            var response = Waybill_V1_GetAvailabilityResponse()
            let overflow: Bool = services.writer.committed.withInventory { book in
                let locations = request.locationIds.map(LocationID.init)
                for skuName in request.skus {
                    let sku = SKU(skuName)
                    if !request.networkOnly {
                        if locations.isEmpty {
                            for entry in book.entries(for: sku) {
                                response.positions.append(entry.balance.position(InventoryKey(sku: sku, locationID: entry.locationID)))
                            }
                        } else {
                            for location in locations {
                                response.positions.append(book.balance(sku, at: location).position(InventoryKey(sku: sku, locationID: location)))
                            }
                        }
                        if response.positions.count > limit { return true }
                    }
                    if let channel, let network {
                        var availability = Waybill_V1_NetworkAvailability()
                        availability.sku = skuName
                        availability.channel = channel.proto
                        for entry in book.entries(for: sku) {
                            guard let location = network.locations[entry.locationID], location.active, location.sells(to: channel) else {
                                continue
                            }
                            let available = entry.balance.available
                            availability.available += available
                            if available > 0 { availability.locationsWithStock += 1 }
                        }
                        response.network.append(availability)
                    }
                }
                return false
            }
            if overflow {
                call.responder.respond(.failure(WaybillStatusError.limit(.invalidArgument, name: "availabilityPositionsMax", value: limit,
                                                                         "the answer would exceed the positions limit; ask for fewer SKUs or name locations")))
            } else {
                call.responder.respond(.message(response))
            }
        }

        inventoryChanges(&handlers, Method.InventoryService.receiveInventory, defaultKind: .receipt, allowed: [.receipt])
        inventoryChanges(&handlers, Method.InventoryService.adjustInventory, defaultKind: .adjustment, allowed: [.adjustment, .transfer])

        on(&handlers, Method.InventoryService.updateInventorySettings, Waybill_V1_UpdateInventorySettingsRequest.self) { services, call, request in
            guard services.within(call, request.settings.count, "inventoryChangesPerRequestMax",
                                  services.transport.inventoryChangesPerRequestMax, "settings") else { return }
            services.write(call, { context in
                try context.atomically {
                    try request.settings.enumerated().map { index, setting -> Waybill_V1_InventoryPosition in
                        let key = InventoryKey(sku: SKU(setting.sku), locationID: LocationID(setting.locationID))
                        do {
                            let balance = try context.engine.updateInventorySetting(
                                key, safetyStock: setting.safetyStock,
                                incoming: setting.incoming.map { Supply(quantity: $0.quantity, expectedAt: Timestamp(millisecondsSinceEpoch: $0.expectedAtUnixMs)) },
                                context: services.context(call, context), storage: context.engineStorage)
                            return balance.position(key)
                        } catch var error as DomainError {
                            error.message = "settings[\(index)]: " + error.message
                            throw error
                        }
                    }
                }
            }, respond: { positions in
                var response = Waybill_V1_UpdateInventorySettingsResponse()
                response.positions = positions
                return .message(response)
            })
        }

        on(&handlers, Method.InventoryService.listMovements, Waybill_V1_ListMovementsRequest.self) { services, call, request in
            guard let pageSize = services.pageSize(call, request.pageSize) else { return }
            var after: Int64 = 0
            if !request.pageToken.isEmpty {
                guard request.pageToken.hasPrefix("after:"), let value = Int64(request.pageToken.dropFirst(6)) else {
                    call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous answer")))
                    return
                }
                after = value
            }
            services.reader.movements(sku: request.sku.isEmpty ? nil : request.sku,
                                      locationID: request.locationID.isEmpty ? nil : request.locationID,
                                      orderID: request.orderID.isEmpty ? nil : request.orderID, afterID: after, limit: pageSize) { result in
                services.answer(call, result) { movements in
                    var response = Waybill_V1_ListMovementsResponse()
                    response.movements = movements
                    if movements.count == pageSize, let last = movements.last { response.nextPageToken = "after:\(last.movementID)" }
                    return .message(response)
                }
            }
        }
    }

    /// Receive/Adjust: each change applied (or refused) on its own, idempotent by change id.
    private static func inventoryChanges(_ handlers: inout [String: Handler], _ method: String, defaultKind: InventoryChange.Kind,
                                         allowed: [InventoryChange.Kind]) {
        on(&handlers, method, Waybill_V1_InventoryChangeRequest.self) { services, call, request in
            guard services.within(call, request.changes.count, "inventoryChangesPerRequestMax",
                                  services.transport.inventoryChangesPerRequestMax, "changes") else { return }
            var prepared: [(Waybill_V1_InventoryChange, Result<InventoryChange, WaybillStatusError>)] = []
            for change in request.changes {
                do {
                    let value = try InventoryChange(proto: change, defaultKind: defaultKind)
                    if !allowed.contains(value.kind) { throw DomainError.invalid("kind", "\(value.kind) is not accepted by this method") }
                    prepared.append((change, .success(value)))
                } catch {
                    prepared.append((change, .failure(statusError(error))))
                }
            }
            let changes = prepared
            services.write(call, { context in
                try changes.map { proto, prepared -> Waybill_V1_InventoryChangeResult in
                    var result = Waybill_V1_InventoryChangeResult()
                    result.changeID = proto.changeID
                    switch prepared {
                    case .failure(let error): result.status = error.status
                    case .success(let change):
                        do {
                            let outcome = try context.engine.applyInventoryChange(
                                change, context: services.context(call, context, fingerprint: fingerprint(proto)), storage: context.engineStorage)
                            result.replayed = outcome.replayed
                            result.positions = outcome.positions.map { $0.1.position($0.0) }
                            result.status = WaybillStatusError(.ok, "").status
                        } catch let error as DomainError {
                            result.status = WaybillStatusError(error).status
                        }
                    }
                    return result
                }
            }, respond: { results in
                var response = Waybill_V1_InventoryChangeResponse()
                response.results = results
                return .message(response)
            })
        }
    }

    // MARK: - Network

    static func registerNetworkService(_ handlers: inout [String: Handler]) {
        on(&handlers, Method.NetworkService.upsertLocations, Waybill_V1_UpsertLocationsRequest.self) { services, call, request in
            guard services.within(call, request.locations.count, "networkRecordsPerRequestMax",
                                  services.transport.networkRecordsPerRequestMax, "locations") else { return }
            services.write(call, { context in
                try context.atomically {
                    for (index, proto) in request.locations.enumerated() {
                        try indexed("locations[\(index)]") {
                            try context.engine.upsert(location: Location(proto: proto), context: services.context(call, context),
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

        on(&handlers, Method.NetworkService.upsertCarriers, Waybill_V1_UpsertCarriersRequest.self) { services, call, request in
            guard services.within(call, request.carriers.count, "networkRecordsPerRequestMax",
                                  services.transport.networkRecordsPerRequestMax, "carriers") else { return }
            services.write(call, { context in
                try context.atomically {
                    for (index, proto) in request.carriers.enumerated() {
                        try indexed("carriers[\(index)]") {
                            try context.engine.upsert(carrier: Carrier(proto: proto), context: services.context(call, context),
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

        on(&handlers, Method.NetworkService.upsertItems, Waybill_V1_UpsertItemsRequest.self) { services, call, request in
            guard services.within(call, request.items.count, "networkRecordsPerRequestMax",
                                  services.transport.networkRecordsPerRequestMax, "items") else { return }
            services.write(call, { context in
                try context.atomically {
                    for (index, proto) in request.items.enumerated() {
                        try indexed("items[\(index)]") {
                            try context.engine.upsert(item: Item(proto: proto), context: services.context(call, context),
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

        on(&handlers, Method.NetworkService.listLocations, Waybill_V1_ListRequest.self) { services, call, request in
            guard let page = services.page(call, request, ids: services.writer.committed.networkSnapshot.locations.keys.map(\.rawValue)) else { return }
            let network = services.writer.committed.networkSnapshot
            var response = Waybill_V1_LocationsResponse()
            response.locations = page.ids.compactMap { network.locations[LocationID($0)]?.proto }
            response.nextPageToken = page.next
            call.responder.respond(.message(response))
        }

        on(&handlers, Method.NetworkService.listCarriers, Waybill_V1_ListRequest.self) { services, call, request in
            let network = services.writer.committed.networkSnapshot
            guard let page = services.page(call, request, ids: Array(network.carriers.keys)) else { return }
            var response = Waybill_V1_CarriersResponse()
            response.carriers = page.ids.compactMap { network.carriers[$0]?.proto }
            response.nextPageToken = page.next
            call.responder.respond(.message(response))
        }

        on(&handlers, Method.NetworkService.listItems, Waybill_V1_ListRequest.self) { services, call, request in
            let network = services.writer.committed.networkSnapshot
            guard let page = services.page(call, request, ids: network.items.keys.map(\.rawValue)) else { return }
            var response = Waybill_V1_ItemsResponse()
            response.items = page.ids.compactMap { network.items[SKU($0)]?.proto }
            response.nextPageToken = page.next
            call.responder.respond(.message(response))
        }

        on(&handlers, Method.NetworkService.setRoutingPolicy, Waybill_V1_RoutingPolicy.self) { services, call, request in
            let policy: RoutingPolicy
            do {
                policy = try RoutingPolicy(proto: request)
            } catch {
                call.responder.respond(.from(error))
                return
            }
            services.write(call, { context in
                try context.engine.setPolicy(policy, context: services.context(call, context), storage: context.engineStorage)
            }, respond: { .message($0.proto) })
        }

        on(&handlers, Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest.self) { services, call, request in
            if request.version == 0 {
                call.responder.respond(.message(services.writer.committed.currentPolicy.proto))
                return
            }
            services.blocking(call, { try services.reader.policy(version: request.version) }) { policy in
                guard let policy else { return .failure(WaybillStatusError(.notFound, "routing policy version \(request.version) not found")) }
                return .message(policy.proto)
            }
        }

        on(&handlers, Method.NetworkService.loadNetwork, Waybill_V1_NetworkModel.self) { services, call, request in
            let records = request.locations.count + request.carriers.count + request.items.count + request.initialStock.count
                + request.channelSettings.count
            guard services.within(call, records, "networkRecordsPerRequestMax", services.transport.networkRecordsPerRequestMax, "records") else {
                return
            }
            services.write(call, { context in
                try context.atomically {
                    try loadNetwork(request, call: call, services: services, context: context)
                }
            }, respond: { .message($0) })
        }
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
                try context.engine.applyInventoryChange(receipt, context: CommandContext(now: context.now, clientID: call.clientID,
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
