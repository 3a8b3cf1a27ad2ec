import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class RoleTests: XCTestCase {
    /// The statement fails with "insufficient privilege" (or, for a view, "not updatable": 55000).
    func assertDenied(_ db: PostgresConnection, _ sql: String, allowing states: Set<String> = ["42501"], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try db.execute(sql), sql, file: file, line: line) { error in
            let state = (error as? PostgresError)?.sqlState ?? "none"
            XCTAssertTrue(states.contains(state), "\(sql): \(error)", file: file, line: line)
        }
    }

    func testReaderSelectsTheViewsButNothingElse() throws {
        let server = try TemporaryPostgres.shared()
        let info = try server.createMigratedDatabase()
        let admin = try PostgresConnection(conninfo: info)
        try SampleData.load(into: JobRepository(connection: admin), fixedTimes: false)
        let login = "reader_" + UUID().uuidString.prefix(8).lowercased()
        try admin.execute("CREATE ROLE \(login) LOGIN IN ROLE ternflux_reader")
        defer { _ = try? admin.execute("DROP ROLE \(login)") }

        let reader = try PostgresConnection(conninfo: info.replacingOccurrences(of: "user=postgres", with: "user=\(login)"))
        defer { reader.close() }
        for view in ["job_history", "batch_progress", "worker_activity"] {
            XCTAssertGreaterThan(try reader.query("SELECT * FROM \(view)").count, 0, view)
        }
        for table in ["jobs", "batches", "job_timings", "workers", "schema_migrations"] {
            assertDenied(reader, "SELECT * FROM \(table)")
        }
        assertDenied(reader, "INSERT INTO batches (id, job_count) VALUES (gen_random_uuid(), 0)")
        assertDenied(reader, "UPDATE jobs SET state = 'canceled'")
        assertDenied(reader, "DELETE FROM jobs")
        assertDenied(reader, "DELETE FROM job_history", allowing: ["42501", "55000"])
        assertDenied(reader, "CREATE TABLE mine (x int)")
    }

    func testWorkerRoleRunsTheWorkerPathAndCannotDeleteOrAlter() throws {
        let server = try TemporaryPostgres.shared()
        let info = try server.createMigratedDatabase()
        let admin = try PostgresConnection(conninfo: info)
        let ownerRepo = JobRepository(connection: admin)
        let jobs = (1...2).map { (i: Int) in NewJob(line: i, parameters: JobParameters(prompt: "p\(i)", seed: 1, width: 64, height: 64, steps: 2, guidance: 1, model: "tiny")) }
        let batch = NewBatch(name: "for the worker")
        try ownerRepo.createBatch(batch, jobs: jobs)
        let login = "worker_" + UUID().uuidString.prefix(8).lowercased()
        try admin.execute("CREATE ROLE \(login) LOGIN IN ROLE ternflux_worker")
        defer { _ = try? admin.execute("DROP ROLE \(login)") }

        let db = try PostgresConnection(conninfo: info.replacingOccurrences(of: "user=postgres", with: "user=\(login)"))
        defer { db.close() }
        XCTAssertEqual(try MigrationRunner(connection: db).up().count, 0, "a worker can run migrate up on a current schema")
        let repo = JobRepository(connection: db)
        try repo.registerWorker(WorkerInfo(id: "wr", host: "h", pid: 1, model: "tiny", version: "v"))
        XCTAssertTrue(try repo.heartbeat(workerID: "wr"))
        guard case .claimed = try repo.claim(jobID: jobs[0].id, workerID: "wr") else { return XCTFail() }
        XCTAssertEqual(try repo.recordSuccess(jobID: jobs[0].id, workerID: "wr",
                                              output: JobOutput(uri: "file:///x.png", sha256: String(repeating: "f", count: 64), bytes: 1),
                                              timings: JobTimings(tokenizeEncode: 0.001, denoiseSteps: [0.001], vaeDecode: 0.001,
                                                                  pngEncode: 0.001, store: 0.001, total: 0.005, peakRSSBytes: 1)), .recorded)
        guard case .claimed = try repo.claim(jobID: jobs[1].id, workerID: "wr") else { return XCTFail() }
        XCTAssertEqual(try repo.recordFailure(jobID: jobs[1].id, workerID: "wr", message: "boom", terminal: false), .willRetry(nextAttempt: 2, maxAttempts: 3))
        try repo.markEnqueued([jobs[1].id])
        XCTAssertTrue(try repo.ensureJob(NewJob(parameters: JobParameters(prompt: "ext", seed: 1, width: 64, height: 64, steps: 2, guidance: 1, model: "tiny")), batchID: UUID()))
        XCTAssertEqual(try repo.recordRejection(jobID: UUID(), batchID: nil, parameters: nil, workerID: "wr", message: "no prompt"), .failed(attempts: 1))
        XCTAssertEqual(try repo.batchProgress(batch.id)?.succeeded, 1)

        assertDenied(db, "DELETE FROM jobs")
        assertDenied(db, "TRUNCATE jobs")
        assertDenied(db, "DROP TABLE jobs")
        assertDenied(db, "ALTER TABLE jobs ADD COLUMN x int")
        assertDenied(db, "CREATE TABLE mine (x int)")
        assertDenied(db, "INSERT INTO schema_migrations (version, name) VALUES (99, 'x')")
    }
}
