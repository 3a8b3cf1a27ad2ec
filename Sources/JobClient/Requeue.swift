import Foundation
import JobQueue
import JobStore

/// `ternflux requeue`: producing again jobs whose records never reached the broker or may be gone from it.
extension BatchSubmitter {
    /// Produces the jobs that are queued but were never enqueued (a crash between a submit's insert and its
    /// produce, or between a retry's failure record and its re-produce), created `olderThan` seconds ago or
    /// earlier so that a submit still in progress is left alone. Returns how many were produced.
    public func requeueNeverEnqueued(batchID: UUID?, olderThan: TimeInterval) throws -> Int {
        var total = 0
        while true {
            let jobs = try repository.queuedButNotEnqueued(batchID: batchID, olderThan: olderThan, limit: chunkSize)
            if jobs.isEmpty { return total }
            try enqueue(jobs.map(\.message))
            total += jobs.count
        }
    }

    /// Produces again jobs that were enqueued `olderThan` seconds ago or earlier and never started (their
    /// records may be gone from the topic), then stamps them enqueued now, so a later run leaves them alone
    /// for another `olderThan`. A job whose record was only waiting in a long backlog is delivered twice;
    /// the worker skips the second delivery as finished. Returns how many jobs were produced.
    public func requeueStale(batchID: UUID?, olderThan: TimeInterval) throws -> Int {
        var total = 0
        while true {
            let jobs = try repository.queuedAndEnqueuedBefore(batchID: batchID, olderThan: olderThan, limit: chunkSize)
            if jobs.isEmpty { return total }
            let reports = try producer.sendBatch(jobs.map { $0.message.record() })
            let delivered = zip(jobs, reports).compactMap { job, report in report.error == nil ? job.id : nil }
            try repository.markEnqueuedAgain(delivered)
            if let failed = reports.first(where: { $0.error != nil })?.error { throw failed }
            total += jobs.count
        }
    }
}
