import Foundation

extension JobRepository {
    /// Hands a running job back unfinished (the worker is shutting down and its grace period passed):
    /// the job is queued again and the attempt it used is returned, since the job did not fail. Its Kafka
    /// offset is not stored, so the group delivers it again. Returns false when the job was not running
    /// on this worker (it finished, was canceled, or another worker took it over).
    @discardableResult
    public func release(jobID: UUID, workerID: String) throws -> Bool {
        try db.execute("""
            UPDATE jobs SET state = 'queued', attempt = greatest(attempt - 1, 0), started_at = NULL
            WHERE id = $1 AND state = 'running' AND worker_id = $2
            """, [jobID, workerID]) == 1
    }
}
