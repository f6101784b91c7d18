// The `expected_receipts` table (migration v11): every expected receipt the ERP sent, open,
// received or cancelled, by receipt id, with its status in a column and the
// waybill.v1.ExpectedReceipt as its body. Open receipts are also in the engine's memory (loaded
// on start); a closed one is kept so that its id cannot be received twice.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

extension Schema {
    static func registerExpectedReceipts(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v11: expected receipts") { db in
            try db.execute(sql: """
                CREATE TABLE expected_receipts (
                    receipt_id TEXT NOT NULL PRIMARY KEY,
                    status INTEGER NOT NULL,
                    body BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX expected_receipts_open ON expected_receipts (status) WHERE status = 1;
                """)
        }
    }
}

enum ReceiptRows {
    static func decode(_ body: Data) throws -> ExpectedReceipt {
        let message = try Waybill_V1_ExpectedReceipt(serializedBytes: body)
        do {
            return try ExpectedReceipt(proto: message)
        } catch {
            throw StorageError("stored expected receipt \(message.receiptID) does not decode: \(error)")
        }
    }

    /// The open receipts, for the engine's state on start.
    static func loadOpen(_ db: Database, into book: inout SupplyBook) throws {
        for body in try Data.fetchAll(db, sql: "SELECT body FROM expected_receipts WHERE status = 1") {
            book.put(try decode(body))
        }
    }
}

extension SQLiteStorage: SupplyStorage {
    public func loadReceipt(_ receiptID: String) throws -> ExpectedReceipt? {
        try Data.fetchOne(db, sql: "SELECT body FROM expected_receipts WHERE receipt_id = ?", arguments: [receiptID])
            .map(ReceiptRows.decode)
    }

    public func saveReceipt(_ receipt: ExpectedReceipt) throws {
        try statement("INSERT OR REPLACE INTO expected_receipts (receipt_id, status, body) VALUES (?, ?, ?)")
            .execute(arguments: [receipt.receiptID, receipt.status.rawValue, Data(try receipt.proto.serializedBytes() as [UInt8])])
    }
}
