// The request context of console routes: Hummingbird's core storage plus the peer's address
// (sign-in failures are throttled per peer, as failed protocol authentications are).

import Hummingbird
import NIOCore

struct ConsoleContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// "127.0.0.1" for an IPv4 peer; "unknown" when the channel does not say.
    let peer: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Forms are small: the whole console's posts stay under `consoleRequestBytesMax`.
    var maxUploadSize: Int { 64 * 1024 }
}
