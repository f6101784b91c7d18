// The current TLS context of a listener, replaced without a restart: on SIGHUP and when the
// certificate, key or client CA files change (polled). A reload that fails keeps the context in
// use, logs why (never key material) and is counted; connections already open keep theirs.

import Dispatch
import Foundation
import Logging
import Metrics
import NIOCertificateReloading
import NIOCore
import NIOSSL
import Synchronization

/// Holds the listener's current TLS material. New frames connections take `framesContext`; the
/// gRPC transport's context asks `sslContextConfigurationOverride` (CertificateReloader) on every
/// handshake, so both serve a reloaded certificate to the next connection.
public final class ServerTLSContextHolder: CertificateReloader, Sendable {
    public let configuration: ServerTLSConfiguration
    private let logger: Logger

    private struct Current: Sendable {
        var material: ServerTLSMaterial
        var framesContext: NIOSSLContext
        var fingerprints: [TLSFiles.Fingerprint]
    }

    private let current: Mutex<Current>
    /// Reloads, the poll and the signal run here, one at a time.
    private let queue = DispatchQueue(label: "waybill.tls.reload")
    private let sources = Mutex(DispatchSources())
    private let reloadSucceeded: Counter
    private let reloadFailed: Counter
    private let certificateNotAfter: Gauge
    private let reloadCount = Atomic(0)
    private let failureCount = Atomic(0)

    /// Loads the files (throws a `TLSConfigurationError` naming the file and the fix).
    public init(configuration: ServerTLSConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let fingerprints = configuration.watchedPaths.map(TLSFiles.fingerprint)
        let material = try ServerTLSMaterial.load(configuration)
        let context = try material.makeContext(applicationProtocols: [], configuration: configuration)
        current = Mutex(Current(material: material, framesContext: context, fingerprints: fingerprints))
        reloadSucceeded = Counter(label: "waybill_tls_reloads_total", dimensions: [("result", "reloaded")])
        reloadFailed = Counter(label: "waybill_tls_reloads_total", dimensions: [("result", "failed")])
        certificateNotAfter = Gauge(label: "waybill_tls_certificate_not_after_seconds")
        certificateNotAfter.record(Double(material.notValidAfter))
        logLoaded(material, event: "TLS certificate loaded")
    }

    /// The context a new frames connection uses.
    public var framesContext: NIOSSLContext { current.withLock { $0.framesContext } }

    /// CertificateReloader: the certificate and key a gRPC handshake uses now.
    public var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        current.withLock { $0.material.configurationOverride }
    }

    /// The PEM bytes the gRPC transport starts from (its client CA bundle is fixed at start).
    public var startingPEM: (certificateChain: [UInt8], privateKey: [UInt8], clientCertificateAuthorities: [UInt8]?) {
        current.withLock { ($0.material.certificateChainPEM, $0.material.privateKeyPEM, $0.material.clientCertificateAuthoritiesPEM) }
    }

    /// Successful reloads since start (tests and the log).
    public var reloads: Int { reloadCount.load(ordering: .relaxed) }
    /// Failed reloads since start.
    public var reloadFailures: Int { failureCount.load(ordering: .relaxed) }

    /// Reads the files again now. On failure the context in use stays and the error is returned
    /// (and logged, and counted).
    @discardableResult
    public func reload(reason: String) -> TLSConfigurationError? {
        queue.sync { reloadNow(reason: reason) }
    }

    private func reloadNow(reason: String) -> TLSConfigurationError? {
        let fingerprints = configuration.watchedPaths.map(TLSFiles.fingerprint)
        do {
            let material = try ServerTLSMaterial.load(configuration)
            let context = try material.makeContext(applicationProtocols: [], configuration: configuration)
            current.withLock { $0 = Current(material: material, framesContext: context, fingerprints: fingerprints) }
            reloadCount.add(1, ordering: .relaxed)
            reloadSucceeded.increment()
            certificateNotAfter.record(Double(material.notValidAfter))
            logLoaded(material, event: "TLS certificate reloaded", reason: reason)
            return nil
        } catch {
            // Remember the files as they are: a broken pair is reported once, not every poll; the
            // next change (or SIGHUP) tries again.
            current.withLock { $0.fingerprints = fingerprints }
            failureCount.add(1, ordering: .relaxed)
            reloadFailed.increment()
            let failure = error as? TLSConfigurationError
                ?? TLSConfigurationError(.invalidContext, path: configuration.certificateChainPath, "\(error)")
            logger.error("TLS reload failed: still serving the previous certificate",
                         metadata: ["reason": "\(reason)", "error": "\(failure.message)"])
            return failure
        }
    }

    private func logLoaded(_ material: ServerTLSMaterial, event: Logger.Message, reason: String? = nil) {
        let expires = Date(timeIntervalSince1970: TimeInterval(material.notValidAfter))
        var metadata: Logger.Metadata = ["subject": "\(material.subject)", "not_after": "\(expires)",
                                         "certificate": "\(configuration.certificateChainPath)",
                                         "mutual_tls": "\(configuration.requiresClientCertificates)"]
        if let reason { metadata["reason"] = "\(reason)" }
        logger.info(event, metadata: metadata)
        if expires < Date() {
            logger.error("the TLS certificate has expired: clients will refuse it", metadata: ["not_after": "\(expires)"])
        } else if expires.timeIntervalSinceNow < 14 * 86_400 {
            logger.warning("the TLS certificate expires within 14 days", metadata: ["not_after": "\(expires)"])
        }
    }

    /// Starts polling the files (reloadCheckIntervalMilliseconds) and, if configured, reloading on
    /// SIGHUP. `stop()` ends both.
    public func startWatching() {
        var started: [any DispatchSourceProtocol] = []
        if configuration.reloadCheckIntervalMilliseconds > 0 {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let interval = DispatchTimeInterval.milliseconds(Int(configuration.reloadCheckIntervalMilliseconds))
            timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(10))
            timer.setEventHandler { [self] in
                let now = configuration.watchedPaths.map(TLSFiles.fingerprint)
                let changed = current.withLock { $0.fingerprints != now }
                if changed { _ = reloadNow(reason: "certificate files changed") }
            }
            timer.resume()
            started.append(timer)
        }
        if configuration.reloadsOnHangupSignal {
            // The default action of SIGHUP ends the process: ignore it, and hear it through the source.
            signal(SIGHUP, SIG_IGN)
            let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            hangup.setEventHandler { [self] in _ = reloadNow(reason: "SIGHUP") }
            hangup.resume()
            started.append(hangup)
        }
        let list = DispatchSources(items: started)
        sources.withLock { $0.items += list.items }
    }

    /// Stops the poll and the signal handler (the contexts stay usable).
    public func stop() {
        let stopping = sources.withLock { sources in
            defer { sources.items = [] }
            return sources
        }
        for source in stopping.items { source.cancel() }
    }

    deinit { stop() }
}

/// Dispatch sources are thread-safe objects; Swift does not mark their protocol Sendable.
private struct DispatchSources: @unchecked Sendable {
    var items: [any DispatchSourceProtocol] = []
}
