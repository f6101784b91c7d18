// Inventory: for a SKU, on hand, reserved, safety stock and available per location and per
// channel, the supply expected, the recent movements and the orders waiting for it (backorders).

import Foundation
import Hummingbird
import WaybillProto
import WaybillWire

extension ConsoleRoutes {
    func registerInventory(on router: Router<ConsoleContext>) {
        router.get("/inventory") { request, context in
            try await self.page(request, context) { request, user in try await self.inventoryPage(request, user) }
        }
        router.get("/inventory.csv") { request, context in
            try await self.page(request, context) { request, user in try await self.inventoryCSV(request, user) }
        }
    }

    private func positions(_ sku: String, _ user: SignedIn) async throws -> Waybill_V1_GetAvailabilityResponse {
        var request = Waybill_V1_GetAvailabilityRequest()
        request.skus = [sku]
        return try await user.backend.call(Method.InventoryService.getAvailability, request)
    }

    private func inventoryPage(_ request: Request, _ user: SignedIn) async throws -> Response {
        let sku = String((request.uri.queryParameters.get("sku") ?? "").prefix(100)).trimmingCharacters(in: .whitespaces)
        var values: [String: Any] = ["sku": sku]
        if !sku.isEmpty {
            let availability = try await positions(sku, user)
            values["searched"] = true
            values["positions"] = availability.positions.map { position -> [String: Any] in
                [
                    "location": position.locationID, "onHand": position.onHand, "reserved": position.reserved,
                    "safety": position.safetyStock, "available": position.available,
                    "incoming": position.incoming.reduce(Int64(0)) { $0 + Int64($1.quantity) },
                    "expected": position.expected.reduce(Int64(0)) { $0 + Int64($1.quantity) },
                ]
            }
            values["totals"] = [
                "onHand": availability.positions.reduce(Int64(0)) { $0 + $1.onHand },
                "reserved": availability.positions.reduce(Int64(0)) { $0 + $1.reserved },
                "available": availability.positions.reduce(Int64(0)) { $0 + $1.available },
            ]
            values["network"] = availability.network.map {
                ["channel": ConsoleFormat.words($0.channel), "available": $0.available, "locations": $0.locationsWithStock, "expected": $0.expected]
            }
            if user.may(Method.InventoryService.listMovements) {
                var movements = Waybill_V1_ListMovementsRequest()
                movements.sku = sku
                movements.pageSize = 50
                let page: Waybill_V1_ListMovementsResponse = try await user.backend.call(Method.InventoryService.listMovements, movements)
                values["movements"] = page.movements.map { movement -> [String: Any] in
                    ["at": ConsoleFormat.time(movement.atUnixMs), "kind": movement.kind, "location": movement.locationID,
                     "onHand": movement.onHandDelta, "reserved": movement.reservedDelta, "order": movement.orderID, "reference": movement.reference]
                }
            }
            var waiting = OrderFilter()
            waiting.sku = sku
            waiting.status = Waybill_V1_OrderStatus.backordered.rawValue
            waiting.otherStatuses = [Waybill_V1_OrderStatus.partiallyAllocated.rawValue]
            let backorders = try await user.backend.searchOrders(waiting, pageSize: configuration.pageSize, pageToken: "")
            values["backorders"] = backorders.orders.map(OrderView.row)
            values["csv"] = "/inventory.csv?sku=" + (sku.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? "")
        }
        return views.page("inventory", title: sku.isEmpty ? "Inventory" : "Inventory \(sku)", user: user, values: values)
    }

    private func inventoryCSV(_ request: Request, _ user: SignedIn) async throws -> Response {
        let sku = String(request.uri.queryParameters.get("sku") ?? "")
        var export = CSVExport(header: ["sku", "location_id", "on_hand", "reserved", "safety_stock", "available"])
        for position in try await positions(sku, user).positions {
            export.append([position.sku, position.locationID, String(position.onHand), String(position.reserved),
                           String(position.safetyStock), String(position.available)])
        }
        return ConsoleRendering.csv(export, filename: "inventory-\(sku).csv")
    }
}
