import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class ReportingViewTests: XCTestCase {
    func testViewsComputeTheKnownDatasetsNumbers() throws {
        let repo = JobRepository(connection: try PostgresConnection(conninfo: try TemporaryPostgres.shared().createMigratedDatabase()))
        defer { repo.db.close() }
        try SampleData.load(into: repo, fixedTimes: true)

        let batch = try XCTUnwrap(repo.batchProgress(SampleData.batchID))
        XCTAssertEqual([batch.total, batch.queued, batch.running, batch.succeeded, batch.failed, batch.canceled], [4, 0, 0, 3, 1, 0])
        XCTAssertTrue(batch.finished)
        // Latencies (enqueue to finish) 2000, 4000, 6000 ms: p50 = 4000; p95 = 4000 + 0.9 × 2000.
        XCTAssertEqual(try XCTUnwrap(batch.p50LatencyMs), 4000, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(batch.p95LatencyMs), 5800, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(batch.p50GenerationMs), 200, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(batch.p95GenerationMs), 290, accuracy: 1e-9)
        // 3 images between the first start (T0+1s) and the last success (T0+6s).
        XCTAssertEqual(try XCTUnwrap(batch.imagesPerSecond), 0.6, accuracy: 1e-9)

        let stuck = try XCTUnwrap(repo.batchProgress(SampleData.stuckBatchID))
        XCTAssertEqual(stuck.running, 1)
        XCTAssertFalse(stuck.finished)
        XCTAssertNil(stuck.imagesPerSecond)

        let workers = try repo.workerActivity()
        let w1 = try XCTUnwrap(workers.first { $0.workerID == "w1" })
        XCTAssertEqual([w1.jobsDone, w1.jobsFailed], [3, 1])
        XCTAssertEqual(try XCTUnwrap(w1.meanTotalMs), 200, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(w1.p95TotalMs), 290, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(w1.imagesPerSecond), 0.3, accuracy: 1e-9)
        XCTAssertFalse(w1.alive, "its last heartbeat is long past")
        let w2 = try XCTUnwrap(workers.first { $0.workerID == "w2" })
        XCTAssertEqual(w2.runningNow, 1)
        XCTAssertFalse(w2.alive)

        let failed = try repo.history(HistoryFilter(batchID: SampleData.batchID, state: .failed))
        XCTAssertEqual(failed.map(\.jobID), [SampleData.jobIDs[3]])
        XCTAssertEqual(failed.first?.lastError, "unknown model \"tiny\"")
        XCTAssertEqual(failed.first?.errorCount, 1)
        XCTAssertEqual(try XCTUnwrap(failed.first?.latencyMs), 3000, accuracy: 1e-6)
        let row = try repo.db.query("SELECT queue_wait_ms, denoise_step_ms FROM job_history WHERE job_id = $1", [SampleData.jobIDs[1]]).single()
        XCTAssertEqual(try row.decode("denoise_step_ms", as: [Double].self), [60, 80])
        XCTAssertGreaterThanOrEqual(try row.decode("queue_wait_ms", as: Double.self), 0)
    }
}
