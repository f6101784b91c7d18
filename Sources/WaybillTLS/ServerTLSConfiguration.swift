// What a TLS listener needs: PEM files, mutual TLS on or off, and how often the files are checked
// for replacement. docs/SECURITY.md, "Transport security and certificates".

/// TLS for a listener (the frames port and the gRPC port share one). TLS 1.2 minimum; TLS 1.3 is
/// preferred whenever the client offers it.
public struct ServerTLSConfiguration: Sendable, Hashable {
    /// PEM: the server certificate first, then any intermediates.
    public var certificateChainPath: String
    /// PEM private key of the first certificate. Refused when group or others may read it.
    public var privateKeyPath: String
    /// PEM bundle of the certificate authorities that sign client certificates. When set, mutual
    /// TLS is required: a client without a certificate signed by one of them is refused in the
    /// handshake.
    public var clientCertificateAuthorityPath: String?
    /// How often the certificate, key and client CA files are checked for replacement (their size,
    /// modification time and inode); a change reloads them. SIGHUP reloads at once.
    /// (tlsReloadCheckIntervalMilliseconds; 0 = no polling, SIGHUP only.)
    public var reloadCheckIntervalMilliseconds: Int64 = 1_000
    /// A connection that has not completed its TLS handshake by then is closed (a peer that opens a
    /// connection and sends nothing, or a few bytes a minute, does not hold it).
    /// (tlsHandshakeTimeoutMilliseconds)
    public var handshakeTimeoutMilliseconds: Int64 = 10_000
    /// Whether SIGHUP reloads the files (the `waybill serve` process; embedded servers leave
    /// signals to their host process).
    public var reloadsOnHangupSignal = false

    public init(certificateChainPath: String, privateKeyPath: String, clientCertificateAuthorityPath: String? = nil) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.clientCertificateAuthorityPath = clientCertificateAuthorityPath
    }

    /// Mutual TLS: client certificates are required and verified.
    public var requiresClientCertificates: Bool { clientCertificateAuthorityPath != nil }

    /// The files whose replacement triggers a reload.
    var watchedPaths: [String] { [certificateChainPath, privateKeyPath] + (clientCertificateAuthorityPath.map { [$0] } ?? []) }
}

/// Why TLS material could not be loaded: the file, what is wrong, and the fix. Never contains key
/// material.
public struct TLSConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case unreadableFile, keyPermissions, invalidCertificate, invalidPrivateKey, keyDoesNotMatchCertificate, invalidContext
    }

    public let kind: Kind
    public let path: String
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }
}
