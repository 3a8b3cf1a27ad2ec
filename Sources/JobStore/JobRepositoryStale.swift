import Foundation

extension JobRepository {
    /// Jobs that are queued and were produced to Kafka at least `olderThan` seconds ago but never started
    /// since: their records may be gone (a broker that discarded them — the embedded broker keeps only
    /// ~5 MiB per partition — or a topic whose retention ran out before a worker read them). Oldest first.
    public func queuedAndEnqueuedBefore(batchID: UUID? = nil, olderThan: TimeInterval, limit: Int = 10_000) throws -> [JobRecord] {
        try db.query("""
            SELECT \(Self.jobColumns) FROM jobs
            WHERE state = 'queued' AND enqueued_at IS NOT NULL
              AND enqueued_at <= now() - make_interval(secs => $1)
              AND ($2::uuid IS NULL OR batch_id = $2)
            ORDER BY enqueued_at, line
            LIMIT $3
            """, [olderThan, batchID, limit]).map(Self.jobRecord)
    }

    /// Records that queued jobs were produced again now (only jobs still queued); returns how many changed.
    @discardableResult
    public func markEnqueuedAgain(_ jobIDs: [UUID]) throws -> Int {
        try stampEnqueuedNow(jobIDs, where: "state = 'queued'")
    }
}
