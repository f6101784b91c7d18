// TLS for Waybill's clients: whom to trust, an optional client certificate (mutual TLS), and the
// name to expect. Server certificates are always verified: there is no switch to skip it.

import Foundation
import NIOCore
import NIOSSL
import Synchronization

public struct ClientTLSConfiguration: Sendable, Hashable {
    public enum TrustRoots: Sendable, Hashable {
        /// The operating system's certificate authorities.
        case system
        /// The certificate authorities in a PEM bundle (only those).
        case certificateAuthorityFile(String)
    }

    public var trustRoots: TrustRoots
    /// PEM client certificate chain and key, presented when the server asks (mutual TLS). The key
    /// file must be readable by its owner only.
    public var certificateChainPath: String?
    public var privateKeyPath: String?
    /// The name the server's certificate must hold (and the SNI sent); nil = the host dialled (an
    /// IP address is then matched against the certificate's IP addresses).
    public var serverName: String?

    public init(trustRoots: TrustRoots = .system, certificateChainPath: String? = nil, privateKeyPath: String? = nil,
                serverName: String? = nil) {
        self.trustRoots = trustRoots
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.serverName = serverName
    }

    /// Trusts the certificate authorities of one PEM bundle.
    public static func certificateAuthority(_ path: String) -> ClientTLSConfiguration {
        ClientTLSConfiguration(trustRoots: .certificateAuthorityFile(path))
    }

    /// The name to verify and send as SNI when dialling `host`: the override, else the host unless
    /// it is an IP address (SNI carries names only; the address is then checked against the
    /// certificate's IP subject alternative names).
    public func expectedServerName(host: String) -> String? {
        if let serverName { return serverName }
        return Self.isIPAddress(host) ? nil : host
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// NIOSSL's configuration: TLS 1.2 minimum, full verification.
    public func tlsConfiguration(applicationProtocols: [String] = []) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        tls.applicationProtocols = applicationProtocols
        switch trustRoots {
        case .system:
            tls.trustRoots = .default
        case .certificateAuthorityFile(let path):
            tls.trustRoots = .certificates(try PEMFiles.certificates(path, what: "CA"))
        }
        switch (certificateChainPath, privateKeyPath) {
        case (nil, nil):
            break
        case (let chainPath?, let keyPath?):
            let chain = try PEMFiles.certificates(chainPath, what: "client certificate")
            let (key, pem) = try PEMFiles.privateKey(keyPath)
            try PEMFiles.checkKey(pem, matches: chain[0], keyPath: keyPath, certificatePath: chainPath)
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
        default:
            throw TLSConfigurationError(.invalidCertificate, path: certificateChainPath ?? privateKeyPath ?? "",
                                        "a client certificate needs both its certificate and its key (--tls-cert and --tls-key)")
        }
        return tls
    }

    /// A context for these settings; built once per configuration and version of its files (a
    /// context loads its trust roots, which costs milliseconds) and shared by connections.
    public func makeContext() throws -> NIOSSLContext {
        let paths = [trustRoots.path, certificateChainPath, privateKeyPath].compactMap { $0 }
        let key = ClientContextCache.Key(configuration: self, fingerprints: paths.map(TLSFiles.fingerprint))
        if let cached = ClientContextCache.contexts.withLock({ $0[key] }) { return cached }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tlsConfiguration())
        } catch let error as TLSConfigurationError {
            throw error
        } catch {
            throw TLSConfigurationError(.invalidContext, path: paths.first ?? "", "the client TLS settings are unusable: \(TLSErrorText.describe(error))")
        }
        ClientContextCache.contexts.withLock { contexts in
            if contexts.count >= ClientContextCache.entriesMax { contexts.removeAll() }
            contexts[key] = context
        }
        return context
    }

    /// In words, for errors: "trusting FILE" or "trusting the system's certificate authorities".
    var trustDescription: String {
        switch trustRoots {
        case .system: return "the system's certificate authorities"
        case .certificateAuthorityFile(let path): return "the certificate authorities in \(path)"
        }
    }
}

extension ClientTLSConfiguration.TrustRoots {
    var path: String? {
        if case .certificateAuthorityFile(let path) = self { return path }
        return nil
    }
}

enum ClientContextCache {
    struct Key: Hashable, Sendable {
        var configuration: ClientTLSConfiguration
        var fingerprints: [TLSFiles.Fingerprint]
    }

    /// Distinct client settings a process keeps contexts for (a process has a handful).
    static let entriesMax = 32
    static let contexts = Mutex<[Key: NIOSSLContext]>([:])
}
