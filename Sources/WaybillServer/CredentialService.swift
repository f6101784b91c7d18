// waybill.v1.CredentialService (admin only, AccessPolicy): create, list, revoke and rotate
// credentials. Changes are writer jobs (durable before answered); the server's credential directory
// is replaced after the commit and before the answer, so a revoked token is refused by the next
// call on any connection, already open or not. Tokens are made here, returned once and never
// logged; the log records who changed which credential, by name.

import Logging
import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore
import WaybillWire

extension Services {
    func createCredential(_ request: Waybill_V1_CreateCredentialRequest, call: Call) {
        let credential: CredentialRequest
        do {
            credential = try CredentialRequest(proto: request)
        } catch {
            call.responder.respond(.from(error))
            return
        }
        let token = AccessToken.generate()
        credentialWrite(call, .create(credential, tokenHash: AccessToken.hash(token))) { outcome, now in
            var response = Waybill_V1_CreateCredentialResponse()
            if let stored = outcome.credential { response.credential = stored.proto(at: now) }
            response.token = token
            response.locationsNotInNetwork = outcome.locationsNotInNetwork
            return .message(response)
        }
    }

    func listCredentials(_ request: Waybill_V1_ListCredentialsRequest, call: Call) {
        guard let size = pageSize(call, request.pageSize) else { return }
        if !request.pageToken.isEmpty && !request.pageToken.hasPrefix("after:") {
            call.responder.respond(.failure(WaybillStatusError(.invalidArgument, "page_token: not a token from a previous answer")))
            return
        }
        let after: String? = request.pageToken.isEmpty ? nil : String(request.pageToken.dropFirst(6))
        let clock = configuration.clock
        reader.credentials { result in
            self.answer(call, result) { snapshot in
                let now = clock()
                let remaining = snapshot.credentials.filter { after == nil || $0.record.name > after! }
                let page = remaining.prefix(size)
                var response = Waybill_V1_ListCredentialsResponse()
                response.credentials = page.map { $0.proto(at: now) }
                if remaining.count > size, let last = page.last { response.nextPageToken = "after:" + last.record.name }
                return .message(response)
            }
        }
    }

    func revokeCredential(_ request: Waybill_V1_RevokeCredentialRequest, call: Call) {
        credentialWrite(call, .revoke(name: request.name)) { outcome, now in
            var response = Waybill_V1_RevokeCredentialResponse()
            if let stored = outcome.credential { response.credential = stored.proto(at: now) }
            response.alreadyRevoked = outcome.alreadyRevoked
            return .message(response)
        }
    }

    func rotateCredential(_ request: Waybill_V1_RotateCredentialRequest, call: Call) {
        if request.endPreviousNow && request.graceSeconds != 0 {
            call.responder.respond(.failure(WaybillStatusError(DomainError.invalid(
                "grace_seconds", "must be 0 with end_previous_now (the previous token stops at once)"))))
            return
        }
        let token = AccessToken.generate()
        let grace: Int64? = request.endPreviousNow ? 0 : (request.graceSeconds == 0 ? nil : request.graceSeconds)
        credentialWrite(call, .rotate(name: request.name, tokenHash: AccessToken.hash(token), graceSeconds: grace)) { outcome, now in
            var response = Waybill_V1_RotateCredentialResponse()
            if let stored = outcome.credential { response.credential = stored.proto(at: now) }
            response.token = token
            return .message(response)
        }
    }

    /// Runs a credential change in the writer; after its commit installs every credential in the
    /// directory calls are authenticated against, then answers.
    private func credentialWrite(_ call: Call, _ change: CredentialChange,
                                 respond: @escaping @Sendable (CredentialChangeResult, Timestamp) -> CallResponse) {
        let responder = call.responder, directory = credentials, logger = self.logger
        let limits = configuration.credentialLimits, actor = call.caller.name, method = call.methodName
        // Not sheddable: revoking a leaked token must get through an overload.
        writer.submit(Job(kind: method, deadlineUptimeNanoseconds: call.deadlineUptimeNanoseconds, { context in
            (try context.applyCredentialChange(change, actor: actor, limits: limits), context.now)
        }) { result in
            switch result {
            case .success(let (outcome, now)):
                directory.replaceAll(outcome.snapshot.records, version: outcome.snapshot.version)
                if let stored = outcome.credential, !outcome.alreadyRevoked {
                    logger.notice("credential changed", metadata: [
                        "change": "\(method)", "credential": "\(stored.record.name)", "role": "\(stored.record.role.rawValue)", "by": "\(actor)",
                    ])
                }
                responder.respond(lazy: { respond(outcome, now) })
            case .failure(let error):
                responder.respond(.from(error))
            }
        })
    }
}
