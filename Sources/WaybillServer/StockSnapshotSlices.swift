// ApplyStockSnapshot on the single writer, in slices: a count of a whole location (up to
// `snapshotLevelsMax`, a million levels) would otherwise hold the writer for one long job (3,000
// levels took 11–31 ms in the README's main job, every capture queued behind it waiting). The
// snapshot is validated and planned in the first job, then applied `snapshotLevelsPerWriterJobMax`
// positions per job, each its own transaction, the next queued only when the previous has
// committed, so captures run between slices; the message is recorded as applied, and the call
// answered, with the last slice.
//
// Between slices the count is partly applied. Each position's correction is its own (count plus
// the movements since `asOf`, against on hand at its slice), so an interleaved command sees every
// position either before or after its correction, never in between. A failure part-way answers
// the error with the earlier slices committed and the message not recorded: sending the same
// message again applies the rest (positions already corrected move nothing unless stock moved).

import WaybillApplication
import WaybillCore
import WaybillProto
import WaybillStore

/// What the slices applied so far.
struct StockSnapshotProgress: Sendable {
    var applied = 0
    var positions: [Waybill_V1_InventoryPosition] = []
}

extension Services {
    func applyStockSnapshot(_ request: Waybill_V1_StockSnapshotMessage, call: Call) {
        guard self.within(call, request.levels.count, "snapshotLevelsMax", self.transport.snapshotLevelsMax, "levels") else { return }
        let print = fingerprint(request)
        let responder = call.responder
        let levels = request.levels.map { (SKU($0.sku), $0.onHand) }
        let sliceMax = max(1, configuration.snapshotLevelsPerWriterJobMax)
        // The first job plans and applies the first slice; a client's write, so it may be shed.
        writer.submit(Job(kind: call.methodName, deadlineUptimeNanoseconds: call.deadlineUptimeNanoseconds, { context -> (StockSnapshotPlan, Int, StockSnapshotProgress)? in
            let command = self.context(call, context, fingerprint: print)
            guard let plan = try context.engine.planStockSnapshot(
                locationID: LocationID(request.locationID), asOf: Timestamp(millisecondsSinceEpoch: request.asOfUnixMs),
                levels: levels, complete: request.complete, messageID: request.messageID,
                context: command, storage: context.engineStorage) else { return nil }
            let end = min(plan.levels.count, sliceMax)
            let progress = try Self.applySnapshotSlice(plan, 0..<end, StockSnapshotProgress(), context: context, command: command)
            if end == plan.levels.count { try context.engine.finishStockSnapshot(plan, context: command, storage: context.engineStorage) }
            return (plan, end, progress)
        }) { [self] result in
            switch result {
            case .success(nil):
                var replay = Waybill_V1_ErpMessageResult()
                replay.messageID = request.messageID
                replay.replayed = true
                let answer = replay
                responder.respond(lazy: { .message(answer) })
            case .success(let (plan, next, progress)?) where next == plan.levels.count:
                responder.respond(lazy: { .message(Self.snapshotAnswer(plan, progress)) })
            case .success(let (plan, next, progress)?):
                continueSnapshot(plan, from: next, progress, sliceMax: sliceMax, call: call, fingerprint: print)
            case .failure(let error):
                responder.respond(.from(error))
            }
        }, sheddable: true)
    }

    /// Applies the plan from `start` in further jobs, then records the message and answers.
    private func continueSnapshot(_ plan: StockSnapshotPlan, from start: Int, _ progress: StockSnapshotProgress, sliceMax: Int,
                                  call: Call, fingerprint print: Fingerprint) {
        let responder = call.responder
        let end = min(plan.levels.count, start + sliceMax)
        let last = end == plan.levels.count
        // Started slices are finished: not shed, not skipped for the caller's deadline.
        writer.submit(Job(kind: call.methodName, { context -> StockSnapshotProgress in
            let command = self.context(call, context, fingerprint: print)
            let progress = try Self.applySnapshotSlice(plan, start..<end, progress, context: context, command: command)
            if last { try context.engine.finishStockSnapshot(plan, context: command, storage: context.engineStorage) }
            return progress
        }) { [self] result in
            switch result {
            case .success(let progress) where last:
                responder.respond(lazy: { .message(Self.snapshotAnswer(plan, progress)) })
            case .success(let progress):
                continueSnapshot(plan, from: end, progress, sliceMax: sliceMax, call: call, fingerprint: print)
            case .failure(let error):
                responder.respond(.from(error))
            }
        })
    }

    /// One slice, all or nothing.
    private static func applySnapshotSlice(_ plan: StockSnapshotPlan, _ range: Range<Int>, _ progress: StockSnapshotProgress,
                                           context: WriteContext, command: CommandContext) throws -> StockSnapshotProgress {
        var progress = progress
        let slice = try context.atomically {
            try context.engine.applyStockSnapshotSlice(plan, range, context: command, storage: context.engineStorage)
        }
        progress.applied += slice.applied
        progress.positions += slice.positions.map { $0.1.position($0.0) }
        return progress
    }

    /// The answer: what every slice applied, and the positions they moved (by SKU, each as its slice left it).
    private static func snapshotAnswer(_ plan: StockSnapshotPlan, _ progress: StockSnapshotProgress) -> Waybill_V1_ErpMessageResult {
        var answer = Waybill_V1_ErpMessageResult()
        answer.messageID = plan.messageID
        answer.applied = Int32(progress.applied)
        answer.positions = progress.positions
        return answer
    }
}
