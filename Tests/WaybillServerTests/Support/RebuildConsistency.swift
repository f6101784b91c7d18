// The server's balances against an independent rebuild from what is stored: on hand from the
// movements ledger, reserved from the orders' fulfillments still holding stock. A half-applied
// batch (an order without its movements, movements without their order) shows as a difference.

import Testing
import WaybillCore
import WaybillServer
import WaybillStore

func expectBalancesMatchRebuild(_ server: WaybillServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let balances = try await onWriter(server.writer) { context in
        Dictionary(uniqueKeysWithValues: context.engine.inventory.allBalances)
    }
    let ledger = try server.reader.ledgerOnHand()
    var reserved: [InventoryKey: Int64] = [:]
    for order in try server.reader.allOrders() {
        for fulfillment in order.fulfillments where fulfillment.status.holdsReservation {
            for line in fulfillment.lines {
                reserved[InventoryKey(sku: line.sku, locationID: fulfillment.locationID), default: 0] += Int64(line.quantity)
            }
        }
    }
    for (key, balance) in balances {
        #expect(balance.onHand == ledger[key] ?? 0, "on hand of \(key.sku)@\(key.locationID) vs the ledger", sourceLocation: sourceLocation)
        #expect(balance.reserved == reserved[key] ?? 0, "reserved of \(key.sku)@\(key.locationID) vs the orders", sourceLocation: sourceLocation)
    }
    for (key, units) in ledger where units != 0 {
        #expect(balances[key] != nil, "the ledger holds \(units) of \(key.sku)@\(key.locationID) but there is no balance", sourceLocation: sourceLocation)
    }
    for (key, units) in reserved where units != 0 {
        #expect(balances[key] != nil, "orders reserve \(units) of \(key.sku)@\(key.locationID) but there is no balance", sourceLocation: sourceLocation)
    }
}
