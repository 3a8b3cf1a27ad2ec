import Foundation
import JobModel

public enum JobStoreError: Error, CustomStringConvertible, Equatable {
    /// A job of a new batch breaks the limits; `index` is its position (0-based) in the list given.
    case invalidJob(index: Int, line: Int?, problems: [String])
    /// A new batch's own fields (name, source) break the limits.
    case invalidBatch(String)
    case batchNotFound(UUID)
    case batchExists(UUID)
    /// Another batch was stored under this idempotency key first (a concurrent submit).
    case batchKeyTaken(String, UUID)
    case jobNotFound(UUID)

    public var description: String {
        switch self {
        case .invalidJob(let index, let line, let problems):
            let place = line.map { "line \($0)" } ?? "job \(index + 1)"
            return "\(place): \(problems.joined(separator: "; "))"
        case .invalidBatch(let problem): return "batch \(problem)"
        case .batchNotFound(let id): return "no batch \(id.uuidString.lowercased())"
        case .batchExists(let id): return "batch \(id.uuidString.lowercased()) already exists"
        case .batchKeyTaken(let key, let id): return "batch key '\(key)' already names batch \(id.uuidString.lowercased())"
        case .jobNotFound(let id): return "no job \(id.uuidString.lowercased())"
        }
    }
}

/// The outcome of `claim`.
public enum ClaimResult: Sendable, Equatable {
    /// The job is now running on this worker (attempt already incremented): generate it.
    case claimed(JobRecord)
    /// The job is finished or canceled (or gave up after its attempts): skip it and move on.
    case skipped(JobState)
    /// No such job in the store (for example a record produced by another client): see `ensureJob`.
    case notFound
}

/// The outcome of `recordSuccess`.
public enum SuccessOutcome: Sendable, Equatable {
    /// This call recorded the result.
    case recorded
    /// The job had already finished (a duplicate delivery, or it was canceled); nothing changed.
    case alreadyFinished(JobState, existingOutput: JobOutput?)
    case notFound
}

/// The outcome of `recordFailure`.
public enum FailureOutcome: Sendable, Equatable {
    /// The job is queued again for attempt `nextAttempt` (re-produce it after a backoff, then markEnqueued).
    case willRetry(nextAttempt: Int, maxAttempts: Int)
    /// The job failed for good (terminal error or no attempts left): dead-letter it.
    case failed(attempts: Int)
    /// The job had already finished; nothing changed.
    case alreadyFinished(JobState)
    case notFound
}

/// Jobs, batches and workers in PostgreSQL. Every method is one transaction (or one atomic statement)
/// and binds all values as parameters. It holds one connection, so it is used from one thread at a time.
public final class JobRepository {
    public let db: PostgresConnection
    /// Batches with at least this many jobs are inserted with COPY; smaller ones with INSERTs.
    public var copyThreshold = 64
    /// The batch that jobs without a readable batch id are recorded under.
    public static let unbatchedID = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!

    public init(connection: PostgresConnection) {
        self.db = connection
    }

    public convenience init(settings: DatabaseSettings) throws {
        self.init(connection: try PostgresConnection(settings: settings))
    }

    static let jobColumns = """
        id, batch_id, line, state, attempt, max_attempts, prompt, seed, width, height, steps, guidance, model,
        negative_prompt, true_cfg_scale, worker_id, created_at, enqueued_at, started_at, finished_at, errors, output_uri, sha256, bytes
        """

    // MARK: submit

    /// The bounds every stored job and batch meets (the database's CHECK constraints hold the same numbers).
    public var limits = JobLimits.standard

    /// Inserts a batch and all its jobs in one transaction (COPY for large batches). Every job is checked
    /// against `limits` first; the first bad one is reported by index and line and nothing is written.
    public func createBatch(_ batch: NewBatch, jobs: [NewJob]) throws {
        for (index, job) in jobs.enumerated() {
            var problems = limits.problems(of: job.parameters).map(\.description)
            if let m = limits.checkMaxAttempts(job.maxAttempts) { problems.append("max attempts \(m)") }
            if !problems.isEmpty { throw JobStoreError.invalidJob(index: index, line: job.line, problems: problems) }
        }
        if let m = limits.checkBatchName(batch.name) { throw JobStoreError.invalidBatch("name \(m)") }
        if let source = batch.source, let m = limits.checkBatchSource(source) { throw JobStoreError.invalidBatch("source \(m)") }
        if let key = batch.key, let m = limits.checkBatchKey(key) { throw JobStoreError.invalidBatch("key \(m)") }
        if let url = batch.webhookURL, let m = limits.checkWebhookURL(url) { throw JobStoreError.invalidBatch("webhook_url \(m)") }
        do {
            try db.transaction { db in
                try db.execute("""
                    INSERT INTO batches (id, name, source, job_count, submit_key, submit_digest, webhook_url)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """, [batch.id, batch.name, batch.source, jobs.count, batch.key, batch.digest, batch.webhookURL])
                if jobs.count >= copyThreshold {
                    try db.copyIn("COPY jobs (id, batch_id, line, max_attempts, prompt, seed, width, height, steps, guidance, model, negative_prompt, true_cfg_scale) FROM STDIN") { writer in
                        for job in jobs {
                            let p = job.parameters
                            try writer.append([job.id, batch.id, job.line, job.maxAttempts, p.prompt, p.seed, p.width, p.height, p.steps, p.guidance, p.model,
                                               p.negativePrompt, p.trueCFGScale])
                        }
                    }
                } else {
                    for job in jobs {
                        let p = job.parameters
                        try db.execute("""
                            INSERT INTO jobs (id, batch_id, line, max_attempts, prompt, seed, width, height, steps, guidance, model,
                                              negative_prompt, true_cfg_scale)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                            """, [job.id, batch.id, job.line, job.maxAttempts, p.prompt, p.seed, p.width, p.height, p.steps, p.guidance, p.model,
                                  p.negativePrompt, p.trueCFGScale])
                    }
                }
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            if try db.query("SELECT 1 FROM batches WHERE id = $1", [batch.id]).count > 0 { throw JobStoreError.batchExists(batch.id) }
            if let key = batch.key, let existing = try self.batch(withKey: key) { throw JobStoreError.batchKeyTaken(key, existing.id) }
            throw error
        }
    }

    /// The batch submitted under an idempotency key, or nil.
    public func batch(withKey key: String) throws -> KeyedBatch? {
        try db.query("SELECT id, submit_digest FROM batches WHERE submit_key = $1", [key]).first.map {
            KeyedBatch(id: try $0.decode("id"), digest: try $0.decodeIfPresent("submit_digest"))
        }
    }

    /// Marks jobs as produced to Kafka (only those not marked yet); returns how many changed.
    @discardableResult
    public func markEnqueued(_ jobIDs: [UUID]) throws -> Int {
        try stampEnqueuedNow(jobIDs, where: "enqueued_at IS NULL")
    }

    /// Sets `enqueued_at = now()` on those of `jobIDs` that satisfy `condition` (SQL over `jobs`), 10 000
    /// ids per statement; returns how many rows changed.
    func stampEnqueuedNow(_ jobIDs: [UUID], where condition: String) throws -> Int {
        var changed = 0
        var start = 0
        while start < jobIDs.count {
            let chunk = Array(jobIDs[start..<min(start + 10_000, jobIDs.count)])
            changed += try db.execute("UPDATE jobs SET enqueued_at = now() WHERE id = ANY($1::uuid[]) AND \(condition)", [chunk])
            start += chunk.count
        }
        return changed
    }

    /// Jobs that are queued but were never produced (a crash between insert and produce, or between a
    /// retry's failure record and its re-produce), created at least `olderThan` seconds ago so that a
    /// submit still in progress is left alone. Oldest first.
    public func queuedButNotEnqueued(batchID: UUID? = nil, olderThan: TimeInterval = 60, limit: Int = 10_000) throws -> [JobRecord] {
        try db.query("""
            SELECT \(Self.jobColumns) FROM jobs
            WHERE state = 'queued' AND enqueued_at IS NULL
              AND created_at <= now() - make_interval(secs => $1)
              AND ($2::uuid IS NULL OR batch_id = $2)
            ORDER BY created_at, line
            LIMIT $3
            """, [olderThan, batchID, limit]).map(Self.jobRecord)
    }

    // MARK: worker

    /// Starts a job on a worker: queued or running (redelivered after a lost worker) jobs become running
    /// with attempt+1; finished and canceled jobs are skipped. A job whose attempts are used up is failed
    /// instead of started again, so a job that kills its worker cannot loop forever. Settings the job left
    /// unset take `defaults` (the worker's model defaults) and are written into the row, so the row says
    /// what was generated.
    public func claim(jobID: UUID, workerID: String, defaults: JobSettings = JobSettings()) throws -> ClaimResult {
        // The usual case is one atomic statement (one round trip); the rest needs a transaction.
        let claimSQL = """
            UPDATE jobs SET state = 'running', attempt = attempt + 1, started_at = now(), worker_id = $2,
                width = coalesce(width, $3), height = coalesce(height, $4), steps = coalesce(steps, $5),
                guidance = coalesce(guidance, $6), negative_prompt = coalesce(negative_prompt, $7),
                true_cfg_scale = coalesce(true_cfg_scale, $8)
            WHERE id = $1 AND state IN ('queued', 'running') AND attempt < max_attempts
            RETURNING \(Self.jobColumns)
            """
        let claimArguments: [PostgresEncodable?] = [jobID, workerID, defaults.width, defaults.height, defaults.steps, defaults.guidance,
                                                    defaults.negativePrompt, defaults.trueCFGScale]
        if let row = try db.query(claimSQL, claimArguments).first { return .claimed(try Self.jobRecord(row)) }
        return try db.transaction { db in
            let claimed = try db.query(claimSQL, claimArguments)
            if let row = claimed.first { return .claimed(try Self.jobRecord(row)) }
            let exhausted = try db.query("""
                UPDATE jobs SET state = 'failed', finished_at = now(),
                    errors = errors || jsonb_build_array(jsonb_build_object(
                        'attempt', attempt, 'at', now(), 'worker_id', $2::text, 'terminal', true,
                        'message', format('gave up: all %s attempts were started and none finished (the worker was lost)', max_attempts)))
                WHERE id = $1 AND state IN ('queued', 'running') AND attempt >= max_attempts
                RETURNING state
                """, [jobID, workerID])
            if exhausted.count > 0 { return .skipped(.failed) }
            guard let row = try db.query("SELECT state FROM jobs WHERE id = $1", [jobID]).first else { return .notFound }
            return .skipped(try row.decode("state"))
        }
    }

    /// Records a job that arrived from the queue but is not in the store (a record produced by another
    /// client). Creates its batch when missing. Returns true when it inserted the job.
    @discardableResult
    public func ensureJob(_ job: NewJob, batchID: UUID) throws -> Bool {
        let problems = limits.problems(of: job.parameters).map(\.description)
        if !problems.isEmpty { throw JobStoreError.invalidJob(index: 0, line: job.line, problems: problems) }
        return try db.transaction { db in
            try db.execute("INSERT INTO batches (id, name, source, job_count) VALUES ($1, 'external', 'queue', 0) ON CONFLICT (id) DO NOTHING", [batchID])
            let p = job.parameters
            let inserted = try db.execute("""
                INSERT INTO jobs (id, batch_id, line, max_attempts, prompt, seed, width, height, steps, guidance, model,
                                  negative_prompt, true_cfg_scale, enqueued_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
                ON CONFLICT (id) DO NOTHING
                """, [job.id, batchID, job.line, job.maxAttempts, p.prompt, p.seed, p.width, p.height, p.steps, p.guidance, p.model,
                      p.negativePrompt, p.trueCFGScale])
            if inserted > 0 { try db.execute("UPDATE batches SET job_count = job_count + 1 WHERE id = $1", [batchID]) }
            return inserted > 0
        }
    }

    /// Fails a job that cannot run (bad parameters, unknown model, unreadable fields) with `message`.
    /// A job already in the store gets a terminal failure; one that is not is inserted, failed, with
    /// whatever fields could be read (`parameters` nil: empty values) under `batchID`, or under the
    /// all-zero "unbatched" batch when no batch id could be read.
    public func recordRejection(jobID: UUID, batchID: UUID?, parameters: JobParameters?, workerID: String, message: String) throws -> FailureOutcome {
        try db.transaction { db in
            if try db.query("SELECT 1 FROM jobs WHERE id = $1", [jobID]).count > 0 {
                return try recordFailure(jobID: jobID, workerID: workerID, message: message, terminal: true)
            }
            let batch = batchID ?? Self.unbatchedID
            try db.execute("""
                INSERT INTO batches (id, name, source, job_count) VALUES ($1, $2, 'queue', 0) ON CONFLICT (id) DO NOTHING
                """, [batch, batchID == nil ? "unbatched" : "external"])
            let p = parameters ?? JobParameters(prompt: "", seed: 0, width: 0, height: 0, steps: 0, guidance: 0, model: "")
            try db.execute("""
                INSERT INTO jobs (id, batch_id, state, attempt, max_attempts, prompt, seed, width, height, steps, guidance, model,
                                  worker_id, enqueued_at, started_at, finished_at, errors, negative_prompt, true_cfg_scale)
                VALUES ($1, $2, 'failed', 1, 1, $3, $4, $5, $6, $7, $8, $9, $10, now(), now(), now(),
                        jsonb_build_array(jsonb_build_object('attempt', 1, 'at', now(), 'worker_id', $10::text, 'message', $11::text, 'terminal', true)),
                        $12, $13)
                """, [jobID, batch, p.prompt, p.seed, p.width, p.height, p.steps, p.guidance, p.model, workerID, message,
                      p.negativePrompt, p.trueCFGScale])
            try db.execute("UPDATE batches SET job_count = job_count + 1 WHERE id = $1", [batch])
            try db.execute("UPDATE workers SET jobs_failed = jobs_failed + 1 WHERE id = $1", [workerID])
            return .failed(attempts: 1)
        }
    }

    /// Records a finished image and its timings in one transaction. Idempotent: when the job has already
    /// finished (the same job delivered twice, or canceled meanwhile) nothing changes and the existing
    /// state is returned.
    @discardableResult
    public func recordSuccess(jobID: UUID, workerID: String, output: JobOutput, timings: JobTimings) throws -> SuccessOutcome {
        // One statement, so one round trip and atomic on its own: the job's row, its timings and the
        // worker's count change together or not at all (every data-modifying CTE runs to completion).
        let updated: Int = try db.query("""
            WITH done AS (
                UPDATE jobs SET state = 'succeeded', finished_at = now(), output_uri = $2, sha256 = $3, bytes = $4,
                    worker_id = $5, started_at = coalesce(started_at, now())
                WHERE id = $1 AND state IN ('queued', 'running')
                RETURNING id, attempt, started_at, enqueued_at, created_at
            ), timing AS (
                INSERT INTO job_timings (job_id, attempt, worker_id, queue_wait_ms, tokenize_encode_ms, denoise_ms, denoise_step_ms,
                                         vae_decode_ms, png_encode_ms, store_ms, total_ms, peak_rss_bytes)
                SELECT d.id, greatest(d.attempt, 1), $5,
                       greatest(0, extract(epoch FROM d.started_at - coalesce(d.enqueued_at, d.created_at)) * 1000),
                       $6, $7, $8::double precision[], $9, $10, $11, $12, $13
                FROM done d
                ON CONFLICT (job_id) DO UPDATE SET
                    attempt = EXCLUDED.attempt, worker_id = EXCLUDED.worker_id, queue_wait_ms = EXCLUDED.queue_wait_ms,
                    tokenize_encode_ms = EXCLUDED.tokenize_encode_ms, denoise_ms = EXCLUDED.denoise_ms,
                    denoise_step_ms = EXCLUDED.denoise_step_ms, vae_decode_ms = EXCLUDED.vae_decode_ms,
                    png_encode_ms = EXCLUDED.png_encode_ms, store_ms = EXCLUDED.store_ms, total_ms = EXCLUDED.total_ms,
                    peak_rss_bytes = EXCLUDED.peak_rss_bytes, recorded_at = now()
            ), worker AS (
                UPDATE workers SET jobs_done = jobs_done + 1, last_heartbeat_at = now()
                WHERE id = $5 AND EXISTS (SELECT 1 FROM done)
            )
            SELECT count(*)::bigint AS updated FROM done
            """, [jobID, output.uri, output.sha256.lowercased(), output.bytes, workerID, timings.tokenizeEncode * 1000,
                  timings.denoise * 1000, timings.denoiseSteps.map { $0 * 1000 }, timings.vaeDecode * 1000,
                  timings.pngEncode * 1000, timings.store * 1000, timings.total * 1000,
                  timings.peakRSSBytes]).single().decode("updated")
        if updated == 1 { return .recorded }
        guard let row = try db.query("SELECT state, output_uri, sha256, bytes FROM jobs WHERE id = $1", [jobID]).first else {
            return .notFound
        }
        var existing: JobOutput?
        if let uri: String = try row.decodeIfPresent("output_uri"), let sha: String = try row.decodeIfPresent("sha256"),
           let bytes: Int64 = try row.decodeIfPresent("bytes") {
            existing = JobOutput(uri: uri, sha256: sha, bytes: bytes)
        }
        return .alreadyFinished(try row.decode("state"), existingOutput: existing)
    }

    /// Appends `message` to the job's error history. A retryable failure puts the job back to queued (and
    /// clears enqueued_at until the retry is produced); a terminal one, or one with no attempts left,
    /// fails it for good.
    @discardableResult
    public func recordFailure(jobID: UUID, workerID: String, message: String, terminal: Bool) throws -> FailureOutcome {
        try db.transaction { db in
            let rows = try db.query("""
                UPDATE jobs SET
                    state = CASE WHEN $4::boolean OR attempt >= max_attempts THEN 'failed'::job_state ELSE 'queued'::job_state END,
                    finished_at = CASE WHEN $4::boolean OR attempt >= max_attempts THEN now() END,
                    enqueued_at = CASE WHEN $4::boolean OR attempt >= max_attempts THEN enqueued_at END,
                    worker_id = $2,
                    errors = errors || jsonb_build_array(jsonb_build_object(
                        'attempt', attempt, 'at', now(), 'worker_id', $2::text, 'message', $3::text,
                        'terminal', $4::boolean OR attempt >= max_attempts))
                WHERE id = $1 AND state IN ('queued', 'running')
                RETURNING state, attempt, max_attempts
                """, [jobID, workerID, message, terminal])
            guard let row = rows.first else {
                guard let existing = try db.query("SELECT state FROM jobs WHERE id = $1", [jobID]).first else { return .notFound }
                return .alreadyFinished(try existing.decode("state"))
            }
            try db.execute("UPDATE workers SET jobs_failed = jobs_failed + 1, last_heartbeat_at = now() WHERE id = $1", [workerID])
            let state: JobState = try row.decode("state")
            let attempt: Int = try row.decode("attempt")
            if state == .failed { return .failed(attempts: attempt) }
            return .willRetry(nextAttempt: attempt + 1, maxAttempts: try row.decode("max_attempts"))
        }
    }

    /// Cancels every queued or running job of a batch; returns how many were canceled. Workers skip
    /// canceled jobs when they arrive, and a running one's result is not recorded.
    @discardableResult
    public func cancelBatch(_ batchID: UUID) throws -> Int {
        try db.transaction { db in
            guard try db.execute("UPDATE batches SET canceled_at = coalesce(canceled_at, now()) WHERE id = $1", [batchID]) == 1 else {
                throw JobStoreError.batchNotFound(batchID)
            }
            return try db.execute("""
                UPDATE jobs SET state = 'canceled', finished_at = now()
                WHERE batch_id = $1 AND state IN ('queued', 'running')
                """, [batchID])
        }
    }

    /// One job as stored, or nil.
    public func job(_ jobID: UUID) throws -> JobRecord? {
        try db.query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1", [jobID]).first.map(Self.jobRecord)
    }

    // MARK: workers

    /// Registers (or re-registers after a restart with the same id) a worker process.
    public func registerWorker(_ worker: WorkerInfo) throws {
        try db.execute("""
            INSERT INTO workers (id, host, pid, model, version) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, model = EXCLUDED.model,
                version = EXCLUDED.version, started_at = now(), last_heartbeat_at = now(), stopped_at = NULL
            """, [worker.id, worker.host, worker.pid, worker.model, worker.version])
    }

    /// Records that the worker is alive; returns false when it is not registered.
    @discardableResult
    public func heartbeat(workerID: String) throws -> Bool {
        try db.execute("UPDATE workers SET last_heartbeat_at = now() WHERE id = $1", [workerID]) == 1
    }

    /// Records a clean shutdown.
    public func markWorkerStopped(workerID: String) throws {
        try db.execute("UPDATE workers SET stopped_at = now(), last_heartbeat_at = now() WHERE id = $1", [workerID])
    }

    public func workerActivity() throws -> [WorkerActivity] {
        try db.query("SELECT * FROM worker_activity ORDER BY started_at, worker_id").map { row in
            WorkerActivity(
                workerID: try row.decode("worker_id"), host: try row.decode("host"), pid: try row.decode("pid"),
                model: try row.decode("model"), version: try row.decode("version"), startedAt: try row.decode("started_at"),
                lastHeartbeatAt: try row.decode("last_heartbeat_at"), stoppedAt: try row.decodeIfPresent("stopped_at"),
                alive: try row.decode("alive"), jobsDone: try row.decode("jobs_done"), jobsFailed: try row.decode("jobs_failed"),
                runningNow: try row.decode("running_now"), meanTotalMs: try row.decodeIfPresent("mean_total_ms"),
                p95TotalMs: try row.decodeIfPresent("p95_total_ms"), imagesPerSecond: try row.decodeIfPresent("images_per_second"))
        }
    }

    // MARK: reports

    /// Progress of one batch, or nil when there is no such batch.
    public func batchProgress(_ batchID: UUID) throws -> BatchProgress? {
        try db.query("SELECT * FROM batch_progress WHERE batch_id = $1", [batchID]).first.map(Self.batchProgress)
    }

    /// The newest batches first.
    public func recentBatches(limit: Int = 20) throws -> [BatchProgress] {
        try db.query("SELECT * FROM batch_progress ORDER BY created_at DESC, batch_id LIMIT $1", [limit]).map(Self.batchProgress)
    }

    /// Jobs matching `filter`, newest first.
    public func history(_ filter: HistoryFilter) throws -> [JobHistoryEntry] {
        try db.query("""
            SELECT * FROM job_history
            WHERE ($1::uuid IS NULL OR batch_id = $1)
              AND ($2::job_state IS NULL OR state = $2)
              AND ($3::timestamptz IS NULL OR created_at >= $3)
              AND ($4::text IS NULL OR worker_id = $4)
            ORDER BY created_at DESC, line DESC NULLS LAST, job_id
            LIMIT $5
            """, [filter.batchID, filter.state, filter.since, filter.workerID, max(0, filter.limit)]).map(Self.historyEntry)
    }

    // MARK: decoding

    static func jobRecord(_ row: PostgresRow) throws -> JobRecord {
        let errorsJSON: PostgresJSON = try row.decode("errors")
        let errors: [JobErrorEntry]
        do {
            errors = try errorsJSON.decode([JobErrorEntry].self)
        } catch {
            throw PostgresError.typeMismatch(column: "errors", expected: "array of error entries", value: String(errorsJSON.text.prefix(60)), statement: "jobs")
        }
        return JobRecord(
            id: try row.decode("id"), batchID: try row.decode("batch_id"), line: try row.decodeIfPresent("line"),
            state: try row.decode("state"), attempt: try row.decode("attempt"), maxAttempts: try row.decode("max_attempts"),
            parameters: JobParameters(prompt: try row.decode("prompt"), seed: try row.decode("seed") as Int64,
                                      width: try row.decodeIfPresent("width"), height: try row.decodeIfPresent("height"),
                                      steps: try row.decodeIfPresent("steps"), guidance: try row.decodeIfPresent("guidance"),
                                      model: try row.decode("model") as String, negativePrompt: try row.decodeIfPresent("negative_prompt"),
                                      trueCFGScale: try row.decodeIfPresent("true_cfg_scale")),
            workerID: try row.decodeIfPresent("worker_id"), createdAt: try row.decode("created_at"),
            enqueuedAt: try row.decodeIfPresent("enqueued_at"), startedAt: try row.decodeIfPresent("started_at"),
            finishedAt: try row.decodeIfPresent("finished_at"), errors: errors, outputURI: try row.decodeIfPresent("output_uri"),
            sha256: try row.decodeIfPresent("sha256"), bytes: try row.decodeIfPresent("bytes"))
    }

    /// A `job_history` row as a `JobHistoryEntry`.
    static func historyEntry(_ row: PostgresRow) throws -> JobHistoryEntry {
        JobHistoryEntry(
            jobID: try row.decode("job_id"), batchID: try row.decode("batch_id"), batchName: try row.decode("batch_name"),
            line: try row.decodeIfPresent("line"), state: try row.decode("state"), attempt: try row.decode("attempt"),
            prompt: try row.decode("prompt"), seed: try row.decode("seed"), width: try row.decodeIfPresent("width"),
            height: try row.decodeIfPresent("height"), steps: try row.decodeIfPresent("steps"), model: try row.decode("model"),
            workerID: try row.decodeIfPresent("worker_id"), createdAt: try row.decode("created_at"),
            startedAt: try row.decodeIfPresent("started_at"), finishedAt: try row.decodeIfPresent("finished_at"),
            latencyMs: try row.decodeIfPresent("latency_ms"), errorCount: try row.decode("error_count"),
            lastError: try row.decodeIfPresent("last_error"), outputURI: try row.decodeIfPresent("output_uri"),
            sha256: try row.decodeIfPresent("sha256"), bytes: try row.decodeIfPresent("bytes"),
            totalMs: try row.decodeIfPresent("total_ms"), guidance: try row.decodeIfPresent("guidance"),
            negativePrompt: try row.decodeIfPresent("negative_prompt"), trueCFGScale: try row.decodeIfPresent("true_cfg_scale"))
    }

    static func batchProgress(_ row: PostgresRow) throws -> BatchProgress {
        BatchProgress(
            batchID: try row.decode("batch_id"), name: try row.decode("name"), createdAt: try row.decode("created_at"),
            canceledAt: try row.decodeIfPresent("canceled_at"), total: try row.decode("total"), queued: try row.decode("queued"),
            running: try row.decode("running"), succeeded: try row.decode("succeeded"), failed: try row.decode("failed"),
            canceled: try row.decode("canceled"), finished: try row.decode("finished"),
            p50LatencyMs: try row.decodeIfPresent("p50_latency_ms"), p95LatencyMs: try row.decodeIfPresent("p95_latency_ms"),
            p50GenerationMs: try row.decodeIfPresent("p50_generation_ms"), p95GenerationMs: try row.decodeIfPresent("p95_generation_ms"),
            firstStartedAt: try row.decodeIfPresent("first_started_at"), lastFinishedAt: try row.decodeIfPresent("last_finished_at"),
            imagesPerSecond: try row.decodeIfPresent("images_per_second"))
    }
}
