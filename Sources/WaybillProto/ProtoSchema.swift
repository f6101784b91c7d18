// The shape of generated messages and enums at run time, without descriptors: names and numbers
// from SwiftProtobuf's name maps, field types from a default instance. Used to explain bad JSON
// input (the field path, the known fields, the valid enum values) and to print zero values.

import Foundation
import SwiftProtobuf
import Synchronization

/// One field of a message, as protobuf JSON names it.
public struct ProtoField {
    public enum Kind {
        case scalar(ProtoScalar)
        case enumeration(any SwiftProtobuf.Enum.Type)
        case message(any SwiftProtobuf.Message.Type)
        case map
        /// Oneof members and anything reflection does not resolve: left alone.
        case unresolved
    }

    public var number: Int
    public var protoName: String
    public var jsonName: String
    public var kind: Kind
    public var isRepeated: Bool
}

public enum ProtoScalar: Sendable {
    case string, bytes, bool, int32, uint32, int64, uint64, float, double
}

/// One name of a message field or an enum case.
public struct ProtoName: Hashable, Sendable {
    public var number: Int
    public var proto: String
    public var json: String
}

public enum ProtoSchema {
    /// Reflection runs once per type: printing 1,000 orders asks for the order's fields 1,000 times.
    private static let namesCache = Mutex<[ObjectIdentifier: [ProtoName]]>([:])
    private static let fieldsCache = Mutex<[ObjectIdentifier: CachedFields]>([:])

    /// Field or case names by number, read from the type's `_protobuf_nameMap` (its lookup tables
    /// are not public API; a test pins what this returns for known types).
    public static func names(of type: Any.Type) -> [ProtoName] {
        if let cached = namesCache.withLock({ $0[ObjectIdentifier(type)] }) { return cached }
        let names = reflectedNames(of: type)
        namesCache.withLock { $0[ObjectIdentifier(type)] = names }
        return names
    }

    private static func reflectedNames(of type: Any.Type) -> [ProtoName] {
        guard let providing = type as? any _ProtoNameProviding.Type,
              let table = Mirror(reflecting: providing._protobuf_nameMap).children.first(where: { $0.label == "numberToNameMap" })?.value
        else { return [] }
        var result: [ProtoName] = []
        for entry in Mirror(reflecting: table).children {
            let pair = Mirror(reflecting: entry.value).children.map(\.value)
            guard pair.count == 2, let number = pair[0] as? Int else { continue }
            var proto = ""
            var json = ""
            for part in Mirror(reflecting: pair[1]).children {
                guard let value = unwrapped(part.value) else { continue }
                if part.label == "proto" { proto = String(describing: value) }
                if part.label == "json" { json = String(describing: value) }
            }
            result.append(ProtoName(number: number, proto: proto, json: json.isEmpty ? proto : json))
        }
        return result.sorted { $0.number < $1.number }
    }

    /// The proto names of an enum's cases, by number (the zero case included).
    public static func caseNames(of type: any SwiftProtobuf.Enum.Type) -> [ProtoName] { names(of: type) }

    /// Every field of `type`, by number.
    public static func fields(of type: any SwiftProtobuf.Message.Type) -> [ProtoField] {
        if let cached = fieldsCache.withLock({ $0[ObjectIdentifier(type)] }) { return cached.fields }
        let fields = reflectedFields(of: type)
        fieldsCache.withLock { $0[ObjectIdentifier(type)] = CachedFields(fields: fields) }
        return fields
    }

    private static func reflectedFields(of type: any SwiftProtobuf.Message.Type) -> [ProtoField] {
        var valuesByName: [String: Any] = [:]
        collect(Mirror(reflecting: type.init()), into: &valuesByName)
        return names(of: type).map { name in
            let (kind, repeated) = valuesByName[normalized(name.proto)].map(kind(of:)) ?? (.unresolved, false)
            return ProtoField(number: name.number, protoName: name.proto, jsonName: name.json, kind: kind, isRepeated: repeated)
        }
    }

    /// Stored properties of a generated message, including those kept in its `_storage` class.
    private static func collect(_ mirror: Mirror, into values: inout [String: Any]) {
        for child in mirror.children {
            guard let label = child.label, label != "unknownFields" else { continue }
            if label == "_storage" {
                collect(Mirror(reflecting: child.value), into: &values)
            } else {
                values[normalized(label)] = child.value
            }
        }
    }

    /// "order_id", "orderID" and "_orderID" all become "orderid".
    private static func normalized(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: "_", with: "")
    }

    private static func kind(of value: Any) -> (ProtoField.Kind, Bool) {
        let valueType = type(of: value)
        if let optional = valueType as? any OptionalMessageField.Type { return (.message(optional.wrappedMessageType), false) }
        if valueType is any MapField.Type { return (.map, false) }
        if let repeated = valueType as? any RepeatedField.Type { return (singleKind(repeated.elementType), true) }
        return (singleKind(valueType), false)
    }

    private static func singleKind(_ type: Any.Type) -> ProtoField.Kind {
        if let message = type as? any SwiftProtobuf.Message.Type { return .message(message) }
        if let enumeration = type as? any SwiftProtobuf.Enum.Type { return .enumeration(enumeration) }
        switch type {
        case is String.Type: return .scalar(.string)
        case is Data.Type: return .scalar(.bytes)
        case is Bool.Type: return .scalar(.bool)
        case is Int32.Type: return .scalar(.int32)
        case is UInt32.Type: return .scalar(.uint32)
        case is Int64.Type: return .scalar(.int64)
        case is UInt64.Type: return .scalar(.uint64)
        case is Float.Type: return .scalar(.float)
        case is Double.Type: return .scalar(.double)
        default: return .unresolved
        }
    }

    private static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first?.value
    }
}

/// Metatypes and strings, never mutated after reflection: safe to share between threads.
private struct CachedFields: @unchecked Sendable {
    let fields: [ProtoField]
}

private protocol OptionalMessageField { static var wrappedMessageType: any SwiftProtobuf.Message.Type { get } }
extension Optional: OptionalMessageField where Wrapped: SwiftProtobuf.Message {
    fileprivate static var wrappedMessageType: any SwiftProtobuf.Message.Type { Wrapped.self }
}

private protocol RepeatedField { static var elementType: Any.Type { get } }
extension Array: RepeatedField {
    fileprivate static var elementType: Any.Type { Element.self }
}

private protocol MapField {}
extension Dictionary: MapField {}
