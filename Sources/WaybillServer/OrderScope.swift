// Data scope of order calls, after the role is allowed (AccessPolicy): a channel credential acts
// on its channels' orders, a fulfillment credential on fulfillments at its locations. An order the
// caller may not see is answered exactly as an order that does not exist (NOT_FOUND), so a
// credential cannot learn which order ids or external ids exist in other channels.

import WaybillApplication
import WaybillCore
import WaybillProto

enum OrderScope {
    /// Checks a lifecycle command on `order` (nil = not found: the engine answers that itself).
    static func check(_ caller: Caller, _ rule: AccessScopeRule?, command: OrderCommand, orderID: OrderID, order: Order?) throws {
        guard caller.role != .admin, let order else { return }
        switch rule ?? .order {
        case .returnLocation:
            guard case .receiveReturn(_, let locationID, _) = command, caller.mayActAt(location: locationID.rawValue) else {
                throw WaybillStatusError(.permissionDenied, "credential \"\(caller.name)\" may receive returns only at its locations "
                                             + "(\(caller.locations.sorted().joined(separator: ",")))")
            }
        case .fulfillmentLocation:
            guard caller.maySee(order) else { throw DomainError.notFound("order \(orderID)") }
            guard let fulfillmentID = command.fulfillmentID else {
                throw DomainError.invalid("fulfillment_id", "is required for a fulfillment credential (it acts on its own locations' fulfillments)")
            }
            guard let fulfillment = order.fulfillments.first(where: { $0.fulfillmentID == fulfillmentID }) else {
                throw DomainError(.notFound, "fulfillment \(fulfillmentID) not found on order \(orderID)", field: "fulfillment_id")
            }
            guard caller.mayActAt(location: fulfillment.locationID.rawValue) else {
                throw WaybillStatusError(.permissionDenied, "fulfillment \(fulfillmentID) is at location \(fulfillment.locationID), "
                                             + "not one of credential \"\(caller.name)\"'s locations")
            }
        default:
            guard caller.maySee(order) else { throw DomainError.notFound("order \(orderID)") }
        }
    }

    /// Whether a stored order (bytes as answered) may be shown to `caller`.
    static func mayRead(_ caller: Caller, _ bytes: [UInt8]) -> Bool {
        if caller.role == .admin || caller.role == .erp { return true }
        guard let order = try? Waybill_V1_Order(serializedBytes: bytes) else { return false }
        return caller.maySee(order)
    }
}

extension OrderCommand {
    /// The fulfillment a fulfillment step names (nil: ReleaseFulfillment of every created one).
    var fulfillmentID: String? {
        switch self {
        case .releaseFulfillment(let id): id
        case .rejectFulfillment(let id, _, _, _, _), .confirmPick(let id), .confirmPack(let id), .confirmDelivery(let id): id
        case .confirmShipment(let id, _, _): id
        default: nil
        }
    }
}
