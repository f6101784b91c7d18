// Which role may call which RPC, and which data scope applies: one table, read by both transports'
// dispatch, by the matrix test and by docs/PROTOCOL.md's roles table (DocumentationTests keeps it true).

/// How a call's data is checked against the caller's scope once its role is allowed.
public enum AccessScopeRule: String, Sendable, Hashable {
    /// The role is enough (reference data, the caller's own server-wide question).
    case role
    /// The request's channel must be one of a channel caller's channels (capture).
    case captureChannel
    /// The order must be visible to the caller (`Caller.maySee`): otherwise NOT_FOUND.
    case order
    /// The fulfillment's location must be one of a fulfillment caller's locations; an order the
    /// caller may not see at all is NOT_FOUND.
    case fulfillmentLocation
    /// The receiving location must be one of a fulfillment caller's locations.
    case returnLocation
    /// A list or a stream: only what the caller may see is in it.
    case filtered
    /// A change-feed consumer: only the credential that created it (admin may delete any).
    case consumerOwner
}

public struct MethodAccess: Sendable, Hashable {
    public var roles: Set<Role>
    public var scope: AccessScopeRule
    public init(_ roles: Set<Role>, _ scope: AccessScopeRule = .role) {
        self.roles = roles
        self.scope = scope
    }
}

public enum AccessDecision: Sendable, Equatable {
    case allowed(AccessScopeRule)
    /// PERMISSION_DENIED with this message (which names the role, never data).
    case denied(String)
}

public enum AccessPolicy {
    private static let everyRole: Set<Role> = Set(Role.allCases)

    /// Every RPC by path. A method missing here is refused to every caller (a test checks that the
    /// table covers the generated method table exactly).
    public static let byMethod: [String: MethodAccess] = [
        // OrderService
        "/waybill.v1.OrderService/CaptureOrder": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.OrderService/CaptureOrders": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.OrderService/GetOrder": MethodAccess(everyRole, .order),
        "/waybill.v1.OrderService/ListOrders": MethodAccess(everyRole, .filtered),
        "/waybill.v1.OrderService/SearchOrders": MethodAccess(everyRole, .filtered),
        "/waybill.v1.OrderService/ListLocationQueue": MethodAccess([.fulfillment, .erp, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/GetOrderHistory": MethodAccess(everyRole, .order),
        "/waybill.v1.OrderService/HoldOrder": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/ReleaseHold": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/CancelOrder": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/CancelLines": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/CreateReturn": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/EditOrder": MethodAccess([.channel, .admin], .order),
        "/waybill.v1.OrderService/ReleaseFulfillment": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/RejectFulfillment": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/ConfirmPick": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/ConfirmPack": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/ConfirmShipment": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/ConfirmDelivery": MethodAccess([.fulfillment, .admin], .fulfillmentLocation),
        "/waybill.v1.OrderService/ReceiveReturn": MethodAccess([.fulfillment, .admin], .returnLocation),
        "/waybill.v1.OrderService/ReallocateOrders": MethodAccess([.admin]),
        // CheckoutService: a channel quotes only for its own channels.
        "/waybill.v1.CheckoutService/GetFulfillmentOptions": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.CheckoutService/ReserveCart": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.CheckoutService/ExtendCart": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.CheckoutService/ReleaseCart": MethodAccess([.channel, .admin], .captureChannel),
        "/waybill.v1.CheckoutService/GetCart": MethodAccess([.channel, .admin], .captureChannel),
        // InventoryService
        "/waybill.v1.InventoryService/GetAvailability": MethodAccess(everyRole),
        "/waybill.v1.InventoryService/AdjustInventory": MethodAccess([.erp, .admin]),
        "/waybill.v1.InventoryService/ReceiveInventory": MethodAccess([.erp, .admin]),
        "/waybill.v1.InventoryService/UpdateInventorySettings": MethodAccess([.erp, .admin]),
        "/waybill.v1.InventoryService/ListMovements": MethodAccess([.erp, .admin]),
        // NetworkService: reference data is readable by every role; only admins change it.
        "/waybill.v1.NetworkService/UpsertLocations": MethodAccess([.admin]),
        "/waybill.v1.NetworkService/ListLocations": MethodAccess(everyRole),
        "/waybill.v1.NetworkService/UpsertCarriers": MethodAccess([.admin]),
        "/waybill.v1.NetworkService/ListCarriers": MethodAccess(everyRole),
        "/waybill.v1.NetworkService/UpsertItems": MethodAccess([.admin]),
        "/waybill.v1.NetworkService/ListItems": MethodAccess(everyRole),
        "/waybill.v1.NetworkService/SetRoutingPolicy": MethodAccess([.admin]),
        "/waybill.v1.NetworkService/GetRoutingPolicy": MethodAccess(everyRole),
        "/waybill.v1.NetworkService/LoadNetwork": MethodAccess([.admin]),
        // ErpService
        "/waybill.v1.ErpService/ApplyItemMaster": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/ApplyStockSnapshot": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/ApplyStockDeltas": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/ApplyExpectedReceipts": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/RecordOrderAcknowledgement": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/RecordDocumentPosted": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/Reconcile": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/BeginReconciliation": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/AddExtractChunk": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/FinishReconciliation": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/ReportBridgeStatus": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/GetBridgeStatus": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/RequestDeadLetterReplay": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/ListReconciliationRuns": MethodAccess([.erp, .admin]),
        "/waybill.v1.ErpService/GetReconciliationRun": MethodAccess([.erp, .admin]),
        // ChangeFeedService: a channel caller's subscription carries only its channels' orders.
        "/waybill.v1.ChangeFeedService/Subscribe": MethodAccess([.channel, .erp, .admin], .filtered),
        "/waybill.v1.ChangeFeedService/Acknowledge": MethodAccess([.channel, .erp, .admin], .consumerOwner),
        "/waybill.v1.ChangeFeedService/DeleteConsumer": MethodAccess([.channel, .erp, .admin], .consumerOwner),
        "/waybill.v1.ChangeFeedService/GetFeedInfo": MethodAccess([.erp, .admin]),
        // SystemService
        "/waybill.v1.SystemService/GetServerInfo": MethodAccess([.admin]),
        "/waybill.v1.SystemService/GetMetrics": MethodAccess([.admin]),
        // CredentialService
        "/waybill.v1.CredentialService/CreateCredential": MethodAccess([.admin]),
        "/waybill.v1.CredentialService/ListCredentials": MethodAccess([.admin]),
        "/waybill.v1.CredentialService/RevokeCredential": MethodAccess([.admin]),
        "/waybill.v1.CredentialService/RotateCredential": MethodAccess([.admin]),
    ]

    /// Whether `caller` may call `method` at all; data scope is then checked by the handler.
    public static func decide(_ caller: Caller, method: String) -> AccessDecision {
        guard let access = byMethod[method] else { return .denied("no role may call \(method)") }
        guard access.roles.contains(caller.role) else {
            return .denied("role \(caller.role.rawValue) may not call \(method)")
        }
        return .allowed(access.scope)
    }
}
