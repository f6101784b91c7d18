// gRPC statuses: the wire form of every failure.

import SwiftProtobuf
import WaybillCore

/// A failed call as the client sees it: a gRPC canonical code, a message and details.
public struct WaybillStatusError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: Waybill_V1_StatusCode
    public var message: String
    public var details: Waybill_V1_StatusDetails

    public init(_ code: Waybill_V1_StatusCode, _ message: String, details: Waybill_V1_StatusDetails = Waybill_V1_StatusDetails()) {
        self.code = code
        self.message = message
        self.details = details
    }

    public init(_ status: Waybill_V1_Status) {
        self.init(status.code, status.message, details: status.details)
    }

    public init(_ error: DomainError) {
        var details = Waybill_V1_StatusDetails()
        details.field = error.field ?? ""
        details.currentState = error.currentState ?? ""
        details.existingOrderID = error.existingOrderID?.rawValue ?? ""
        details.limitName = error.limitName ?? ""
        details.limitValue = error.limitValue ?? 0
        let code: Waybill_V1_StatusCode = switch error.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .resourceExhausted: .resourceExhausted
        case .outOfRange: .outOfRange
        }
        self.init(code, error.message, details: details)
    }

    public var status: Waybill_V1_Status {
        var status = Waybill_V1_Status()
        status.code = code
        status.message = message
        if details != Waybill_V1_StatusDetails() { status.details = details }
        return status
    }

    public static func limit(_ code: Waybill_V1_StatusCode, name: String, value: Int, _ message: String) -> WaybillStatusError {
        var details = Waybill_V1_StatusDetails()
        details.limitName = name
        details.limitValue = Int64(value)
        return WaybillStatusError(code, "\(message) (\(name) = \(value))", details: details)
    }

    public var description: String { "\(code.name): \(message)" }
}

extension Waybill_V1_StatusCode {
    /// The canonical upper-case name ("INVALID_ARGUMENT").
    public var name: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        case .UNRECOGNIZED(let value): "CODE_\(value)"
        }
    }
}
