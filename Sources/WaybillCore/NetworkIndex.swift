// The network indexed for routing: locations sorted into sites with their carrier options and
// rate bands precomputed, items and channel settings by key.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The network as routing sees it: locations and carriers indexed for fast lookup.
public struct NetworkState: Sendable {
    public private(set) var locations: [LocationID: Location] = [:]
    public private(set) var carriers: [String: Carrier] = [:]
    public private(set) var items: [SKU: Item] = [:]
    /// How many times each item was upserted: its change-feed sequence.
    public private(set) var itemVersions: [SKU: Int64] = [:]
    /// Channels with settings of their own; the others have `ChannelSettings`' defaults.
    public private(set) var channelSettings: [Channel: ChannelSettings] = [:]
    /// Locations sorted by id with what routing precomputes for them; `siteIndex` finds one.
    private(set) var sites: [Site] = []
    private(set) var siteIndex: [LocationID: Int] = [:]
    /// The sites' location ids, densely packed for the routing hot loop.
    private(set) var siteIDs: [LocationID] = []
    /// The sites' active/ships/pickup flags, densely packed for the same loop.
    private(set) var siteFlags: [SiteFlags] = []

    struct SiteFlags: OptionSet {
        let rawValue: UInt8
        static let active = SiteFlags(rawValue: 1)
        static let ships = SiteFlags(rawValue: 2)
        static let pickup = SiteFlags(rawValue: 4)
    }

    public struct ServiceOption: Hashable, Sendable {
        public var carrierID: String
        public var service: CarrierService
        /// "carrier/service": the capacity resource name.
        public var resource: String
    }

    /// A location with its coordinates in radians and the carrier services that collect there.
    struct Site: Sendable {
        var location: Location
        var latitudeRadians: Double
        var longitudeRadians: Double
        var cosineLatitude: Double
        /// Sorted by carrier id, then service.
        var options: [ServiceOption]
        /// Every option's rate bands, flattened into plain values (no reference counting in the hot loop).
        var rates: [RateRow]
        var processingCostMajor: Double
        /// Copies of the location's plain fields: the hot loop reads these without touching strings.
        var active: Bool
        var ships: Bool
        var pickup: Bool
        var hasCoordinates: Bool
        var dailyOrderCapacity: Int32
        var cutoffMinuteUTC: Int32
        var priority: Int32

        func processingDay(at now: Timestamp) -> Int64 {
            cutoffMinuteUTC > 0 && now.minuteOfDay >= cutoffMinuteUTC ? now.day + 1 : now.day
        }
    }

    struct RateRow: Sendable {
        var option: Int
        var maxDistanceKilometres: Double
        var maxWeightGrams: Int32
        var costMinor: Int64
        var costMajor: Double
        var transitDays: Int32
    }

    public init() {}

    public var hasCarriers: Bool { !carriers.isEmpty }

    public mutating func upsert(_ location: Location) {
        locations[location.locationID] = location
        rebuildSites()
    }
    public mutating func upsert(_ carrier: Carrier) {
        var carrier = carrier
        for index in carrier.services.indices {
            carrier.services[index].rates.sort {
                ($0.maxDistanceKilometres, $0.maxWeightGrams, $0.cost.minorUnits)
                    < ($1.maxDistanceKilometres, $1.maxWeightGrams, $1.cost.minorUnits)
            }
        }
        carriers[carrier.carrierID] = carrier
        rebuildSites()
    }
    public mutating func upsert(_ item: Item) {
        items[item.sku] = item
        itemVersions[item.sku, default: 0] += 1
    }

    public mutating func set(_ settings: ChannelSettings) {
        channelSettings[settings.channel] = settings
    }

    public func settings(of channel: Channel) -> ChannelSettings {
        channelSettings[channel] ?? ChannelSettings(channel: channel)
    }

    /// An item as stored, with the number of upserts it has had (start-up).
    public mutating func restore(_ item: Item, version: Int64) {
        items[item.sku] = item
        itemVersions[item.sku] = version
    }

    public func services(at location: LocationID) -> [ServiceOption] { siteIndex[location].map { sites[$0].options } ?? [] }
    public func weightGrams(_ sku: SKU) -> Int32 { items[sku]?.weightGrams ?? 0 }

    private mutating func rebuildSites() {
        let sortedCarriers = carriers.values.filter(\.active).sorted { $0.carrierID < $1.carrierID }
        let radiansPerDegree = Double.pi / 180
        sites = locations.keys.sorted().map { id in
            let location = locations[id]!
            var options: [ServiceOption] = []
            if location.ships {
                for carrier in sortedCarriers {
                    for service in carrier.services where service.locationIDs.isEmpty || service.locationIDs.contains(id) {
                        options.append(ServiceOption(carrierID: carrier.carrierID, service: service,
                                                     resource: carrier.carrierID + "/" + service.service))
                    }
                }
            }
            let latitude = (location.coordinates?.latitude ?? 0) * radiansPerDegree
            var rates: [RateRow] = []
            for (index, option) in options.enumerated() {
                for band in option.service.rates {
                    rates.append(RateRow(option: index, maxDistanceKilometres: band.maxDistanceKilometres, maxWeightGrams: band.maxWeightGrams,
                                         costMinor: band.cost.minorUnits, costMajor: band.cost.majorUnitsApproximation,
                                         transitDays: band.transitDays))
                }
            }
            return Site(location: location, latitudeRadians: latitude,
                        longitudeRadians: (location.coordinates?.longitude ?? 0) * radiansPerDegree,
                        cosineLatitude: cos(latitude), options: options, rates: rates,
                        processingCostMajor: location.processingCost?.majorUnitsApproximation ?? 0,
                        active: location.active, ships: location.ships, pickup: location.pickup,
                        hasCoordinates: location.coordinates != nil, dailyOrderCapacity: location.dailyOrderCapacity,
                        cutoffMinuteUTC: location.cutoffMinuteUTC, priority: location.priority)
        }
        siteIDs = sites.map(\.location.locationID)
        siteFlags = sites.map { site in
            var flags: SiteFlags = []
            if site.active { flags.insert(.active) }
            if site.ships { flags.insert(.ships) }
            if site.pickup { flags.insert(.pickup) }
            return flags
        }
        siteIndex = Dictionary(uniqueKeysWithValues: siteIDs.enumerated().map { ($1, $0) })
    }
}
