import Foundation
import JobClient
import JobQueue
import JobStore
import Logging
import Worker

/// `ternflux bench pipeline`: the queue and database path alone, with `FixedImageGenerator` standing
/// in for the model. Needs a migrated-or-empty database of its own and a Kafka cluster.
///
/// 1. Drain: submits `drainJobs` prompts, runs `workers` in-process `WorkerService` loops (one thread
///    each, their own consumer, producer and connections) until the jobs are done, and reports each
///    job's overhead (`JobPathTiming.overheadNanos`: claim to offset stored, less generation) and the
///    drain rate (first claim to last stored offset).
/// 2. Database size: `pg_total_relation_size` of jobs + job_timings per finished job.
/// 3. Submit: plans and submits `submitJobs` prompts as `ternflux submit` does (one transaction with
///    COPY, produce with delivery reports, mark enqueued), timing each phase. Nothing consumes them.
public struct PipelineBenchmark {
    public struct Configuration: Sendable {
        public var kafka: KafkaSettings
        public var conninfo: String
        public var submitJobs = 100_000
        public var drainJobs = 2_000
        public var workers = 1
        /// The worker's consumer group; unique per run so earlier runs' offsets do not matter.
        public var groupID = "ternflux-bench-\(UUID().uuidString.prefix(8).lowercased())"

        public init(kafka: KafkaSettings, conninfo: String) {
            self.kafka = kafka
            self.conninfo = conninfo
        }
    }

    public struct SubmitReport: Codable, Sendable {
        public var jobs: Int
        public var planSeconds: Double
        public var insertSeconds: Double
        public var produceSeconds: Double
        public var markEnqueuedSeconds: Double
        public var totalSeconds: Double
        public var jobsPerSecond: Double
        public var insertJobsPerSecond: Double
        public var produceJobsPerSecond: Double
        public var markEnqueuedJobsPerSecond: Double
    }

    public struct DrainReport: Codable, Sendable {
        public var jobs: Int
        public var workers: Int
        public var overheadMedianMs: Double
        public var overheadP95Ms: Double
        /// The same less the image write (write, fsync, rename): the queue and database alone.
        public var queueDatabaseMedianMs: Double
        public var queueDatabaseP95Ms: Double
        /// Medians of the parts of the overhead.
        public var claimMedianMs: Double
        public var handoffAndStoreMedianMs: Double
        public var storeMedianMs: Double
        public var recordMedianMs: Double
        public var offsetMedianMs: Double
        public var generateMedianMs: Double
        public var drainSeconds: Double
        public var jobsPerSecond: Double
    }

    public struct DatabaseReport: Codable, Sendable {
        public var finishedJobs: Int
        public var jobsTableBytes: Int64
        public var jobTimingsTableBytes: Int64
        /// (jobs + job_timings) / finished jobs, right after the drain.
        public var bytesPerFinishedJob: Double
        /// Growth of jobs + job_timings per submitted (queued, enqueued) job in the submit phase.
        public var bytesPerQueuedJob: Double?
    }

    public struct Report: Codable, Sendable {
        public var drain: DrainReport
        public var database: DatabaseReport
        public var submit: SubmitReport
    }

    public let configuration: Configuration
    let progress: (String) -> Void

    public init(configuration: Configuration, progress: @escaping (String) -> Void = { _ in }) {
        self.configuration = configuration
        self.progress = progress
    }

    public func run() throws -> Report {
        let config = configuration
        guard config.submitJobs >= 1 else { throw PipelineBenchmarkError("--submit-jobs must be at least 1 (got \(config.submitJobs))") }
        guard config.drainJobs >= 1 else { throw PipelineBenchmarkError("--jobs must be at least 1 (got \(config.drainJobs))") }
        guard config.workers >= 1 else { throw PipelineBenchmarkError("--workers must be at least 1 (got \(config.workers))") }

        let db = try PostgresConnection(conninfo: config.conninfo)
        defer { db.close() }
        _ = try MigrationRunner(connection: db).up()
        let existing: Int = try db.query("SELECT count(*)::bigint AS n FROM jobs").single().decode("n")
        guard existing == 0 else {
            throw PipelineBenchmarkError("the database already holds \(existing) jobs; the benchmark needs an empty one (it measures size per job and writes \(config.submitJobs + config.drainJobs) jobs)")
        }
        let repository = JobRepository(connection: db)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(settings: config.kafka, clientID: "ternflux-bench-submit"))
        defer { producer.close() }

        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-bench-out-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: output) }

        // 1. Drain.
        progress("drain: submitting \(config.drainJobs) jobs, then \(config.workers) worker(s) process them")
        let drainPlan = try Self.plan(count: config.drainJobs, tag: "drain")
        try BatchSubmitter(repository: repository, producer: producer).submit(drainPlan.plan, name: "bench-drain", source: nil, maxAttempts: 3)
        let drain = try runWorkers(output: output)
        let progressRow = try repository.batchProgress(drainPlan.plan.batchID)
        guard let done = progressRow, done.succeeded == config.drainJobs else {
            throw PipelineBenchmarkError("drain: \(progressRow?.succeeded ?? 0) of \(config.drainJobs) jobs succeeded (queued \(progressRow?.queued ?? 0), running \(progressRow?.running ?? 0), failed \(progressRow?.failed ?? 0))")
        }
        let foreign: Int = try db.query("SELECT count(*)::bigint AS n FROM jobs WHERE batch_id <> $1", [drainPlan.plan.batchID]).single().decode("n")
        guard foreign == 0 else {
            throw PipelineBenchmarkError("the workers met \(foreign) jobs that this run did not submit: the topic \(KafkaSettings.jobsTopic) held records from elsewhere; run against a fresh broker (or none: the embedded one)")
        }

        // 2. Size per finished job.
        let sizeAfterDrain = try Self.tableBytes(db)
        var database = DatabaseReport(finishedJobs: config.drainJobs, jobsTableBytes: sizeAfterDrain.jobs,
                                      jobTimingsTableBytes: sizeAfterDrain.timings,
                                      bytesPerFinishedJob: Double(sizeAfterDrain.jobs + sizeAfterDrain.timings) / Double(config.drainJobs))

        // 3. Submit.
        progress("submit: planning and submitting \(config.submitJobs) jobs")
        let planStart = DispatchTime.now().uptimeNanoseconds
        let submitPlan = try Self.plan(count: config.submitJobs, tag: "submit")
        let planSeconds = SubmitTimings.seconds(since: planStart)
        let phases = try BatchSubmitter(repository: repository, producer: producer)
            .submit(submitPlan.plan, name: "bench-submit", source: nil, maxAttempts: 3)
        let enqueued: Int = try db.query("SELECT count(*)::bigint AS n FROM jobs WHERE batch_id = $1 AND enqueued_at IS NOT NULL",
                                         [submitPlan.plan.batchID]).single().decode("n")
        guard enqueued == config.submitJobs else {
            throw PipelineBenchmarkError("submit: \(enqueued) of \(config.submitJobs) jobs were marked enqueued")
        }
        let sizeAfterSubmit = try Self.tableBytes(db)
        database.bytesPerQueuedJob = Double(sizeAfterSubmit.jobs + sizeAfterSubmit.timings - sizeAfterDrain.jobs - sizeAfterDrain.timings)
            / Double(config.submitJobs)
        let n = Double(config.submitJobs)
        let total = planSeconds + phases.totalSeconds
        let submit = SubmitReport(jobs: config.submitJobs, planSeconds: planSeconds, insertSeconds: phases.insertSeconds,
                                  produceSeconds: phases.produceSeconds, markEnqueuedSeconds: phases.markEnqueuedSeconds,
                                  totalSeconds: total, jobsPerSecond: n / total,
                                  insertJobsPerSecond: n / phases.insertSeconds, produceJobsPerSecond: n / phases.produceSeconds,
                                  markEnqueuedJobsPerSecond: n / phases.markEnqueuedSeconds)
        return Report(drain: drain, database: database, submit: submit)
    }

    /// Runs the workers until every one has been idle for a moment; collects their per-job timings.
    func runWorkers(output: URL) throws -> DrainReport {
        let config = configuration
        final class Slot: @unchecked Sendable {
            let lock = NSLock()
            var timings: [JobPathTiming] = []
            var error: Error?
            func add(_ timing: JobPathTiming) { lock.lock(); timings.append(timing); lock.unlock() }
        }
        var logger = Logger(label: "ternflux.bench.worker")
        logger.logLevel = .warning
        let slots = (0..<config.workers).map { _ in Slot() }
        let group = DispatchGroup()
        for (index, slot) in slots.enumerated() {
            var workerConfig = WorkerConfiguration(kafka: config.kafka, database: DatabaseSettings(conninfo: config.conninfo),
                                                   outputRoot: output, workerID: "bench-\(getpid())-\(index)")
            workerConfig.groupID = config.groupID
            let generator = try FixedImageGenerator()
            let service = WorkerService(configuration: workerConfig, generator: generator, logger: logger,
                                        stopRule: WorkerStopRule(idleSeconds: 1.5),
                                        observer: { _, timing in if let timing { slot.add(timing) } })
            group.enter()
            let thread = Thread {
                do { try service.runUntilStopped() } catch { slot.error = error }
                group.leave()
            }
            thread.name = "ternflux-bench-worker-\(index)"
            thread.start()
        }
        group.wait()
        if let error = slots.compactMap(\.error).first { throw PipelineBenchmarkError("a worker stopped with an error: \(error)") }
        let timings = slots.flatMap(\.timings)
        guard !timings.isEmpty else { throw PipelineBenchmarkError("drain: the workers finished no job") }
        let first = timings.map(\.claimStarted).min()!
        let last = timings.map(\.offsetStored).max()!
        let seconds = Double(last - first) / 1e9
        func ms(_ values: [UInt64], _ q: Double) -> Double { Self.percentile(values, q) / 1e6 }
        let overhead = timings.map(\.overheadNanos)
        return DrainReport(
            jobs: timings.count, workers: config.workers,
            overheadMedianMs: ms(overhead, 0.5), overheadP95Ms: ms(overhead, 0.95),
            queueDatabaseMedianMs: ms(timings.map(\.queueDatabaseNanos), 0.5), queueDatabaseP95Ms: ms(timings.map(\.queueDatabaseNanos), 0.95),
            claimMedianMs: ms(timings.map(\.claimNanos), 0.5), handoffAndStoreMedianMs: ms(timings.map(\.handoffAndStoreNanos), 0.5),
            storeMedianMs: ms(timings.map(\.storeNanos), 0.5), recordMedianMs: ms(timings.map(\.recordNanos), 0.5),
            offsetMedianMs: ms(timings.map(\.offsetNanos), 0.5), generateMedianMs: ms(timings.map(\.generateNanos), 0.5),
            drainSeconds: seconds, jobsPerSecond: Double(timings.count) / max(seconds, 1e-9))
    }

    /// Nearest-rank percentile (q in 0...1) of the values.
    static func percentile(_ values: [UInt64], _ q: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return Double(sorted[min(max(rank, 0), sorted.count - 1)])
    }

    static func plan(count: Int, tag: String) throws -> (plan: BatchPlan, lines: Int) {
        let lines = (1...count).map { BatchLine(lineNumber: $0, prompt: "bench \(tag) prompt \($0): a lighthouse on a cliff at dusk, oil painting") }
        switch BatchPlanner.plan(lines: lines) {
        case .success(let plan): return (plan, count)
        case .failure(let errors): throw PipelineBenchmarkError("planning the benchmark batch failed: \(errors)")
        }
    }

    static func tableBytes(_ db: PostgresConnection) throws -> (jobs: Int64, timings: Int64) {
        let row = try db.query("SELECT pg_total_relation_size('jobs') AS jobs, pg_total_relation_size('job_timings') AS timings").single()
        return (try row.decode("jobs"), try row.decode("timings"))
    }
}

public struct PipelineBenchmarkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
