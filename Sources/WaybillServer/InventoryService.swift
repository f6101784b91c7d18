// waybill.v1.InventoryService: availability, receipts, adjustments, settings and movements.

import Dispatch
import SwiftProtobuf
import WaybillApplication
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

    func getAvailability(_ request: Waybill_V1_GetAvailabilityRequest, call: Call) {
        guard self.within(call, request.skus.count, "availabilitySkusMax", self.transport.availabilitySkusMax, "SKUs") else { return }
        for (index, sku) in request.skus.enumerated() {
            if let error = Validation.checkSKU(sku, field: "skus[\(index)]", limits: self.configuration.domain) {
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
        let limit = self.transport.availabilityPositionsMax
        if !request.locationIds.isEmpty && !request.networkOnly {
            guard self.within(call, request.skus.count * request.locationIds.count, "availabilityPositionsMax", limit,
                                  "SKU × location positions") else { return }
        }
        // Served from the committed in-memory balances: no SQLite, no wait for the writer.
        let network = channel == nil ? nil : self.writer.committed.networkSnapshot
        let supply = self.writer.committed.supplySnapshot
        var response = Waybill_V1_GetAvailabilityResponse()
        let overflow: Bool = self.writer.committed.withInventory { book in
            let locations = request.locationIds.map(LocationID.init)
            for skuName in request.skus {
                let sku = SKU(skuName)
                if !request.networkOnly {
                    let slots = supply.slots(sku)
                    func position(_ balance: Balance, at location: LocationID) -> Waybill_V1_InventoryPosition {
                        var position = balance.position(InventoryKey(sku: sku, locationID: location))
                        position.expected = slots.filter { $0.locationID == location }.map(\.proto)
                        return position
                    }
                    if locations.isEmpty {
                        for entry in book.entries(for: sku) { response.positions.append(position(entry.balance, at: entry.locationID)) }
                        // Positions with expected supply and no balance yet (a new item on its first purchase order).
                        for location in Set(slots.map(\.locationID)).sorted() where !book.entries(for: sku).contains(where: { $0.locationID == location }) {
                            response.positions.append(position(Balance(), at: location))
                        }
                    } else {
                        for location in locations { response.positions.append(position(book.balance(sku, at: location), at: location)) }
                    }
                    if response.positions.count > limit { return true }
                }
                if let channel, let network {
                    // The application layer's rule (the in-process simulator answers with the same).
                    let rule = ChannelAvailability(sku, for: channel, inventory: book, network: network)
                    var availability = Waybill_V1_NetworkAvailability()
                    availability.sku = skuName
                    availability.channel = channel.proto
                    availability.available = rule.available
                    availability.locationsWithStock = rule.locationsWithStock
                    availability.expected = supply.expected(sku, network: network)
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

    func receiveInventory(_ request: Waybill_V1_InventoryChangeRequest, call: Call) {
        inventoryChanges(request, call: call, defaultKind: .receipt, allowed: [.receipt])
    }

    func adjustInventory(_ request: Waybill_V1_InventoryChangeRequest, call: Call) {
        inventoryChanges(request, call: call, defaultKind: .adjustment, allowed: [.adjustment, .transfer])
    }

    func updateInventorySettings(_ request: Waybill_V1_UpdateInventorySettingsRequest, call: Call) {
        guard self.within(call, request.settings.count, "inventoryChangesPerRequestMax",
                              self.transport.inventoryChangesPerRequestMax, "settings") else { return }
        self.write(call, { context in
            try context.atomically {
                try request.settings.enumerated().map { index, setting -> Waybill_V1_InventoryPosition in
                    let key = InventoryKey(sku: SKU(setting.sku), locationID: LocationID(setting.locationID))
                    do {
                        let balance = try context.engine.updateInventorySetting(
                            key, safetyStock: setting.safetyStock,
                            incoming: setting.incoming.map { Supply(quantity: $0.quantity, expectedAt: Timestamp(millisecondsSinceEpoch: $0.expectedAtUnixMs)) },
                            context: self.context(call, context), storage: context.engineStorage)
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

    func listMovements(_ request: Waybill_V1_ListMovementsRequest, call: Call) {
        guard let pageSize = self.pageSize(call, request.pageSize) else { return }
        var after: Int64 = 0
        if !request.pageToken.isEmpty {
            guard request.pageToken.hasPrefix("after:"), let value = Int64(request.pageToken.dropFirst(6)) else {
                call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous answer")))
                return
            }
            after = value
        }
        self.reader.movements(sku: request.sku.isEmpty ? nil : request.sku,
                                  locationID: request.locationID.isEmpty ? nil : request.locationID,
                                  orderID: request.orderID.isEmpty ? nil : request.orderID, afterID: after, limit: pageSize) { result in
            self.answer(call, result) { movements in
                var response = Waybill_V1_ListMovementsResponse()
                response.movements = movements
                if movements.count == pageSize, let last = movements.last { response.nextPageToken = "after:\(last.movementID)" }
                return .message(response)
            }
        }
    }

    /// Receive/Adjust: each change applied (or refused) on its own, idempotent by change id.
    private func inventoryChanges(_ request: Waybill_V1_InventoryChangeRequest, call: Call, defaultKind: InventoryChange.Kind,
                                  allowed: [InventoryChange.Kind]) {
        guard self.within(call, request.changes.count, "inventoryChangesPerRequestMax",
                              self.transport.inventoryChangesPerRequestMax, "changes") else { return }
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
        self.write(call, { context in
            try changes.map { proto, prepared -> Waybill_V1_InventoryChangeResult in
                var result = Waybill_V1_InventoryChangeResult()
                result.changeID = proto.changeID
                switch prepared {
                case .failure(let error): result.status = error.status
                case .success(let change):
                    do {
                        let outcome = try context.engine.applyInventoryChange(
                            change, context: self.context(call, context, fingerprint: fingerprint(proto)), storage: context.engineStorage)
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
