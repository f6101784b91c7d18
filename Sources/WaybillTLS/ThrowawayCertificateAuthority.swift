// A certificate authority made on the spot (P-256 keys, swift-certificates; no openssl): for
// embedded servers (demo, bench, sim), tests, and operators trying TLS on one machine. Its key lives
// in memory and in the directory it writes to; it is not for production.

import Crypto
import Foundation
import X509

public struct ThrowawayCertificateAuthority: Sendable {
    /// PEM files of one certificate and its key (key file mode 0600).
    public struct Issued: Sendable, Hashable {
        public let certificatePath: String
        public let privateKeyPath: String

        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    public let name: String
    /// The CA certificate as PEM: what clients trust (`--tls-ca`).
    public let certificatePEM: String
    /// Where `write(to:)` put the CA certificate (nil before).
    public private(set) var certificatePath: String?
    private let certificate: Certificate
    private let privateKey: P256.Signing.PrivateKey
    /// Issued certificates are valid from an hour ago (clock skew) for `validity`.
    public static let defaultValidity: TimeInterval = 30 * 86_400

    public init(name: String = "Waybill throwaway CA", validity: TimeInterval = Self.defaultValidity, now: Date = Date()) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
        }
        let certificate = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                                          notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(validity),
                                          issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                                          extensions: extensions, issuerPrivateKey: .init(key))
        self.name = name
        self.certificate = certificate
        self.privateKey = key
        // A final newline: bundles are made by concatenating files.
        self.certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
    }

    /// Writes the CA certificate to `directory`/`fileName` (readable: it is public).
    @discardableResult
    public mutating func write(to directory: String, fileName: String = "ca.pem") throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(fileName)
        try TLSFiles.write(Array(certificatePEM.utf8), to: path, mode: 0o644)
        certificatePath = path
        return path
    }

    /// A server certificate for `dnsNames` and `ipAddresses` (by default localhost and 127.0.0.1,
    /// ::1), written as `baseName`.pem and `baseName`-key.pem. `validFrom`/`validity` make expired
    /// or not-yet-valid certificates for tests.
    public func issueServerCertificate(in directory: String, baseName: String = "server", commonName: String = "localhost",
                                       dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1", "::1"],
                                       validFrom: Date? = nil, validity: TimeInterval = Self.defaultValidity) throws -> Issued {
        let alternativeNames = try Self.subjectAlternativeNames(dnsNames: dnsNames, ipAddresses: ipAddresses)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth])
            alternativeNames
        }
        return try issue(commonName: commonName, extensions: extensions, in: directory, baseName: baseName, validFrom: validFrom, validity: validity)
    }

    /// A client certificate whose subject common name is `commonName` (mutual TLS maps it to a
    /// credential), written as `baseName`.pem and `baseName`-key.pem.
    public func issueClientCertificate(commonName: String, in directory: String, baseName: String? = nil,
                                       validFrom: Date? = nil, validity: TimeInterval = Self.defaultValidity) throws -> Issued {
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
        }
        let fileName = baseName ?? "client-" + commonName.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }.map(String.init).joined()
        return try issue(commonName: commonName, extensions: extensions, in: directory, baseName: fileName, validFrom: validFrom, validity: validity)
    }

    private func issue(commonName: String, extensions: Certificate.Extensions, in directory: String, baseName: String,
                       validFrom: Date?, validity: TimeInterval) throws -> Issued {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = P256.Signing.PrivateKey()
        let start = validFrom ?? Date().addingTimeInterval(-3_600)
        var allExtensions = extensions
        try allExtensions.append(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: keyIdentifier), critical: false))
        let issued = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                                     notValidBefore: start, notValidAfter: start.addingTimeInterval(validity),
                                     issuer: certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
                                     signatureAlgorithm: .ecdsaWithSHA256, extensions: allExtensions, issuerPrivateKey: .init(privateKey))
        let certificatePath = (directory as NSString).appendingPathComponent(baseName + ".pem")
        let keyPath = (directory as NSString).appendingPathComponent(baseName + "-key.pem")
        // Key first: a watcher that sees the new certificate finds its key already in place.
        try TLSFiles.write(Array((key.pemRepresentation + "\n").utf8), to: keyPath, mode: 0o600)
        try TLSFiles.write(Array((try issued.serializeAsPEM().pemString + "\n").utf8), to: certificatePath, mode: 0o644)
        return Issued(certificatePath: certificatePath, privateKeyPath: keyPath)
    }

    private var keyIdentifier: ArraySlice<UInt8> {
        (try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier) ?? ArraySlice(Insecure.SHA1.hash(data: privateKey.publicKey.x963Representation))
    }

    /// The subjectAltName extension, DER-encoded here (GeneralName's IP form needs SwiftASN1's
    /// types, which this package does not depend on directly): SEQUENCE of [2] dNSName, [7] iPAddress.
    static func subjectAlternativeNames(dnsNames: [String], ipAddresses: [String]) throws -> Certificate.Extension {
        var content: [UInt8] = []
        for name in dnsNames { content += derElement(tag: 0x82, Array(name.utf8)) }
        for address in ipAddresses {
            guard let bytes = addressBytes(address) else {
                throw TLSConfigurationError(.invalidCertificate, path: address, "\(address) is not an IP address")
            }
            content += derElement(tag: 0x87, bytes)
        }
        return Certificate.Extension(oid: .X509ExtensionID.subjectAlternativeName, critical: false,
                                     value: ArraySlice(derElement(tag: 0x30, content)))
    }

    static func derElement(tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var remaining = content.count
            length = []
            while remaining > 0 {
                length.insert(UInt8(remaining & 0xFF), at: 0)
                remaining >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }

    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
