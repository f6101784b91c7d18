// The gazetteer a server routes with by default: US city centroids compiled in from the
// project's reference data (scripts/generate-gazetteer.sh), so the binary finds it from any
// working directory.

import WaybillCore

extension Gazetteer {
    /// US places of at least 15,000 inhabitants (GeoNames cities15000).
    public static let unitedStatesCities: Gazetteer = {
        var places: [Place] = []
        places.reserveCapacity(3_500)
        for row in USCityCentroids.rows.split(separator: "\n") {
            let fields = row.split(separator: "|", omittingEmptySubsequences: false)
            // The table is generated: a malformed row is a generator bug, not an input error.
            precondition(fields.count == 4, "USCityCentroids: malformed row \(row)")
            guard let latitude = Double(fields[2]), let longitude = Double(fields[3]) else {
                preconditionFailure("USCityCentroids: malformed coordinates in \(row)")
            }
            places.append(Place(name: String(fields[0]), region: String(fields[1]), country: "US",
                                coordinates: Coordinates(latitude: latitude, longitude: longitude)))
        }
        return Gazetteer(places: places)
    }()
}
