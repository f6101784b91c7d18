// What the ERP receives: shipment messages carry the carrier and tracking number of that
// fulfillment; the CSV file drop keeps stock changes and item descriptions (RFC 4180 quoting).

import Foundation
import Testing
import WaybillClient
import WaybillCore
import WaybillERP
import WaybillProto
import WaybillWire

@Suite("ERP payloads", .serialized)
struct ErpPayloadTests {
    @Test("order.fulfillment_shipped carries the carrier (id + service) and the tracking number; JSON-lines and CSV agree")
    func shipmentAndCsv() async throws {
        let server = try await InProcessServer.start("erp-payloads", clock: nil)
        let client = try await server.client()
        _ = try await client.loadNetwork(TestNetwork.model(stock: 100))
        var master = Waybill_V1_ItemMasterMessage()
        master.messageID = "item-master-1"
        var item = Waybill_V1_Item()
        item.sku = "MUG-1"
        item.description_p = "Mug, ceramic \"12 oz\""
        item.weightGrams = 300
        item.active = true
        master.items = [item]
        let _: Waybill_V1_ErpMessageResult = try await client.call(Method.ErpService.applyItemMaster, master)
        let captured = try await client.captureOrder(TestNetwork.order("SHIPPED", [("SKU-1", 2), ("SKU-2", 1)])).order
        let shipped = try await client.shipAll(captured.orderID, requestPrefix: "ship")
        let head = try await client.feedInfo().headOffset

        var dropped: [FileFormat: [String]] = [:]
        for format in FileFormat.allCases {
            let drop = try temporaryDirectory("payload-\(format.rawValue)")
            let state = try temporaryDirectory("payload-state-\(format.rawValue)")
            var configuration = BridgeConfiguration(server: server.address, consumer: "payload-\(format.rawValue)",
                                                    target: .files(directory: drop, format: format), stateDirectory: state)
            configuration.connection = TestCredentials.erpConnection
            configuration.limits.fileBatchLingerMilliseconds = 5
            let bridge = try ErpBridge(configuration: configuration, logger: quietLogger("bridge"))
            let running = Task { try await bridge.run() }
            try await bridge.delivered(through: head)
            running.cancel()
            _ = await running.result
            var texts: [String] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: drop).sorted() where name.hasPrefix("waybill-") {
                texts.append(try String(contentsOfFile: drop + "/" + name, encoding: .utf8))
            }
            dropped[format] = texts
            try? FileManager.default.removeItem(atPath: drop)
            try? FileManager.default.removeItem(atPath: state)
        }

        let messages = try (dropped[.jsonl] ?? []).flatMap { $0.split(separator: "\n") }.map { try ErpMessage.decode(Data($0.utf8)) }
        let shipments = messages.filter { $0.type == "order.fulfillment_shipped" }
        try #require(shipments.count == shipped.fulfillments.count && !shipments.isEmpty)
        for message in shipments {
            let fulfillment = try #require(shipped.fulfillments.first { $0.fulfillmentID == message.fulfillmentId })
            #expect(message.carrier == ErpCarrier(carrierId: "UPX", service: "ground"))
            #expect(message.trackingNumber == "T-" + fulfillment.fulfillmentID)
            #expect(message.stockChanges?.isEmpty == false)
        }
        #expect(messages.filter { $0.type == "order.captured" }.allSatisfy { $0.carrier == nil && $0.trackingNumber == nil })
        let itemMessage = try #require(messages.first { $0.sku == "MUG-1" && $0.aggregateType == "item" })
        #expect(itemMessage.itemDescription == "Mug, ceramic \"12 oz\"")

        // CSV: same events, with stock_changes "SKU@LOCATION:DELTA;..." and the description quoted.
        var rows: [[String: String]] = []
        for text in dropped[.csv] ?? [] {
            let table = parseCsv(text)
            let header = try #require(table.first)
            #expect(header == ErpMessage.csvColumns)
            for row in table.dropFirst() {
                #expect(row.count == header.count)
                rows.append(Dictionary(uniqueKeysWithValues: zip(header, row)))
            }
        }
        #expect(rows.count == messages.count)
        for message in shipments {
            let row = try #require(rows.first { $0["event_id"] == message.eventId })
            let expected = (message.stockChanges ?? []).map { "\($0.sku)@\($0.locationId):\($0.onHandDelta)" }.joined(separator: ";")
            #expect(row["stock_changes"] == expected && expected.contains(":-"))
            #expect(row["carrier_id"] == "UPX" && row["carrier_service"] == "ground" && row["tracking_number"] == message.trackingNumber)
        }
        #expect(rows.first { $0["sku"] == "MUG-1" && $0["aggregate_type"] == "item" }?["item_description"] == "Mug, ceramic \"12 oz\"")
        await client.close()
        await server.stop()
    }

    @Test("CSV stock changes: restocked units come back with a plus sign")
    func csvStockChangeSigns() {
        var message = ErpMessage(eventId: "evt-9", offset: 9, type: "order.return_received", aggregateType: "order", aggregateId: "W-1", aggregateSequence: 4)
        message.stockChanges = [ErpStockChange(sku: "A", locationId: "WH-1", onHandDelta: 2), ErpStockChange(sku: "B", locationId: "WH-2", onHandDelta: -1)]
        let row = parseCsv(message.csvRow + "\r\n")[0]
        let columns = Dictionary(uniqueKeysWithValues: zip(ErpMessage.csvColumns, row))
        #expect(columns["stock_changes"] == "A@WH-1:+2;B@WH-2:-1")
    }

    /// RFC 4180: quoted fields may hold commas, quotes (doubled) and line breaks.
    func parseCsv(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\r\n" || character == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
