// Releases carts at their deadline: every cartExpirySweepIntervalMilliseconds, when the earliest
// deadline the writer reported has passed, one writer job expires the due carts (at most
// cartsExpiredPerJobMax; a full job is followed at once by another). The deadline comes back with
// each expiry job and with every cart write (and from the carts loaded on start), so a server with
// no cart due submits nothing.

import Logging
import Synchronization
import WaybillCore
import WaybillStore

final class CartExpiry: Sendable {
    private let writer: StoreWriter
    private let clock: @Sendable () -> Timestamp
    private let logger: Logger
    /// The earliest deadline of an active cart as last reported (Int64.max: none known).
    private let nextDeadline: Atomic<Int64>
    private let running = Atomic<Bool>(false)

    init(writer: StoreWriter, clock: @escaping @Sendable () -> Timestamp, logger: Logger) {
        self.writer = writer
        self.clock = clock
        self.logger = logger
        // Carts loaded on start: their earliest deadline. (No job when none is due: an empty job's
        // commit would tell nothing, and would count as a successful commit while storage fails.)
        nextDeadline = Atomic(writer.cartDeadlineAtStart?.millisecondsSinceEpoch ?? .max)
    }

    /// A cart write reports its deadline (or the engine's next one).
    func note(_ deadline: Timestamp?) {
        guard let deadline else { return }
        _ = nextDeadline.min(deadline.millisecondsSinceEpoch, ordering: .relaxed)
    }

    /// Called by the repeated task.
    func tick() {
        guard clock().millisecondsSinceEpoch >= nextDeadline.load(ordering: .relaxed),
              running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        submit()
    }

    private func submit() {
        writer.submit(Job(kind: "cart_expiry", { context in
            let expired = try context.engine.expireCarts(context: CommandContext(now: context.now, clientID: ""),
                                                         storage: context.engineStorage)
            return (expired, context.engine.nextCartDeadline)
        }) { [self] result in
            switch result {
            case .success(let (expired, deadline)):
                nextDeadline.store(deadline?.millisecondsSinceEpoch ?? .max, ordering: .relaxed)
                if expired > 0 { logger.debug("expired carts", metadata: ["carts": "\(expired)"]) }
            case .failure(let error):
                logger.warning("cart expiry failed; retried at the next sweep", metadata: ["error": "\(error)"])
            }
            running.store(false, ordering: .releasing)
        })
    }
}
