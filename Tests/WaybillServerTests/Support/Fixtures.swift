// Wire-level fixtures: a fulfillment network around Philadelphia, orders, lifecycle requests.

import Foundation
import Testing
import WaybillClient
import WaybillProto
import WaybillWire

enum Fixture {
    static let philadelphia = (latitude: 39.9526, longitude: -75.1652)

    static func money(_ minor: Int64) -> Waybill_V1_Money {
        var money = Waybill_V1_Money()
        money.minorUnits = minor
        money.currency = "USD"
        return money
    }

    static func location(_ id: String, _ type: Waybill_V1_LocationType, _ latitude: Double, _ longitude: Double,
                         region: String, processingCost: Int64, pickup: Bool = false, ships: Bool = true,
                         channels: [Waybill_V1_Channel] = [], priority: Int32 = 0, capacity: Int32 = 0) -> Waybill_V1_Location {
        var location = Waybill_V1_Location()
        location.locationID = id
        location.name = id
        location.type = type
        location.coordinates.latitude = latitude
        location.coordinates.longitude = longitude
        location.region = region
        location.country = "US"
        location.processingCost = money(processingCost)
        location.ships = ships
        location.pickup = pickup
        location.channels = channels
        location.priority = priority
        location.dailyOrderCapacity = capacity
        location.active = true
        return location
    }

    static func stock(_ sku: String, _ location: String, _ quantity: Int32) -> Waybill_V1_InventoryChange {
        var change = Waybill_V1_InventoryChange()
        change.sku = sku
        change.locationID = location
        change.quantity = quantity
        change.kind = .receipt
        return change
    }

    static var carrier: Waybill_V1_Carrier {
        func band(_ km: Double, _ grams: Int32, _ cost: Int64, _ days: Int32) -> Waybill_V1_RateBand {
            var band = Waybill_V1_RateBand()
            band.maxDistanceKm = km
            band.maxWeightGrams = grams
            band.cost = money(cost)
            band.transitDays = days
            return band
        }
        var ground = Waybill_V1_CarrierService()
        ground.service = "ground"
        ground.serviceLevel = .standard
        ground.rates = [band(50, 10_000, 400, 1), band(500, 10_000, 800, 2), band(5_000, 10_000, 1_500, 4), band(5_000, 40_000, 3_000, 5)]
        var carrier = Waybill_V1_Carrier()
        carrier.carrierID = "PARCELCO"
        carrier.name = "Parcel Co"
        carrier.services = [ground]
        carrier.active = true
        return carrier
    }

    static func item(_ sku: String, grams: Int32 = 500) -> Waybill_V1_Item {
        var item = Waybill_V1_Item()
        item.sku = sku
        item.description_p = "item \(sku)"
        item.weightGrams = grams
        item.active = true
        return item
    }

    /// WH-EAST (Newark, ~120 km), WH-WEST (Reno, ~3,800 km), ST-PHL (a Philadelphia store that ships and
    /// serves pickup but sells only to store POS and click & collect), MKT-VENDOR (a drop-ship vendor for
    /// the marketplace only). Under the standard policy a web order from Philadelphia scores
    /// WH-EAST 9.5 < WH-WEST 17.0 (ST-PHL and MKT-VENDOR are filtered by channel); a store-POS order
    /// scores ST-PHL 4.75 first.
    ///
    /// Stock: SKU-A E50 W30 S5 M100 · SKU-B E20 · SKU-C W10 · SKU-D S3 · SKU-E none.
    static var network: Waybill_V1_NetworkModel {
        var model = Waybill_V1_NetworkModel()
        model.locations = [
            location("WH-EAST", .warehouse, 40.7357, -74.1724, region: "NJ", processingCost: 100, priority: 1),
            location("WH-WEST", .warehouse, 39.5296, -119.8138, region: "NV", processingCost: 100, priority: 2),
            location("ST-PHL", .store, 39.9500, -75.1600, region: "PA", processingCost: 50, pickup: true,
                     channels: [.storePos, .clickAndCollect], priority: 3),
            location("MKT-VENDOR", .dropShipVendor, 41.8781, -87.6298, region: "IL", processingCost: 0,
                     channels: [.marketplace], priority: 4),
        ]
        model.carriers = [carrier]
        model.items = ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E", "SKU-F"].map { item($0) }
        model.initialStock = [
            stock("SKU-A", "WH-EAST", 50), stock("SKU-A", "WH-WEST", 30), stock("SKU-A", "ST-PHL", 5), stock("SKU-A", "MKT-VENDOR", 100),
            stock("SKU-B", "WH-EAST", 20), stock("SKU-C", "WH-WEST", 10), stock("SKU-D", "ST-PHL", 3),
        ]
        return model
    }

    static func line(_ id: String, _ sku: String, _ quantity: Int32, price: Int64 = 1_999) -> Waybill_V1_OrderLine {
        var line = Waybill_V1_OrderLine()
        line.lineID = id
        line.sku = sku
        line.quantity = quantity
        line.unitPrice = money(price)
        return line
    }

    /// A shipped order to Philadelphia.
    static func order(_ external: String, channel: Waybill_V1_Channel = .web, lines: [(String, Int32)] = [("SKU-A", 1)],
                      holds: [Waybill_V1_HoldReason] = []) -> Waybill_V1_Order {
        var order = Waybill_V1_Order()
        order.channel = channel
        order.externalOrderID = external
        order.customer.customerID = "CUST-\(external)"
        order.customer.name = "Ada Lovelace"
        order.customer.email = "ada@example.com"
        order.shipTo.name = "Ada Lovelace"
        order.shipTo.lines = ["1 Market St"]
        order.shipTo.city = "Philadelphia"
        order.shipTo.region = "PA"
        order.shipTo.postalCode = "19103"
        order.shipTo.country = "US"
        order.shipTo.coordinates.latitude = philadelphia.latitude
        order.shipTo.coordinates.longitude = philadelphia.longitude
        order.lines = lines.enumerated().map { index, line in Fixture.line("L\(index + 1)", line.0, line.1) }
        order.createdAtUnixMs = 1_772_460_000_000
        order.holds = holds.map { reason in
            var hold = Waybill_V1_Hold()
            hold.reason = reason
            hold.note = "at capture"
            return hold
        }
        return order
    }

    /// A store-pickup order.
    static func pickupOrder(_ external: String, store: String = "ST-PHL", lines: [(String, Int32)]) -> Waybill_V1_Order {
        var order = Waybill_V1_Order()
        order.channel = .clickAndCollect
        order.externalOrderID = external
        order.customer.customerID = "CUST-\(external)"
        order.lines = lines.enumerated().map { index, line in Fixture.line("L\(index + 1)", line.0, line.1) }
        order.fulfillment.method = .pickup
        order.fulfillment.pickupLocationID = store
        return order
    }
}

// MARK: - Calls used everywhere

extension WaybillClient {
    @discardableResult
    func loadFixtureNetwork() async throws -> Waybill_V1_LoadNetworkResponse {
        try await loadNetwork(Fixture.network)
    }

    func position(_ sku: String, _ location: String) async throws -> Waybill_V1_InventoryPosition {
        let response = try await availability(skus: [sku], locations: [location])
        return try #require(response.positions.first)
    }

    func hold(_ orderID: String, request: String, reason: Waybill_V1_HoldReason = .payment, note: String = "") async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_HoldOrderRequest()
        r.requestID = request
        r.orderID = orderID
        r.reason = reason
        r.note = note
        return try await lifecycle(Method.OrderService.holdOrder, r)
    }

    func releaseHold(_ orderID: String, request: String, reason: Waybill_V1_HoldReason = .unspecified) async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_ReleaseHoldRequest()
        r.requestID = request
        r.orderID = orderID
        r.reason = reason
        return try await lifecycle(Method.OrderService.releaseHold, r)
    }

    func fulfillmentStep(_ method: String, _ orderID: String, _ fulfillmentID: String, request: String) async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_FulfillmentRequest()
        r.requestID = request
        r.orderID = orderID
        r.fulfillmentID = fulfillmentID
        return try await lifecycle(method, r)
    }

    func release(_ orderID: String, _ fulfillmentID: String = "", request: String) async throws -> Waybill_V1_OrderResponse {
        try await fulfillmentStep(Method.OrderService.releaseFulfillment, orderID, fulfillmentID, request: request)
    }

    func ship(_ orderID: String, _ fulfillmentID: String, request: String, carrier: String = "PARCELCO",
              tracking: String = "1Z999AA10123456784") async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_ConfirmShipmentRequest()
        r.requestID = request
        r.orderID = orderID
        r.fulfillmentID = fulfillmentID
        r.carrierID = carrier
        r.trackingNumber = tracking
        return try await lifecycle(Method.OrderService.confirmShipment, r)
    }

    func cancel(_ orderID: String, request: String, reason: String = "customer request") async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_CancelOrderRequest()
        r.requestID = request
        r.orderID = orderID
        r.reason = reason
        return try await lifecycle(Method.OrderService.cancelOrder, r)
    }

    func reject(_ orderID: String, _ fulfillmentID: String, request: String, reason: String = "cannot fulfil",
                stockMissing: Bool = false, lines: [(String, Int32)] = []) async throws -> Waybill_V1_OrderResponse {
        var r = Waybill_V1_RejectFulfillmentRequest()
        r.requestID = request
        r.orderID = orderID
        r.fulfillmentID = fulfillmentID
        r.reason = reason
        r.stockMissing = stockMissing
        r.lines = lines.map { line in
            var quantity = Waybill_V1_LineQuantity()
            quantity.lineID = line.0
            quantity.quantity = line.1
            return quantity
        }
        return try await lifecycle(Method.OrderService.rejectFulfillment, r)
    }

    /// Every order the server holds, through ListOrders pages.
    func allOrders(pageSize: Int32 = 500, _ filter: (inout Waybill_V1_ListOrdersRequest) -> Void = { _ in }) async throws -> [Waybill_V1_Order] {
        var request = Waybill_V1_ListOrdersRequest()
        filter(&request)
        request.pageSize = pageSize
        var orders: [Waybill_V1_Order] = []
        while true {
            let page = try await listOrders(request)
            orders += page.orders
            if page.nextPageToken.isEmpty { return orders }
            request.pageToken = page.nextPageToken
        }
    }
}

extension Waybill_V1_Order {
    /// Units reserved per "SKU@LOCATION" by this order's fulfillments that still hold stock.
    var reservations: [String: Int64] {
        var result: [String: Int64] = [:]
        for fulfillment in fulfillments where [.created, .released, .picked, .packed].contains(fulfillment.status) {
            for line in fulfillment.lines { result["\(line.sku)@\(fulfillment.locationID)", default: 0] += Int64(line.quantity) }
        }
        return result
    }

    func line(_ id: String) -> Waybill_V1_OrderLine? { lines.first { $0.lineID == id } }
}
