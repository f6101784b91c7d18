// `waybill serve --clock T@WxS`: the server on a compressed clock, for simulations that run the
// server as a child process (the live simulator's server faults kill it and restart it on the
// same database, and its days must stay the simulated days across the restart).

import Foundation
import WaybillCore

enum ServeClock {
    /// The help text of `--clock`.
    static let help: String = "Run on a compressed clock (simulations): T@WxS = the clock reads T (Unix ms) until "
        + "the wall clock reads W (Unix ms), then advances S ms per wall ms. Default: the wall clock."

    /// Parses `T@WxS` (e.g. `1764374400000@1796300000000x60`) into a clock. The same flag on a
    /// restarted server continues the same clock: it is a function of the wall clock alone.
    static func parse(_ text: String) throws -> @Sendable () -> Timestamp {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        let rest = parts.count == 2 ? parts[1].split(separator: "x", omittingEmptySubsequences: false) : []
        guard parts.count == 2, rest.count == 2, let start = Int64(parts[0]), let wallAnchor = Int64(rest[0]),
              let scale = Double(rest[1]), scale > 0, scale.isFinite else {
            throw ServeClockError(text)
        }
        return {
            let wall = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            return Timestamp(millisecondsSinceEpoch: start + Int64(Double(max(0, wall - wallAnchor)) * scale))
        }
    }
}

struct ServeClockError: Error, CustomStringConvertible {
    let text: String
    init(_ text: String) { self.text = text }
    var description: String { "--clock must be T@WxS (start Unix ms @ wall Unix ms x scale > 0), e.g. 1764374400000@1796300000000x60; got \(text)" }
}
