import Foundation
import JobQueue
import JobStore
import DevServices
import JobClient
import JobModel
import Worker
import XCTest

/// Real services for the job-pipeline tests: a migrated database on the shared temporary PostgreSQL,
/// an embedded Kafka-protocol broker on 127.0.0.1, an output folder, and the built `ternflux` binary.
final class PipelineHarness {
    let conninfo: String
    let broker: EmbeddedBroker
    let output: URL
    let repository: JobRepository
    private var processes: [Process] = []

    init(partitions: Int = 4) throws {
        conninfo = try TemporaryPostgres.shared().createMigratedDatabase()
        broker = try EmbeddedBroker.forJobs(partitions: partitions)
        output = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-out-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        repository = JobRepository(connection: try PostgresConnection(conninfo: conninfo))
    }

    deinit {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        broker.close()
        try? FileManager.default.removeItem(at: output)
    }

    var kafka: KafkaSettings {
        // Short sessions so a killed member's partitions move on within seconds.
        KafkaSettings(brokers: broker.bootstrapServers, properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"])
    }

    func producer() throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(settings: kafka, clientID: "test-producer"))
    }

    /// Submits prompts as `ternflux submit` does (Postgres, then Kafka, then enqueued).
    func submit(_ prompts: [String], steps: Int? = 4, width: Int? = nil, height: Int? = nil,
                model: String = "default") throws -> BatchPlan {
        let defaults = JobSettings(width: width, height: height, steps: steps, model: model)
        let lines = prompts.enumerated().map { BatchLine(lineNumber: $0.offset + 1, prompt: $0.element) }
        let plan = try BatchPlanner.plan(lines: lines, defaults: defaults).get()
        let producer = try producer()
        defer { producer.close() }
        try BatchSubmitter(repository: repository, producer: producer).submit(plan, name: "test", source: nil, maxAttempts: 3)
        return plan
    }

    /// The package root (the folder holding Package.swift).
    static var packageRoot: URL {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        return dir
    }

    static var binary: URL { packageRoot.appendingPathComponent(".build/debug/ternflux") }

    /// Starts a `ternflux worker` process serving the fixed tiny image.
    @discardableResult
    /// `conninfo` / `brokers` override where it connects; `logLevel` and `metricsPort` (default: any
    /// free port) are the worker's flags.
    /// `fixedImage` false runs the model `extra` names (or models/default); `environment` adds variables.
    func startWorkerProcess(id: String, delay: Double = 0, idleExit: Double = 4, extra: [String] = [],
                            conninfo: String? = nil, brokers: String? = nil, logLevel: String = "warning",
                            metricsPort: Int = 0, fixedImage: Bool = true, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = Self.binary
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.arguments = ["worker"] + (fixedImage ? ["--fixed-image", "--fixed-image-delay", String(delay)] : []) + ["--worker-id", id,
                       "--exit-when-idle", String(idleExit), "--output", output.path, "--database-url", conninfo ?? self.conninfo,
                       "--brokers", brokers ?? broker.bootstrapServers, "--kafka-property", "session.timeout.ms=6000",
                       "--kafka-property", "heartbeat.interval.ms=500", "--log-level", logLevel,
                       "--metrics-port", String(metricsPort)] + extra
        let log = output.appendingPathComponent("\(id).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        processes.append(p)
        return p
    }

    func workerLog(_ id: String) -> String {
        (try? String(contentsOf: output.appendingPathComponent("\(id).log"), encoding: .utf8)) ?? ""
    }

    /// An in-process worker on the calling thread; returns what it did once it stops (idle or max jobs).
    /// `configure` adjusts the configuration (time limits, heartbeat) before it starts.
    func runWorkerInProcess(id: String, generator: any ImageGenerator, idleExit: Double = 3, maxJobs: Int? = nil,
                            metrics: WorkerMetrics? = nil,
                            configure: (inout WorkerConfiguration) -> Void = { _ in }) throws -> InProcessWorkerRun {
        var config = WorkerConfiguration(kafka: kafka, database: DatabaseSettings(conninfo: conninfo), outputRoot: output, workerID: id)
        config.retryPolicy = RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.2, maxDelaySeconds: 1)
        configure(&config)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .warning
        let run = InProcessWorkerRun()
        let service = WorkerService(configuration: config, generator: generator, logger: logger, metrics: metrics,
                                    stopRule: WorkerStopRule(idleSeconds: idleExit, maxRecords: maxJobs),
                                    observer: { outcome, _ in run.append(outcome) })
        try service.runUntilStopped()
        return run
    }

    /// Waits until `condition` holds, polling; fails the test after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line,
                   _ condition: () throws -> Bool) rethrows {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("timed out after \(timeout) s waiting for \(what)", file: file, line: line)
    }

    func states(_ batchID: UUID) throws -> [JobState: Int] {
        guard let p = try repository.batchProgress(batchID) else { return [:] }
        return [.queued: p.queued, .running: p.running, .succeeded: p.succeeded, .failed: p.failed, .canceled: p.canceled]
    }
}

import Logging

/// The outcomes an in-process worker recorded, in order.
final class InProcessWorkerRun: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [JobOutcome] = []
    func append(_ outcome: JobOutcome) { lock.lock(); recorded.append(outcome); lock.unlock() }
    var outcomes: [JobOutcome] { lock.lock(); defer { lock.unlock() }; return recorded }
}
