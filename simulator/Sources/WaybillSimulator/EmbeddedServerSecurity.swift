// What `waybill demo` and `waybill bench` give the servers they embed, so that they work out of
// the box on a secured server: an admin credential for set-up, one channel credential per sales
// channel (scoped to it), an ERP credential, fresh tokens each time, and optionally TLS with a
// throwaway certificate authority (LiveTLS). The tokens live only in this process.

import Foundation
import WaybillApplication
import WaybillClient
import WaybillCore
import WaybillServer

public struct EmbeddedServerSecurity: Sendable {
    public let adminToken: String
    public let erpToken: String
    private let channelTokens: [Channel: String]
    private let seeds: [CredentialSeed]
    public let tls: LiveTLS

    /// Fresh credentials; TLS (a throwaway CA made in `directory`) when `tls` is true.
    public static func make(tls: Bool, directory: URL) throws -> EmbeddedServerSecurity {
        var seeds: [CredentialSeed] = []
        var channelTokens: [Channel: String] = [:]
        for channel in Channel.allCases {
            let token = AccessToken.generate()
            channelTokens[channel] = token
            seeds.append(CredentialSeed(name: "channel-" + channel.name, role: .channel, channels: [channel.name], token: token))
        }
        let admin = AccessToken.generate(), erp = AccessToken.generate()
        seeds.append(CredentialSeed(name: "admin", role: .admin, token: admin))
        seeds.append(CredentialSeed(name: "erp", role: .erp, token: erp))
        return EmbeddedServerSecurity(adminToken: admin, erpToken: erp, channelTokens: channelTokens, seeds: seeds,
                                      tls: tls ? try LiveTLS.embedded(directory: directory) : .plaintext)
    }

    /// The token of `channel`'s credential.
    public func channelToken(_ channel: Channel) -> String { channelTokens[channel]! }

    /// The credentials (and TLS) of the embedded server.
    public func configure(_ configuration: inout ServerConfiguration) {
        configuration.credentials = seeds
        tls.configure(&configuration)
    }

    /// Writes the admin credential alone as a `waybill serve --credentials-file` file (created,
    /// mode 0600), for a benchmark's child server.
    public func writeAdminCredential(to path: String) throws {
        try LiveCredentials.writeSeeds(seeds.filter { $0.role == .admin }, to: path)
    }

    /// A client configuration calling with `token`, over TLS when the server speaks it.
    public func client(token: String?, clientID: String) -> ClientConfiguration {
        var configuration = ClientConfiguration()
        configuration.clientID = clientID
        configuration.token = token
        tls.configure(&configuration)
        return configuration
    }
}
