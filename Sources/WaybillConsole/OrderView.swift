// An order as the console's templates see it: plain values, already formatted.

import WaybillProto

enum OrderView {
    /// One row of a list.
    static func row(_ order: Waybill_V1_Order) -> [String: Any] {
        [
            "id": order.orderID,
            "channel": ConsoleFormat.words(order.channel),
            "external": order.externalOrderID,
            "customer": order.customer.name,
            "email": order.customer.email,
            "status": ConsoleFormat.words(order.status),
            "captured": ConsoleFormat.time(order.capturedAtUnixMs),
            "units": order.lines.reduce(0) { $0 + Int($1.quantity) },
            "locations": Array(Set(order.fulfillments.map(\.locationID))).sorted().joined(separator: " "),
            "onHold": !order.holds.isEmpty,
        ]
    }

    static func csvHeader() -> [String] {
        ["order_id", "channel", "external_order_id", "status", "captured_at", "customer", "email", "phone", "units", "locations", "tracking"]
    }

    static func csvRow(_ order: Waybill_V1_Order) -> [String] {
        [order.orderID, ConsoleFormat.words(order.channel), order.externalOrderID, ConsoleFormat.words(order.status),
         ConsoleFormat.time(order.capturedAtUnixMs), order.customer.name, order.customer.email, order.customer.phone,
         String(order.lines.reduce(0) { $0 + Int($1.quantity) }),
         Array(Set(order.fulfillments.map(\.locationID))).sorted().joined(separator: " "),
         order.fulfillments.map(\.trackingNumber).filter { !$0.isEmpty }.joined(separator: " ")]
    }

    /// The order page: lines, fulfillments, routing decisions with their explanation, holds,
    /// returns, ERP documents and the history as a timeline (newest first).
    static func detail(_ order: Waybill_V1_Order, history: [Waybill_V1_HistoryEntry]) -> [String: Any] {
        var view = row(order)
        view["orderID"] = order.orderID
        view["version"] = order.version
        view["customerPhone"] = order.customer.phone
        view["shipTo"] = ([order.shipTo.name] + order.shipTo.lines + [order.shipTo.city, order.shipTo.region, order.shipTo.postalCode, order.shipTo.country])
            .filter { !$0.isEmpty }.joined(separator: ", ")
        view["service"] = ConsoleFormat.words(order.fulfillment.serviceLevel)
        view["pickupLocation"] = order.fulfillment.pickupLocationID
        view["lines"] = order.lines.map { line -> [String: Any] in
            [
                "id": line.lineID, "sku": line.sku, "quantity": line.quantity, "price": ConsoleFormat.money(line.unitPrice),
                "status": ConsoleFormat.words(line.status),
                "allocated": line.quantities.allocated, "backordered": line.quantities.backordered,
                "shipped": line.quantities.shipped, "cancelled": line.quantities.cancelled, "returned": line.quantities.returned,
                "canCancel": line.quantity > line.quantities.cancelled + line.quantities.shipped,
                "canReturn": line.quantities.shipped > line.quantities.returned + line.quantities.returnRequested,
            ]
        }
        view["fulfillments"] = order.fulfillments.map { fulfillment -> [String: Any] in
            let open = [.created, .released, .picked, .packed].contains(fulfillment.status)
            return [
                "id": fulfillment.fulfillmentID, "location": fulfillment.locationID, "method": ConsoleFormat.words(fulfillment.method),
                "status": ConsoleFormat.words(fulfillment.status),
                "lines": fulfillment.lines.map { "\($0.quantity) × \($0.sku)" }.joined(separator: ", "),
                "carrier": [fulfillment.carrierID, fulfillment.carrierService].filter { !$0.isEmpty }.joined(separator: " "),
                "tracking": fulfillment.trackingNumber,
                "promised": ConsoleFormat.time(fulfillment.promisedDeliveryUnixMs),
                "cost": ConsoleFormat.money(fulfillment.shippingCostEstimate),
                "rejection": fulfillment.rejectionReason,
                "open": open,
            ]
        }
        view["decisions"] = order.routingDecisions.enumerated().reversed().map { index, decision -> [String: Any] in
            [
                "index": index + 1, "trigger": decision.trigger, "at": ConsoleFormat.time(decision.decidedAtUnixMs),
                "policy": decision.policyVersion, "shipments": decision.shipments,
                "cost": ConsoleFormat.money(decision.totalCostEstimate), "backordered": decision.backorderedUnits,
                "examined": decision.candidateSetsExamined, "truncated": decision.searchTruncated,
                "approximation": decision.destinationApproximation,
                "locations": decision.locations.map { location -> [String: Any] in
                    ["id": location.locationID, "chosen": location.chosen, "reason": location.reason, "code": ConsoleFormat.words(location.code)]
                },
            ]
        }
        view["holds"] = order.holds.map { ["reason": ConsoleFormat.words($0.reason), "note": $0.note] }
        view["returns"] = order.returns.map { item -> [String: Any] in
            [
                "id": item.returnID, "status": ConsoleFormat.words(item.status), "reason": item.reason,
                "refund": ConsoleFormat.money(item.refund), "requested": ConsoleFormat.time(item.requestedAtUnixMs),
                "received": ConsoleFormat.time(item.receivedAtUnixMs), "location": item.receivedAtLocationID,
            ]
        }
        view["erp"] = [
            "document": order.erp.erpDocumentNumber, "posting": ConsoleFormat.words(order.erp.postingStatus),
            "acknowledged": ConsoleFormat.time(order.erp.acknowledgedAtUnixMs),
            "documents": order.erp.documents.map { ["kind": $0.kind, "number": $0.documentNumber, "amount": ConsoleFormat.money($0.amount),
                                                    "posted": ConsoleFormat.time($0.postedAtUnixMs)] },
        ] as [String: Any]
        view["timeline"] = history.reversed().map { entry -> [String: Any] in
            ["at": ConsoleFormat.time(entry.atUnixMs), "action": entry.action, "reason": entry.reason, "by": entry.clientID,
             "detail": entry.detail, "version": entry.version]
        }
        view["cancellable"] = order.lines.contains { $0.quantity > $0.quantities.cancelled + $0.quantities.shipped }
        view["backordered"] = order.lines.contains { $0.quantities.backordered > 0 }
        view["returnable"] = order.lines.contains { $0.quantities.shipped > $0.quantities.returned }
        return view
    }
}
