// `waybill serve`'s credential options: a declarative credentials file, and the first start's
// admin token file (docs/SECURITY.md, "Credentials").

import ArgumentParser
import Foundation
import WaybillApplication
import WaybillServer

struct ServeCredentialOptions: ParsableArguments {
    /// Largest credentials file read (10,000 credentials of a few hundred bytes each).
    static let credentialsFileBytesMax = 16 << 20

    @Option(help: ArgumentHelp("""
        A JSON array of credentials [{"name", "role", "channels", "locations", "token"}] installed at start by name \
        (added, or replaced when the token, role or scopes differ). The file must be mode 0600.
        """, valueName: "file"))
    var credentialsFile: String?

    /// The credentials the file names, and where a first start writes the admin token.
    func apply(to configuration: inout ServerConfiguration) throws {
        configuration.firstStartAdminTokenPath = configuration.databasePath + ".admin-token"
        if let credentialsFile { configuration.credentials = try Self.read(credentialsFile) }
    }

    /// One entry of the file: the scopes may be left out.
    private struct Entry: Decodable {
        var name: String
        var role: Role
        var channels: [String]?
        var locations: [String]?
        var token: String
    }

    static func read(_ path: String) throws -> [CredentialSeed] {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw ValidationError("--credentials-file \(path): cannot read it")
        }
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard permissions & 0o077 == 0 else {
            throw ValidationError("--credentials-file \(path): mode \(String(permissions, radix: 8)) lets others read its tokens; make it 0600 (chmod 600 \(path))")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--credentials-file \(path): cannot read it") }
        guard data.count <= credentialsFileBytesMax else {
            throw ValidationError("--credentials-file \(path): larger than \(credentialsFileBytesMax) bytes")
        }
        do {
            return try JSONDecoder().decode([Entry].self, from: data).map {
                CredentialSeed(name: $0.name, role: $0.role, channels: $0.channels ?? [], locations: $0.locations ?? [], token: $0.token)
            }
        } catch let error as DecodingError {
            // Name the place, never the content: the file holds tokens.
            throw ValidationError("--credentials-file \(path): not a JSON array of {name, role, channels, locations, token}: \(Self.place(of: error))")
        }
    }

    private static func place(of error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : text
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "it does not parse as JSON" : "\(path(context)) is not valid (a role is channel, fulfillment, erp or admin)"
        @unknown default: return "it does not parse"
        }
    }
}
