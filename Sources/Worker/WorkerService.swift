import Foundation
import JobModel
import JobQueue
import JobStore
import Logging
import ServiceLifecycle
import UnixSignals

/// The consume → generate → record loop of one worker process.
///
/// In `ternflux worker` it is a service of a `ServiceGroup` (`run()`): the group's graceful shutdown (SIGTERM,
/// SIGINT) asks it to finish the current job and stop, and a second signal stops the process at once. The
/// loop itself runs on a thread of its own (`runUntilStopped()`): it is librdkafka's one polling owner and
/// makes blocking libpq calls, neither of which may hold a cooperative thread.
public final class WorkerService: Service, @unchecked Sendable {
    public let configuration: WorkerConfiguration
    let generator: any ImageGenerator
    let shutdown: WorkerShutdown
    var logger: Logger
    /// Metrics and health for the HTTP listener (`MetricsServer`); always kept, served only when one runs.
    public let metrics: WorkerMetrics
    let stopRule: WorkerStopRule
    let observer: WorkerRecordObserver?

    public init(configuration: WorkerConfiguration, generator: any ImageGenerator, logger: Logger,
                shutdown: WorkerShutdown? = nil, metrics: WorkerMetrics? = nil, stopRule: WorkerStopRule = .never,
                observer: WorkerRecordObserver? = nil) {
        self.configuration = configuration
        self.metrics = metrics ?? WorkerMetrics()
        self.generator = generator
        self.shutdown = shutdown ?? WorkerShutdown(graceSeconds: configuration.shutdownGraceSeconds)
        self.logger = logger
        self.logger[metadataKey: "worker_id"] = "\(configuration.workerID)"
        self.stopRule = stopRule
        self.observer = observer
    }

    /// `Service.run`: the loop on its own thread, stopped by the service group's graceful shutdown.
    public func run() async throws {
        let (shutdown, health, logger) = (self.shutdown, metrics.health, self.logger)
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let thread = Thread { [self] in continuation.resume(with: Result { try runUntilStopped() }) }
                thread.name = "ternflux-consume"
                thread.start()
            }
        } onGracefulShutdown: {
            health.setShuttingDown()
            logger.notice("shutdown requested: finishing the current job, then stopping (a second signal stops at once)")
            shutdown.request()
            // Nothing recorded is lost by stopping now: offsets not stored are delivered again.
            Task { for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { exit(130) } }
        }
    }

    /// Runs on the calling thread until a shutdown request (or the stop rule) and returns after leaving the
    /// group.
    public func runUntilStopped() throws {
        metrics.setInfo(workerID: configuration.workerID, model: generator.modelNames.first ?? "", version: WorkerVersion.current)
        try checkModelDefaults()
        let repository = try connectDatabase()
        let heartbeat = startHeartbeat()
        defer { heartbeat.stop() }
        let webhooks = startWebhookSender()
        defer { webhooks?.stop() }
        let producer = try connect("Kafka (producer)") {
            try KafkaProducer(configuration: KafkaProducerConfiguration(settings: configuration.kafka, clientID: "ternflux-worker-producer"))
        }
        defer { producer.close() }
        let runner = PollingJobRunner(consumer: try joinGroup())
        let processor = makeProcessor(repository: repository, producer: producer)
        let processed = try consume(runner: runner, processor: processor, repository: repository)
        metrics.health.setShuttingDown()
        logger.info("leaving the consumer group")
        // A commit refused while the group rebalances (another member leaving at the same moment: the slots
        // of one process going idle together) loses nothing: those records are delivered again and skipped
        // as already recorded. The worker is stopping either way.
        do { try runner.consumer.close() } catch {
            logger.warning("leaving the consumer group did not commit every offset; those records will be delivered again and skipped as done",
                           metadata: ["error": "\(error)"])
        }
        try? repository.markWorkerStopped(workerID: configuration.workerID)
        logger.info("worker stopped", metadata: ["records": "\(processed)"])
    }

    /// A job that leaves its settings to the model gets the model's: they must be within the job limits.
    func checkModelDefaults() throws {
        let probe = JobParameters(prompt: "probe", settings: generator.defaults.filling(from: JobSettings(seed: 0, model: JobSettings.defaultModel)))
        let problems = configuration.limits.problems(of: probe)
        if !problems.isEmpty {
            throw WorkerStartError(description: "the model's generation defaults break the job limits: "
                                   + problems.map(\.description).joined(separator: "; "))
        }
    }

    /// Connects to PostgreSQL (retrying while it is unreachable) and registers this worker.
    func connectDatabase() throws -> JobRepository {
        let (config, health) = (configuration, metrics.health)
        let database = try connect("PostgreSQL") {
            do { return try PostgresConnection(conninfo: config.database.conninfo) } catch {
                health.postgresUnreachable(error)
                throw error
            }
        }
        let repository = JobRepository(connection: database)
        repository.limits = config.limits
        try repository.registerWorker(workerInfo)
        metrics.heartbeatSucceeded()
        return repository
    }

    /// This process as the `workers` table records it.
    var workerInfo: WorkerInfo {
        WorkerInfo(id: configuration.workerID, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                   model: generator.modelNames.first ?? "", version: WorkerVersion.current)
    }

    /// The completion-webhook sender, when the configuration has a signing secret (else this worker sends none;
    /// deliveries wait for a worker that has one).
    func startWebhookSender() -> WebhookSender? {
        guard let policy = configuration.webhooks else {
            logger.info("completion webhooks: no signing secret configured; this worker delivers none")
            return nil
        }
        let sender = WebhookSender(conninfo: configuration.database.conninfo, workerID: configuration.workerID, policy: policy,
                                   logger: logger)
        sender.start()
        return sender
    }

    func startHeartbeat() -> Heartbeat {
        let (metrics, health) = (self.metrics, self.metrics.health)
        let heartbeat = Heartbeat(conninfo: configuration.database.conninfo, worker: workerInfo,
                                  intervalSeconds: configuration.heartbeatSeconds, logger: logger) { error in
            if let error { health.postgresUnreachable(error) } else { metrics.heartbeatSucceeded() }
        }
        heartbeat.start()
        return heartbeat
    }

    /// Joins the consumer group, its rebalances, errors and statistics feeding the metrics and health.
    func joinGroup() throws -> KafkaConsumer {
        let (config, metrics, health, log) = (configuration, self.metrics, self.metrics.health, logger)
        var consumerConfig = KafkaConsumerConfiguration(settings: config.kafka, groupID: config.groupID)
        consumerConfig.clientID = "ternflux-worker-\(config.workerID)"
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
        let consumer = try connect("Kafka (consumer)") { try KafkaConsumer(configuration: consumerConfig) }
        health.kafkaConsumerStarted()
        // Statistics are served by the same polling as the consume loop, so while they are on they also prove
        // liveness during a long job; without them only the loop's turns (one per job) do.
        let statisticsMs = config.kafka.properties["statistics.interval.ms"].flatMap { Int($0) } ?? config.statisticsIntervalMilliseconds
        health.wedgedAfterSeconds = statisticsMs > 0 ? max(120, 10 * Double(statisticsMs) / 1000)
                                                     : config.jobTimeoutSeconds + config.shutdownGraceSeconds + 120
        return consumer
    }

    func makeProcessor(repository: JobRepository, producer: KafkaProducer) -> JobProcessor {
        let config = configuration
        let images = ImageStore(root: config.outputRoot)
        let orphans = images.removeOrphanedTemporaries()
        if orphans > 0 { logger.info("removed \(orphans) partial image file(s) left by dead workers") }
        logger.info("worker started", metadata: ["models": "\(generator.modelNames.joined(separator: ","))",
                                                 "output": "\(config.outputRoot.path)"])
        return JobProcessor(workerID: config.workerID, repository: repository, producer: producer, generator: generator,
                            images: images, limits: config.limits, retryPolicy: config.retryPolicy,
                            jobTimeoutSeconds: config.jobTimeoutSeconds, shutdown: shutdown, logger: logger, metrics: metrics)
    }

    /// The loop: one record at a time until shutdown or the stop rule; returns how many records it took.
    func consume(runner: PollingJobRunner, processor: JobProcessor, repository: JobRepository) throws -> Int {
        let health = metrics.health
        let started = Date()
        var idleSince: Date?
        var processed = 0
        while !shutdown.isRequested {
            health.pollLoopTurned()
            if let maxRecords = stopRule.maxRecords, processed >= maxRecords { break }
            // The idle clock starts once this member holds partitions (joining the group takes a few
            // seconds), or after a minute without any.
            if idleSince == nil && (!runner.consumer.assignment.isEmpty || Date().timeIntervalSince(started) > 60) {
                idleSince = Date()
            }
            if let idle = stopRule.idleSeconds, let since = idleSince, Date().timeIntervalSince(since) >= idle {
                logger.info("idle for \(Int(idle)) s; stopping")
                break
            }
            guard let record = try runner.nextRecord(timeoutMilliseconds: 200) else { continue }
            idleSince = Date()
            processed += 1
            metrics.setBusy(true)
            defer { metrics.setBusy(false) }
            // Database or broker trouble is retried with the record in hand (WorkerRecovery.swift).
            if let outcome = try processUntilRecorded(record, processor: processor, runner: runner, repository: repository) {
                observer?(outcome, processor.lastTiming)
            }
        }
        return processed
    }

    /// Connects, retrying with backoff while the service is unreachable; gives up on shutdown.
    func connect<T>(_ what: String, _ connect: () throws -> T) throws -> T {
        var delay = 0.5
        while true {
            do { return try connect() } catch {
                if shutdown.isRequested { throw error }
                logger.warning("cannot reach \(what); retrying in \(delay) s", metadata: ["error": "\(error)"])
                // In slices, so a shutdown request during a long backoff is noticed at once.
                let end = Date().addingTimeInterval(delay)
                while Date() < end && !shutdown.isRequested { Thread.sleep(forTimeInterval: 0.1) }
                delay = min(delay * 2, 30)
            }
        }
    }
}

public struct WorkerStartError: Error, CustomStringConvertible {
    public let description: String
}

public enum WorkerVersion {
    public static let current = "0.1.0"
}
