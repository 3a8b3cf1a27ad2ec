import Foundation
import JobModel
import JobQueue
import JobStore
import DevServices
import Worker
import TernFluxBench
import XCTest

/// `ternflux bench pipeline`'s code path with tiny numbers, against the shared temporary PostgreSQL and
/// an embedded broker, so the benchmark cannot rot.
final class PipelineBenchmarkTests: XCTestCase {
    func testTinyBenchmarkDrainsSubmitsAndMeasures() throws {
        let conninfo = try TemporaryPostgres.shared().createDatabase() // the benchmark migrates it
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        defer { broker.close() }
        var config = PipelineBenchmark.Configuration(kafka: KafkaSettings(brokers: broker.bootstrapServers), conninfo: conninfo)
        config.submitJobs = 200
        config.drainJobs = 50
        config.workers = 1
        var messages: [String] = []
        let report = try PipelineBenchmark(configuration: config, progress: { messages.append($0) }).run()

        XCTAssertEqual(report.drain.jobs, 50)
        XCTAssertEqual(report.drain.workers, 1)
        XCTAssertGreaterThan(report.drain.overheadMedianMs, 0)
        XCTAssertGreaterThanOrEqual(report.drain.overheadP95Ms, report.drain.overheadMedianMs)
        XCTAssertGreaterThan(report.drain.recordMedianMs, 0)
        XCTAssertGreaterThan(report.drain.jobsPerSecond, 0)
        XCTAssertEqual(report.submit.jobs, 200)
        XCTAssertGreaterThan(report.submit.insertSeconds, 0)
        XCTAssertGreaterThan(report.submit.produceSeconds, 0)
        XCTAssertGreaterThan(report.submit.markEnqueuedSeconds, 0)
        XCTAssertEqual(report.submit.totalSeconds,
                       report.submit.planSeconds + report.submit.insertSeconds + report.submit.produceSeconds + report.submit.markEnqueuedSeconds,
                       accuracy: 1e-9)
        XCTAssertEqual(report.database.finishedJobs, 50)
        XCTAssertEqual(report.database.bytesPerFinishedJob,
                       Double(report.database.jobsTableBytes + report.database.jobTimingsTableBytes) / 50, accuracy: 1e-9)
        XCTAssertNotNil(report.database.bytesPerQueuedJob)
        XCTAssertEqual(messages.count, 2)

        // What the report claims is what the database holds.
        let db = try PostgresConnection(conninfo: conninfo)
        defer { db.close() }
        let rows = try db.query("""
            SELECT b.name, count(*) FILTER (WHERE j.state = 'succeeded')::bigint AS succeeded,
                   count(*) FILTER (WHERE j.enqueued_at IS NOT NULL)::bigint AS enqueued,
                   count(t.job_id)::bigint AS timed
            FROM jobs j JOIN batches b ON b.id = j.batch_id LEFT JOIN job_timings t ON t.job_id = j.id
            GROUP BY b.name ORDER BY b.name
            """)
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(try rows[0].decode("name") as String, "bench-drain")
        XCTAssertEqual(try rows[0].decode("succeeded") as Int, 50)
        XCTAssertEqual(try rows[0].decode("timed") as Int, 50)
        XCTAssertEqual(try rows[1].decode("name") as String, "bench-submit")
        XCTAssertEqual(try rows[1].decode("enqueued") as Int, 200)
        XCTAssertEqual(try rows[1].decode("succeeded") as Int, 0)
    }

    func testRefusesADatabaseThatAlreadyHoldsJobs() throws {
        let conninfo = try TemporaryPostgres.shared().createMigratedDatabase()
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        defer { broker.close() }
        let repository = JobRepository(connection: try PostgresConnection(conninfo: conninfo))
        try repository.createBatch(NewBatch(id: UUID(), name: "existing", source: nil),
                                   jobs: [NewJob(id: UUID(), line: 1, parameters: JobParameters(prompt: "a cat", seed: 1, width: 64, height: 64,
                                                                                                steps: 2, guidance: 3.5, model: "default"),
                                                 maxAttempts: 3)])
        var config = PipelineBenchmark.Configuration(kafka: KafkaSettings(brokers: broker.bootstrapServers), conninfo: conninfo)
        config.submitJobs = 10
        config.drainJobs = 5
        XCTAssertThrowsError(try PipelineBenchmark(configuration: config).run()) { error in
            XCTAssertTrue("\(error)".contains("already holds 1 jobs"), "\(error)")
        }
    }

    func testRejectsNonPositiveCounts() throws {
        var config = PipelineBenchmark.Configuration(kafka: KafkaSettings(brokers: "127.0.0.1:1"), conninfo: "host=/nonexistent")
        config.workers = 0
        XCTAssertThrowsError(try PipelineBenchmark(configuration: config).run()) { error in
            XCTAssertTrue("\(error)".contains("--workers must be at least 1"), "\(error)")
        }
    }
}
