// Customers editing their orders shortly after capture (EditOrder): another ship-to address, or
// one unit more or less of a line. Each order's choices come from a random stream of its own
// (seed, "edits/<index>/..."), so runs without edits draw exactly what they drew before, and the edit
// an order gets does not depend on when the call is made. Waybill refuses an edit once the order
// has gone too far (a released fulfillment, a cancellation): counted as refused, not a finding.

import WaybillCore

extension SimulationModel {
    /// At capture: whether this customer will edit the order, and when (shipped orders only:
    /// a pickup order has no ship-to to change and is collected, not waited for).
    func customerMayEdit(_ index: Int32, _ order: Order) {
        let rate = scenario.lifecycle.customerEditRate
        guard rate > 0, order.requestedFulfillment.method == .ship else { return }
        var random = editRandom(index, "whether")
        guard random.chance(rate) else { return }
        let delay = Int64(random.exponential(mean: scenario.lifecycle.editAfterMinutes * 60_000)) + 1_000
        scheduleAction(index, .customerEdit, -1, after: delay)
    }

    /// The edit the customer of order `index` asks for (the same every time it is asked: retries
    /// send the same request).
    func customerEdit(_ index: Int32) -> OrderCommand {
        var random = editRandom(index, "what")
        let sim = orders[Int(index)]
        if sim.lines.isEmpty || random.chance(0.5) {
            var cityIndex = world.customerCityTable.draw(&random)
            if cityIndex == Int(sim.city) { cityIndex = (cityIndex + 1) % world.customerCities.count }
            let city = world.customerCities[cityIndex]
            var address = Address()
            address.name = "Customer \(index)"
            address.lines = ["\(1 + Int(index) % 899) Moved St"]
            address.city = city.name
            address.region = city.state
            address.country = "US"
            let zip = String(city.geonameID % 100_000)
            address.postalCode = String(repeating: "0", count: Swift.max(0, 5 - zip.count)) + zip
            address.coordinates = city.coordinates
            return .edit([.changeShipTo(address)], reason: "customer moved the delivery")
        }
        let position = random.below(sim.lines.count)
        let quantity = sim.lines[position].quantity
        let wanted = quantity > 1 && random.chance(0.5) ? quantity - 1 : quantity + 1
        return .edit([.changeLineQuantity(lineID: String(position + 1), quantity: wanted)], reason: "customer changed the quantity")
    }

    private func editRandom(_ index: Int32, _ purpose: String) -> SimRandom {
        SimRandom(seed: scenario.seed, stream: "edits/\(index)/\(purpose)")
    }
}
