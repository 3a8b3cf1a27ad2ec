import ArgumentParser
import Foundation
import DevServices
import TernFluxBench
import JobQueue
import JobStore
import Worker

/// `ternflux bench pipeline`: submit rate, per-job queue + database overhead and database size per
/// job, with a generator that returns a fixed tiny image (no model).
struct BenchPipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Measure the job pipeline alone (fixed tiny image, no model): submit rate, per-job overhead, database size.",
        discussion: """
        Without --database-url / TERNFLUX_DATABASE_URL it starts a throw-away PostgreSQL (as the postgres OS \
        user when run as root) in a temporary directory and stops it at the end; without --brokers / \
        TERNFLUX_KAFKA_BROKERS it runs an embedded Kafka-protocol broker in this process. A given database \
        must be empty (it is migrated); a given broker's job topic should hold no other records.
        """
    )

    @Option(help: "Jobs the workers drain (per-job overhead and drain rate).") var jobs = 2_000
    @Option(name: .customLong("submit-jobs"), help: "Prompts submitted for the submit rate.") var submitJobs = 100_000
    @Option(help: "In-process worker loops, each on its own thread.") var workers = 1
    @Option(help: "Partitions of the embedded broker's topics (default: max(4, workers)).") var partitions: Int?
    @Flag(help: "Throw-away PostgreSQL only: keep fsync and synchronous commit on (default: off, like the tests).")
    var durable = false
    @Flag(help: "Print the report as JSON.") var json = false

    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "libpq conninfo or URL of an empty database (default: $TERNFLUX_DATABASE_URL, else a throw-away server).", valueName: "conninfo"))
    var databaseURL: String?
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers (default: $TERNFLUX_KAFKA_BROKERS, else an embedded broker).")
    var brokers: String?
    @Option(name: .customLong("kafka-property"), help: ArgumentHelp("librdkafka property for every client, key=value (repeatable).", valueName: "key=value"))
    var kafkaProperties: [String] = []

    func run() throws {
        var server: TemporaryPostgres?
        var broker: EmbeddedBroker?
        defer {
            broker?.close()
            server?.stop()
        }
        let conninfo: String
        if let settings = try DatabaseSettings.resolve(databaseURL, file: nil) {
            conninfo = settings.conninfo
        } else {
            note("starting a throw-away PostgreSQL\(durable ? " (durable)" : " (fsync off)")")
            let started = try TemporaryPostgres(durable: durable)
            server = started
            conninfo = try started.createDatabase()
        }
        let properties: [String: String]
        do { properties = try KafkaSettings.parseProperties(kafkaProperties) } catch { throw ValidationError("\(error)") }
        let kafka: KafkaSettings
        if let list = KafkaSettings.resolveBrokers(brokers) {
            kafka = KafkaSettings(brokers: list, properties: properties)
        } else {
            let embedded = try EmbeddedBroker.forJobs(partitions: partitions ?? max(4, workers))
            broker = embedded
            kafka = KafkaSettings(brokers: embedded.bootstrapServers, properties: properties)
        }
        var config = PipelineBenchmark.Configuration(kafka: kafka, conninfo: conninfo)
        config.submitJobs = submitJobs
        config.drainJobs = jobs
        config.workers = workers
        let report = try PipelineBenchmark(configuration: config, progress: { note($0) }).run()
        if json {
            try ReportFormatting.printJSON(report)
        } else {
            print(Self.text(report))
        }
    }

    func note(_ message: String) {
        FileHandle.standardError.write(Data("bench pipeline: \(message)\n".utf8))
    }

    static func text(_ r: PipelineBenchmark.Report) -> String {
        let s = r.submit, d = r.drain, db = r.database
        func f(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
        return """
        submit (\(s.jobs) jobs): \(f(s.jobsPerSecond, 0)) jobs/s overall, \(f(s.totalSeconds)) s
          plan           \(f(s.planSeconds)) s
          insert (COPY)  \(f(s.insertSeconds)) s  \(f(s.insertJobsPerSecond, 0)) jobs/s
          produce        \(f(s.produceSeconds)) s  \(f(s.produceJobsPerSecond, 0)) jobs/s
          mark enqueued  \(f(s.markEnqueuedSeconds)) s  \(f(s.markEnqueuedJobsPerSecond, 0)) jobs/s
        drain (\(d.jobs) jobs, \(d.workers) worker\(d.workers == 1 ? "" : "s")): \(f(d.jobsPerSecond, 0)) jobs/s, \(f(d.drainSeconds)) s
          per-job overhead (claim → offset stored, less generation): median \(f(d.overheadMedianMs, 3)) ms, p95 \(f(d.overheadP95Ms, 3)) ms
          less the image write (queue + database alone): median \(f(d.queueDatabaseMedianMs, 3)) ms, p95 \(f(d.queueDatabaseP95Ms, 3)) ms
          medians: claim \(f(d.claimMedianMs, 3)) ms, hand-off + store image \(f(d.handoffAndStoreMedianMs, 3)) ms (store \(f(d.storeMedianMs, 3)) ms), record \(f(d.recordMedianMs, 3)) ms, store offset \(f(d.offsetMedianMs, 3)) ms; generate \(f(d.generateMedianMs, 3)) ms
        database: \(f(db.bytesPerFinishedJob, 0)) bytes per finished job (jobs \(db.jobsTableBytes) + job_timings \(db.jobTimingsTableBytes) bytes for \(db.finishedJobs) jobs)\(db.bytesPerQueuedJob.map { ", \(f($0, 0)) bytes per queued job" } ?? "")
        """
    }
}
