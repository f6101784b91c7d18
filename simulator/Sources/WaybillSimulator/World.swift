// The static world a scenario describes: geography (GeoNames places), the catalogue, the
// fulfillment network (warehouses, stores, carriers, rates) and the initial stock. Built once,
// deterministically, from the scenario and the seed.

import Foundation
import WaybillCore

public struct City: Sendable {
    public var geonameID: Int
    public var name: String
    public var state: String
    public var coordinates: Coordinates
    public var population: Int
}

public struct CatalogueItem: Sendable {
    public var sku: SKU
    public var weightGrams: Int32
    public var priceMinor: Int64
    /// Zipf weight (rank 1 = most popular).
    public var popularity: Double
}

public struct World: Sendable {
    public var cities: [City]
    public var customerCities: [City]
    public var customerCityTable: AliasTable
    public var catalogue: [CatalogueItem]
    public var popularityTable: AliasTable
    /// Popularity over the stores' assortment only (what a store sells at the till or holds for pickup).
    public var storePopularityTable: AliasTable
    public var locations: [Location]
    public var warehouses: [LocationID]
    public var stores: [LocationID]
    /// For each customer city, the nearest store (click-and-collect, store POS).
    public var nearestStore: [Int]
    public var carriers: [Carrier]
    public var items: [Item]
    /// Initial on hand per (SKU index, location index); 0 = not stocked.
    public var initialStock: [(sku: Int, location: Int, units: Int64)]
    public var currency: String

    public static func load(cities path: String) throws -> [City] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ScenarioError("cannot read the cities file \(path) (GeoNames CSV: geonameid,name,state,latitude,longitude,population,timezone)")
        }
        var cities: [City] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() where number > 0 {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 6, let id = Int(fields[0]), let latitude = Double(fields[3]), let longitude = Double(fields[4]),
                  let population = Int(fields[5]) else {
                throw ScenarioError("\(path):\(number + 1): not a GeoNames row")
            }
            cities.append(City(geonameID: id, name: String(fields[1]), state: String(fields[2]),
                               coordinates: Coordinates(latitude: latitude, longitude: longitude), population: population))
        }
        // Most populous first; ties by id so the order never depends on the file's.
        cities.sort { ($0.population, -$0.geonameID) > ($1.population, -$1.geonameID) }
        return cities
    }

    public init(scenario: Scenario, cities allCities: [City]) throws {
        guard !allCities.isEmpty else { throw ScenarioError("the cities file has no rows") }
        var random = SimRandom(seed: scenario.seed, stream: "world")
        cities = allCities
        let currency = scenario.catalogue.currency
        self.currency = currency

        // Customers: the most populous places, weighted by population.
        customerCities = Array(allCities.prefix(max(1, scenario.geography.customerCities)))
        customerCityTable = AliasTable(weights: customerCities.map { Double($0.population) })

        // Catalogue: Zipf popularity by rank; weights and prices uniform in their spans.
        var catalogue: [CatalogueItem] = []
        let digits = String(scenario.catalogue.skus).count
        for rank in 1...scenario.catalogue.skus {
            let number = String(rank)
            let sku = SKU("SKU-" + String(repeating: "0", count: max(0, digits - number.count)) + number)
            catalogue.append(CatalogueItem(sku: sku, weightGrams: Int32(scenario.catalogue.weightGrams.draw(&random)),
                                           priceMinor: Int64(scenario.catalogue.priceMinor.draw(&random)),
                                           popularity: 1 / pow(Double(rank), scenario.catalogue.zipfExponent)))
        }
        self.catalogue = catalogue
        popularityTable = AliasTable(weights: catalogue.map(\.popularity))
        let storeAssortment = max(1, Int((Double(catalogue.count) * scenario.inventory.storeAssortment).rounded()))
        storePopularityTable = AliasTable(weights: catalogue.prefix(storeAssortment).map(\.popularity))
        items = catalogue.map { entry in
            var item = Item(sku: entry.sku)
            item.description = "Simulated item \(entry.sku.rawValue)"
            item.weightGrams = entry.weightGrams
            return item
        }

        // Warehouses: spread out (greedy farthest point among the 200 largest places).
        let pool = Array(allCities.prefix(200))
        var warehouseCities: [City] = [pool[0]]
        while warehouseCities.count < min(scenario.network.warehouses, pool.count) {
            let next = pool.filter { candidate in !warehouseCities.contains { $0.geonameID == candidate.geonameID } }
                .max { a, b in
                    let da = warehouseCities.map { $0.coordinates.distanceKilometres(to: a.coordinates) }.min()!
                    let db = warehouseCities.map { $0.coordinates.distanceKilometres(to: b.coordinates) }.min()!
                    return da != db ? da < db : a.geonameID > b.geonameID
                }!
            warehouseCities.append(next)
        }
        // Stores: the largest places, one each.
        let storeCities = Array(allCities.prefix(scenario.network.stores))
        var locations: [Location] = []
        var warehouses: [LocationID] = []
        var stores: [LocationID] = []
        for (index, city) in warehouseCities.enumerated() {
            var location = Location(locationID: LocationID(String(format: "DC-%02d", index + 1)))
            location.name = "\(city.name) distribution centre"
            location.type = .warehouse
            location.coordinates = city.coordinates
            location.region = city.state
            location.country = "US"
            location.dailyOrderCapacity = scenario.network.warehouseDailyCapacity
            location.processingCost = Money(minorUnits: scenario.network.warehouseProcessingCostMinor, currency: currency)
            location.cutoffMinuteUTC = scenario.network.cutoffMinuteUtc
            location.ships = true
            location.pickup = false
            location.priority = 0
            locations.append(location)
            warehouses.append(location.locationID)
        }
        for (index, city) in storeCities.enumerated() {
            var location = Location(locationID: LocationID(String(format: "ST-%03d", index + 1)))
            _ = index
            location.name = "\(city.name) store"
            location.type = .store
            location.coordinates = city.coordinates
            location.region = city.state
            location.country = "US"
            location.dailyOrderCapacity = scenario.network.storeDailyCapacity
            location.processingCost = Money(minorUnits: scenario.network.storeProcessingCostMinor, currency: currency)
            location.cutoffMinuteUTC = scenario.network.cutoffMinuteUtc
            location.ships = scenario.network.shipFromStore
            location.pickup = true
            location.priority = 1
            locations.append(location)
            stores.append(location.locationID)
        }
        self.locations = locations
        self.warehouses = warehouses
        self.stores = stores

        let storeLocations = locations.indices.filter { locations[$0].type == .store }
        nearestStore = customerCities.map { city in
            storeLocations.min { a, b in
                let da = locations[a].coordinates!.distanceKilometres(to: city.coordinates)
                let db = locations[b].coordinates!.distanceKilometres(to: city.coordinates)
                return da != db ? da < db : a < b
            } ?? -1
        }

        carriers = try scenario.network.carriers.map { config in
            var carrier = Carrier(carrierID: config.carrierID)
            carrier.name = config.carrierID
            carrier.services = try config.services.map { serviceConfig in
                var service = CarrierService(service: serviceConfig.service)
                switch serviceConfig.serviceLevel {
                case "standard": service.serviceLevel = .standard
                case "expedited": service.serviceLevel = .expedited
                case "next_day": service.serviceLevel = .nextDay
                default: throw ScenarioError("carrier \(config.carrierID) service \(serviceConfig.service): unknown service_level \(serviceConfig.serviceLevel)")
                }
                service.dailyCapacityPerLocation = serviceConfig.dailyCapacityPerLocation
                service.rates = serviceConfig.rates.map {
                    RateBand(maxDistanceKilometres: $0.maxDistanceKm, maxWeightGrams: $0.maxWeightGrams,
                             cost: Money(minorUnits: $0.costMinor, currency: currency), transitDays: $0.transitDays)
                }
                return service
            }
            return carrier
        }

        // Initial stock: days of cover of each SKU's expected demand (its popularity share of the
        // units the channels order in a day); stores carry the head of the catalogue.
        var dailyUnits = 0.0, pickupUnits = 0.0
        for channel in scenario.channels {
            let units = channel.ordersPerHour * 24 * max(1, channel.basket.meanLines) * max(1, channel.basket.meanQuantity)
            dailyUnits += units
            let kind = SimChannel.parse(channel.channel)
            pickupUnits += kind == .clickAndCollect || kind == .storePOS ? units : units * channel.pickupShare
        }
        let totalPopularity = catalogue.reduce(0) { $0 + $1.popularity }
        var stock: [(sku: Int, location: Int, units: Int64)] = []
        let assortment = Int((Double(catalogue.count) * scenario.inventory.storeAssortment).rounded())
        let assortmentPopularity = catalogue.prefix(max(1, assortment)).reduce(0) { $0 + $1.popularity }
        // A store's share of pickups: the population of the places it is the nearest store to.
        var storeShare = Array(repeating: 0.0, count: locations.count)
        for (cityIndex, city) in customerCities.enumerated() where nearestStore[cityIndex] >= 0 {
            storeShare[nearestStore[cityIndex]] += Double(city.population)
        }
        let sharedPopulation = max(1, storeShare.reduce(0, +))
        let warehouseCount = Double(max(1, warehouses.count))
        for (locationIndex, location) in locations.enumerated() {
            let isStore = location.type == .store
            let span = isStore ? scenario.inventory.storeUnits : scenario.inventory.warehouseUnits
            for skuIndex in catalogue.indices {
                if isStore && skuIndex >= assortment { break }
                let popularity = catalogue[skuIndex].popularity
                let target = (isStore
                    ? scenario.inventory.storeDaysOfCover * pickupUnits * popularity / assortmentPopularity * storeShare[locationIndex] / sharedPopulation
                    : scenario.inventory.warehouseDaysOfCover / warehouseCount * dailyUnits * popularity / totalPopularity)
                    * (0.75 + 0.5 * random.uniform())
                let units = Int64(min(span.max, max(span.min, target)).rounded())
                if units > 0 { stock.append((skuIndex, locationIndex, units)) }
            }
        }
        initialStock = stock
        // Last, with no draws: a scenario without a product drop gets exactly the world it had.
        if let drop = scenario.productDrop { addProductDrop(drop) }
    }
}
