// Credentials in SQLite: every field survives a round trip, no token ever reaches the file, the
// rules hold (names, scopes, limits, rotation, revocation), seeds replace by name, and the version
// moves with every change and only then.

import Foundation
import GRDB
import Testing
import WaybillApplication
import WaybillCore
import WaybillStore

@Suite("Credential store")
struct CredentialStoreTests {
    let directory: TemporaryDirectory
    let database: WaybillDatabase
    let start = Timestamp(millisecondsSinceEpoch: 1_750_000_000_000)

    init() throws {
        directory = try TemporaryDirectory("credentials")
        database = try WaybillDatabase(path: directory.path("waybill.sqlite"))
    }

    @discardableResult
    func apply(_ change: CredentialChange, at now: Timestamp? = nil, limits: CredentialLimits = CredentialLimits(),
               actor: String = "tester") throws -> CredentialChangeResult {
        try database.applyCredentialChange(change, actor: actor, now: now ?? start, limits: limits)
    }

    func create(_ name: String, role: Role = .admin, channels: [String] = [], locations: [String] = [],
                token: String = AccessToken.generate(), limits: CredentialLimits = CredentialLimits()) throws -> CredentialChangeResult {
        try apply(.create(CredentialRequest(name: name, role: role, channels: channels, locations: locations), tokenHash: AccessToken.hash(token)),
                  limits: limits)
    }

    func expectRefusal(_ code: DomainError.Code, field: String? = nil, _ comment: Comment? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(code.rawValue), got success \(comment.map { "— \($0)" } ?? "")", sourceLocation: sourceLocation)
        } catch let error as DomainError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            if let field { #expect(error.field == field, "field of \(error)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected a DomainError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("every field round-trips, and neither the table nor the database file holds any byte sequence of a token")
    func roundTripWithoutTokens() throws {
        let token = AccessToken.generate()
        var request = CredentialRequest(name: "store-0042.wms", role: .fulfillment, locations: ["STORE-0042", "DC-NEWARK"],
                                        expiresInSeconds: 90 * 86_400, certificateSubject: "wms.store-0042.example")
        request.channels = []
        let created = try apply(.create(request, tokenHash: AccessToken.hash(token)), actor: "ops-admin")
        let rotatedToken = AccessToken.generate()
        try apply(.rotate(name: "store-0042.wms", tokenHash: AccessToken.hash(rotatedToken), graceSeconds: 3_600), at: start.adding(milliseconds: 1_000))

        let stored = try #require(try database.credentialSnapshot().credentials.first)
        let record = stored.record
        #expect(record.id == created.credential?.record.id)
        #expect(record.id.hasPrefix("cred-"))
        #expect(record.name == "store-0042.wms")
        #expect(record.role == .fulfillment)
        #expect(record.locations == ["DC-NEWARK", "STORE-0042"], "scopes are kept sorted")
        #expect(record.channels.isEmpty)
        #expect(record.tokenHash == AccessToken.hash(rotatedToken))
        #expect(record.previousTokenHash == AccessToken.hash(token))
        #expect(record.previousTokenExpiresAt == start.adding(milliseconds: 1_000 + 3_600_000))
        #expect(record.expiresAt == start.adding(milliseconds: 90 * 86_400_000))
        #expect(record.createdAt == start)
        #expect(record.revokedAt == nil)
        #expect(record.certificateSubject == "wms.store-0042.example")
        #expect(stored.createdBy == "ops-admin")
        #expect(stored.rotatedAt == start.adding(milliseconds: 1_000))

        // The raw table: every column of every row, as bytes.
        let rawCells: [Data] = try database.rawCredentialCells()
        #expect(!rawCells.isEmpty)
        for secret in [token, rotatedToken] {
            let bytes = Data(secret.utf8)
            let body = Data(secret.dropFirst(AccessToken.prefix.count).utf8)
            for cell in rawCells {
                #expect(cell.range(of: bytes) == nil && cell.range(of: body) == nil, "a token's bytes are in the credentials table")
            }
        }
        #expect(rawCells.contains { $0 == Data(AccessToken.hash(token).bytes) }, "the hash is what is stored")
        // And nowhere in the file or its WAL.
        for suffix in ["", "-wal"] {
            guard let file = FileManager.default.contents(atPath: directory.path("waybill.sqlite") + suffix) else { continue }
            for secret in [token, rotatedToken] {
                #expect(file.range(of: Data(secret.dropFirst(AccessToken.prefix.count).utf8)) == nil, "a token is in waybill.sqlite\(suffix)")
            }
        }
    }

    @Test("names are 1-64 of [A-Za-z0-9._-], unique forever (revoked ones too)")
    func names() throws {
        for bad in ["", "has space", "semi;colon", "ünïcode", String(repeating: "a", count: 65)] {
            expectRefusal(.invalidArgument, field: "name", "name \(bad)") { _ = try create(bad) }
        }
        _ = try create(String(repeating: "a", count: 64))
        _ = try create("web-storefront")
        expectRefusal(.alreadyExists, field: "name") { _ = try create("web-storefront") }
        try apply(.revoke(name: "web-storefront"))
        expectRefusal(.alreadyExists, field: "name", "a revoked name stays taken") { _ = try create("web-storefront") }
    }

    @Test("scopes fit the role: channel needs channels (known ones), fulfillment needs locations, erp and admin none")
    func scopes() throws {
        expectRefusal(.invalidArgument, field: "channels") { _ = try create("c1", role: .channel) }
        expectRefusal(.invalidArgument, field: "channels[1]") { _ = try create("c2", role: .channel, channels: ["web", "wbe"]) }
        expectRefusal(.invalidArgument, field: "locations") { _ = try create("c3", role: .channel, channels: ["web"], locations: ["DC"]) }
        expectRefusal(.invalidArgument, field: "locations") { _ = try create("f1", role: .fulfillment) }
        expectRefusal(.invalidArgument, field: "channels") { _ = try create("f2", role: .fulfillment, channels: ["web"], locations: ["DC"]) }
        expectRefusal(.invalidArgument, field: "channels") { _ = try create("e1", role: .erp, channels: ["web"]) }
        expectRefusal(.invalidArgument, field: "locations") { _ = try create("a1", role: .admin, locations: ["DC"]) }

        let channel = try create("app", role: .channel, channels: ["CHANNEL_MOBILE_APP", "click-and-collect", "web", "web"])
        #expect(channel.credential?.record.channels == ["click_and_collect", "mobile_app", "web"], "canonical, deduplicated, sorted")
        let fulfillment = try create("store-9", role: .fulfillment, locations: ["STORE-9"])
        #expect(fulfillment.locationsNotInNetwork == ["STORE-9"], "accepted, and reported as not in the network yet")

        var limits = CredentialLimits()
        limits.scopesPerCredentialMax = 3
        expectRefusal(.invalidArgument) { _ = try create("wide", role: .fulfillment, locations: ["A", "B", "C", "D"], limits: limits) }
        _ = try create("three", role: .fulfillment, locations: ["A", "B", "C"], limits: limits)
    }

    @Test("credentialsMax counts every stored credential, revoked ones included: RESOURCE_EXHAUSTED, nothing written")
    func credentialsMax() throws {
        var limits = CredentialLimits()
        limits.credentialsMax = 2
        _ = try create("one", limits: limits)
        _ = try create("two", limits: limits)
        try apply(.revoke(name: "two"))
        do {
            _ = try create("three", limits: limits)
            Issue.record("a third credential over credentialsMax 2 was stored")
        } catch let error as DomainError {
            #expect(error.code == .resourceExhausted)
            #expect(error.limitName == "credentialsMax")
            #expect(error.limitValue == 2)
        }
        #expect(try database.credentialSnapshot().credentials.map(\.record.name) == ["one", "two"])
    }

    @Test("revoke is idempotent and bumps the version once; unknown names are NOT_FOUND")
    func revoke() throws {
        _ = try create("erp-bridge", role: .erp)
        let before = try database.credentialsVersion()
        let first = try apply(.revoke(name: "erp-bridge"), at: start.adding(milliseconds: 5), actor: "ops")
        #expect(!first.alreadyRevoked)
        #expect(first.credential?.record.revokedAt == start.adding(milliseconds: 5))
        #expect(first.credential?.revokedBy == "ops")
        #expect(try database.credentialsVersion() == before + 1)
        let second = try apply(.revoke(name: "erp-bridge"), at: start.adding(milliseconds: 9), actor: "someone else")
        #expect(second.alreadyRevoked)
        #expect(second.credential?.record.revokedAt == start.adding(milliseconds: 5), "the first revocation stands")
        #expect(second.credential?.revokedBy == "ops")
        #expect(try database.credentialsVersion() == before + 1, "nothing changed, the version did not move")
        expectRefusal(.notFound, field: "name") { try apply(.revoke(name: "nobody")) }
    }

    @Test("rotation: grace default, 0 ends the old token now, above the maximum refused, revoked or expired refused")
    func rotation() throws {
        let limits = CredentialLimits()
        let old = AccessToken.generate()
        _ = try create("ops", token: old)
        let new = AccessToken.generate()
        let rotated = try apply(.rotate(name: "ops", tokenHash: AccessToken.hash(new), graceSeconds: nil))
        let record = try #require(rotated.credential?.record)
        #expect(record.previousTokenExpiresAt == start.adding(milliseconds: limits.credentialRotationGraceSecondsDefault * 1_000))

        let directory = CredentialDirectory()
        directory.replaceAll(rotated.snapshot.records, version: rotated.snapshot.version)
        let graceEnd = start.adding(milliseconds: limits.credentialRotationGraceSecondsDefault * 1_000)
        #expect(throws: Never.self) { try directory.authenticate(tokenHash: AccessToken.hash(old), now: graceEnd.adding(milliseconds: -1)).get() }
        #expect(directory.authenticate(tokenHash: AccessToken.hash(old), now: graceEnd) == .failure(.expired))
        #expect((try? directory.authenticate(tokenHash: AccessToken.hash(new), now: graceEnd).get())?.name == "ops")

        let third = AccessToken.generate()
        let now = try apply(.rotate(name: "ops", tokenHash: AccessToken.hash(third), graceSeconds: 0))
        #expect(now.credential?.record.previousTokenHash == nil, "grace 0: the previous token stops at once")

        expectRefusal(.invalidArgument, field: "grace_seconds") {
            try apply(.rotate(name: "ops", tokenHash: AccessToken.hash(AccessToken.generate()), graceSeconds: limits.credentialRotationGraceSecondsMax + 1))
        }
        expectRefusal(.invalidArgument, field: "grace_seconds") {
            try apply(.rotate(name: "ops", tokenHash: AccessToken.hash(AccessToken.generate()), graceSeconds: -1))
        }
        try apply(.revoke(name: "ops"))
        expectRefusal(.failedPrecondition) { try apply(.rotate(name: "ops", tokenHash: AccessToken.hash(AccessToken.generate()), graceSeconds: nil)) }

        _ = try apply(.create(CredentialRequest(name: "temp", role: .erp, expiresInSeconds: 60), tokenHash: AccessToken.hash(AccessToken.generate())))
        expectRefusal(.failedPrecondition, "expired") {
            try apply(.rotate(name: "temp", tokenHash: AccessToken.hash(AccessToken.generate()), graceSeconds: nil), at: start.adding(milliseconds: 60_000))
        }
    }

    @Test("seeds install by name: added, unchanged, replaced on a new token or scope; a revoked token stays revoked, a new one revives the name")
    func seeds() throws {
        let web = AccessToken.generate(), erp = AccessToken.generate()
        let first = try apply(.install([CredentialSeed(name: "web", role: .channel, channels: ["web"], token: web),
                                        CredentialSeed(name: "erp", role: .erp, token: erp)]))
        #expect(first.seeds.map(\.outcome) == [.added, .added])
        let version = try database.credentialsVersion()

        let again = try apply(.install([CredentialSeed(name: "web", role: .channel, channels: ["web"], token: web),
                                        CredentialSeed(name: "erp", role: .erp, token: erp)]))
        #expect(again.seeds.map(\.outcome) == [.unchanged, .unchanged])
        #expect(try database.credentialsVersion() == version, "an identical restart writes nothing")

        let newWeb = AccessToken.generate()
        let replaced = try apply(.install([CredentialSeed(name: "web", role: .channel, channels: ["web", "mobile_app"], token: newWeb)]))
        #expect(replaced.seeds.map(\.outcome) == [.replaced])
        let directory = CredentialDirectory()
        directory.replaceAll(replaced.snapshot.records, version: replaced.snapshot.version)
        #expect(directory.authenticate(tokenHash: AccessToken.hash(web), now: start) == .failure(.unknown), "the seed's token replaced the old one")
        #expect((try? directory.authenticate(tokenHash: AccessToken.hash(newWeb), now: start).get())?.channels == ["web", "mobile_app"])
        #expect(replaced.snapshot.credentials.first { $0.record.name == "web" }?.record.id == first.snapshot.credentials.first { $0.record.name == "web" }?.record.id,
                "replaced in place: same id")

        try apply(.revoke(name: "erp"))
        let revoked = try apply(.install([CredentialSeed(name: "erp", role: .erp, token: erp)]))
        #expect(revoked.seeds.map(\.outcome) == [.stillRevoked])
        #expect(revoked.snapshot.credentials.first { $0.record.name == "erp" }?.record.revokedAt != nil)
        let newErp = AccessToken.generate()
        let revived = try apply(.install([CredentialSeed(name: "erp", role: .erp, token: newErp)]))
        #expect(revived.seeds.map(\.outcome) == [.replaced])
        #expect(revived.snapshot.credentials.first { $0.record.name == "erp" }?.record.revokedAt == nil)

        expectRefusal(.invalidArgument, field: "credentials[0].token", "a short token") {
            try apply(.install([CredentialSeed(name: "weak", role: .admin, token: "password")]))
        }
        expectRefusal(.invalidArgument, field: "credentials[1].name") {
            try apply(.install([CredentialSeed(name: "twice", role: .admin, token: AccessToken.generate()),
                                CredentialSeed(name: "twice", role: .admin, token: AccessToken.generate())]))
        }
        expectRefusal(.invalidArgument, field: "credentials[0].token", "another credential's token") {
            try apply(.install([CredentialSeed(name: "copy", role: .admin, token: newErp)]))
        }
        expectRefusal(.invalidArgument, field: "credentials[0].channels") {
            try apply(.install([CredentialSeed(name: "pos", role: .channel, token: AccessToken.generate())]))
        }
        #expect(try database.credentialSnapshot().credentials.map(\.record.name) == ["erp", "web"], "a refused install writes nothing")
    }

    @Test("the writer applies credential changes in its batch, durable when the job answers")
    func throughTheWriter() async throws {
        let clock = ManualClock()
        let writer = try StoreWriter(database: database, clock: clock.closure, logger: quietLogger)
        defer { writer.stop() }
        let token = AccessToken.generate()
        let result = try await writer.run { context in
            try context.applyCredentialChange(.create(CredentialRequest(name: "pos", role: .channel, channels: ["store_pos"]),
                                                      tokenHash: AccessToken.hash(token)), actor: "admin", limits: CredentialLimits())
        }
        #expect(result.snapshot.version == 1)
        let reopened = try WaybillDatabase(path: directory.path("waybill.sqlite"))
        #expect(try reopened.credentialSnapshot().credentials.map(\.record.name) == ["pos"])
        await #expect(throws: DomainError.self) {
            try await writer.run { context in
                try context.applyCredentialChange(.create(CredentialRequest(name: "pos", role: .admin), tokenHash: AccessToken.hash(token)),
                                                  actor: "admin", limits: CredentialLimits())
            }
        }
    }

    @Test("a directory keeps the newest version it was given: a slow poll cannot undo a later write")
    func directoryVersions() throws {
        let token = AccessToken.generate()
        let created = try create("ops", token: token)
        let revoked = try apply(.revoke(name: "ops"))
        let directory = CredentialDirectory()
        #expect(directory.replaceAll(revoked.snapshot.records, version: revoked.snapshot.version))
        #expect(!directory.replaceAll(created.snapshot.records, version: created.snapshot.version), "older snapshot refused")
        #expect(directory.authenticate(tokenHash: AccessToken.hash(token), now: start) == .failure(.revoked))
    }

    @Test("isActive: a long-lived call's credential is active until revoked or expired, and an unknown id never is")
    func activeForStreams() throws {
        let created = try apply(.create(CredentialRequest(name: "feed-reader", role: .erp, expiresInSeconds: 60), tokenHash: AccessToken.hash(AccessToken.generate())))
        let id = try #require(created.credential?.record.id)
        let directory = CredentialDirectory()
        directory.replaceAll(created.snapshot.records, version: created.snapshot.version)
        #expect(directory.isActive(credentialID: id, now: start))
        #expect(!directory.isActive(credentialID: id, now: start.adding(milliseconds: 60_000)), "expired")
        #expect(!directory.isActive(credentialID: "cred-unknown", now: start))
        let revoked = try apply(.revoke(name: "feed-reader"))
        directory.replaceAll(revoked.snapshot.records, version: revoked.snapshot.version)
        #expect(!directory.isActive(credentialID: id, now: start), "revoked")
    }
}

extension WaybillDatabase {
    /// Every cell of the credentials table as raw bytes (text as UTF-8).
    func rawCredentialCells() throws -> [Data] {
        let path = self.path
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in
            var cells: [Data] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM credentials") {
                for (_, value) in row {
                    switch value.storage {
                    case .blob(let data): cells.append(data)
                    case .string(let text): cells.append(Data(text.utf8))
                    case .int64(let number): cells.append(Data(String(number).utf8))
                    case .double(let number): cells.append(Data(String(number).utf8))
                    case .null: break
                    }
                }
            }
            return cells
        }
    }
}
