// The in-process driver routes with the gazetteer a server routes with by default, so ship-tos
// without coordinates resolve the same way in both drivers (what the simulator proves holds for
// the server).

import WaybillCore
import WaybillServer

extension Gazetteer {
    /// What `ServerConfiguration().gazetteer` holds.
    static var serverDefault: Gazetteer { ServerConfiguration().gazetteer }
}
