// Bridge status reports name their consumer in free text: the exported gauges stop growing at
// ServerMetrics.bridgeConsumerLabelsMax consumers.

import Testing
import WaybillProto
@testable import WaybillServer

@Suite("Bridge metric labels")
struct BridgeMetricLabelTests {
    @Test("reports from 1,000 consumer names export gauges for at most bridgeConsumerLabelsMax of them; known ones keep updating")
    func bounded() {
        let metrics = ServerMetrics()
        for index in 0..<1_000 {
            var status = Waybill_V1_BridgeStatus()
            status.consumer = "consumer-\(index)"
            metrics.bridgeReported(status)
        }
        #expect(metrics.bridgeConsumersExported == ServerMetrics.bridgeConsumerLabelsMax)
        var known = Waybill_V1_BridgeStatus()
        known.consumer = "consumer-0"
        metrics.bridgeReported(known)
        #expect(metrics.bridgeConsumersExported == ServerMetrics.bridgeConsumerLabelsMax)
    }
}
