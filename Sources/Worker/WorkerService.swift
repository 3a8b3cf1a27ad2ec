import Foundation
import JobQueue
import JobStore
import Logging

/// How one worker process runs.
public struct WorkerConfiguration: Sendable {
    public var kafka: KafkaSettings
    public var database: DatabaseSettings
    public var outputRoot: URL
    public var groupID = "ternflux-workers"
    public var workerID: String
    /// The worker's own per-job limit (librdkafka 2.0.2 cannot enforce one: polling resets it).
    public var jobTimeoutSeconds: Double = 600
    /// After SIGTERM, how long the current job may still run before it is handed back.
    public var shutdownGraceSeconds: Double = 60
    public var heartbeatSeconds: Double = 5
    public var retryPolicy = RetryPolicy()
    public var limits = JobLimits.standard
    /// Stop after this many seconds without a record (nil: run until signalled). For scripts and tests.
    public var exitWhenIdleSeconds: Double?
    /// Stop after processing this many records (nil: no limit). For tests and benchmarks.
    public var maxJobs: Int?
    /// Keep a `JobPathTiming` of every successful job in `WorkerService.pathTimings` (benchmarks).
    public var collectPathTimings = false

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

/// The consume → generate → record loop of one worker process.
public final class WorkerService {
    public let configuration: WorkerConfiguration
    let generator: any ImageGenerator
    let shutdown: ShutdownSignal
    var logger: Logger
    public private(set) var outcomes: [JobOutcome] = []
    /// With `collectPathTimings`: the timings of the jobs this worker claimed and finished.
    public private(set) var pathTimings: [JobPathTiming] = []

    public init(configuration: WorkerConfiguration, generator: any ImageGenerator, logger: Logger,
                shutdown: ShutdownSignal? = nil) {
        self.configuration = configuration
        self.generator = generator
        self.shutdown = shutdown ?? ShutdownSignal(graceSeconds: configuration.shutdownGraceSeconds)
        self.logger = logger
        self.logger[metadataKey: "worker_id"] = "\(configuration.workerID)"
    }

    /// Runs until a shutdown signal (or the idle / job-count limits) and returns after leaving the group.
    public func run(installSignalHandlers: Bool = true) throws {
        if installSignalHandlers {
            let log = logger
            shutdown.install { sig in log.notice("signal \(sig): finishing the current job, then stopping") }
        }
        let config = configuration
        let database = try connectWithRetry("PostgreSQL") { try PostgresConnection(conninfo: config.database.conninfo) }
        let repository = JobRepository(connection: database)
        try repository.registerWorker(WorkerInfo(id: config.workerID, host: ProcessInfo.processInfo.hostName,
                                                 pid: Int(getpid()), model: generator.modelNames.first ?? "",
                                                 version: WorkerVersion.current))
        let heartbeat = Heartbeat(conninfo: config.database.conninfo, workerID: config.workerID,
                                  intervalSeconds: config.heartbeatSeconds, logger: logger)
        heartbeat.start()
        defer { heartbeat.stop() }

        let producer = try connectWithRetry("Kafka (producer)") {
            try KafkaProducer(configuration: KafkaProducerConfiguration(settings: config.kafka, clientID: "ternflux-worker-producer"))
        }
        defer { producer.close() }
        var consumerConfig = KafkaConsumerConfiguration(settings: config.kafka, groupID: config.groupID)
        consumerConfig.clientID = "ternflux-worker-\(config.workerID)"
        let log = logger
        consumerConfig.onRebalance = { event in log.info("rebalance: \(event)") }
        consumerConfig.onError = { error in log.warning("kafka: \(error)") }
        let consumer = try connectWithRetry("Kafka (consumer)") { try KafkaConsumer(configuration: consumerConfig) }

        let images = ImageStore(root: config.outputRoot)
        let orphans = images.removeOrphanedTemporaries()
        if orphans > 0 { logger.info("removed \(orphans) partial image file(s) left by dead workers") }
        let processor = JobProcessor(workerID: config.workerID, repository: repository, producer: producer,
                                     generator: generator, images: images, limits: config.limits,
                                     retryPolicy: config.retryPolicy, jobTimeoutSeconds: config.jobTimeoutSeconds,
                                     shutdown: shutdown, logger: logger)
        logger.info("worker started", metadata: ["models": "\(generator.modelNames.joined(separator: ","))",
                                                 "output": "\(config.outputRoot.path)"])
        let started = Date()
        var idleSince: Date?
        var processed = 0
        while !shutdown.isRequested {
            if let maxJobs = config.maxJobs, processed >= maxJobs { break }
            // The idle clock starts once this member holds partitions (joining the group takes a few
            // seconds), or after a minute without any.
            if idleSince == nil && (!consumer.assignment.isEmpty || Date().timeIntervalSince(started) > 60) {
                idleSince = Date()
            }
            if let idle = config.exitWhenIdleSeconds, let since = idleSince, Date().timeIntervalSince(since) >= idle {
                logger.info("idle for \(Int(idle)) s; stopping")
                break
            }
            guard let record = try consumer.poll(timeoutMilliseconds: 200) else { continue }
            idleSince = Date()
            processed += 1
            // Database or broker trouble is retried with the record in hand (WorkerRecovery.swift).
            if let outcome = try processUntilRecorded(record, processor: processor, consumer: consumer, repository: repository) {
                outcomes.append(outcome)
                if config.collectPathTimings, let timing = processor.lastTiming { pathTimings.append(timing) }
            }
        }
        logger.info("leaving the consumer group")
        try consumer.close()
        try? repository.markWorkerStopped(workerID: config.workerID)
        logger.info("worker stopped", metadata: ["records": "\(processed)"])
    }

    /// Connects, retrying with backoff while the service is unreachable; gives up on shutdown.
    func connectWithRetry<T>(_ what: String, _ connect: () throws -> T) throws -> T {
        var delay = 0.5
        while true {
            do { return try connect() } catch {
                if shutdown.isRequested { throw error }
                logger.warning("cannot reach \(what); retrying in \(delay) s", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 30)
            }
        }
    }
}

public enum WorkerVersion {
    public static let current = "0.1.0"
}

/// Updates the worker's heartbeat from its own thread and connection, so a long job never looks dead.
final class Heartbeat: @unchecked Sendable {
    let conninfo: String
    let workerID: String
    let intervalSeconds: Double
    let logger: Logger
    private let stopped = NSCondition()
    private var stopRequested = false
    private var thread: Thread?

    init(conninfo: String, workerID: String, intervalSeconds: Double, logger: Logger) {
        self.conninfo = conninfo
        self.workerID = workerID
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
                    _ = try JobRepository(connection: connection!).heartbeat(workerID: workerID)
                } catch {
                    logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
                    connection?.close()
                    connection = nil
                }
            }
            connection?.close()
        }
        thread.name = "ternflux-heartbeat"
        self.thread = thread
        thread.start()
    }

    func stop() {
        stopped.lock()
        stopRequested = true
        stopped.signal()
        stopped.unlock()
    }
}
