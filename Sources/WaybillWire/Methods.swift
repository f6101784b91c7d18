// Full method names, gRPC style: "/package.Service/Method".

public enum Method {
    public enum OrderService {
        static let prefix = "/waybill.v1.OrderService/"
        public static let captureOrder = prefix + "CaptureOrder"
        public static let captureOrders = prefix + "CaptureOrders"
        public static let getOrder = prefix + "GetOrder"
        public static let listOrders = prefix + "ListOrders"
        public static let holdOrder = prefix + "HoldOrder"
        public static let releaseHold = prefix + "ReleaseHold"
        public static let cancelOrder = prefix + "CancelOrder"
        public static let cancelLines = prefix + "CancelLines"
        public static let releaseFulfillment = prefix + "ReleaseFulfillment"
        public static let rejectFulfillment = prefix + "RejectFulfillment"
        public static let confirmPick = prefix + "ConfirmPick"
        public static let confirmPack = prefix + "ConfirmPack"
        public static let confirmShipment = prefix + "ConfirmShipment"
        public static let confirmDelivery = prefix + "ConfirmDelivery"
        public static let createReturn = prefix + "CreateReturn"
        public static let receiveReturn = prefix + "ReceiveReturn"
        public static let getOrderHistory = prefix + "GetOrderHistory"
        public static let reallocateOrders = prefix + "ReallocateOrders"
    }
    public enum InventoryService {
        static let prefix = "/waybill.v1.InventoryService/"
        public static let getAvailability = prefix + "GetAvailability"
        public static let adjustInventory = prefix + "AdjustInventory"
        public static let receiveInventory = prefix + "ReceiveInventory"
        public static let updateInventorySettings = prefix + "UpdateInventorySettings"
        public static let listMovements = prefix + "ListMovements"
    }
    public enum NetworkService {
        static let prefix = "/waybill.v1.NetworkService/"
        public static let upsertLocations = prefix + "UpsertLocations"
        public static let listLocations = prefix + "ListLocations"
        public static let upsertCarriers = prefix + "UpsertCarriers"
        public static let listCarriers = prefix + "ListCarriers"
        public static let upsertItems = prefix + "UpsertItems"
        public static let listItems = prefix + "ListItems"
        public static let setRoutingPolicy = prefix + "SetRoutingPolicy"
        public static let getRoutingPolicy = prefix + "GetRoutingPolicy"
        public static let loadNetwork = prefix + "LoadNetwork"
    }
    public enum ChangeFeedService {
        static let prefix = "/waybill.v1.ChangeFeedService/"
        public static let subscribe = prefix + "Subscribe"
        public static let acknowledge = prefix + "Acknowledge"
        public static let getFeedInfo = prefix + "GetFeedInfo"
        public static let deleteConsumer = prefix + "DeleteConsumer"
    }
    public enum ErpService {
        static let prefix = "/waybill.v1.ErpService/"
        public static let applyItemMaster = prefix + "ApplyItemMaster"
        public static let applyStockSnapshot = prefix + "ApplyStockSnapshot"
        public static let applyStockDeltas = prefix + "ApplyStockDeltas"
        public static let recordOrderAcknowledgement = prefix + "RecordOrderAcknowledgement"
        public static let recordDocumentPosted = prefix + "RecordDocumentPosted"
        public static let reconcile = prefix + "Reconcile"
        public static let beginReconciliation = prefix + "BeginReconciliation"
        public static let addExtractChunk = prefix + "AddExtractChunk"
        public static let finishReconciliation = prefix + "FinishReconciliation"
        public static let reportBridgeStatus = prefix + "ReportBridgeStatus"
        public static let getBridgeStatus = prefix + "GetBridgeStatus"
    }
    public enum SystemService {
        static let prefix = "/waybill.v1.SystemService/"
        public static let getServerInfo = prefix + "GetServerInfo"
        public static let getMetrics = prefix + "GetMetrics"
    }
}
