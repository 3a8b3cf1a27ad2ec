import Foundation
import JobModel
import JobQueue
import JobStore
import FluxModel
import Worker
import XCTest

/// The worker's HTTP listener on real `ternflux worker` processes: /metrics while jobs run (checked by
/// promtool and against the database), /healthz and /readyz through start-up with Postgres or Kafka
/// unreachable, and start-up errors.
final class WorkerObservabilityTests: XCTestCase {
    func testMetricsEndpointCountsTheJobsAWorkerRunsAndPassesPromtool() throws {
        let harness = try PipelineHarness(partitions: 2)
        let plan = try harness.submit(["a red fox", "a blue heron", "a green frog"])
        let id = "obs-metrics"
        let worker = try harness.startWorkerProcess(id: id, delay: 0.4, idleExit: 60,
                                                    extra: ["--kafka-property", "statistics.interval.ms=500"], logLevel: "info")
        let port = try XCTUnwrap(harness.metricsPort(ofWorker: id))

        // Busy while a job runs (each pretends to take 0.4 s).
        harness.waitUntil("ternflux_worker_busy 1", timeout: 60) {
            Sample.parse(Probe.get(port: port, path: "/metrics")?.body ?? "").value("ternflux_worker_busy") == 1
        }
        XCTAssertEqual(Probe.get(port: port, path: "/healthz")?.status, 200)
        try harness.waitUntil("the batch to succeed") { try harness.states(plan.batchID)[.succeeded] == 3 }

        // Lag comes from librdkafka statistics; once the offsets are committed it is 0. A partition none of
        // the 3 jobs landed on has no committed offset, and librdkafka reports its lag as unknown (-1, no
        // series): seen when all 3 keys hashed to one partition.
        var samples: [Sample] = []
        harness.waitUntil("lag 0 and the worker idle", timeout: 30) {
            samples = Sample.parse(Probe.get(port: port, path: "/metrics")?.body ?? "")
            let lag = samples.all("ternflux_consumer_lag_messages")
            return !lag.isEmpty && lag.allSatisfy { $0.value == 0 } && samples.value("ternflux_worker_busy") == 0
        }
        let answer = try XCTUnwrap(Probe.get(port: port, path: "/metrics"))
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        samples = Sample.parse(answer.body)

        XCTAssertEqual(samples.value("ternflux_jobs_total", ["outcome": "succeeded"]), 3)
        for outcome in ["failed", "retried", "skipped", "canceled"] {
            XCTAssertEqual(samples.value("ternflux_jobs_total", ["outcome": outcome]), 0, outcome)
        }
        XCTAssertEqual(samples.value("ternflux_dead_letters_total", ["reason": "max_attempts"]), 0)
        XCTAssertEqual(samples.value("ternflux_dead_letters_total", ["reason": "unidentifiable"]), 0)
        XCTAssertEqual(samples.value("ternflux_images_generated_total"), 3)
        for phase in ["queue_wait", "tokenize_encode", "denoise", "vae_decode", "png_encode", "store", "total"] {
            XCTAssertEqual(samples.value("ternflux_job_phase_duration_seconds_count", ["phase": phase]), 3, phase)
            XCTAssertEqual(samples.value("ternflux_job_phase_duration_seconds_bucket", ["phase": phase, "le": "+Inf"]), 3, phase)
        }
        // Each job pretended to take 0.4 s inside `generate`, so every total is above 0.25 s.
        XCTAssertEqual(samples.value("ternflux_job_phase_duration_seconds_bucket", ["phase": "total", "le": "0.25"]), 0)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(samples.value("ternflux_job_phase_duration_seconds_sum", ["phase": "total"])), 1.2)
        let buckets = samples.filter { $0.name == "ternflux_job_phase_duration_seconds_bucket" && $0.labels["phase"] == "total" }
            .compactMap { $0.labels["le"] }
        XCTAssertEqual(buckets, ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "25.0",
                                 "50.0", "100.0", "250.0", "600.0", "+Inf"])
        XCTAssertEqual(samples.value("ternflux_denoise_step_duration_seconds_count"), 0) // the fixed image has no steps
        XCTAssertEqual(samples.value("ternflux_consumer_assigned_partitions"), 2)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(samples.value("ternflux_consumer_rebalances_total")), 1)
        let lagSeries = samples.all("ternflux_consumer_lag_messages")
        XCTAssertTrue(!lagSeries.isEmpty && lagSeries.allSatisfy {
            $0.labels["topic"] == "ternflux.jobs" && ["0", "1"].contains($0.labels["partition"]) && $0.labels.count == 2
        }, "\(lagSeries)")
        XCTAssertGreaterThan(try XCTUnwrap(samples.value("ternflux_worker_resident_memory_bytes")), 1_000_000)
        XCTAssertEqual(samples.value("ternflux_model_mapped_bytes"), 0) // the fixed image maps no model
        let heartbeat = try XCTUnwrap(samples.value("ternflux_worker_last_heartbeat_timestamp_seconds"))
        XCTAssertLessThan(abs(heartbeat - Date().timeIntervalSince1970), 60)
        XCTAssertEqual(samples.value("ternflux_worker_ready"), 1)
        XCTAssertEqual(samples.value("ternflux_worker_info", ["worker_id": id, "model": "default", "version": WorkerVersion.current]), 1)

        let promtool = try promtoolCheckMetrics(answer.body)
        XCTAssertEqual(promtool.status, 0, "promtool check metrics: \(promtool.output)")

        XCTAssertEqual(Probe.get(port: port, path: "/readyz")?.status, 200)
        XCTAssertEqual(Probe.get(port: port, path: "/nope")?.status, 404)

        // Every log line about a job names it: job id, batch id and attempt.
        let jobLines = harness.workerLog(id).split(separator: "\n").filter { $0.contains("generating") || $0.contains("succeeded") }
        XCTAssertEqual(jobLines.count, 6, harness.workerLog(id))
        for line in jobLines {
            XCTAssertTrue(line.contains("job_id=") && line.contains("batch_id=\(plan.batchID.uuidString.lowercased())")
                          && line.contains("attempt=0"), String(line))
        }

        // After SIGTERM: unready ("shutting down") until the process is gone, then exit 0.
        kill(worker.processIdentifier, SIGTERM)
        worker.waitUntilExit()
        XCTAssertEqual(worker.terminationStatus, 0, harness.workerLog(id))
        XCTAssertNil(Probe.get(port: port, path: "/healthz"), "the listener closes with the process")
    }

    /// With a real (tiny) FLUX model quantized to ternary: one histogram observation per denoising step,
    /// and the memory-mapped packed weights counted (an f32 checkpoint is read into memory, not kept mapped).
    func testFluxJobFillsTheStepHistogramAndMappedModelBytes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-obs-model-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let quantize = Process()
        quantize.executableURL = PipelineHarness.binary
        quantize.arguments = ["quantize", PipelineHarness.packageRoot.appendingPathComponent("Tests/Fixtures/tiny-flux").path,
                              folder.path, "--format", "i2"]
        quantize.standardOutput = FileHandle.nullDevice
        try quantize.run()
        quantize.waitUntilExit()
        XCTAssertEqual(quantize.terminationStatus, 0)
        let transformerBytes = try XCTUnwrap(FileManager.default.attributesOfItem(
            atPath: folder.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors").path)[.size] as? Int)
        let metrics = WorkerMetrics()
        metrics.setModelFolder(folder)
        let generator = try FluxImageGenerator(modelDirectory: folder, mode: .f32, maxSequenceLength: 32)
        metrics.setDeviceWeightBytes(generator.pipeline.transformer.deviceWeightBytes, device: "\(generator.pipeline.transformer.device)")
        metrics.health.setModelLoaded()
        let h = try PipelineHarness(partitions: 1)
        _ = try h.submit(["a red circle"], steps: 3)
        let service = try h.runWorkerInProcess(id: "w-flux-metrics", generator: generator, idleExit: 2, metrics: metrics)
        XCTAssertEqual(service.outcomes.count, 1)

        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        let samples = Sample.parse(exposition)
        XCTAssertEqual(samples.value("ternflux_jobs_total", ["outcome": "succeeded"]), 1)
        XCTAssertEqual(samples.value("ternflux_images_generated_total"), 1)
        XCTAssertEqual(samples.value("ternflux_denoise_step_duration_seconds_count"), 3)
        XCTAssertEqual(samples.value("ternflux_job_phase_duration_seconds_count", ["phase": "denoise"]), 1)
        XCTAssertGreaterThan(try XCTUnwrap(samples.value("ternflux_job_phase_duration_seconds_sum", ["phase": "denoise"])), 0)
        // The packed transformer file stays mapped (whole pages of it).
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(samples.value("ternflux_model_mapped_bytes")), Double(transformerBytes))
        XCTAssertEqual(samples.value("ternflux_worker_info", ["worker_id": "w-flux-metrics", "model": "default"]), 1)
        XCTAssertEqual(samples.value("ternflux_device_weight_bytes", ["device": "cpu"]), 0) // the CPU holds no GPU weights
        let promtool = try promtoolCheckMetrics(exposition)
        XCTAssertEqual(promtool.status, 0, promtool.output)
        withExtendedLifetime(generator) {}
    }

    func testReadinessFollowsPostgresAndKafkaThroughStartUp() throws {
        let harness = try PipelineHarness(partitions: 1)
        // Postgres "down": the conninfo names a socket folder with no server socket in it yet.
        let realSocketFolder = try XCTUnwrap(harness.conninfo.split(separator: " ").first { $0.hasPrefix("host=") }?.dropFirst(5))
        let emptyFolder = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-nopg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: emptyFolder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: emptyFolder) }
        let downConninfo = harness.conninfo.replacingOccurrences(of: "host=\(realSocketFolder)", with: "host=\(emptyFolder.path)")

        // Kafka "down": a port nothing listens on.
        let closedPort = try Self.unusedLocalPort()
        let noPostgres = try harness.startWorkerProcess(id: "obs-nopg", idleExit: 60, conninfo: downConninfo, logLevel: "notice")
        let noKafka = try harness.startWorkerProcess(id: "obs-nokafka", idleExit: 60, brokers: "127.0.0.1:\(closedPort)", logLevel: "notice")
        let pgPort = try XCTUnwrap(harness.metricsPort(ofWorker: "obs-nopg"))
        let kafkaPort = try XCTUnwrap(harness.metricsPort(ofWorker: "obs-nokafka"))

        var reason = ""
        harness.waitUntil("/readyz to name postgres", timeout: 30) {
            reason = Probe.get(port: pgPort, path: "/readyz").map { "\($0.status) \($0.body)" } ?? ""
            return reason.hasPrefix("503 ") && reason.contains("postgres: cannot connect to PostgreSQL")
        }
        XCTAssertTrue(reason.contains(emptyFolder.path), reason + harness.workerLog("obs-nopg")) // the socket it tried
        XCTAssertEqual(Probe.get(port: pgPort, path: "/healthz")?.status, 200)
        harness.waitUntil("the worker to log that it retries PostgreSQL", timeout: 30) {
            harness.workerLog("obs-nopg").contains("cannot reach PostgreSQL; retrying")
        }

        harness.waitUntil("/readyz to name kafka", timeout: 30) {
            reason = Probe.get(port: kafkaPort, path: "/readyz").map { "\($0.status) \($0.body)" } ?? ""
            return reason.hasPrefix("503 ") && reason.contains("kafka: consumer group not joined")
                && reason.contains("127.0.0.1:\(closedPort)")
        }
        XCTAssertFalse(reason.contains("postgres"), reason)
        XCTAssertEqual(Probe.get(port: kafkaPort, path: "/healthz")?.status, 200)
        XCTAssertTrue(harness.workerLog("obs-nokafka").contains("kafka:"), harness.workerLog("obs-nokafka"))
        XCTAssertEqual(Sample.parse(Probe.get(port: kafkaPort, path: "/metrics")?.body ?? "").value("ternflux_worker_ready"), 0)

        // Postgres comes up: the server's socket appears where the worker looks.
        let socketName = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: String(realSocketFolder))
            .first { $0.hasPrefix(".s.PGSQL.") && !$0.hasSuffix(".lock") })
        try FileManager.default.createSymbolicLink(atPath: emptyFolder.appendingPathComponent(socketName).path,
                                                   withDestinationPath: "\(realSocketFolder)/\(socketName)")
        harness.waitUntil("/readyz 200 once Postgres is reachable and the group joined", timeout: 60) {
            Probe.get(port: pgPort, path: "/readyz")?.status == 200
        }
        XCTAssertEqual(Probe.get(port: pgPort, path: "/healthz")?.status, 200)
        // The Kafka-less worker is still alive, unready, after all that time.
        XCTAssertTrue(noKafka.isRunning, harness.workerLog("obs-nokafka"))
        XCTAssertEqual(Probe.get(port: kafkaPort, path: "/readyz")?.status, 503)
        XCTAssertEqual(Probe.get(port: kafkaPort, path: "/healthz")?.status, 200)

        // Both stop cleanly on SIGTERM, the one that never reached its broker included.
        for p in [noPostgres, noKafka] { kill(p.processIdentifier, SIGTERM) }
        harness.waitUntil("both workers to exit after SIGTERM", timeout: 30) { !noPostgres.isRunning && !noKafka.isRunning }
        for (p, id) in [(noPostgres, "obs-nopg"), (noKafka, "obs-nokafka")] where !p.isRunning {
            XCTAssertEqual(p.terminationStatus, 0, harness.workerLog(id))
        }
    }

    func testBadKafkaPropertyIsRejectedWithLibrdkafkasMessage() throws {
        let p = Process()
        p.executableURL = PipelineHarness.binary
        p.arguments = ["worker", "--fixed-image", "--brokers", "127.0.0.1:9", "--database-url", "host=/nonexistent",
                       "--metrics-port", "0", "--kafka-property", "no.such.property=1"]
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains(#"No such configuration property: "no.such.property""#), text)
    }

    func testExplicitMetricsPortInUseStopsTheWorkerNamingThePort() throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("0.0.0.0")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(listen(holder, 1), 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))

        let p = Process()
        p.executableURL = PipelineHarness.binary
        p.arguments = ["worker", "--fixed-image", "--brokers", "127.0.0.1:9", "--database-url", "host=/nonexistent",
                       "--metrics-port", String(port)]
        let errors = Pipe()
        p.standardError = errors
        try p.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("cannot listen for metrics on 0.0.0.0:\(port)"), text)
    }

    /// A TCP port that was free a moment ago (bound to 0, read back, closed).
    static func unusedLocalPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
