import Foundation
import JobStore
import Logging

/// Updates the worker's heartbeat row from its own thread and connection, so a long job never looks dead.
/// A thread, not a task: libpq calls block, and a blocked task would take one of the few cooperative
/// threads (two on a 2-core node) away from the rest of the process.
///
/// A beat that updates no row means the worker's row is gone (the schema was reverted and applied again, or
/// someone deleted it): the worker registers itself again, so `worker_activity` never silently loses it.
final class Heartbeat: @unchecked Sendable {
    let conninfo: String
    let worker: WorkerInfo
    let intervalSeconds: Double
    let logger: Logger
    /// After each beat: nil when it was written, else the error.
    let onBeat: @Sendable ((any Error)?) -> Void
    private let stopped = NSCondition()
    private var stopRequested = false

    init(conninfo: String, worker: WorkerInfo, intervalSeconds: Double, logger: Logger,
         onBeat: @escaping @Sendable ((any Error)?) -> Void = { _ in }) {
        self.onBeat = onBeat
        self.conninfo = conninfo
        self.worker = worker
        self.intervalSeconds = intervalSeconds
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            var connection: PostgresConnection?
            while true {
                stopped.lock()
                if !stopRequested { _ = stopped.wait(until: Date().addingTimeInterval(intervalSeconds)) }
                let done = stopRequested
                stopped.unlock()
                if done { break }
                do {
                    if connection == nil { connection = try PostgresConnection(conninfo: conninfo) }
                    let repository = JobRepository(connection: connection!)
                    if try !repository.heartbeat(workerID: worker.id) {
                        logger.warning("the worker's row is missing (schema reverted or row deleted); registering again")
                        try repository.registerWorker(worker)
                    }
                    onBeat(nil)
                } catch {
                    onBeat(error)
                    logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
                    connection?.close()
                    connection = nil
                }
            }
            connection?.close()
        }
        thread.name = "ternflux-heartbeat"
        thread.start()
    }

    func stop() {
        stopped.lock()
        stopRequested = true
        stopped.signal()
        stopped.unlock()
    }
}
