// Credentials as waybill.v1 messages (CredentialService, `waybill clients list`): never a token or
// a hash.

import WaybillApplication
import WaybillCore
import WaybillProto

extension Role {
    public init?(proto: Waybill_V1_CredentialRole) {
        switch proto {
        case .channel: self = .channel
        case .fulfillment: self = .fulfillment
        case .erp: self = .erp
        case .admin: self = .admin
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var proto: Waybill_V1_CredentialRole {
        switch self {
        case .channel: .channel
        case .fulfillment: .fulfillment
        case .erp: .erp
        case .admin: .admin
        }
    }
}

extension StoredCredential {
    /// The credential as listed at `now` (its state and whether a rotation grace runs depend on it).
    public func proto(at now: Timestamp) -> Waybill_V1_Credential {
        var message = Waybill_V1_Credential()
        message.id = record.id
        message.name = record.name
        message.role = record.role.proto
        message.channels = Channel.allCases.filter { record.channels.contains($0.name) }.map(\.proto)
        message.locations = record.locations
        switch record.state(at: now) {
        case .active: message.state = .active
        case .revoked: message.state = .revoked
        case .expired: message.state = .expired
        }
        message.createdAtUnixMs = record.createdAt.millisecondsSinceEpoch
        message.createdBy = createdBy
        message.expiresAtUnixMs = record.expiresAt?.millisecondsSinceEpoch ?? 0
        message.revokedAtUnixMs = record.revokedAt?.millisecondsSinceEpoch ?? 0
        message.revokedBy = revokedBy ?? ""
        message.rotatedAtUnixMs = rotatedAt?.millisecondsSinceEpoch ?? 0
        if let until = record.rotationGraceEnd(at: now) {
            message.rotationGraceRunning = true
            message.rotationGraceUntilUnixMs = until.millisecondsSinceEpoch
        }
        message.certificateSubject = record.certificateSubject ?? ""
        return message
    }
}

extension CredentialRequest {
    /// A CreateCredential request's credential (validated when applied).
    public init(proto request: Waybill_V1_CreateCredentialRequest) throws(DomainError) {
        guard let role = Role(proto: request.role) else {
            throw DomainError.invalid("role", "a role is required: CHANNEL, FULFILLMENT, ERP or ADMIN")
        }
        var channels: [String] = []
        for (index, channel) in request.channels.enumerated() {
            guard let known = Channel(proto: channel) else { throw DomainError.invalid("channels[\(index)]", "not a channel") }
            channels.append(known.name)
        }
        self.init(name: request.name, role: role, channels: channels, locations: request.locations,
                  expiresInSeconds: request.expiresInSeconds == 0 ? nil : request.expiresInSeconds,
                  certificateSubject: request.certificateSubject.isEmpty ? nil : request.certificateSubject)
    }
}

extension StoreReader {
    /// Every credential (a small table), on a reader.
    public func credentials(completion: @escaping @Sendable (Result<CredentialSnapshot, Error>) -> Void) {
        database.pool.asyncRead { dbResult in
            completion(Result { try CredentialRows.snapshot(try dbResult.get()) })
        }
    }
}
