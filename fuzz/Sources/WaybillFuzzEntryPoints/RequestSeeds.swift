// The request target's seed corpus: one well-formed request per method, naming the example
// network's locations, SKUs and carriers and the example orders the fuzz server captured, so the
// fuzzer starts from inputs that reach the engine rather than the first validation check.

import Foundation
import SwiftProtobuf
import WaybillProto
import WaybillWire

public enum RequestSeeds {
    /// Writes `request-<method>-<n>` files into `directory`.
    public static func write(to directory: String, orderIDs: [String]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = FuzzHarness.repositoryRoot + "/examples"
        var seeds: [(String, [UInt8])] = []
        func add<M: SwiftProtobuf.Message>(_ method: String, _ type: M.Type, _ json: String) throws {
            let message = try M(jsonString: json)
            seeds.append((method, FuzzEntryPoints.requestInput(method, try message.serializedBytes())))
        }
        func order(_ index: Int) -> String { orderIDs[index % orderIDs.count] }
        let o0 = order(0), o1 = order(1), o2 = order(2)

        for name in try FileManager.default.contentsOfDirectory(atPath: root + "/orders").sorted() where name.hasSuffix(".json") {
            var request = Waybill_V1_CaptureOrderRequest()
            request.order = try ProtoJSONInput.decode(try Data(contentsOf: URL(fileURLWithPath: root + "/orders/" + name)),
                                                      as: Waybill_V1_Order.self, source: name)
            request.order.externalOrderID += "-SEED"
            seeds.append((Method.OrderService.captureOrder, FuzzEntryPoints.requestInput(Method.OrderService.captureOrder, try request.serializedBytes())))
            var batch = Waybill_V1_CaptureOrdersRequest()
            batch.orders = [request.order]
            seeds.append((Method.OrderService.captureOrders, FuzzEntryPoints.requestInput(Method.OrderService.captureOrders, try batch.serializedBytes())))
        }
        let network = try ProtoJSONInput.decode(try Data(contentsOf: URL(fileURLWithPath: root + "/network.json")),
                                                as: Waybill_V1_NetworkModel.self, source: "network.json")
        seeds.append((Method.NetworkService.loadNetwork, FuzzEntryPoints.requestInput(Method.NetworkService.loadNetwork, try network.serializedBytes())))
        var locations = Waybill_V1_UpsertLocationsRequest()
        locations.locations = Array(network.locations.prefix(2))
        seeds.append((Method.NetworkService.upsertLocations, FuzzEntryPoints.requestInput(Method.NetworkService.upsertLocations, try locations.serializedBytes())))
        var carriers = Waybill_V1_UpsertCarriersRequest()
        carriers.carriers = Array(network.carriers.prefix(1))
        seeds.append((Method.NetworkService.upsertCarriers, FuzzEntryPoints.requestInput(Method.NetworkService.upsertCarriers, try carriers.serializedBytes())))
        var items = Waybill_V1_UpsertItemsRequest()
        items.items = Array(network.items.prefix(2))
        seeds.append((Method.NetworkService.upsertItems, FuzzEntryPoints.requestInput(Method.NetworkService.upsertItems, try items.serializedBytes())))
        var master = Waybill_V1_ItemMasterMessage()
        master.messageID = "im-seed"
        master.items = Array(network.items.prefix(2))
        seeds.append((Method.ErpService.applyItemMaster, FuzzEntryPoints.requestInput(Method.ErpService.applyItemMaster, try master.serializedBytes())))
        for name in try FileManager.default.contentsOfDirectory(atPath: root + "/policies").sorted() where name.hasSuffix(".json") {
            let policy = try ProtoJSONInput.decode(try Data(contentsOf: URL(fileURLWithPath: root + "/policies/" + name)),
                                                   as: Waybill_V1_RoutingPolicy.self, source: name)
            seeds.append((Method.NetworkService.setRoutingPolicy, FuzzEntryPoints.requestInput(Method.NetworkService.setRoutingPolicy, try policy.serializedBytes())))
        }

        try add(Method.OrderService.getOrder, Waybill_V1_GetOrderRequest.self, #"{"orderId": "\#(o0)"}"#)
        try add(Method.OrderService.getOrder, Waybill_V1_GetOrderRequest.self, #"{"channel": "CHANNEL_WEB", "externalOrderId": "WEB-100234"}"#)
        try add(Method.OrderService.listOrders, Waybill_V1_ListOrdersRequest.self, #"{"channel": "CHANNEL_WEB", "statuses": ["ORDER_STATUS_ALLOCATED"], "pageSize": 2, "pageToken": "after:1"}"#)
        try add(Method.OrderService.holdOrder, Waybill_V1_HoldOrderRequest.self, #"{"requestId": "h1", "orderId": "\#(o0)", "reason": "HOLD_REASON_FRAUD", "note": "seed"}"#)
        try add(Method.OrderService.releaseHold, Waybill_V1_ReleaseHoldRequest.self, #"{"requestId": "rh1", "orderId": "\#(o0)", "reason": "HOLD_REASON_FRAUD"}"#)
        try add(Method.OrderService.cancelOrder, Waybill_V1_CancelOrderRequest.self, #"{"requestId": "c1", "orderId": "\#(o2)", "reason": "customer"}"#)
        try add(Method.OrderService.cancelLines, Waybill_V1_CancelLinesRequest.self, #"{"requestId": "cl1", "orderId": "\#(o1)", "lines": [{"lineId": "1", "quantity": 1}], "reason": "short"}"#)
        try add(Method.OrderService.releaseFulfillment, Waybill_V1_FulfillmentRequest.self, #"{"requestId": "rf1", "orderId": "\#(o0)"}"#)
        try add(Method.OrderService.rejectFulfillment, Waybill_V1_RejectFulfillmentRequest.self, #"{"requestId": "rj1", "orderId": "\#(o1)", "fulfillmentId": "\#(o1)-F1", "reason": "damaged", "lines": [{"lineId": "1", "quantity": 1}], "stockMissing": true}"#)
        try add(Method.OrderService.confirmPick, Waybill_V1_FulfillmentRequest.self, #"{"requestId": "p1", "orderId": "\#(o0)", "fulfillmentId": "\#(o0)-F1"}"#)
        try add(Method.OrderService.confirmPack, Waybill_V1_FulfillmentRequest.self, #"{"requestId": "k1", "orderId": "\#(o0)", "fulfillmentId": "\#(o0)-F1"}"#)
        try add(Method.OrderService.confirmShipment, Waybill_V1_ConfirmShipmentRequest.self, #"{"requestId": "s1", "orderId": "\#(o0)", "fulfillmentId": "\#(o0)-F1", "carrierId": "UPX", "trackingNumber": "1Z999"}"#)
        try add(Method.OrderService.confirmDelivery, Waybill_V1_FulfillmentRequest.self, #"{"requestId": "d1", "orderId": "\#(o0)", "fulfillmentId": "\#(o0)-F1"}"#)
        try add(Method.OrderService.createReturn, Waybill_V1_CreateReturnRequest.self, #"{"requestId": "r1", "orderId": "\#(o0)", "returnId": "R1", "lines": [{"lineId": "1", "quantity": 1}], "reason": "too small"}"#)
        try add(Method.OrderService.createReturn, Waybill_V1_CreateReturnRequest.self, #"{"requestId": "r1x", "orderId": "\#(o0)", "returnId": "R1X", "lines": [{"lineId": "1", "quantity": 1}], "reason": "too small", "exchange": {"lines": [{"lineId": "1", "sku": "MUG-CERAMIC", "quantity": 1, "unitPrice": {"minorUnits": "1500", "currency": "USD"}}], "reserveAt": "EXCHANGE_RESERVATION_AT_CREATION"}}"#)
        try add(Method.OrderService.receiveReturn, Waybill_V1_ReceiveReturnRequest.self, #"{"requestId": "rr1", "orderId": "\#(o0)", "returnId": "R1", "locationId": "DC-NEWARK", "lines": [{"lineId": "1", "quantity": 1, "disposition": "DISPOSITION_RESTOCK"}]}"#)
        try add(Method.OrderService.editOrder, Waybill_V1_EditOrderRequest.self, #"{"requestId": "e1", "orderId": "\#(o1)", "reason": "customer called", "edits": [{"changeShipTo": {"shipTo": {"city": "Reno", "region": "NV", "postalCode": "89501", "country": "US", "coordinates": {"latitude": 39.53, "longitude": -119.81}}}}, {"changeServiceLevel": {"serviceLevel": "SERVICE_LEVEL_EXPEDITED"}}, {"changeLineQuantity": {"lineId": "1", "quantity": 3}}, {"addLine": {"line": {"lineId": "9", "sku": "MUG-CERAMIC", "quantity": 1, "unitPrice": {"minorUnits": "1200", "currency": "USD"}}}}, {"replaceSku": {"lineId": "1", "sku": "JEANS-IND-32"}}]}"#)
        try add(Method.OrderService.getOrderHistory, Waybill_V1_GetOrderHistoryRequest.self, #"{"orderId": "\#(o0)"}"#)
        try add(Method.OrderService.reallocateOrders, Waybill_V1_ReallocateOrdersRequest.self, #"{"requestId": "ra1", "orderIds": ["\#(o1)"], "allBackorders": true}"#)
        try add(Method.InventoryService.getAvailability, Waybill_V1_GetAvailabilityRequest.self, #"{"skus": ["TSHIRT-BLK-M", "MUG-CERAMIC"], "locationIds": ["DC-NEWARK"], "channel": "CHANNEL_WEB"}"#)
        try add(Method.InventoryService.adjustInventory, Waybill_V1_InventoryChangeRequest.self, #"{"changes": [{"changeId": "a1", "kind": "INVENTORY_CHANGE_KIND_ADJUSTMENT", "sku": "TSHIRT-BLK-M", "locationId": "DC-NEWARK", "quantity": -3, "reason": "breakage"}, {"changeId": "t1", "kind": "INVENTORY_CHANGE_KIND_TRANSFER", "sku": "MUG-CERAMIC", "locationId": "DC-DALLAS", "quantity": 2, "toLocationId": "STORE-CHI"}]}"#)
        try add(Method.InventoryService.receiveInventory, Waybill_V1_InventoryChangeRequest.self, #"{"changes": [{"changeId": "rc1", "kind": "INVENTORY_CHANGE_KIND_RECEIPT", "sku": "JEANS-IND-32", "locationId": "DC-RENO", "quantity": 12}]}"#)
        try add(Method.InventoryService.updateInventorySettings, Waybill_V1_UpdateInventorySettingsRequest.self, #"{"settings": [{"sku": "TSHIRT-BLK-M", "locationId": "DC-NEWARK", "safetyStock": 2}]}"#)
        try add(Method.InventoryService.listMovements, Waybill_V1_ListMovementsRequest.self, #"{"sku": "TSHIRT-BLK-M", "locationId": "DC-NEWARK", "pageSize": 5}"#)
        try add(Method.NetworkService.listLocations, Waybill_V1_ListRequest.self, #"{"pageSize": 3}"#)
        try add(Method.NetworkService.listCarriers, Waybill_V1_ListRequest.self, #"{"pageSize": 3}"#)
        try add(Method.NetworkService.listItems, Waybill_V1_ListRequest.self, #"{"pageSize": 3}"#)
        try add(Method.NetworkService.getRoutingPolicy, Waybill_V1_GetRoutingPolicyRequest.self, #"{}"#)
        try add(Method.ChangeFeedService.acknowledge, Waybill_V1_AcknowledgeRequest.self, #"{"consumer": "erp", "offset": "3"}"#)
        try add(Method.ChangeFeedService.getFeedInfo, Waybill_V1_GetFeedInfoRequest.self, #"{}"#)
        try add(Method.ChangeFeedService.deleteConsumer, Waybill_V1_DeleteConsumerRequest.self, #"{"consumer": "erp"}"#)
        try add(Method.ErpService.applyStockSnapshot, Waybill_V1_StockSnapshotMessage.self, #"{"messageId": "ss1", "locationId": "DC-NEWARK", "asOfUnixMs": "1772463000000", "levels": [{"sku": "TSHIRT-BLK-M", "onHand": "50"}], "complete": false}"#)
        try add(Method.ErpService.applyStockDeltas, Waybill_V1_StockDeltaMessage.self, #"{"messageId": "sd1", "changes": [{"changeId": "sd1-1", "kind": "INVENTORY_CHANGE_KIND_ADJUSTMENT", "sku": "MUG-CERAMIC", "locationId": "DC-DALLAS", "quantity": 4}]}"#)
        try add(Method.ErpService.recordOrderAcknowledgement, Waybill_V1_ErpOrderAcknowledgement.self, #"{"messageId": "ack1", "orderId": "\#(o0)", "erpDocumentNumber": "SO-1", "postingStatus": "ERP_POSTING_STATUS_POSTED", "atUnixMs": "1772463600000"}"#)
        try add(Method.ErpService.recordDocumentPosted, Waybill_V1_ErpDocumentPosted.self, #"{"messageId": "doc1", "orderId": "\#(o0)", "document": {"kind": "invoice", "documentNumber": "INV-1", "amount": {"minorUnits": "3998", "currency": "USD"}, "postedAtUnixMs": "1772463600000"}}"#)
        try add(Method.ErpService.reconcile, Waybill_V1_ReconcileRequest.self, #"{"extract": {"asOfUnixMs": "1772463600000", "orders": [{"orderId": "\#(o0)", "status": "allocated", "lines": [{"sku": "TSHIRT-BLK-M", "quantity": 2}]}], "stock": [{"sku": "TSHIRT-BLK-M", "locationId": "DC-NEWARK", "onHand": "40"}]}, "repair": false, "discrepanciesMax": 10}"#)
        try add(Method.ErpService.beginReconciliation, Waybill_V1_BeginReconciliationRequest.self, #"{"scope": {"orders": "RECONCILE_PART_COMPARE", "stock": "RECONCILE_PART_SKIP"}, "asOfUnixMs": "1772463600000"}"#)
        try add(Method.ErpService.addExtractChunk, Waybill_V1_ExtractChunk.self, #"{"sessionId": "rs-1", "orders": [{"orderId": "\#(o1)", "status": "allocated", "lines": [{"sku": "MUG-CERAMIC", "quantity": 1}, {"sku": "MUG-CERAMIC", "quantity": 1}]}]}"#)
        try add(Method.ErpService.finishReconciliation, Waybill_V1_FinishReconciliationRequest.self, #"{"sessionId": "rs-1", "repair": true, "requestId": "fr1", "discrepanciesMax": 5}"#)
        try add(Method.ErpService.reportBridgeStatus, Waybill_V1_BridgeStatus.self, #"{"consumer": "erp", "target": "files /tmp/erp", "delivered": "10", "headOffset": "12", "acknowledgedOffset": "10", "reportIntervalMs": "2000"}"#)
        try add(Method.ErpService.getBridgeStatus, Waybill_V1_GetBridgeStatusRequest.self, #"{}"#)
        try add(Method.SystemService.getServerInfo, Waybill_V1_GetServerInfoRequest.self, #"{}"#)
        try add(Method.SystemService.getMetrics, Waybill_V1_GetMetricsRequest.self, #"{}"#)
        try add(Method.CheckoutService.getFulfillmentOptions, Waybill_V1_GetFulfillmentOptionsRequest.self, #"{"queries": [{"queryId": "cart-1", "channel": "CHANNEL_WEB", "lines": [{"lineId": "1", "sku": "TSHIRT-BLK-M", "quantity": 2, "unitPrice": {"minorUnits": 1999, "currency": "USD"}}, {"lineId": "2", "sku": "MUG-CERAMIC", "quantity": 1, "unitPrice": {"minorUnits": 1200, "currency": "USD"}}], "shipTo": {"city": "Boston", "region": "MA", "postalCode": "02114", "country": "US"}, "serviceLevels": ["SERVICE_LEVEL_STANDARD", "SERVICE_LEVEL_NEXT_DAY"], "pickupLocationIds": ["STORE-CHI"], "nearbyPickupStores": 2}]}"#)
        try add(Method.CheckoutService.reserveCart, Waybill_V1_ReserveCartRequest.self, #"{"cartId": "cart-1", "channel": "CHANNEL_WEB", "lines": [{"lineId": "1", "sku": "TSHIRT-BLK-M", "quantity": 2, "unitPrice": {"minorUnits": 1999, "currency": "USD"}}], "shipTo": {"city": "Boston", "region": "MA", "postalCode": "02114", "country": "US"}, "ttlSeconds": 900}"#)
        try add(Method.CheckoutService.extendCart, Waybill_V1_ExtendCartRequest.self, #"{"cartId": "cart-1", "channel": "CHANNEL_WEB", "ttlSeconds": 600}"#)
        try add(Method.CheckoutService.releaseCart, Waybill_V1_CartRequest.self, #"{"cartId": "cart-1", "channel": "CHANNEL_WEB"}"#)
        try add(Method.CheckoutService.getCart, Waybill_V1_CartRequest.self, #"{"cartId": "cart-1", "channel": "CHANNEL_WEB"}"#)
        try add(Method.ErpService.applyExpectedReceipts, Waybill_V1_ExpectedReceiptsMessage.self, #"{"messageId": "po1", "receipts": [{"receiptId": "PO-1", "kind": "EXPECTED_RECEIPT_KIND_PURCHASE_ORDER", "locationId": "DC-NEWARK", "expectedAtUnixMs": "1773068400000", "lines": [{"sku": "TSHIRT-BLK-M", "quantity": "40"}, {"sku": "MUG-CERAMIC", "quantity": "12"}]}, {"receiptId": "PO-1", "locationId": "DC-NEWARK", "status": "EXPECTED_RECEIPT_STATUS_RECEIVED", "lines": [{"sku": "TSHIRT-BLK-M", "quantity": "38"}]}, {"receiptId": "TR-7", "kind": "EXPECTED_RECEIPT_KIND_TRANSFER", "status": "EXPECTED_RECEIPT_STATUS_CANCELLED"}]}"#)
        try add(Method.OrderService.searchOrders, Waybill_V1_SearchOrdersRequest.self, #"{"query": "jane@example.com", "sku": "TSHIRT-BLK-M", "statuses": ["ORDER_STATUS_ALLOCATED"], "pageSize": 10}"#)
        try add(Method.OrderService.listLocationQueue, Waybill_V1_ListLocationQueueRequest.self, #"{"locationId": "STORE-CHI", "statuses": ["FULFILLMENT_STATUS_CREATED", "FULFILLMENT_STATUS_SHIPPED"], "pageSize": 5}"#)
        try add(Method.ErpService.requestDeadLetterReplay, Waybill_V1_DeadLetterReplayRequest.self, #"{"consumer": "erp", "eventIds": ["evt-3", "evt-7"], "requestId": "replay-1"}"#)
        try add(Method.ErpService.listReconciliationRuns, Waybill_V1_ListReconciliationRunsRequest.self, #"{"pageSize": 10}"#)
        try add(Method.ErpService.getReconciliationRun, Waybill_V1_GetReconciliationRunRequest.self, #"{"runId": "run-00000001"}"#)

        var counts: [String: Int] = [:]
        for (method, bytes) in seeds {
            let name = method.split(separator: "/").last.map(String.init) ?? "call"
            counts[name, default: 0] += 1
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/request-\(name)-\(counts[name]!)"))
        }
    }
}
