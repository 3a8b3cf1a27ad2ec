import Foundation
import JobModel

/// Reads for browsing one batch or one job (the HTTP API and its gallery): a batch's jobs in line order, a
/// page at a time, and one job's history entry with the per-phase timings of its successful attempt.
extension JobRepository {
    /// The jobs of a batch in file order (line, then seed: a line's images in seed order), optionally of one
    /// state, `limit` of them after skipping `offset`.
    public func batchJobs(_ batchID: UUID, state: JobState? = nil, limit: Int = 100, offset: Int = 0) throws -> [JobHistoryEntry] {
        try db.query("""
            SELECT * FROM job_history
            WHERE batch_id = $1 AND ($2::job_state IS NULL OR state = $2)
            ORDER BY line NULLS LAST, seed, job_id
            LIMIT $3 OFFSET $4
            """, [batchID, state, max(0, limit), max(0, offset)]).map(Self.historyEntry)
    }

    /// One job's `job_history` row, or nil when there is no such job.
    public func historyEntry(jobID: UUID) throws -> JobHistoryEntry? {
        try db.query("SELECT * FROM job_history WHERE job_id = $1", [jobID]).first.map(Self.historyEntry)
    }

    /// Where the successful attempt of a job spent its time, or nil while it has not succeeded.
    public func phaseTimings(jobID: UUID) throws -> JobPhaseTimings? {
        try db.query("""
            SELECT queue_wait_ms, tokenize_encode_ms, denoise_ms, denoise_step_ms, vae_decode_ms, png_encode_ms, store_ms,
                   total_ms, peak_rss_bytes, attempt, worker_id
            FROM job_timings WHERE job_id = $1
            """, [jobID]).first.map { row in
            JobPhaseTimings(
                queueWaitMs: try row.decode("queue_wait_ms"), tokenizeEncodeMs: try row.decode("tokenize_encode_ms"),
                denoiseMs: try row.decode("denoise_ms"), denoiseStepMs: try row.decode("denoise_step_ms"),
                vaeDecodeMs: try row.decode("vae_decode_ms"), pngEncodeMs: try row.decode("png_encode_ms"),
                storeMs: try row.decode("store_ms"), totalMs: try row.decode("total_ms"),
                peakRSSBytes: try row.decode("peak_rss_bytes"), attempt: try row.decode("attempt"), workerID: try row.decode("worker_id"))
        }
    }
}

/// A row of `job_timings`: the phases of a job's successful attempt, in milliseconds (docs/sql.md).
public struct JobPhaseTimings: Sendable, Equatable, Codable {
    public var queueWaitMs: Double
    public var tokenizeEncodeMs: Double
    public var denoiseMs: Double
    /// One entry per denoising step.
    public var denoiseStepMs: [Double]
    public var vaeDecodeMs: Double
    public var pngEncodeMs: Double
    public var storeMs: Double
    public var totalMs: Double
    public var peakRSSBytes: Int64
    public var attempt: Int
    public var workerID: String

    enum CodingKeys: String, CodingKey {
        case queueWaitMs = "queue_wait_ms", tokenizeEncodeMs = "tokenize_encode_ms", denoiseMs = "denoise_ms",
             denoiseStepMs = "denoise_step_ms", vaeDecodeMs = "vae_decode_ms", pngEncodeMs = "png_encode_ms", storeMs = "store_ms",
             totalMs = "total_ms", peakRSSBytes = "peak_rss_bytes", attempt, workerID = "worker_id"
    }
}
