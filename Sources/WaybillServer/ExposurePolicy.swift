// Safe defaults for where a server may listen: without TLS, only on loopback; on any other address,
// TLS and at least one credential, unless the operator explicitly asks for `insecure`. docs/SECURITY.md.

import Logging
import WaybillCore

public enum ExposurePolicy {
    /// Whether `host` is a loopback address or name (only this machine can connect).
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        return lowered == "localhost" || lowered == "::1" || lowered == "[::1]" || lowered.hasPrefix("127.")
    }

    /// The reason a configuration may not listen, or nil.
    static func refusal(host: String, listener: String, hasTLS: Bool, credentialCount: Int, insecure: Bool) -> String? {
        guard !isLoopback(host), !insecure else { return nil }
        if !hasTLS {
            return "the \(listener) listener on \(host) is reachable from other machines: it needs TLS (--tls-cert/--tls-key), "
                + "or listen on 127.0.0.1, or pass --insecure to accept plaintext on the network"
        }
        if credentialCount == 0 {
            return "the \(listener) listener on \(host) is reachable from other machines and no credential exists: "
                + "add one (waybill clients add NAME --role ROLE --database PATH), or pass --insecure"
        }
        return nil
    }
}

extension ExposurePolicy {
    /// Refuses to start a server whose listeners would be exposed unsafely; says at start when a
    /// server listens in plaintext on loopback only.
    static func check(_ configuration: ServerConfiguration, activeCredentials: Int, logger: Logger) throws {
        var listeners = [("protocol", configuration.host)]
        if configuration.grpcPort != nil { listeners.append(("gRPC", configuration.grpcHost)) }
        for (listener, host) in listeners {
            if let reason = refusal(host: host, listener: listener, hasTLS: configuration.tls != nil, credentialCount: activeCredentials,
                                    insecure: configuration.insecure) {
                throw ExposureRefused(description: reason)
            }
        }
        if configuration.tls == nil {
            if listeners.allSatisfy({ isLoopback($0.1) }) {
                logger.notice("no TLS: listening on loopback only (other machines cannot connect); give --tls-cert/--tls-key to listen on a network")
            } else {
                logger.warning("--insecure: listening without TLS on an address other machines can reach; tokens and orders cross the network in clear")
            }
        }
    }
}

/// A configuration that would expose the server unsafely (ExposurePolicy).
public struct ExposureRefused: Error, CustomStringConvertible {
    public let description: String
}
