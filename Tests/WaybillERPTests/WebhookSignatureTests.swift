// The webhook signature and its secrets, against vectors computed independently (Python's hmac
// module: hmac.new(secret, b"1795700400." + body, hashlib.sha256).hexdigest()).

import Foundation
import Testing
import WaybillERP

@Suite("Webhook signatures")
struct WebhookSignatureTests {
    static let body = Data(#"{"eventId":"evt-1","offset":1}"#.utf8)
    static let timestamp: Int64 = 1_795_700_400
    static let firstSignature = "5ae226028dd5d994c48702bfd302d5f2b1ae95e412c374fda6e74e798e01da4b"
    static let secondSignature = "0eb6773c72663bb9b536c3f3fa9edb01090076143a5ae8926dd7c86951851df4"

    @Test("the header is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>, one v1 per secret")
    func headerMatchesIndependentVectors() throws {
        #expect(WebhookSignature.header(timestamp: Self.timestamp, body: Self.body, secrets: TestSecrets.current)
                == "t=1795700400,v1=\(Self.firstSignature)")
        let rotating = try WebhookSecrets([TestSecrets.first, TestSecrets.second])
        #expect(WebhookSignature.header(timestamp: Self.timestamp, body: Self.body, secrets: rotating)
                == "t=1795700400,v1=\(Self.firstSignature),v1=\(Self.secondSignature)")
    }

    @Test("verifies with the secret, fails with another, and fails when the body or the timestamp changes")
    func verification() throws {
        let header = "t=1795700400,v1=\(Self.firstSignature)"
        let first = TestSecrets.current
        let second = try WebhookSecrets([TestSecrets.second])
        try WebhookSignature.verify(header: header, body: Self.body, secrets: first, now: Self.timestamp)
        #expect(throws: WebhookSignatureError.noMatchingSignature) {
            try WebhookSignature.verify(header: header, body: Self.body, secrets: second, now: Self.timestamp)
        }
        var changed = Self.body
        changed[changed.count - 2] = UInt8(ascii: "2")  // "offset":2
        #expect(throws: WebhookSignatureError.noMatchingSignature) {
            try WebhookSignature.verify(header: header, body: changed, secrets: first, now: Self.timestamp)
        }
        #expect(throws: WebhookSignatureError.noMatchingSignature) {
            try WebhookSignature.verify(header: "t=1795700401,v1=\(Self.firstSignature)", body: Self.body, secrets: first, now: Self.timestamp)
        }
        #expect(throws: WebhookSignatureError.noSignature) {
            try WebhookSignature.verify(header: "t=1795700400", body: Self.body, secrets: first, now: Self.timestamp)
        }
        #expect(throws: WebhookSignatureError.malformedHeader("no t=")) {
            try WebhookSignature.verify(header: "v1=\(Self.firstSignature)", body: Self.body, secrets: first, now: Self.timestamp)
        }
        #expect(throws: WebhookSignatureError.malformedHeader("t must be one integer")) {
            try WebhookSignature.verify(header: "t=1795700400,t=1795700400,v1=\(Self.firstSignature)", body: Self.body, secrets: first, now: Self.timestamp)
        }
    }

    @Test("a timestamp more than the tolerance from now is refused, either way (replay of an old capture)")
    func tolerance() throws {
        let header = "t=1795700400,v1=\(Self.firstSignature)"
        let tolerance = WebhookSignature.toleranceSecondsDefault
        #expect(tolerance == 300)
        try WebhookSignature.verify(header: header, body: Self.body, secrets: TestSecrets.current, now: Self.timestamp + tolerance)
        try WebhookSignature.verify(header: header, body: Self.body, secrets: TestSecrets.current, now: Self.timestamp - tolerance)
        #expect(throws: WebhookSignatureError.timestampOutsideTolerance(ageSeconds: tolerance + 1)) {
            try WebhookSignature.verify(header: header, body: Self.body, secrets: TestSecrets.current, now: Self.timestamp + tolerance + 1)
        }
        #expect(throws: WebhookSignatureError.timestampOutsideTolerance(ageSeconds: -tolerance - 1)) {
            try WebhookSignature.verify(header: header, body: Self.body, secrets: TestSecrets.current, now: Self.timestamp - tolerance - 1)
        }
        #expect(throws: WebhookSignatureError.malformedHeader("longer than \(WebhookSignature.headerBytesMax) bytes")) {
            try WebhookSignature.verify(header: header + String(repeating: ",v1=00", count: 200), body: Self.body, secrets: TestSecrets.current,
                                        now: Self.timestamp)
        }
    }

    @Test("rotation: a header signed with two secrets verifies with either alone; unknown schemes are ignored")
    func rotation() throws {
        let header = "t=1795700400,v0=deadbeef,v1=\(Self.firstSignature),v1=\(Self.secondSignature)"
        try WebhookSignature.verify(header: header, body: Self.body, secrets: try WebhookSecrets([TestSecrets.first]), now: Self.timestamp)
        try WebhookSignature.verify(header: header, body: Self.body, secrets: try WebhookSecrets([TestSecrets.second]), now: Self.timestamp)
        // A receiver holding both (mid-rotation) accepts a bridge still signing with only the old one.
        try WebhookSignature.verify(header: "t=1795700400,v1=\(Self.secondSignature)", body: Self.body,
                                    secrets: try WebhookSecrets([TestSecrets.first, TestSecrets.second]), now: Self.timestamp)
        #expect(throws: WebhookSignatureError.noMatchingSignature) {
            try WebhookSignature.verify(header: header, body: Self.body, secrets: try WebhookSecrets(["whsec_another_secret_of_the_right_length_x"]),
                                        now: Self.timestamp)
        }
    }

    @Test("secrets: one or two, 32 to 512 printable bytes, distinct; never printed")
    func secretRules() throws {
        #expect(throws: WebhookSecretError.invalid("webhook secret 1 must be 32...512 bytes, got 5")) { try WebhookSecrets(["short"]) }
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets([]) }
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets([TestSecrets.first, TestSecrets.second, TestSecrets.first + "x"]) }
        #expect(throws: WebhookSecretError.invalid("the two webhook secrets are the same")) { try WebhookSecrets([TestSecrets.first, TestSecrets.first]) }
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets(["whsec_with a space_0123456789abcdefghijk"]) }
        let secrets = try WebhookSecrets(text: "\(TestSecrets.first)\n\(TestSecrets.second)\n")
        #expect(secrets.count == 2)
        var dumped = ""
        dump(secrets, to: &dumped)
        for rendering in ["\(secrets)", String(reflecting: secrets), dumped] {
            #expect(!rendering.contains(TestSecrets.first) && !rendering.contains(TestSecrets.second), "\(rendering)")
        }
        let generated = WebhookSecrets.generate()
        #expect(generated.hasPrefix("whsec_") && generated.utf8.count == 49)
        #expect(try WebhookSecrets([generated]).count == 1)
    }

    @Test("a secret file others may read (0644) is refused; 0600 and 0400 are read; the environment variable")
    func secretFiles() throws {
        let directory = try temporaryDirectory("webhook-secret-files")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let open = try TestSecrets.file(in: directory, mode: 0o644)
        #expect(throws: WebhookSecretError.file(open, "mode 644 lets others read or change it; make it 0600 (chmod 600 \(open))")) {
            try WebhookSecrets.load(file: open)
        }
        let groupWritable = try TestSecrets.file(in: directory, mode: 0o620)
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets.load(file: groupWritable) }
        #expect(try WebhookSecrets.load(file: try TestSecrets.file(in: directory, mode: 0o600)).count == 1)
        #expect(try WebhookSecrets.load(file: try TestSecrets.file(in: directory, [TestSecrets.first, TestSecrets.second], mode: 0o400)).count == 2)
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets.load(file: directory) }
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets.load(file: directory + "/missing") }
        do {
            _ = try WebhookSecrets.load(file: try TestSecrets.file(in: directory, ["short"]))
            Issue.record("a short secret was accepted")
        } catch {
            #expect(!"\(error)".contains("short"), "the error must not quote the secret: \(error)")
        }

        #expect(try WebhookSecrets.fromEnvironment([:]) == nil)
        #expect(try WebhookSecrets.fromEnvironment(["WAYBILL_WEBHOOK_SECRET": "\(TestSecrets.first) \(TestSecrets.second)"])?.count == 2)
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets.fromEnvironment(["WAYBILL_WEBHOOK_SECRET": "short"]) }

        let written = directory + "/new.secret"
        try WebhookSecrets.writeNew(to: written)
        let attributes = try FileManager.default.attributesOfItem(atPath: written)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try WebhookSecrets.load(file: written).count == 1)
        #expect(throws: WebhookSecretError.self) { try WebhookSecrets.writeNew(to: written) }  // never overwritten
    }

    @Test("a webhook bridge needs a secret or an explicit --unsigned-webhooks; plaintext and credentials in URLs are refused")
    func configurationRules() throws {
        var configuration = BridgeConfiguration(server: "127.0.0.1:1", consumer: "erp", target: .webhook(url: "https://erp.example/waybill"),
                                                stateDirectory: "/tmp/x")
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.unsignedWebhooks = true
        try configuration.validate()
        #expect(configuration.signingDescription == "unsigned (--unsigned-webhooks)")
        configuration.webhookSecrets = TestSecrets.current
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.unsignedWebhooks = false
        try configuration.validate()
        #expect(configuration.signingDescription == "HMAC-SHA256 with 1 secret")

        configuration.target = .webhook(url: "http://erp.example/waybill")
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.plaintextWebhook = true
        try configuration.validate()
        configuration.plaintextWebhook = false
        for loopback in ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:8080/x"] {
            configuration.target = .webhook(url: loopback)
            try configuration.validate()
        }
        configuration.target = .webhook(url: "https://user:pass@erp.example/waybill")
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }
        configuration.target = .webhook(url: "https://erp.example/waybill?code=ACCESS-KEY")
        try configuration.validate()
        #expect(configuration.targetDescription == "webhook https://erp.example/waybill?(query redacted)")
        configuration.target = .files(directory: "/tmp/drop", format: .jsonl)
        #expect(throws: BridgeConfigurationError.self) { try configuration.validate() }  // a secret for a file drop is a mistake
    }
}
