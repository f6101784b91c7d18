// Picks up credential changes another process wrote to the same database file (`waybill clients
// --database` while the server runs): every `credentialsRefreshIntervalMilliseconds` it reads the
// table's version (one row) and, when it moved past the directory's, installs every credential.
// The server's own changes are installed by their writer jobs at once; this only covers the rest.
// SQLite is read on the poller's own dispatch queue, never on an event loop or Swift's pool.

import Dispatch
import Logging
import WaybillApplication
import WaybillStore

/// `@unchecked`: a dispatch source may be cancelled from any thread.
final class CredentialPoller: @unchecked Sendable {
    private let timer: any DispatchSourceTimer

    init(database: WaybillDatabase, writer: StoreWriter, directory: CredentialDirectory, intervalMilliseconds: Int, logger: Logger) {
        let queue = DispatchQueue(label: "waybill-credentials")
        let timer = DispatchSource.makeTimerSource(queue: queue)
        self.timer = timer
        let interval = DispatchTimeInterval.milliseconds(max(1, intervalMilliseconds))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(max(1, intervalMilliseconds / 10)))
        // The writer stops before the file closes: stop reading with it (a server that owns its
        // storage closes it without this poller in hand). The box breaks the timer's cycle then.
        let box = TimerBox(timer)
        timer.setEventHandler {
            if writer.isStopping {
                box.cancel()
                return
            }
            do {
                guard try database.credentialsVersion() > directory.version else { return }
                let snapshot = try database.credentialSnapshot()
                if directory.replaceAll(snapshot.records, version: snapshot.version) {
                    logger.info("credentials changed in the database file: reloaded",
                                metadata: ["version": "\(snapshot.version)", "credentials": "\(snapshot.credentials.count)"])
                }
            } catch {
                logger.warning("credentials: could not re-read the credentials table: \(error)")
            }
        }
        timer.resume()
    }

    /// Stops polling (idempotent).
    func stop() { timer.cancel() }
}

/// The timer, for its own handler to cancel it; released on cancel.
private final class TimerBox: @unchecked Sendable {
    private var timer: (any DispatchSourceTimer)?
    init(_ timer: any DispatchSourceTimer) { self.timer = timer }
    /// Only on the timer's queue.
    func cancel() {
        timer?.cancel()
        timer = nil
    }
}
