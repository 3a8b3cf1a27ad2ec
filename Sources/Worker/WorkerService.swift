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
    /// librdkafka `statistics.interval.ms` of the consumer: consumer lag and group state for the metrics
    /// and `/readyz` (a `statistics.interval.ms` pass-through property overrides it).
    public var statisticsIntervalMilliseconds = 5_000

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
    /// Metrics and health for the HTTP listener (`MetricsServer`); always kept, served only when one runs.
    public let metrics: WorkerMetrics
    public private(set) var outcomes: [JobOutcome] = []
    /// With `collectPathTimings`: the timings of the jobs this worker claimed and finished.
    public private(set) var pathTimings: [JobPathTiming] = []

    public init(configuration: WorkerConfiguration, generator: any ImageGenerator, logger: Logger,
                shutdown: ShutdownSignal? = nil, metrics: WorkerMetrics? = nil) {
        self.configuration = configuration
        self.metrics = metrics ?? WorkerMetrics()
        self.generator = generator
        self.shutdown = shutdown ?? ShutdownSignal(graceSeconds: configuration.shutdownGraceSeconds)
        self.logger = logger
        self.logger[metadataKey: "worker_id"] = "\(configuration.workerID)"
    }

    /// Runs until a shutdown signal (or the idle / job-count limits) and returns after leaving the group.
    public func run(installSignalHandlers: Bool = true) throws {
        let metrics = self.metrics, health = metrics.health
        if installSignalHandlers {
            let log = logger
            shutdown.install { sig in
                health.setShuttingDown()
                log.notice("signal \(sig): finishing the current job, then stopping")
            }
        }
        let config = configuration
        metrics.setInfo(workerID: config.workerID, model: generator.modelNames.first ?? "", version: WorkerVersion.current)
        let database = try connectWithRetry("PostgreSQL") {
            do { return try PostgresConnection(conninfo: config.database.conninfo) } catch {
                health.postgresUnreachable(error)
                throw error
            }
        }
        let repository = JobRepository(connection: database)
        try repository.registerWorker(WorkerInfo(id: config.workerID, host: ProcessInfo.processInfo.hostName,
                                                 pid: Int(getpid()), model: generator.modelNames.first ?? "",
                                                 version: WorkerVersion.current))
        metrics.heartbeatSucceeded()
        let heartbeat = Heartbeat(conninfo: config.database.conninfo, workerID: config.workerID,
                                  intervalSeconds: config.heartbeatSeconds, logger: logger) { error in
            if let error { health.postgresUnreachable(error) } else { metrics.heartbeatSucceeded() }
        }
        heartbeat.start()
        defer { heartbeat.stop() }

        let producer = try connectWithRetry("Kafka (producer)") {
            try KafkaProducer(configuration: KafkaProducerConfiguration(settings: config.kafka, clientID: "ternflux-worker-producer"))
        }
        defer { producer.close() }
        var consumerConfig = KafkaConsumerConfiguration(settings: config.kafka, groupID: config.groupID)
        consumerConfig.clientID = "ternflux-worker-\(config.workerID)"
        let log = logger
        consumerConfig.statisticsIntervalMilliseconds = config.statisticsIntervalMilliseconds
        consumerConfig.onRebalance = { event in
            metrics.rebalanced(event)
            log.info("rebalance: \(event)")
        }
        consumerConfig.onError = { error in
            health.kafkaError("\(error)")
            log.warning("kafka: \(error)")
        }
        consumerConfig.onStatistics = { json in
            do { metrics.update(try KafkaStatistics.parse(json)) } catch {
                log.warning("unreadable librdkafka statistics", metadata: ["error": "\(error)"])
            }
        }
        let consumer = try connectWithRetry("Kafka (consumer)") { try KafkaConsumer(configuration: consumerConfig) }
        health.kafkaConsumerStarted()
        // Statistics are served by the same polling as the consume loop, so while they are on they also
        // prove liveness during a long job; without them only the loop's turns (one per job) do.
        let statisticsMs = config.kafka.properties["statistics.interval.ms"].flatMap { Int($0) } ?? config.statisticsIntervalMilliseconds
        health.wedgedAfterSeconds = statisticsMs > 0 ? max(120, 10 * Double(statisticsMs) / 1000)
                                                     : config.jobTimeoutSeconds + config.shutdownGraceSeconds + 120

        let images = ImageStore(root: config.outputRoot)
        let orphans = images.removeOrphanedTemporaries()
        if orphans > 0 { logger.info("removed \(orphans) partial image file(s) left by dead workers") }
        let processor = JobProcessor(workerID: config.workerID, repository: repository, producer: producer,
                                     generator: generator, images: images, limits: config.limits,
                                     retryPolicy: config.retryPolicy, jobTimeoutSeconds: config.jobTimeoutSeconds,
                                     shutdown: shutdown, logger: logger, metrics: metrics)
        logger.info("worker started", metadata: ["models": "\(generator.modelNames.joined(separator: ","))",
                                                 "output": "\(config.outputRoot.path)"])
        let started = Date()
        var idleSince: Date?
        var processed = 0
        while !shutdown.isRequested {
            health.pollLoopTurned()
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
            metrics.setBusy(true)
            defer { metrics.setBusy(false) }
            // Database or broker trouble is retried with the record in hand (WorkerRecovery.swift).
            if let outcome = try processUntilRecorded(record, processor: processor, consumer: consumer, repository: repository) {
                outcomes.append(outcome)
                if config.collectPathTimings, let timing = processor.lastTiming { pathTimings.append(timing) }
            }
        }
        health.setShuttingDown()
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
                // In slices, so SIGTERM during a long backoff is noticed at once.
                let end = Date().addingTimeInterval(delay)
                while Date() < end && !shutdown.isRequested { Thread.sleep(forTimeInterval: 0.1) }
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
    /// After each beat: nil when it was written, else the error.
    let onBeat: @Sendable ((any Error)?) -> Void
    private let stopped = NSCondition()
    private var stopRequested = false
    private var thread: Thread?

    init(conninfo: String, workerID: String, intervalSeconds: Double, logger: Logger,
         onBeat: @escaping @Sendable ((any Error)?) -> Void = { _ in }) {
        self.onBeat = onBeat
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
