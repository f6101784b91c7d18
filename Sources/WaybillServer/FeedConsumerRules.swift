// Who may use which change-feed consumer (issue 12). A consumer belongs to the credential that
// created it; to anyone else it does not exist (NOT_FOUND, as for a name never used), except that
// an admin may delete any (a forgotten consumer holds back outbox pruning for everyone). A consumer
// created before credentials existed has no owner: the first erp or admin caller that uses it
// takes it over (the ERP bridge of an upgraded server keeps its position).

import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore

enum FeedConsumerRules {
    enum Use: Sendable { case subscribe, acknowledge, delete }

    enum Decision: Sendable, Equatable {
        /// Use the existing consumer (taking it over if it has no owner).
        case use
        /// Create it, owned by the caller.
        case create
        /// Answer NOT_FOUND, exactly as for a consumer that does not exist.
        case notFound
        /// The caller owns consumersPerCredentialMax consumers already.
        case capReached
    }

    /// `existingOwner`: nil when there is no such consumer, "" when it has no owner.
    static func decide(_ caller: Caller, _ use: Use, existingOwner: String?, ownedCount: () throws -> Int,
                       consumersPerCredentialMax: Int) rethrows -> Decision {
        guard let owner = existingOwner else {
            if use == .delete { return .notFound }
            return try ownedCount() >= consumersPerCredentialMax ? .capReached : .create
        }
        if owner == caller.credentialID { return .use }
        if owner.isEmpty && (caller.role == .erp || caller.role == .admin) { return .use }
        if use == .delete && caller.role == .admin { return .use }
        return .notFound
    }

    // DomainErrors: thrown inside a writer job, they are that job's answer (the batch goes on).
    static func notFound(_ consumer: String) -> DomainError {
        DomainError.notFound("consumer \(consumer)")
    }

    static func capReached(_ limit: Int) -> DomainError {
        DomainError(.resourceExhausted, "this credential owns as many change-feed consumers as it may; delete one it no longer uses "
                        + "(consumersPerCredentialMax = \(limit))", limitName: "consumersPerCredentialMax", limitValue: Int64(limit))
    }

    /// The channels a subscription of `caller` may see, or nil for every event.
    static func visibleChannels(_ caller: Caller) -> Set<String>? {
        switch caller.role {
        case .admin, .erp: nil
        // Only its channels' order events; a role without channels sees none.
        case .channel, .fulfillment: caller.channels
        }
    }
}

extension WriteContext {
    /// Applies the rules inside the writer's transaction: the consumer to use (registered or
    /// taken over for the caller), or the refusal thrown.
    func consumer(_ name: String, for caller: Caller, _ use: FeedConsumerRules.Use, consumersPerCredentialMax: Int) throws -> ConsumerRecord? {
        let existing = try ownedConsumer(name)
        let decision = try FeedConsumerRules.decide(caller, use, existingOwner: existing?.ownerCredentialID,
                                                    ownedCount: { try consumerCount(ownedBy: caller.credentialID) },
                                                    consumersPerCredentialMax: consumersPerCredentialMax)
        switch decision {
        case .notFound: throw FeedConsumerRules.notFound(name)
        case .capReached: throw FeedConsumerRules.capReached(consumersPerCredentialMax)
        case .create: return nil
        case .use:
            if let existing, existing.ownerCredentialID.isEmpty, use != .delete {
                return try acknowledge(consumer: name, offset: 0, ownerCredentialID: caller.credentialID)
            }
            return existing?.record
        }
    }
}
