// Safe defaults for where a server may listen: without TLS, only on loopback; on any other address,
// TLS and at least one credential, unless the operator explicitly asks for `insecure`. docs/SECURITY.md.

import WaybillCore

enum ExposurePolicy {
    /// Whether `host` is a loopback address or name (only this machine can connect).
    static func isLoopback(_ host: String) -> Bool {
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
