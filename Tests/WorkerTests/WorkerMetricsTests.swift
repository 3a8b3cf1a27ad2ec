import Foundation
import JobModel
import JobQueue
import JobStore
import Worker
import XCTest

/// `WorkerMetrics` without processes: the contract table of docs/operations.md, the Kafka series'
/// life cycle (revoked partitions lose their lag series) and readiness reasons.
final class WorkerMetricsTests: XCTestCase {
    /// Every metric and histogram bucket the code exports is the one docs/operations.md promises, and
    /// the other way round.
    func testCodeAndTheMetricsContractTableAgree() throws {
        let doc = try String(contentsOf: PipelineHarness.packageRoot.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let section = try XCTUnwrap(doc.components(separatedBy: "## Metrics contract").dropFirst().first)
            .components(separatedBy: "\n## ").first ?? ""
        var declared: [String: String] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| `ternflux_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            declared[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1]
            if cells[0].contains("ternflux_job_phase_duration_seconds") {
                let buckets = try XCTUnwrap(cells[3].components(separatedBy: "buckets ").last)
                    .components(separatedBy: ", ").filter { $0 != "+Inf" }.map { Double($0) }
                XCTAssertEqual(buckets, WorkerMetrics.durationBuckets.map { $0 })
            }
        }
        XCTAssertEqual(Set(declared.keys), Set(WorkerMetrics.families.keys))

        let samples = Sample.parse(String(decoding: WorkerMetrics().exposition(), as: UTF8.self))
        let exposition = String(decoding: WorkerMetrics().exposition(), as: UTF8.self)
        for (name, type) in declared {
            let promType = type.hasPrefix("gauge") ? "gauge" : type
            // Labelled at run time: no series (so no TYPE line) until a worker, a partition or a loaded model is known.
            if [WorkerMetrics.Name.info, WorkerMetrics.Name.consumerLag, WorkerMetrics.Name.deviceWeights].contains(name) { continue }
            XCTAssertTrue(exposition.contains("# TYPE \(name) \(promType)\n"), "\(name) \(promType)")
        }
        XCTAssertEqual(samples.value("ternflux_worker_ready"), 0)
    }

    func testLagSeriesFollowTheAssignment() throws {
        let metrics = WorkerMetrics()
        let p0 = TopicPartition(topic: "ternflux.jobs", partition: 0), p1 = TopicPartition(topic: "ternflux.jobs", partition: 1)
        metrics.rebalanced(.assigned([p0, p1]))
        metrics.update(try KafkaStatistics.parse(Self.statistics(lag: ["0": 7, "1": 2, "2": 9], state: "up")))
        var samples = Sample.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(samples.value("ternflux_consumer_lag_messages", ["partition": "0"]), 7)
        XCTAssertEqual(samples.value("ternflux_consumer_lag_messages", ["partition": "1"]), 2)
        XCTAssertNil(samples.value("ternflux_consumer_lag_messages", ["partition": "2"]), "not assigned here")
        XCTAssertEqual(samples.value("ternflux_consumer_assigned_partitions"), 2)

        metrics.rebalanced(.revoked([p1], lost: false))
        samples = Sample.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(samples.all("ternflux_consumer_lag_messages").map { $0.labels["partition"] }, ["0"])
        XCTAssertEqual(samples.value("ternflux_consumer_assigned_partitions"), 1)
        XCTAssertEqual(samples.value("ternflux_consumer_rebalances_total"), 2)

        metrics.rebalanced(.revoked([p0], lost: true))
        samples = Sample.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertTrue(samples.all("ternflux_consumer_lag_messages").isEmpty)
        // A later lag report brings a re-assigned partition's series back.
        metrics.rebalanced(.assigned([p1]))
        metrics.update(try KafkaStatistics.parse(Self.statistics(lag: ["1": 4], state: "up")))
        samples = Sample.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(samples.value("ternflux_consumer_lag_messages", ["partition": "1"]), 4)
        let promtool = try promtoolCheckMetrics(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(promtool.status, 0, promtool.output)
    }

    func testReadinessNamesEverythingThatIsNotReady() throws {
        let health = WorkerHealth()
        XCTAssertEqual(health.notReadyReason, "loading model; kafka: consumer not started; postgres: not connected yet")
        health.setModelLoaded()
        health.postgresUnreachable(PostgresError.connectionFailed(message: "connection to server on socket \"/x/.s.PGSQL.5432\" failed: No such file or directory\n\tIs the server running locally?"))
        health.kafkaConsumerStarted()
        health.kafkaError("1/1 brokers are down")
        XCTAssertEqual(health.notReadyReason, "kafka: consumer group not joined (1/1 brokers are down); postgres: cannot connect to PostgreSQL: connection to server on socket \"/x/.s.PGSQL.5432\" failed: No such file or directory")
        health.postgresReachable()
        health.kafkaGroupState("up")
        XCTAssertNil(health.notReadyReason)
        XCTAssertTrue(health.isReady)
        health.kafkaGroupState("wait-coord")
        XCTAssertEqual(health.notReadyReason, "kafka: consumer group not joined")
        health.kafkaAssigned()
        health.setShuttingDown()
        XCTAssertEqual(health.notReadyReason, "shutting down")

        let wedged = WorkerHealth(wedgedAfterSeconds: 0.05)
        XCTAssertNil(wedged.wedgedReason, "alive while the poll loop has not started")
        wedged.pollLoopTurned()
        XCTAssertNil(wedged.wedgedReason)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertNotNil(wedged.wedgedReason)
    }

    func testOutcomesMapToTheContractsLabels() {
        let metrics = WorkerMetrics()
        let id = UUID()
        for outcome: JobOutcome in [.succeeded(id), .skipped(id, .succeeded), .skipped(id, .canceled), .skipped(id, .canceled),
                                    .willRetry(id, nextAttempt: 2), .failed(id, "x"), .deadLettered("no id"), .givenBack(id)] {
            metrics.record(outcome)
        }
        metrics.deadLettered(.unidentifiable)
        let samples = Sample.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        let expected = ["succeeded": 1.0, "skipped": 1, "canceled": 2, "retried": 1, "failed": 1]
        for (outcome, count) in expected {
            XCTAssertEqual(samples.value("ternflux_jobs_total", ["outcome": outcome]), count, outcome)
        }
        XCTAssertEqual(samples.value("ternflux_dead_letters_total", ["reason": "unidentifiable"]), 1)
        XCTAssertEqual(samples.value("ternflux_dead_letters_total", ["reason": "max_attempts"]), 0)
    }

    static func statistics(lag: [String: Int], state: String) -> String {
        let partitions = lag.map { "\"\($0.key)\": {\"consumer_lag\": \($0.value), \"consumer_lag_stored\": \($0.value)}" }
        return "{\"topics\": {\"ternflux.jobs\": {\"partitions\": {\(partitions.joined(separator: ", "))}}}, \"cgrp\": {\"state\": \"\(state)\", \"rebalance_cnt\": 1, \"assignment_size\": 1}}"
    }
}
