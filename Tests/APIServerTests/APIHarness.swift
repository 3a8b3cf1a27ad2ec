@testable import APIServer
import DevServices
import Foundation
import JobModel
import JobQueue
import JobStore
import Logging
import ServiceLifecycle
import Worker
import XCTest

/// Real services for the API tests: a migrated database on the shared temporary PostgreSQL, an embedded
/// Kafka-protocol broker on 127.0.0.1, an output folder, and `ternflux serve`'s server in this process on
/// 127.0.0.1 with any free port. Workers run in this process too (the fixed 16×16 image), so jobs get
/// real rows, real files and real timings.
final class APIHarness {
    let conninfo: String
    let broker: EmbeddedBroker
    let output: URL
    let repository: JobRepository
    /// What `startServer` starts the server with.
    var configuration: APIServerConfiguration
    private var group: ServiceGroup?
    private var runTask: Task<Void, any Error>?
    private(set) var port = 0

    var client: TestHTTPClient { TestHTTPClient(port: port) }
    var baseURL: String { "http://127.0.0.1:\(port)/" }

    /// `configure` adjusts the server's configuration (tokens, limits, Kafka properties, database) before it starts.
    init(start: Bool = true, configure: (inout APIServerConfiguration) -> Void = { _ in }) throws {
        conninfo = try TemporaryPostgres.shared().createMigratedDatabase()
        broker = try EmbeddedBroker.forJobs(partitions: 2)
        output = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-api-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        repository = JobRepository(connection: try PostgresConnection(conninfo: conninfo))
        configuration = APIServerConfiguration(host: "127.0.0.1", port: 0, outputRoot: output, database: DatabaseSettings(conninfo: conninfo),
                                               kafka: KafkaSettings(brokers: broker.bootstrapServers))
        configure(&configuration)
        if start { try startServer() }
    }

    deinit {
        stopServer()
        broker.close()
        repository.db.close()
        try? FileManager.default.removeItem(at: output)
    }

    func startServer() throws {
        var logger = Logger(label: "test.serve")
        logger.logLevel = .warning
        let server = try APIServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [server], logger: logger))
        self.group = group
        runTask = Task { try await group.run() }
        port = try Self.wait { try await server.listeningPort() }
    }

    func stopServer() {
        guard let group, let runTask else { return }
        _ = try? Self.wait { await group.triggerGracefulShutdown(); _ = await runTask.result }
        self.group = nil
        self.runTask = nil
    }

    /// Runs async work to its end from a synchronous test (which runs on the main thread, off the pool the
    /// server's handlers run on).
    static func wait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return try box.result!.get()
    }

    final class ResultBox<T>: @unchecked Sendable { var result: Result<T, any Error>? }

    /// A worker in this process generating the fixed image (model `default` only: a job naming another model
    /// fails for good with "unknown model"), until it has handled `records` records or has had nothing to do
    /// for `idle` seconds.
    func runWorker(id: String = "api-test-worker", idle: Double = 3, records: Int? = nil) throws {
        var config = WorkerConfiguration(kafka: KafkaSettings(brokers: broker.bootstrapServers,
                                                              properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]),
                                         database: DatabaseSettings(conninfo: conninfo), outputRoot: output, workerID: id)
        config.retryPolicy = RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.2, maxDelaySeconds: 1)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .error
        let service = WorkerService(configuration: config, generator: try FixedImageGenerator(), logger: logger,
                                    stopRule: WorkerStopRule(idleSeconds: idle, maxRecords: records))
        try service.runUntilStopped()
    }

    /// Submits through the API (JSONL) and returns the new batch's id; fails the test unless it is a 201.
    @discardableResult
    func submit(_ jsonl: String, query: String = "", token: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> UUID {
        let response = try client.post("/v1/batches" + (query.isEmpty ? "" : "?" + query), text: jsonl, contentType: "application/x-ndjson", token: token)
        XCTAssertEqual(response.status, 201, response.description, file: file, line: line)
        guard let text = response.object["batch_id"] as? String, let id = UUID(uuidString: text) else {
            throw TestHTTPClient.Failure(description: "no batch id in \(response)")
        }
        return id
    }

    /// A finished batch with three succeeded jobs (images on disk) and one failed job (unknown model).
    func finishedBatchWithAFailure(token: String? = nil) throws -> UUID {
        let id = try submit("""
            {"prompt": "a red circle", "seed": 11}
            {"prompt": "a blue square", "seed": 20, "images": 2}
            {"prompt": "a model nobody serves", "model": "nope"}
            """, query: "name=gallery&steps=4", token: token)
        try runWorker(records: 4)
        let progress = try XCTUnwrap(repository.batchProgress(id))
        XCTAssertEqual([progress.succeeded, progress.failed, progress.total], [3, 1, 4], "\(progress)")
        return id
    }

    // MARK: the package and its tools

    static var packageRoot: URL {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        return dir
    }

    static var ternflux: URL { packageRoot.appendingPathComponent(".build/debug/ternflux") }

    /// The Python that has the ops/web/requirements.txt packages: the venv `bash ops/web/setup.sh` makes from
    /// Debian's /usr/bin/python3 (ops/test.sh runs it).
    static var webPython: URL { packageRoot.appendingPathComponent(".build-web/venv/bin/python3") }

    static func requireWebPython(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: webPython.path) else {
            XCTFail("\(webPython.path) is missing: run `bash ops/web/setup.sh` (ops/test.sh does) to install ops/web/requirements.txt",
                    file: file, line: line)
            throw TestHTTPClient.Failure(description: "no web python")
        }
        return webPython
    }

    /// Runs a program to its end (killed after `timeout` seconds) in `directory` (default: the package root);
    /// returns its exit status and its output (stdout and stderr together).
    static func run(_ executable: URL, _ arguments: [String], timeout: Double = 120, directory: URL? = nil,
                    environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? packageRoot
        if let environment { process.environment = environment }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-run-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (process.isRunning ? -1 : process.terminationStatus, output)
    }
}
