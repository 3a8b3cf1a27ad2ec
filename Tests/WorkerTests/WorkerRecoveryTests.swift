import Foundation
import JobModel
import JobQueue
import JobStore
import DevServices
import Worker
import XCTest

/// A PostgreSQL restart breaks the worker's session: the worker re-establishes it and records every job once,
/// keeping the record in hand meanwhile (docs/reliability.md tells how the chaos run found the failure).
final class WorkerRecoveryTests: XCTestCase {
    func testWorkerCarriesOnAfterAPostgresRestart() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit((1...12).map { "restart survivor \($0)" })
        final class Box: @unchecked Sendable { var run: InProcessWorkerRun?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let generator = try FixedImageGenerator(delaySeconds: 0.1)
        Thread {
            do { box.run = try h.runWorkerInProcess(id: "survivor", generator: generator, idleExit: 3) } catch { box.error = error }
            done.signal()
        }.start()
        try h.waitUntil("a few jobs to succeed", timeout: 60) { (try h.states(plan.batchID)[.succeeded] ?? 0) >= 3 }
        try TemporaryPostgres.shared().restart()
        try h.repository.db.reset()
        try h.waitUntil("every job to succeed after the restart", timeout: 60) { try h.states(plan.batchID)[.succeeded] == 12 }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the worker did not stop after going idle")
        XCTAssertNil(box.error, "the worker stopped with an error: \(String(describing: box.error))")
        let counts = try h.repository.db.query("""
            SELECT (SELECT count(*) FROM job_timings)::int AS timings, (SELECT sum(jobs_done) FROM workers)::int AS done
            """).single()
        XCTAssertEqual(try counts.decode("timings", as: Int.self), 12)
        XCTAssertEqual(try counts.decode("done", as: Int.self), 12, "a result was recorded more or less than once")
        let images = try FileManager.default.contentsOfDirectory(atPath: h.output.appendingPathComponent(plan.batchID.uuidString.lowercased()).path)
        XCTAssertEqual(images.filter { $0.hasSuffix(".png") && !$0.hasPrefix(".") }.count, 12)
    }
}
