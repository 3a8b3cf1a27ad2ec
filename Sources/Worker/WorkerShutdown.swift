import Dispatch
import Foundation
import JobQueue

/// A worker's shutdown request: once requested the worker finishes its current job and stops; a job still
/// running `graceSeconds` later is handed back unfinished. Requested by the service group on SIGTERM/SIGINT
/// (`WorkerService.run()`), or directly by whoever runs the worker in-process.
public final class WorkerShutdown: @unchecked Sendable {
    private let lock = NSLock()
    private var requestedAt: UInt64?
    public let graceSeconds: Double

    public init(graceSeconds: Double) {
        self.graceSeconds = graceSeconds
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
    public func deadline() -> UInt64? {
        lock.lock(); defer { lock.unlock() }
        return requestedAt.map { uptimeDeadline(from: $0, afterSeconds: graceSeconds) }
    }

    /// Whether the grace period of a requested shutdown has passed.
    public var isPastDeadline: Bool {
        guard let deadline = deadline() else { return false }
        return DispatchTime.now().uptimeNanoseconds >= deadline
    }
}
