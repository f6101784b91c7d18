// Who calls in a live run, and with which credential. Every actor of the model calls Waybill as
// itself: each channel's front end with a `channel` credential scoped to that channel, each
// warehouse's and store's WMS with a `fulfillment` credential scoped to its location, the ERP with
// an `erp` credential, and set-up and read-back with an `admin` one (docs/SECURITY.md's roles).
// An embedded server is given these credentials at start; a --target server is given them by its
// operator (`waybill sim SCENARIO --write-credentials FILE`, then `waybill serve
// --credentials-file FILE`), and the run reads the same file.

import Foundation
import WaybillApplication
import WaybillCore

/// The model's actor behind one call.
public enum SimActor: Hashable, Sendable {
    /// A sales channel's front end: availability, capture, the payment decision (release of a
    /// payment hold or the cancellation of a declined order), customer cancellations and returns.
    case channel(Channel)
    /// The WMS of a warehouse or store (its index in the world's locations): release, pick, pack,
    /// ship, delivery, rejection, and the returns it receives.
    case location(Int32)
    /// The ERP: stock deltas and snapshots, documents, acknowledgements, its change-feed consumer
    /// and the reconciliation.
    case erp
    /// The WMS hub that reads the change feed to learn every location's new fulfillments. The feed
    /// may be read by channel (filtered), erp and admin callers, not by fulfillment credentials, so
    /// this feed reader is an integration credential of the `erp` role, apart from the ERP's own.
    case fulfillmentFeed
    /// Set-up (network, routing policy, opening stock) and the read-back and audit after the run.
    case admin
    /// A fulfillment step whose location the model has not learnt (a model bug): sent without a
    /// credential, so the server refuses it and the run's `callers_authorized` check names it.
    case unattributed

    /// The role its credential must have (nil: none).
    public var role: Role? {
        switch self {
        case .channel: .channel
        case .location: .fulfillment
        case .erp, .fulfillmentFeed: .erp
        case .admin: .admin
        case .unattributed: nil
        }
    }
}

/// The tokens of every actor of a run, and the seeds that give them to a server.
public struct LiveCredentials: Sendable {
    /// What a server is given (names, roles, scopes and tokens).
    public let seeds: [CredentialSeed]
    private let channelTokens: [Channel: String]
    private let locationTokens: [String]
    private let erpToken: String
    private let feedToken: String
    private let adminToken: String

    /// Credential names of a generated set: recognisable in a server's credential list and logs.
    static let namePrefix = "sim-"
    static let fulfillmentFeedName = "sim-wms-feed"

    /// A fresh credential per actor, with new random tokens (an embedded server, or a file for a
    /// --target server): one per channel, one per location, the ERP, the feed reader and an admin.
    public static func generate(world: World) -> LiveCredentials {
        var seeds: [CredentialSeed] = []
        var channelTokens: [Channel: String] = [:]
        for channel in Channel.allCases {
            let token = AccessToken.generate()
            channelTokens[channel] = token
            seeds.append(CredentialSeed(name: namePrefix + "channel-" + channel.name, role: .channel, channels: [channel.name], token: token))
        }
        var locationTokens: [String] = []
        for location in world.locations {
            let token = AccessToken.generate()
            locationTokens.append(token)
            seeds.append(CredentialSeed(name: namePrefix + "wms-" + location.locationID.rawValue, role: .fulfillment,
                                        locations: [location.locationID.rawValue], token: token))
        }
        let erp = AccessToken.generate(), feed = AccessToken.generate(), admin = AccessToken.generate()
        seeds.append(CredentialSeed(name: namePrefix + "erp", role: .erp, token: erp))
        seeds.append(CredentialSeed(name: fulfillmentFeedName, role: .erp, token: feed))
        seeds.append(CredentialSeed(name: namePrefix + "admin", role: .admin, token: admin))
        return LiveCredentials(seeds: seeds, channelTokens: channelTokens, locationTokens: locationTokens,
                               erpToken: erp, feedToken: feed, adminToken: admin)
    }

    /// The credentials of a server run elsewhere, from a JSON array of credential seeds (the
    /// format of `waybill serve --credentials-file`): for each actor, the first credential of its
    /// role whose scope covers it (the feed reader: `sim-wms-feed` if present, else the ERP's).
    public static func load(path: String, world: World, channels: [Channel]) throws -> LiveCredentials {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ScenarioError("cannot read the credentials file \(path): \(error.localizedDescription)")
        }
        let seeds: [CredentialSeed]
        do {
            seeds = try JSONDecoder().decode([CredentialSeed].self, from: data)
        } catch {
            // The decoder's error may quote the file: never echo what may be a token.
            throw ScenarioError("the credentials file \(path) is not a JSON array of {name, role, channels, locations, token}")
        }
        return try match(seeds, world: world, channels: channels, source: path)
    }

    /// `channels`: the channels the scenario's traffic uses (each needs a credential).
    static func match(_ seeds: [CredentialSeed], world: World, channels: [Channel], source: String) throws -> LiveCredentials {
        var missing: [String] = []
        func first(_ role: Role, where covers: (CredentialSeed) -> Bool = { _ in true }) -> String? {
            seeds.first { $0.role == role && !$0.token.isEmpty && covers($0) }?.token
        }
        var channelTokens: [Channel: String] = [:]
        for channel in Channel.allCases {
            if let token = first(.channel, where: { $0.channels.contains(channel.name) }) { channelTokens[channel] = token }
        }
        for channel in channels where channelTokens[channel] == nil { missing.append("a channel credential for \(channel.name)") }
        var locationTokens: [String] = []
        var uncovered: [String] = []
        for location in world.locations {
            let token = first(.fulfillment, where: { $0.locations.contains(location.locationID.rawValue) })
            if token == nil { uncovered.append(location.locationID.rawValue) }
            locationTokens.append(token ?? "")
        }
        if !uncovered.isEmpty {
            missing.append("a fulfillment credential for location" + (uncovered.count == 1 ? " " : "s ")
                           + uncovered.prefix(5).joined(separator: ", ") + (uncovered.count > 5 ? " and \(uncovered.count - 5) more" : ""))
        }
        let erp = first(.erp, where: { $0.name != fulfillmentFeedName }) ?? first(.erp)
        let feed = first(.erp, where: { $0.name == fulfillmentFeedName }) ?? erp
        let admin = first(.admin)
        if erp == nil { missing.append("an erp credential") }
        if admin == nil { missing.append("an admin credential") }
        guard missing.isEmpty, let erp, let feed, let admin else {
            throw ScenarioError("\(source) lacks " + missing.joined(separator: "; ")
                                + " (`waybill sim SCENARIO --write-credentials FILE` writes a complete set)")
        }
        return LiveCredentials(seeds: seeds, channelTokens: channelTokens, locationTokens: locationTokens,
                               erpToken: erp, feedToken: feed, adminToken: admin)
    }

    private init(seeds: [CredentialSeed], channelTokens: [Channel: String], locationTokens: [String],
                 erpToken: String, feedToken: String, adminToken: String) {
        self.seeds = seeds
        self.channelTokens = channelTokens
        self.locationTokens = locationTokens
        self.erpToken = erpToken
        self.feedToken = feedToken
        self.adminToken = adminToken
    }

    /// The bearer token `actor` calls with (nil: none).
    public func token(for actor: SimActor) -> String? {
        switch actor {
        case .channel(let channel): channelTokens[channel]
        case .location(let index): index >= 0 && Int(index) < locationTokens.count && !locationTokens[Int(index)].isEmpty ? locationTokens[Int(index)] : nil
        case .erp: erpToken
        case .fulfillmentFeed: feedToken
        case .admin: adminToken
        case .unattributed: nil
        }
    }

    /// Writes the seeds as the JSON array `waybill serve --credentials-file` reads, readable by
    /// the owner only (it holds tokens); an existing file is not overwritten.
    public func write(to path: String) throws { try Self.writeSeeds(seeds, to: path) }

    static func writeSeeds(_ seeds: [CredentialSeed], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(seeds)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw ScenarioError("cannot create \(path): \(String(cString: strerror(errno)))" + (errno == EEXIST ? " (it exists; not overwritten)" : ""))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: data + Data("\n".utf8))
    }
}

extension Scenario {
    /// The channels the scenario's traffic uses.
    var trafficChannels: [Channel] { channels.compactMap { SimChannel.parse($0.channel) } }
}
