// GetServerInfo reports the reconciliation limits by the names their refusals carry.

import Testing
import WaybillServer

@Suite("Server info limits")
struct ServerInfoLimitsTests {
    @Test("reconciliation limits are reported with their configured values")
    func reconciliationLimits() async throws {
        try await withServer({
            $0.reconciliation.sessionsMax = 3
            $0.reconciliation.chunkRecordsMax = 1_234
        }) { server in
            let info = try await server.client().serverInfo()
            let limits = Dictionary(info.limits.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            #expect(limits["sessionsMax"] == 3)
            #expect(limits["chunkRecordsMax"] == 1_234)
            for name in ["sessionIdleTimeoutMilliseconds", "stockPositionsPerSessionMax", "erpOnlyRecordsPerSessionMax",
                         "discrepanciesListedMax", "repairsPerWriterJobMax"] {
                #expect(limits[name] != nil, "\(name) is reported")
            }
        }
    }
}
