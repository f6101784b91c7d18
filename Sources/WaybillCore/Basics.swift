// Identifiers, time and money: the vocabulary every other file uses.
// WaybillCore is pure: nothing here reads a clock, a random source or the disk.

// libm only (sin, cos, asin): the core imports nothing else of the platform.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Milliseconds since the Unix epoch, UTC. Time is always passed in, never read.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static let millisecondsPerDay: Int64 = 86_400_000
    public static let millisecondsPerMinute: Int64 = 60_000
    public static let zero = Timestamp(millisecondsSinceEpoch: 0)

    /// Days since the Unix epoch (UTC).
    public var day: Int64 { millisecondsSinceEpoch.floorDivided(by: Self.millisecondsPerDay) }
    /// Minute of the UTC day, 0..<1440.
    public var minuteOfDay: Int32 {
        Int32((millisecondsSinceEpoch - day * Self.millisecondsPerDay) / Self.millisecondsPerMinute)
    }
    public func adding(milliseconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds)
    }
    public func adding(days: Int64) -> Timestamp { adding(milliseconds: days * Self.millisecondsPerDay) }
    public static func startOfDay(_ day: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: day * millisecondsPerDay)
    }
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }
    public var description: String { "\(millisecondsSinceEpoch)ms" }
}

extension Int64 {
    @inlinable func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

/// Waybill's id for an order ("W-00000042"), assigned at capture from a monotonic sequence.
public struct OrderID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(sequence: Int64) {
        let digits = String(sequence)
        rawValue = "W-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
    /// The sequence number an id made by `init(sequence:)` carries.
    public var sequence: Int64? {
        guard rawValue.hasPrefix("W-") else { return nil }
        return Int64(rawValue.dropFirst(2))
    }
    public static func < (lhs: OrderID, rhs: OrderID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

public struct SKU: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public static func < (lhs: SKU, rhs: SKU) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

public struct LocationID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public static func < (lhs: LocationID, rhs: LocationID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// ISO 4217 currency code and an amount in integer minor units: no floating point for money.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    public var minorUnits: Int64
    public var currency: String

    public init(minorUnits: Int64, currency: String) {
        self.minorUnits = minorUnits
        self.currency = currency
    }
    public static func zero(_ currency: String) -> Money { Money(minorUnits: 0, currency: currency) }
    public var description: String { "\(minorUnits) \(currency)" }
    /// In major units (for scoring only; never for amounts that are stored or charged).
    public var majorUnitsApproximation: Double { Double(minorUnits) / 100 }
}

public enum Channel: Int, CaseIterable, Hashable, Sendable, Comparable {
    case web = 1
    case mobileApp = 2
    case marketplace = 3
    case storePOS = 4
    case callCentre = 5
    case clickAndCollect = 6

    public var name: String {
        switch self {
        case .web: "web"
        case .mobileApp: "mobile_app"
        case .marketplace: "marketplace"
        case .storePOS: "store_pos"
        case .callCentre: "call_centre"
        case .clickAndCollect: "click_and_collect"
        }
    }
    public static func < (lhs: Channel, rhs: Channel) -> Bool { lhs.rawValue < rhs.rawValue }
}

public struct Coordinates: Hashable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius).
    public func distanceKilometres(to other: Coordinates) -> Double {
        let radiansPerDegree = Double.pi / 180
        let deltaLatitude = (other.latitude - latitude) * radiansPerDegree
        let deltaLongitude = (other.longitude - longitude) * radiansPerDegree
        let sinLatitude = sin(deltaLatitude / 2)
        let sinLongitude = sin(deltaLongitude / 2)
        let a = sinLatitude * sinLatitude
            + cos(latitude * radiansPerDegree) * cos(other.latitude * radiansPerDegree) * sinLongitude * sinLongitude
        return 2 * 6371.0088 * asin(min(1, a.squareRoot()))
    }
}

public struct Address: Hashable, Sendable {
    public var name: String = ""
    public var lines: [String] = []
    public var city: String = ""
    public var region: String = ""
    public var postalCode: String = ""
    public var country: String = ""
    public var coordinates: Coordinates?
    public var phone: String = ""
    public init() {}
}

public struct Customer: Hashable, Sendable {
    public var customerID: String = ""
    public var name: String = ""
    public var email: String = ""
    public var phone: String = ""
    public init() {}
}
