// GetServerInfo reports the operator's settings (retention, pruning, admin listener, backup pacing,
// storage-failure and shutdown answers, the drain bound) under the names their flags and errors use.

import Testing
import WaybillServer
import WaybillStore

@Suite("Server info operator settings")
struct ServerInfoOperatorSettingsTests {
    @Test("each operator setting is reported once, with the value the server was configured with")
    func configuredValuesAreReported() async throws {
        try await withServer({
            $0.pruneCheckpointRowsMax = 777
            $0.adminConnectionsMax = 5
            $0.adminIdleTimeoutMilliseconds = 4_321
            $0.drainTimeoutMilliseconds = 2_500
            $0.shutdownRetryAfterMilliseconds = 1_500
            $0.feedRetentionMilliseconds = 3_600_000
            $0.pruneIntervalMilliseconds = 90_000
            $0.writer.admission.writeQueueDelayTargetMilliseconds = 7
            $0.writer.admission.writeQueueDelayIntervalMilliseconds = 123
        }) { server in
            let info = try await server.client().serverInfo()
            let names = info.limits.map(\.name)
            #expect(names.count == Set(names).count, "no name is reported twice: \(names)")
            let limits = Dictionary(info.limits.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            #expect(limits["pruneCheckpointRowsMax"] == 777)
            #expect(limits["adminConnectionsMax"] == 5)
            #expect(limits["adminIdleTimeoutMilliseconds"] == 4_321)
            #expect(limits["drainTimeoutMilliseconds"] == 2_500)
            #expect(limits["shutdownRetryAfterMilliseconds"] == 1_500)
            #expect(limits["feedRetentionMilliseconds"] == 3_600_000)
            #expect(limits["pruneIntervalMilliseconds"] == 90_000)
            #expect(limits["writeQueueDelayTargetMilliseconds"] == 7)
            #expect(limits["writeQueueDelayIntervalMilliseconds"] == 123)
            // Not server settings but the defaults operators pace backups and retries by.
            #expect(limits["backupPagesPerStep"] == Int64(BackupLimits().backupPagesPerStep))
            #expect(limits["backupPauseMilliseconds"] == Int64(BackupLimits().backupPauseMilliseconds))
            #expect(limits["storageFailureRetryAfterMilliseconds"] == 1_000)
            for limit in info.limits { #expect(!limit.description_p.isEmpty, "\(limit.name) is described") }
        }
    }
}
