// How `waybill erp-bridge` reaches Waybill: the server address and the bridge's `erp` credential
// (its token from --token-file or $WAYBILL_TOKEN, never from the command line).

import ArgumentParser
import Foundation
import WaybillClient

struct ErpConnectionOptions: ParsableArguments {
    static let tokenEnvironmentVariable = "WAYBILL_TOKEN"
    /// Largest token file read (a token is 47 bytes).
    static let tokenFileBytesMax = 4_096

    @Option(help: "Server address HOST:PORT (default: $WAYBILL_SERVER, else 127.0.0.1:7400).")
    var server = CallOptions.defaultAddress

    @Option(help: ArgumentHelp("A file (mode 0600) holding the bridge's erp credential token (default: $WAYBILL_TOKEN).", valueName: "file"))
    var tokenFile: String?

    func clientConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClientConfiguration {
        var configuration = ClientConfiguration()
        if let tokenFile {
            configuration.token = try Self.readToken(file: tokenFile)
        } else if let token = environment[Self.tokenEnvironmentVariable]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty {
            configuration.token = token
        }
        return configuration
    }

    /// The token in `path`: a regular file only its owner may read (no group or other bits).
    static func readToken(file path: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw ValidationError("--token-file \(path): cannot read it")
        }
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard permissions & 0o077 == 0 else {
            throw ValidationError("--token-file \(path): mode \(String(permissions, radix: 8)) lets others read it; make it 0600 (chmod 600 \(path))")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("--token-file \(path): cannot read it") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: tokenFileBytesMax + 1)) ?? Data()
        guard data.count <= tokenFileBytesMax, let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("--token-file \(path): not a token (text of at most \(tokenFileBytesMax) bytes)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains(where: { $0.isWhitespace }) else {
            throw ValidationError("--token-file \(path): expected one token on one line")
        }
        return token
    }
}
