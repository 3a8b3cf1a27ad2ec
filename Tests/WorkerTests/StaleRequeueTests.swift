import Foundation
import JobModel
import JobQueue
import JobStore
import DevServices
import Worker
import XCTest

/// Jobs marked enqueued whose records a broker discarded before any worker read them stay queued forever, and
/// plain `ternflux requeue` only looks at jobs never enqueued: `ternflux requeue --stale SECONDS` produces such
/// jobs again.
final class StaleRequeueTests: XCTestCase {
    func testJobsWhoseRecordsAreGoneAreProducedAgainOnce() throws {
        let h = try PipelineHarness(partitions: 1)
        let batch = UUID()
        let jobs = (1...3).map { NewJob(line: $0, parameters: JobParameters(prompt: "lost record \($0)", seed: Int64($0), width: 64,
                                                                            height: 64, steps: 4, guidance: 3.5, model: "default")) }
        // Stored and marked enqueued, but the records never reach the topic: what a discarding broker leaves.
        try h.repository.createBatch(NewBatch(id: batch, name: "stale"), jobs: jobs)
        try h.repository.markEnqueued(jobs.map(\.id))
        try h.repository.db.execute("UPDATE jobs SET enqueued_at = now() - interval '2 hours' WHERE batch_id = $1", [batch])
        let fresh = try h.submit(["a job still waiting in the backlog"])

        XCTAssertEqual(try requeue(h, "--stale", "3600"), ["requeued 0 jobs", "produced again 3 stale jobs (enqueued ≥ 3600 s ago, never started)"])
        XCTAssertEqual(try requeue(h, "--stale", "3600").last, "produced again 0 stale jobs (enqueued ≥ 3600 s ago, never started)",
                       "the jobs just produced again are not stale")
        _ = try h.runWorkerInProcess(id: "rescuer", generator: try FixedImageGenerator(), idleExit: 3)
        XCTAssertEqual(try h.states(batch)[.succeeded], 3)
        XCTAssertEqual(try h.states(fresh.batchID)[.succeeded], 1)
        XCTAssertThrowsError(try requeue(h, "--stale=-1")) { error in
            XCTAssertTrue("\(error)".contains("--stale must be a number of seconds"), "\(error)")
        }
    }

    /// Runs `ternflux requeue` against the harness; returns its stdout lines, or throws its stderr.
    func requeue(_ h: PipelineHarness, _ arguments: String...) throws -> [String] {
        let p = Process()
        p.executableURL = PipelineHarness.binary
        p.arguments = ["requeue", "--database-url", h.conninfo, "--brokers", h.broker.bootstrapServers] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw RequeueFailed(description: stderr) }
        return stdout.split(separator: "\n").map(String.init)
    }

    struct RequeueFailed: Error, CustomStringConvertible { let description: String }
}
