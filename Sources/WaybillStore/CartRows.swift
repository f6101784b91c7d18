// The `carts` table (migration v10): every checkout cart ever reserved, by channel and cart id,
// with its status and deadline in columns and the waybill.v1.Cart as its body. Active carts are
// also in the engine's memory (loaded on start); GetCart reads the row.

import Foundation
import GRDB
import WaybillCore
import WaybillProto

extension Schema {
    static func registerCarts(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10: carts") { db in
            try db.execute(sql: """
                CREATE TABLE carts (
                    channel INTEGER NOT NULL,
                    cart_id TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    PRIMARY KEY (channel, cart_id)
                ) WITHOUT ROWID;
                CREATE INDEX carts_active ON carts (status) WHERE status = 1;
                """)
        }
    }
}

enum CartRows {
    static func decode(_ body: Data) throws -> Cart {
        let message = try Waybill_V1_Cart(serializedBytes: body)
        do {
            return try Cart(proto: message)
        } catch {
            throw StorageError("stored cart \(message.cartID) does not decode: \(error)")
        }
    }

    /// The active carts, for the engine's state on start.
    static func loadActive(_ db: Database, into book: inout CartBook) throws {
        for body in try Data.fetchAll(db, sql: "SELECT body FROM carts WHERE status = 1") {
            book.put(try decode(body))
        }
    }

    /// The stored cart's body (GetCart), nil when there is none.
    static func body(_ db: Database, _ key: CartKey) throws -> Data? {
        try Data.fetchOne(db, sql: "SELECT body FROM carts WHERE channel = ? AND cart_id = ?",
                          arguments: [key.channel.rawValue, key.cartID])
    }
}

extension StoreReader {
    /// The stored waybill.v1.Cart of `key`, nil when there is none.
    public func cartBytes(_ key: CartKey, completion: @escaping @Sendable (Result<[UInt8]?, Error>) -> Void) {
        readCart(key, completion: completion)
    }
}

extension SQLiteStorage: CartStorage {
    public func loadCart(_ key: CartKey) throws -> Cart? {
        try CartRows.body(db, key).map(CartRows.decode)
    }

    public func saveCart(_ cart: Cart) throws {
        try statement("INSERT OR REPLACE INTO carts (channel, cart_id, status, expires_at, body) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [cart.key.channel.rawValue, cart.key.cartID, cart.status.rawValue,
                                 cart.expiresAt.millisecondsSinceEpoch, Data(try cart.proto.serializedBytes() as [UInt8])])
    }
}
