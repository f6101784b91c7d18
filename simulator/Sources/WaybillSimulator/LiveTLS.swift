// TLS of a live run's connections, in one place: an embedded server presents a certificate of a
// throwaway certificate authority made for the run (in its temporary directory) and every client
// of the run trusts that authority alone; a --target server is trusted through the CA bundle the
// operator gives (--tls-ca). `demo` and `bench` use the same set-up for their embedded servers.

import Foundation
import WaybillClient
import WaybillServer
import WaybillTLS

public struct LiveTLS: Sendable {
    /// "TLS (…)" or "plaintext", for reports.
    public let description: String
    /// What the embedded server presents (nil: plaintext, or a server run elsewhere).
    public let server: ServerTLSConfiguration?
    /// What clients verify the server with (nil: plaintext).
    public let client: ClientTLSConfiguration?
    /// The certificate authority's PEM file clients trust (nil: plaintext).
    public let caPath: String?

    /// No TLS.
    public static let plaintext = LiveTLS(description: "plaintext", server: nil, client: nil, caPath: nil)

    /// A throwaway certificate authority and a server certificate for localhost, 127.0.0.1 and ::1,
    /// written under `directory`/tls (the key file mode 0600; removed with the directory).
    public static func embedded(directory: URL) throws -> LiveTLS {
        let folder = directory.appendingPathComponent("tls").path
        var authority = try ThrowawayCertificateAuthority(name: "Waybill embedded server CA")
        let caPath = try authority.write(to: folder)
        let issued = try authority.issueServerCertificate(in: folder)
        return LiveTLS(description: "TLS, server certificate of a throwaway CA",
                       server: ServerTLSConfiguration(certificateChainPath: issued.certificatePath, privateKeyPath: issued.privateKeyPath),
                       client: .certificateAuthority(caPath), caPath: caPath)
    }

    /// A server run elsewhere, verified against the CA bundle `caFile` (PEM).
    public static func trusting(caFile: String) throws -> LiveTLS {
        guard FileManager.default.isReadableFile(atPath: caFile) else { throw ScenarioError("--tls-ca \(caFile) is not a readable file") }
        return LiveTLS(description: "TLS, server verified against \(caFile)", server: nil, client: .certificateAuthority(caFile), caPath: caFile)
    }

    /// The embedded server's TLS settings.
    public func configure(_ configuration: inout ServerConfiguration) { configuration.tls = server }
    /// A client's TLS settings.
    public func configure(_ configuration: inout ClientConfiguration) { configuration.tls = client }
}
