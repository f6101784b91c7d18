// A small network (locations, some inactive or selling to some channels only; items; stock) that
// can be loaded into a server over the protocol and into the in-process simulator's engine alike.

import PropertyBased
import Testing
import WaybillClient
import WaybillCore
import WaybillProto
@testable import WaybillSimulator

struct AvailabilityNetwork: Sendable, CustomTestStringConvertible {
    var locations: [Location]
    var skus: [SKU]
    /// Units received per (SKU index, location index).
    var stock: [(sku: Int, location: Int, units: Int32)]

    var testDescription: String {
        var text = "skus \(skus.map(\.rawValue))"
        for location in locations {
            text += "\n  \(location.locationID) active \(location.active) channels \(location.channels.map(\.name))"
        }
        text += "\n  stock " + stock.map { "\(skus[$0.sku])@\(locations[$0.location].locationID)=\($0.units)" }.joined(separator: ", ")
        return text
    }

    /// The network as one LoadNetwork request (opening stock as receipts).
    var model: Waybill_V1_NetworkModel {
        var model = Waybill_V1_NetworkModel()
        model.locations = locations.map(\.proto)
        model.items = skus.map { Item(sku: $0).proto }
        model.initialStock = stock.enumerated().map { number, entry in
            var change = Waybill_V1_InventoryChange()
            change.changeID = "stock-\(skus[entry.sku])-\(number)"
            change.kind = .receipt
            change.sku = skus[entry.sku].rawValue
            change.locationID = locations[entry.location].locationID.rawValue
            change.quantity = entry.units
            return change
        }
        return model
    }

    /// The in-process simulator's driver over an engine holding the same network.
    func inProcessGateway() throws -> InProcessGateway {
        let storage = SimulationStorage()
        var engine = Engine(gazetteer: .serverDefault)
        let context = CommandContext(now: Timestamp(millisecondsSinceEpoch: 1_772_463_600_000), clientID: "application-tests")
        for location in locations { try engine.upsert(location: location, context: context, storage: storage) }
        for sku in skus { try engine.upsert(item: Item(sku: sku), context: context, storage: storage) }
        for change in model.initialStock {
            _ = try engine.applyInventoryChange(InventoryChange(proto: change, defaultKind: .receipt), context: context, storage: storage)
        }
        return InProcessGateway(engine: engine, storage: storage, metrics: Metrics(), seed: 1, timeoutMilliseconds: 1_000, measures: false)
    }

    static func location(_ id: String, active: Bool = true, channels: [Channel] = []) -> Location {
        var location = Location(locationID: LocationID(id))
        location.coordinates = Coordinates(latitude: 40.7, longitude: -74.0)
        location.active = active
        location.channels = channels
        return location
    }

    /// Random networks: 1–5 locations (a fifth inactive, a third selling to some channels only),
    /// 1–3 SKUs, stock at random positions. Names carry a random prefix, so that the cases of one
    /// run keep apart on one server.
    static let generator = Generator<AvailabilityNetwork, Shrink.None<AvailabilityNetwork>>(run: { rng in
        func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let name = "N" + String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 36)
        let locations = (0..<int(1...5)).map { index in
            location("\(name)-L\(index)", active: int(1...5) > 1,
                     channels: int(1...3) == 1 ? Channel.allCases.filter { _ in int(1...2) == 1 } : [])
        }
        let skus = (0..<int(1...3)).map { SKU("\(name)-SKU\($0)") }
        var stock: [(sku: Int, location: Int, units: Int32)] = []
        for sku in skus.indices {
            for location in locations.indices where int(1...3) > 1 {
                stock.append((sku, location, Int32(int(1...40))))
            }
        }
        return AvailabilityNetwork(locations: locations, skus: skus, stock: stock)
    })
}

/// What the in-process simulator and the server answer for the units `channel` may sell of `skus`.
func simulatorAvailable(_ gateway: InProcessGateway, _ skus: [SKU], _ channel: Channel) throws -> Int64 {
    guard case .available(let units) = gateway.execute(.availability(skus, channel), now: 1_772_463_600_000) else {
        throw AvailabilityAnswerError(what: "the in-process simulator did not answer an availability")
    }
    return units
}

func serverAvailable(_ client: WaybillClient, _ skus: [SKU], _ channel: Channel) async throws -> Int64 {
    let answer = try await client.availability(skus: skus.map(\.rawValue), channel: channel.proto, networkOnly: true)
    return answer.network.reduce(0) { $0 + $1.available }
}

struct AvailabilityAnswerError: Error { var what: String }
