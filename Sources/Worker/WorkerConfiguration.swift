import Foundation
import JobModel
import JobQueue
import JobStore

/// How one worker process runs: where it connects, where images go, its limits and timings.
public struct WorkerConfiguration: Sendable {
    public var kafka: KafkaSettings
    public var database: DatabaseSettings
    public var outputRoot: URL
    public var groupID = "ternflux-workers"
    public var workerID: String
    /// The worker's own per-job limit (librdkafka cannot enforce one: polling resets it).
    public var jobTimeoutSeconds: Double = 600
    /// After SIGTERM, how long the current job may still run before it is handed back.
    public var shutdownGraceSeconds: Double = 60
    public var heartbeatSeconds: Double = 5
    public var retryPolicy = RetryPolicy()
    public var limits = JobLimits.standard
    /// librdkafka `statistics.interval.ms` of the consumer: consumer lag and group state for the metrics
    /// and `/readyz` (a `statistics.interval.ms` pass-through property overrides it).
    public var statisticsIntervalMilliseconds = 5_000
    /// Completion webhooks this worker delivers; nil (no signing secret): none.
    public var webhooks: WebhookPolicy?

    public init(kafka: KafkaSettings, database: DatabaseSettings, outputRoot: URL, workerID: String? = nil) {
        self.kafka = kafka
        self.database = database
        self.outputRoot = outputRoot
        self.workerID = workerID ?? WorkerConfiguration.defaultWorkerID()
    }

    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName
        let suffix = UUID().uuidString.prefix(8).lowercased()
        return "\(host)-\(getpid())-\(suffix)"
    }
}

/// When a worker stops on its own, besides a shutdown request: for scripts (`--exit-when-idle`,
/// `--max-jobs`), tests and benchmarks. A production worker runs until signalled (`.never`).
public struct WorkerStopRule: Sendable, Equatable {
    /// Stop after this many seconds without a record.
    public var idleSeconds: Double?
    /// Stop after processing this many records.
    public var maxRecords: Int?

    public init(idleSeconds: Double? = nil, maxRecords: Int? = nil) {
        self.idleSeconds = idleSeconds
        self.maxRecords = maxRecords
    }

    public static let never = WorkerStopRule()
}

/// Told of every record a worker processed to an outcome, with the job path's timing when the job was
/// claimed and generated: how tests and `ternflux bench pipeline` watch a worker.
public typealias WorkerRecordObserver = @Sendable (JobOutcome, JobPathTiming?) -> Void
