// Order updates that come from the ERP: acknowledgements, posted documents, re-emission for repair.

extension Engine {
    public mutating func recordErpAcknowledgement(orderID: OrderID, documentNumber: String, status: ErpPostingStatus,
                                                  messageID: String, context: CommandContext,
                                                  storage: some EngineStorage) throws -> OrderResult {
        try applyErp(orderID: orderID, messageID: messageID, context: context, storage: storage,
                     type: "order.erp_acknowledged", detail: "\(documentNumber) \(status)") { order in
            order.erp.documentNumber = documentNumber
            order.erp.postingStatus = status
            order.erp.acknowledgedAt = context.now
        }
    }

    public mutating func recordErpDocument(orderID: OrderID, document: ErpDocument, messageID: String,
                                           context: CommandContext, storage: some EngineStorage) throws -> OrderResult {
        try applyErp(orderID: orderID, messageID: messageID, context: context, storage: storage,
                     type: "order.erp_document_posted", detail: "\(document.kind) \(document.documentNumber)") { order in
            order.erp.documents.removeAll { $0.documentNumber == document.documentNumber && $0.kind == document.kind }
            order.erp.documents.append(document)
        }
    }

    /// Re-emits an order's current state to the change feed (reconciliation repair).
    public mutating func reemit(orderID: OrderID, reason: String, context: CommandContext, storage: some EngineStorage) throws -> Order {
        guard var order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        try persist(&order, OrderEventKind("order.resynced", detail: reason), action: "resynced", reason: reason, detail: "",
                    context: context, movements: [], capacity: [], storage: storage)
        return order
    }

    private mutating func applyErp(orderID: OrderID, messageID: String, context: CommandContext, storage: some EngineStorage,
                                   type: String, detail: String, _ update: (inout Order) -> Void) throws -> OrderResult {
        if let error = Validation.checkIdentifier(messageID, field: "message_id", limits: limits) { throw error }
        let key = "erp:" + messageID
        if let record = try storage.requestRecord(key) {
            guard record.fingerprint == context.fingerprint else {
                throw DomainError(.alreadyExists, "message_id \"\(messageID)\" was already used for a different message", field: "message_id")
            }
            guard let order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
            return OrderResult(order: order, replayed: true)
        }
        guard var order = try storage.loadOrder(orderID) else { throw DomainError.notFound("order \(orderID)") }
        update(&order)
        try persist(&order, OrderEventKind(type, detail: detail), action: String(type.dropFirst("order.".count)), reason: "",
                    detail: detail, context: context, movements: [], capacity: [], storage: storage)
        try storage.recordRequest(RequestRecord(key: key, fingerprint: context.fingerprint, subject: orderID.rawValue, at: context.now))
        return OrderResult(order: order, replayed: false)
    }
}
