// Which actor of the model makes each call: a live run sends it with that actor's credential
// (LiveCredentials), so the server's roles and scopes are exercised as a real deployment would.

import WaybillCore

extension SimulationModel {
    /// Who sends `call`. A read-back is made by whoever made the call it resolves.
    func actor(of call: PendingCall) -> SimActor {
        switch call.purpose {
        case .availability:
            if case .availability(_, let channel) = call.request { return .channel(channel) }
            return .admin
        case .capture(let order), .captureReadBack(let order):
            return .channel(orders[Int(order)].channel)
        case .action(let order, let action, let fulfillment, _), .actionReadBack(let order, let action, let fulfillment, _):
            switch action {
            case .releaseHold, .declinePayment, .customerCancel, .customerEdit, .createReturn:
                // The payment decision, the customer's cancellation and return: the channel's front end.
                return .channel(orders[Int(order)].channel)
            case .release, .pick, .pack, .ship, .deliver, .reject, .receiveReturn:
                // The WMS of the fulfillment's location (returns come back to where they shipped from).
                let tracks = orders[Int(order)].fulfillments
                let location = Int(fulfillment) < tracks.count ? tracks[Int(fulfillment)].location : -1
                return location >= 0 ? .location(location) : .unattributed
            }
        case .options(let order), .cart(let order, _):
            // The shopper's checkout: the channel's front end.
            return .channel(orders[Int(order)].channel)
        case .erp:
            return .erp
        case .feedAck:
            if case .feedAcknowledge(let consumer, _) = call.request, consumer == consumerNames[0] { return .fulfillmentFeed }
            return .erp
        }
    }
}
