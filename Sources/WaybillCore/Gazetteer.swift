// Where a ship-to is when the order does not say: the centroid of its city. Routing needs a
// distance for rate bands and distance filters; an address without coordinates (the C client's
// order files, call-centre captures) would otherwise be routed as if it were at distance 0.
// Pure data: the shell (server, simulator) loads the places and injects them into the router.

/// Known places, looked up by (country, region, city). Names are compared normalised
/// (`Gazetteer.normalisedCity`); regions and countries upper-cased.
public struct Gazetteer: Sendable {
    public struct Place: Hashable, Sendable {
        public var name: String
        public var region: String
        public var country: String
        public var coordinates: Coordinates
        public init(name: String, region: String, country: String, coordinates: Coordinates) {
            self.name = name
            self.region = region
            self.country = country
            self.coordinates = coordinates
        }
        /// "Seattle, WA": how the routing explanation names it.
        public var label: String { region.isEmpty ? name : "\(name), \(region)" }
    }

    struct Key: Hashable {
        var country: String
        var region: String
        var city: String
    }

    private var places: [Key: Place] = [:]
    /// The same places without the country, for addresses that leave it empty; a (region, city)
    /// present in two countries is ambiguous and kept out (nil).
    private var withoutCountry: [Key: Place?] = [:]

    /// No places: every ship-to must carry coordinates.
    public init() {}

    /// The first place given for a (country, region, city) wins: pass the most populous first.
    /// A name ending in " City" ("New York City") is also known without it, unless taken.
    public init(places list: [Place]) {
        var aliases: [(Key, Place)] = []
        for place in list {
            let country = Self.normalisedCountry(place.country), region = Self.normalisedRegion(place.region)
            let city = Self.normalisedCity(place.name)
            guard !city.isEmpty else { continue }
            let key = Key(country: country, region: region, city: city)
            if places[key] == nil { places[key] = place }
            if city.hasSuffix(" city") && city.count > 5 {
                aliases.append((Key(country: country, region: region, city: String(city.dropLast(5))), place))
            }
        }
        for (key, place) in aliases where places[key] == nil { places[key] = place }
        for (key, place) in places {
            let short = Key(country: "", region: key.region, city: key.city)
            if let existing = withoutCountry[short], existing?.country != place.country {
                withoutCountry[short] = .some(nil)
            } else {
                withoutCountry[short] = place
            }
        }
    }

    public var count: Int { places.count }
    public var isEmpty: Bool { places.isEmpty }

    /// The place an address names, if known: its city in its region (and country, when given).
    public func place(city: String, region: String, country: String) -> Place? {
        let city = Self.normalisedCity(city), region = Self.normalisedRegion(region), country = Self.normalisedCountry(country)
        guard !city.isEmpty else { return nil }
        if country.isEmpty { return withoutCountry[Key(country: "", region: region, city: city)] ?? nil }
        return places[Key(country: country, region: region, city: city)]
    }

    public func place(for address: Address) -> Place? {
        place(city: address.city, region: address.region, country: address.country)
    }

    /// Lower case, letters and digits only, single spaces; "St." and "Saint" compare equal.
    public static func normalisedCity(_ name: String) -> String {
        var words: [String] = []
        var word = ""
        for character in name.lowercased() {
            if character.isLetter || character.isNumber {
                word.append(character)
            } else if character == "'" || character == "." || character == "’" {
                continue  // "O'Fallon" = "OFallon", "St." = "St"
            } else if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        return words.map { $0 == "saint" ? "st" : $0 == "fort" ? "ft" : $0 == "mount" ? "mt" : $0 }.joined(separator: " ")
    }

    static func normalisedRegion(_ region: String) -> String {
        String(region.uppercased().filter { !$0.isWhitespace && $0 != "." })
    }

    /// ISO 3166 alpha-2, upper case; the spellings of the United States people type are "US".
    static func normalisedCountry(_ country: String) -> String {
        let upper = String(country.uppercased().filter { $0.isLetter })
        switch upper {
        case "USA", "UNITEDSTATES", "UNITEDSTATESOFAMERICA": return "US"
        default: return upper
        }
    }
}

/// Where routing measured distances from, for one order.
public enum Destination: Hashable, Sendable {
    /// The ship-to's own coordinates.
    case exact(Coordinates)
    /// The centroid of the ship-to's city (no coordinates were sent).
    case cityCentroid(Gazetteer.Place)
    /// Neither: no distance can be measured, so no distance-based rate or filter can be met.
    case unknown

    public var coordinates: Coordinates? {
        switch self {
        case .exact(let coordinates): coordinates
        case .cityCentroid(let place): place.coordinates
        case .unknown: nil
        }
    }

    /// What the routing decision records: "" when exact.
    public var approximation: String {
        switch self {
        case .exact: ""
        case .cityCentroid(let place): "destination approximated from city centroid \(place.label)"
        case .unknown: "destination unknown (no coordinates, city not known): no distance-based rates or filters apply"
        }
    }

    /// Explicit coordinates first, then the city's centroid, else unknown.
    public static func resolve(_ address: Address, gazetteer: Gazetteer) -> Destination {
        if let coordinates = address.coordinates { return .exact(coordinates) }
        if let place = gazetteer.place(for: address) { return .cityCentroid(place) }
        return .unknown
    }
}
