import Dispatch
import Foundation

/// SIGTERM / SIGINT handling: the first signal asks the worker to finish its current job and stop;
/// a job still running `graceSeconds` later is handed back unfinished. A second signal stops at once.
public final class ShutdownSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var requestedAt: UInt64?
    private var sources: [DispatchSourceSignal] = []
    public let graceSeconds: Double

    public init(graceSeconds: Double) {
        self.graceSeconds = graceSeconds
    }

    /// Installs handlers for SIGTERM and SIGINT.
    public func install(onRequest: @escaping @Sendable (Int32) -> Void = { _ in }) {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.isRequested {
                    // Second signal: stop now; nothing unrecorded is lost, unstored offsets are redelivered.
                    exit(130)
                }
                self.request()
                onRequest(sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    public func request() {
        lock.lock(); defer { lock.unlock() }
        if requestedAt == nil { requestedAt = DispatchTime.now().uptimeNanoseconds }
    }

    public var isRequested: Bool {
        lock.lock(); defer { lock.unlock() }
        return requestedAt != nil
    }

    /// The uptime (ns) at which a running job must be handed back, once shutdown was requested.
    @Sendable public func deadline() -> UInt64? {
        lock.lock(); defer { lock.unlock() }
        return requestedAt.map { $0 + UInt64(graceSeconds * 1e9) }
    }
}
