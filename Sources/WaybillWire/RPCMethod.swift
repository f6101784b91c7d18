// One RPC of the method table (Methods.swift is generated from proto/ by protoc-gen-waybill).

import SwiftProtobuf

public struct RPCMethod: Sendable {
    /// "/waybill.v1.OrderService/CaptureOrder"
    public let path: String
    public let request: any SwiftProtobuf.Message.Type
    public let response: any SwiftProtobuf.Message.Type
    /// The server answers with a stream of messages (ChangeFeedService/Subscribe).
    public let serverStreaming: Bool

    public init(path: String, request: any SwiftProtobuf.Message.Type, response: any SwiftProtobuf.Message.Type, serverStreaming: Bool) {
        self.path = path
        self.request = request
        self.response = response
        self.serverStreaming = serverStreaming
    }

    /// "waybill.v1.OrderService"
    public var service: String { String(path.dropFirst().prefix { $0 != "/" }) }
    /// "CaptureOrder"
    public var name: String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }
}
