// Loading PEM certificates and keys with the checks an operator needs to hear about at once: a
// private key others can read, a key that does not belong to the certificate, a file that is not
// PEM. Messages name the file and the fix, never the key's bytes.

import Foundation
import NIOSSL
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files on disk: reading, key permissions, and what identifies a version of a file.
public enum TLSFiles {
    /// Reads a whole file, or throws an error naming it.
    static func read(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions?)" : "does not exist"
            throw TLSConfigurationError(.unreadableFile, path: path, "the \(what) file \(path) \(reason)")
        }
        return [UInt8](data)
    }

    /// A private key must be readable by its owner only: mode & 0o077 == 0.
    public static func checkPrivateKeyPermissions(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TLSConfigurationError(.unreadableFile, path: path, "the private key file \(path) does not exist or cannot be read")
        }
        let mode = Int(info.st_mode) & 0o777
        if mode & 0o077 != 0 {
            throw TLSConfigurationError(.keyPermissions, path: path, """
                the private key file \(path) is readable by group or others (mode \(String(mode, radix: 8))): \
                refused; run `chmod 600 \(path)` (and keep it owned by the user the server runs as)
                """)
        }
    }

    /// Size, modification time and inode: a replaced or rewritten file changes it.
    struct Fingerprint: Hashable, Sendable {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = -1
        var modifiedSeconds: Int = 0
        var modifiedNanoseconds: Int = 0
    }

    static func fingerprint(_ path: String) -> Fingerprint {
        var info = stat()
        guard stat(path, &info) == 0 else { return Fingerprint() }
        #if canImport(Darwin)
        return Fingerprint(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                           modifiedSeconds: info.st_mtimespec.tv_sec, modifiedNanoseconds: info.st_mtimespec.tv_nsec)
        #else
        return Fingerprint(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                           modifiedSeconds: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec)
        #endif
    }

    /// Writes `bytes` to `path` with `mode` (the file is created with it: never briefly readable by
    /// others), replacing it atomically through a temporary file beside it.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else {
            throw TLSConfigurationError(.unreadableFile, path: path, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                posixWrite(descriptor, buffer.baseAddress! + written, bytes.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                throw TLSConfigurationError(.unreadableFile, path: path, "cannot write \(temporary): \(reason)")
            }
            written += result
        }
        fchmod(descriptor, mode)
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TLSConfigurationError(.unreadableFile, path: path, "cannot replace \(path): \(reason)")
        }
    }
}

#if canImport(Glibc)
private func posixWrite(_ descriptor: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int { Glibc.write(descriptor, pointer, count) }
#else
private func posixWrite(_ descriptor: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int { Darwin.write(descriptor, pointer, count) }
#endif

/// PEM parsing with errors that name the file.
enum PEMFiles {
    static func certificates(_ path: String, what: String) throws -> [NIOSSLCertificate] {
        try certificatesAndBytes(path, what: what).certificates
    }

    static func certificatesAndBytes(_ path: String, what: String) throws -> (certificates: [NIOSSLCertificate], bytes: [UInt8]) {
        let bytes = try TLSFiles.read(path, what: what)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw TLSConfigurationError(.invalidCertificate, path: path, "the \(what) file \(path) is not PEM certificates (\(error))")
        }
        guard !certificates.isEmpty else {
            throw TLSConfigurationError(.invalidCertificate, path: path, "the \(what) file \(path) holds no PEM certificate")
        }
        return (certificates, bytes)
    }

    /// The private key, after the permission check. The parse error of a key file is not quoted
    /// (it could echo key bytes).
    static func privateKey(_ path: String) throws -> (key: NIOSSLPrivateKey, pem: String) {
        try TLSFiles.checkPrivateKeyPermissions(path)
        let bytes = try TLSFiles.read(path, what: "private key")
        do {
            return (try NIOSSLPrivateKey(bytes: bytes, format: .pem), String(decoding: bytes, as: UTF8.self))
        } catch {
            throw TLSConfigurationError(.invalidPrivateKey, path: path,
                                        "the private key file \(path) is not an unencrypted PEM private key (PKCS#8, SEC1 or RSA)")
        }
    }

    /// Throws when the key is not the certificate's (checked when swift-certificates can read the
    /// key; BoringSSL checks again when the context is built).
    static func checkKey(_ pem: String, matches certificate: NIOSSLCertificate, keyPath: String, certificatePath: String) throws {
        guard let key = try? Certificate.PrivateKey(pemEncoded: pem),
              let leaf = try? Certificate(derEncoded: certificate.toDERBytes()) else { return }
        if key.publicKey != leaf.publicKey {
            throw TLSConfigurationError(.keyDoesNotMatchCertificate, path: keyPath,
                                        "the private key \(keyPath) does not belong to the certificate \(certificatePath) (replace both together)")
        }
    }
}

/// A certificate chain, its key and (mutual TLS) the client CAs, loaded and checked together.
struct ServerTLSMaterial: Sendable {
    let certificateChain: [NIOSSLCertificate]
    let privateKey: NIOSSLPrivateKey
    let clientCertificateAuthorities: [NIOSSLCertificate]?
    /// The files as read (the gRPC transport builds its context from them).
    let certificateChainPEM: [UInt8]
    let privateKeyPEM: [UInt8]
    let clientCertificateAuthoritiesPEM: [UInt8]?
    /// The leaf's notValidAfter (seconds since 1970), for the expiry gauge and the start log.
    let notValidAfter: Int
    let subject: String

    static func load(_ configuration: ServerTLSConfiguration) throws -> ServerTLSMaterial {
        let (chain, chainPEM) = try PEMFiles.certificatesAndBytes(configuration.certificateChainPath, what: "certificate")
        let (key, pem) = try PEMFiles.privateKey(configuration.privateKeyPath)
        try PEMFiles.checkKey(pem, matches: chain[0], keyPath: configuration.privateKeyPath, certificatePath: configuration.certificateChainPath)
        let authorities = try configuration.clientCertificateAuthorityPath.map { try PEMFiles.certificatesAndBytes($0, what: "client CA") }
        let subject = (try? Certificate(derEncoded: chain[0].toDERBytes())).map { "\($0.subject)" } ?? "?"
        let material = ServerTLSMaterial(certificateChain: chain, privateKey: key, clientCertificateAuthorities: authorities?.certificates,
                                         certificateChainPEM: chainPEM, privateKeyPEM: Array(pem.utf8),
                                         clientCertificateAuthoritiesPEM: authorities?.bytes,
                                         notValidAfter: Int(chain[0].notValidAfter), subject: subject)
        // BoringSSL's own checks (key/certificate agreement for key types swift-certificates does not read).
        _ = try material.makeContext(applicationProtocols: [], configuration: configuration)
        return material
    }

    func tlsConfiguration(applicationProtocols: [String]) -> TLSConfiguration {
        var tls: TLSConfiguration
        let chain = certificateChain.map { NIOSSLCertificateSource.certificate($0) }
        if let authorities = clientCertificateAuthorities {
            tls = .makeServerConfigurationWithMTLS(certificateChain: chain, privateKey: .privateKey(privateKey),
                                                   trustRoots: .certificates(authorities))
            // Client certificates are required (fail if none is presented), names are not checked.
            tls.certificateVerification = .noHostnameVerification
        } else {
            tls = .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        }
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = applicationProtocols
        return tls
    }

    func makeContext(applicationProtocols: [String], configuration: ServerTLSConfiguration) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: tlsConfiguration(applicationProtocols: applicationProtocols))
        } catch {
            throw TLSConfigurationError(.invalidContext, path: configuration.certificateChainPath, """
                the certificate \(configuration.certificateChainPath) and key \(configuration.privateKeyPath) cannot serve TLS \
                (\(TLSErrorText.describe(error))); check that the key belongs to the certificate
                """)
        }
    }

    /// What a handshake uses when the files were reloaded (the context's callback reads it).
    var configurationOverride: NIOSSLContextConfigurationOverride {
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = certificateChain.map { .certificate($0) }
        override.privateKey = .privateKey(privateKey)
        return override
    }
}
