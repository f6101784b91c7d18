// Inputs that crashed an entry point (fuzz/regressions/TARGET), each fed through the same entry
// point: now a clean refusal or a clean answer. docs/RELIABILITY.md lists them.

import Foundation
import Testing
import WaybillCore
import WaybillProto
import WaybillServer
import WaybillWire

@Suite struct FuzzRegressionTests {
    static func input(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fuzzRepositoryRoot.appendingPathComponent("fuzz/regressions/" + path)))
    }

    /// Two lines of one SKU whose quantities sum past Int32 trapped in ErpExtract(proto:), the
    /// mapping of every extract (`waybill reconcile`, Reconcile, AddExtractChunk): a server crash.
    @Test func extractLineQuantitiesSummingPastInt32AreRefused() throws {
        let bytes = try Self.input("erp-extract/order-line-quantities-sum-past-int32.json")
        #expect(try FuzzEntryPoints.erpExtract(bytes) == 0)
        let proto = try ProtoJSONInput.decode(Data(bytes), as: Waybill_V1_ErpExtract.self, source: "extract.json")
        #expect {
            _ = try ErpExtract(proto: proto)
        } throws: { error in
            (error as? DomainError)?.field == "extract.orders[0].lines[1].quantity"
        }
    }

    /// A `\u` high surrogate followed by a `\u` escape that is not a low surrogate trapped (UInt32
    /// underflow combining the "pair") in ProtoJSONInput: every JSON file Waybill reads (policies,
    /// scenarios, extracts, `waybill call` bodies) could crash its reader. Found by the `policy`
    /// fuzz target; the minimised input is below. Now the lone surrogate is read as such and the
    /// next escape on its own: the file is refused with a clear error, a real pair still decodes.
    @Test func highSurrogateBeforeAnotherEscapeIsRefusedNotTrapped() throws {
        _ = try? FuzzEntryPoints.policy(Array(#""\ud800\u800e"#.utf8))
        #expect(throws: (any Error).self) {
            try ProtoJSONInput.decode(Data(#"{"sku": "A\ud800\u00e9B"}"#.utf8), as: Waybill_V1_Item.self, source: "item.json")
        }
        let item = try ProtoJSONInput.decode(Data(#"{"sku": "A\u00e9B\ud83d\ude00"}"#.utf8), as: Waybill_V1_Item.self, source: "item.json")
        #expect(item.sku == "A\u{E9}B\u{1F600}")
    }

    /// An ERP count of Int64.min against a positive Waybill on hand trapped computing the
    /// difference shown in the discrepancy.
    @Test func stockCountFarFromWaybillIsReportedNotTrapped() throws {
        let bytes = try Self.input("erp-extract/stock-difference-past-int64.json")
        let proto = try ProtoJSONInput.decode(Data(bytes), as: Waybill_V1_ErpExtract.self, source: "extract.json")
        let key = InventoryKey(sku: SKU("TSHIRT-BLK-M"), locationID: LocationID("DC-NEWARK"))
        let discrepancies = Reconciler.compare(orders: [], onHand: [key: 40], extract: try ErpExtract(proto: proto))
        #expect(discrepancies.count == 1)
        #expect(discrepancies.first?.detail.contains("difference -9223372036854775848") == true)
        #expect(try FuzzEntryPoints.erpExtract(bytes) == 1)
    }

    /// The same two inputs as Reconcile calls to a live server: INVALID_ARGUMENT naming the line,
    /// and a report; the server keeps answering.
    @Test func reconcileCallsWithThoseExtractsAreAnswered() async throws {
        let directory = try temporaryDirectory("fuzz-regressions")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await RequestFuzzServer.start(directory: directory, repositoryRoot: fuzzRepositoryRoot.path)
        let (method, overflowing) = server.send(try Self.input("request/reconcile-order-line-quantities-sum-past-int32"))
        #expect(method == Method.ErpService.reconcile)
        do {
            _ = try await overflowing.get()
            Issue.record("an extract whose line quantities sum past Int32 was accepted")
        } catch let error as WaybillStatusError {
            #expect(error.code == .invalidArgument)
            #expect(error.details.field == "extract.orders[0].lines[1].quantity")
        }
        let report = try Waybill_V1_ReconcileReport(serializedBytes: try await server.send(try Self.input("request/reconcile-stock-difference-past-int64")).answer.get())
        #expect(report.discrepancies.contains { $0.detail.contains("-9223372036854775808 in the ERP") })
        let info = try await server.send(FuzzEntryPoints.requestInput(Method.SystemService.getServerInfo, [])).answer.get()
        #expect(!info.isEmpty)
        await server.stop()
    }
}
