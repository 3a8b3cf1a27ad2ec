import Foundation
import JobModel

extension JobState: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { rawValue }
    public static var postgresTypeName: String { "job_state" }
    public init?(postgresText: String) { self.init(rawValue: postgresText) }
}

/// A job to insert with its batch.
public struct NewJob: Sendable, Equatable {
    public var id: UUID
    /// The line of the submitted file it came from (1-based), if any.
    public var line: Int?
    public var parameters: JobParameters
    public var maxAttempts: Int

    public init(id: UUID = UUID(), line: Int? = nil, parameters: JobParameters, maxAttempts: Int = 3) {
        self.id = id
        self.line = line
        self.parameters = parameters
        self.maxAttempts = maxAttempts
    }
}

public struct NewBatch: Sendable, Equatable {
    public var id: UUID
    public var name: String
    /// Where the prompts came from (a file name, "-" for stdin), if known.
    public var source: String?
    /// The submitter's idempotency key (`--batch-key`): at most one batch per key.
    public var key: String?
    /// SHA-256 (hex) of what was submitted under `key`, to tell a repeat from a different batch under one key.
    public var digest: String?
    /// Where to POST the batch summary once every job is terminal (`--webhook-url`).
    public var webhookURL: String?

    public init(id: UUID = UUID(), name: String = "", source: String? = nil, key: String? = nil, digest: String? = nil,
                webhookURL: String? = nil) {
        self.id = id
        self.name = name
        self.source = source
        self.key = key
        self.digest = digest
        self.webhookURL = webhookURL
    }
}

/// A batch found by its idempotency key.
public struct KeyedBatch: Sendable, Equatable {
    public var id: UUID
    public var digest: String?

    public init(id: UUID, digest: String?) {
        self.id = id
        self.digest = digest
    }
}

/// One entry of a job's error history (the `errors` jsonb array).
public struct JobErrorEntry: Sendable, Equatable, Codable {
    public var attempt: Int
    public var at: String
    public var workerID: String?
    public var message: String
    public var terminal: Bool

    enum CodingKeys: String, CodingKey {
        case attempt, at, message, terminal
        case workerID = "worker_id"
    }
}

/// A job as stored.
public struct JobRecord: Sendable, Equatable {
    public var id: UUID
    public var batchID: UUID
    public var line: Int?
    public var state: JobState
    public var attempt: Int
    public var maxAttempts: Int
    public var parameters: JobParameters
    public var workerID: String?
    public var createdAt: Date
    public var enqueuedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var errors: [JobErrorEntry]
    public var outputURI: String?
    public var sha256: String?
    public var bytes: Int64?
}

/// Where a finished image went.
public struct JobOutput: Sendable, Equatable {
    public var uri: String
    /// Lower-case hex SHA-256 of the file's bytes.
    public var sha256: String
    public var bytes: Int64

    public init(uri: String, sha256: String, bytes: Int64) {
        self.uri = uri
        self.sha256 = sha256
        self.bytes = bytes
    }
}

/// A worker process as it registers itself.
public struct WorkerInfo: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    public var model: String
    public var version: String

    public init(id: String, host: String, pid: Int, model: String, version: String) {
        self.id = id
        self.host = host
        self.pid = pid
        self.model = model
        self.version = version
    }
}

/// A row of the `batch_progress` view.
public struct BatchProgress: Sendable, Equatable, Codable {
    @LowercaseUUID public var batchID: UUID
    public var name: String
    public var createdAt: Date
    public var canceledAt: Date?
    public var total: Int
    public var queued: Int
    public var running: Int
    public var succeeded: Int
    public var failed: Int
    public var canceled: Int
    /// No job is queued or running.
    public var finished: Bool
    public var p50LatencyMs: Double?
    public var p95LatencyMs: Double?
    public var p50GenerationMs: Double?
    public var p95GenerationMs: Double?
    public var firstStartedAt: Date?
    public var lastFinishedAt: Date?
    public var imagesPerSecond: Double?

    enum CodingKeys: String, CodingKey {
        case batchID = "batch_id", name, createdAt = "created_at", canceledAt = "canceled_at", total, queued, running,
             succeeded, failed, canceled, finished, p50LatencyMs = "p50_latency_ms", p95LatencyMs = "p95_latency_ms",
             p50GenerationMs = "p50_generation_ms", p95GenerationMs = "p95_generation_ms",
             firstStartedAt = "first_started_at", lastFinishedAt = "last_finished_at", imagesPerSecond = "images_per_second"
    }
}

/// A row of the `job_history` view (without the per-step array and the full error list).
public struct JobHistoryEntry: Sendable, Equatable, Codable {
    @LowercaseUUID public var jobID: UUID
    @LowercaseUUID public var batchID: UUID
    public var batchName: String
    public var line: Int?
    public var state: JobState
    public var attempt: Int
    public var prompt: String
    public var seed: Int64
    /// Nil until a worker claims a job that left them to the model's defaults.
    public var width: Int?
    public var height: Int?
    public var steps: Int?
    public var model: String
    public var workerID: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var latencyMs: Double?
    public var errorCount: Int
    public var lastError: String?
    public var outputURI: String?
    public var sha256: String?
    public var bytes: Int64?
    public var totalMs: Double?
    /// Nil until claimed, like width, height and steps; a claimed job's nil negative prompt: the model has none.
    public var guidance: Double? = nil
    public var negativePrompt: String? = nil
    public var trueCFGScale: Double? = nil

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", batchID = "batch_id", batchName = "batch_name", line, state, attempt, prompt, seed, width, height,
             steps, model, workerID = "worker_id", createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at",
             latencyMs = "latency_ms", errorCount = "error_count", lastError = "last_error", outputURI = "output_uri", sha256, bytes,
             totalMs = "total_ms", guidance, negativePrompt = "negative_prompt", trueCFGScale = "true_cfg_scale"
    }
}

/// Filters for `JobRepository.history`; nil means "any".
public struct HistoryFilter: Sendable, Equatable {
    public var batchID: UUID?
    public var state: JobState?
    /// Jobs created at or after this time.
    public var since: Date?
    public var workerID: String?
    public var limit: Int

    public init(batchID: UUID? = nil, state: JobState? = nil, since: Date? = nil, workerID: String? = nil, limit: Int = 100) {
        self.batchID = batchID
        self.state = state
        self.since = since
        self.workerID = workerID
        self.limit = limit
    }
}

/// A row of the `worker_activity` view.
public struct WorkerActivity: Sendable, Equatable, Codable {
    public var workerID: String
    public var host: String
    public var pid: Int
    public var model: String
    public var version: String
    public var startedAt: Date
    public var lastHeartbeatAt: Date
    public var stoppedAt: Date?
    public var alive: Bool
    public var jobsDone: Int64
    public var jobsFailed: Int64
    public var runningNow: Int
    public var meanTotalMs: Double?
    public var p95TotalMs: Double?
    public var imagesPerSecond: Double?

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id", host, pid, model, version, startedAt = "started_at", lastHeartbeatAt = "last_heartbeat_at",
             stoppedAt = "stopped_at", alive, jobsDone = "jobs_done", jobsFailed = "jobs_failed", runningNow = "running_now",
             meanTotalMs = "mean_total_ms", p95TotalMs = "p95_total_ms", imagesPerSecond = "images_per_second"
    }
}
