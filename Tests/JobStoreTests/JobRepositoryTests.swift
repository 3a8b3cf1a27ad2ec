import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class JobRepositoryTests: XCTestCase {
    var repo: JobRepository!
    var db: PostgresConnection { repo.db }
    let worker = WorkerInfo(id: "w-test-1", host: "node-a", pid: 4242, model: "tiny", version: "0.1.0")

    override func setUpWithError() throws {
        repo = JobRepository(connection: try PostgresConnection(conninfo: try TemporaryPostgres.shared().createMigratedDatabase()))
        try repo.registerWorker(worker)
    }

    override func tearDown() {
        repo?.db.close()
    }

    static func params(_ prompt: String = "a red fox", seed: Int64 = 7) -> JobParameters {
        JobParameters(prompt: prompt, seed: seed, width: 128, height: 64, steps: 4, guidance: 3.5, model: "tiny")
    }

    func makeBatch(_ count: Int, maxAttempts: Int = 3, name: String = "b") throws -> (NewBatch, [NewJob]) {
        let batch = NewBatch(name: name, source: "prompts.jsonl")
        let jobs = (0..<count).map { NewJob(line: $0 + 1, parameters: Self.params("prompt \($0)", seed: Int64($0)), maxAttempts: maxAttempts) }
        try repo.createBatch(batch, jobs: jobs)
        return (batch, jobs)
    }

    let output = JobOutput(uri: "file:///out/b/j.png", sha256: String(repeating: "ab", count: 32), bytes: 1234)
    let timings = JobTimings(tokenizeEncode: 0.010, denoiseSteps: [0.020, 0.020, 0.020, 0.020], vaeDecode: 0.005,
                             pngEncode: 0.002, store: 0.001, total: 0.098, peakRSSBytes: 512 << 20)

    func testCreateBatchSmallAndLargeStoreEveryField() throws {
        for count in [3, 500] { // INSERTs below the COPY threshold, COPY above it
            let (batch, jobs) = try makeBatch(count)
            let stored = try XCTUnwrap(repo.job(jobs[count - 1].id))
            XCTAssertEqual(stored.batchID, batch.id)
            XCTAssertEqual(stored.line, count)
            XCTAssertEqual(stored.state, .queued)
            XCTAssertEqual(stored.attempt, 0)
            XCTAssertEqual(stored.maxAttempts, 3)
            XCTAssertEqual(stored.parameters, jobs[count - 1].parameters)
            XCTAssertNil(stored.enqueuedAt)
            XCTAssertEqual(stored.errors, [])
            let progress = try XCTUnwrap(repo.batchProgress(batch.id))
            XCTAssertEqual(progress.total, count)
            XCTAssertEqual(progress.queued, count)
            XCTAssertFalse(progress.finished)
        }
    }

    func testPromptsHoldingSQLAndOddTextAreStoredVerbatim() throws {
        let prompts = ["'); DROP TABLE jobs; --", "Robert'); DELETE FROM batches;--\ttab\nnewline \\N \\ backslash",
                       "emoji 🦊 and \u{00e9}", "$1 $$ quoted $$ \"double\""]
        for useCopy in [false, true] {
            repo.copyThreshold = useCopy ? 1 : 1_000
            let jobs = prompts.map { NewJob(parameters: Self.params($0)) }
            try repo.createBatch(NewBatch(), jobs: jobs)
            for job in jobs { XCTAssertEqual(try repo.job(job.id)?.parameters.prompt, job.parameters.prompt) }
        }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM jobs").single().decode("n", as: Int.self), 8)
    }

    func testInvalidJobsAreRejectedBeforeAnythingIsWritten() throws {
        var jobs = (0..<3).map { NewJob(line: $0 + 1, parameters: Self.params()) }
        jobs[2].parameters.width = 17
        jobs[2].parameters.steps = 0
        let batch = NewBatch()
        XCTAssertThrowsError(try repo.createBatch(batch, jobs: jobs)) { error in
            XCTAssertEqual("\(error)", "line 3: width: must be a multiple of 16 between 16 and 2048 (got 17); steps: must be between 1 and 100 (got 0)")
        }
        XCTAssertNil(try repo.batchProgress(batch.id))
        try repo.createBatch(batch, jobs: [NewJob(parameters: Self.params())])
        XCTAssertThrowsError(try repo.createBatch(batch, jobs: [NewJob(parameters: Self.params())])) { error in
            XCTAssertEqual(error as? JobStoreError, .batchExists(batch.id))
        }
    }

    func testMarkEnqueuedAndQueuedButNotEnqueued() throws {
        let (batch, jobs) = try makeBatch(5)
        XCTAssertEqual(try repo.queuedButNotEnqueued(batchID: batch.id, olderThan: 0).count, 5)
        XCTAssertEqual(try repo.queuedButNotEnqueued(batchID: batch.id, olderThan: 3600).count, 0, "a submit in progress is left alone")
        XCTAssertEqual(try repo.markEnqueued(jobs.prefix(3).map(\.id)), 3)
        XCTAssertEqual(try repo.markEnqueued(jobs.prefix(3).map(\.id)), 0, "already marked")
        XCTAssertEqual(try repo.queuedButNotEnqueued(batchID: batch.id, olderThan: 0).map(\.id), jobs.suffix(2).map(\.id))
        XCTAssertEqual(try repo.queuedButNotEnqueued(olderThan: 0, limit: 1).map(\.id), [jobs[3].id])
    }

    func testClaimRunsQueuedJobsAndSkipsFinishedOnes() throws {
        let (_, jobs) = try makeBatch(2)
        guard case .claimed(let job) = try repo.claim(jobID: jobs[0].id, workerID: worker.id) else { return XCTFail("not claimed") }
        XCTAssertEqual(job.state, .running)
        XCTAssertEqual(job.attempt, 1)
        XCTAssertEqual(job.workerID, worker.id)
        XCTAssertNotNil(job.startedAt)
        // Redelivered while running (its worker was lost): claimed again, next attempt.
        guard case .claimed(let again) = try repo.claim(jobID: jobs[0].id, workerID: "w-other") else { return XCTFail("not reclaimed") }
        XCTAssertEqual(again.attempt, 2)
        XCTAssertEqual(try repo.recordSuccess(jobID: jobs[0].id, workerID: "w-other", output: output, timings: timings), .recorded)
        XCTAssertEqual(try repo.claim(jobID: jobs[0].id, workerID: worker.id), .skipped(.succeeded))
        XCTAssertEqual(try repo.claim(jobID: UUID(), workerID: worker.id), .notFound)
    }

    func testAJobThatKeepsLosingItsWorkerIsFailedAfterMaxAttempts() throws {
        let (_, jobs) = try makeBatch(1, maxAttempts: 2)
        let id = jobs[0].id
        for _ in 0..<2 { guard case .claimed = try repo.claim(jobID: id, workerID: worker.id) else { return XCTFail() } }
        XCTAssertEqual(try repo.claim(jobID: id, workerID: worker.id), .skipped(.failed))
        let job = try XCTUnwrap(repo.job(id))
        XCTAssertEqual(job.state, .failed)
        XCTAssertNotNil(job.finishedAt)
        XCTAssertEqual(job.errors.count, 1)
        XCTAssertTrue(job.errors[0].terminal)
        XCTAssertTrue(job.errors[0].message.contains("all 2 attempts were started and none finished"), job.errors[0].message)
    }

    func testRecordSuccessIsIdempotent() throws {
        let (batch, jobs) = try makeBatch(1)
        let id = jobs[0].id
        try repo.markEnqueued([id])
        guard case .claimed = try repo.claim(jobID: id, workerID: worker.id) else { return XCTFail() }
        XCTAssertEqual(try repo.recordSuccess(jobID: id, workerID: worker.id, output: output, timings: timings), .recorded)
        var other = output
        other.uri = "file:///elsewhere.png"
        XCTAssertEqual(try repo.recordSuccess(jobID: id, workerID: "w-dup", output: other, timings: timings),
                       .alreadyFinished(.succeeded, existingOutput: output))
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM job_timings").single().decode("n", as: Int.self), 1)
        let job = try XCTUnwrap(repo.job(id))
        XCTAssertEqual(job.state, .succeeded)
        XCTAssertEqual(job.outputURI, output.uri)
        XCTAssertEqual(job.sha256, output.sha256)
        XCTAssertEqual(job.bytes, 1234)
        let row = try db.query("SELECT * FROM job_timings WHERE job_id = $1", [id]).single()
        XCTAssertEqual(try row.decode("denoise_step_ms", as: [Double].self), [20, 20, 20, 20])
        XCTAssertEqual(try row.decode("peak_rss_bytes", as: Int64.self), 512 << 20)
        XCTAssertGreaterThanOrEqual(try row.decode("queue_wait_ms", as: Double.self), 0)
        XCTAssertEqual(try repo.workerActivity().first { $0.workerID == worker.id }?.jobsDone, 1)
        XCTAssertEqual(try repo.batchProgress(batch.id)?.succeeded, 1)
        XCTAssertEqual(try repo.batchProgress(batch.id)?.finished, true)
        XCTAssertEqual(try repo.recordSuccess(jobID: UUID(), workerID: worker.id, output: output, timings: timings), .notFound)
    }

    func testRecordFailureRetriesThenFailsWithTheErrorHistory() throws {
        let (_, jobs) = try makeBatch(2, maxAttempts: 2)
        let id = jobs[0].id
        try repo.markEnqueued([id])
        guard case .claimed = try repo.claim(jobID: id, workerID: worker.id) else { return XCTFail() }
        XCTAssertEqual(try repo.recordFailure(jobID: id, workerID: worker.id, message: "out of memory", terminal: false),
                       .willRetry(nextAttempt: 2, maxAttempts: 2))
        var job = try XCTUnwrap(repo.job(id))
        XCTAssertEqual(job.state, .queued)
        XCTAssertNil(job.enqueuedAt, "a retry is not enqueued until it is produced again")
        XCTAssertNil(job.finishedAt)
        guard case .claimed = try repo.claim(jobID: id, workerID: worker.id) else { return XCTFail() }
        XCTAssertEqual(try repo.recordFailure(jobID: id, workerID: worker.id, message: "out of memory again", terminal: false), .failed(attempts: 2))
        job = try XCTUnwrap(repo.job(id))
        XCTAssertEqual(job.state, .failed)
        XCTAssertNotNil(job.finishedAt)
        XCTAssertEqual(job.errors.map(\.message), ["out of memory", "out of memory again"])
        XCTAssertEqual(job.errors.map(\.attempt), [1, 2])
        XCTAssertEqual(job.errors.map(\.terminal), [false, true])
        XCTAssertEqual(job.errors.map(\.workerID), [worker.id, worker.id])
        XCTAssertEqual(try repo.recordFailure(jobID: id, workerID: worker.id, message: "late", terminal: true), .alreadyFinished(.failed))

        // A terminal error fails at once, whatever attempts are left.
        guard case .claimed = try repo.claim(jobID: jobs[1].id, workerID: worker.id) else { return XCTFail() }
        XCTAssertEqual(try repo.recordFailure(jobID: jobs[1].id, workerID: worker.id, message: "unknown model \"nope\"", terminal: true), .failed(attempts: 1))
        XCTAssertEqual(try repo.workerActivity().first { $0.workerID == worker.id }?.jobsFailed, 3)
        XCTAssertEqual(try repo.history(HistoryFilter(state: .failed)).first { $0.jobID == id }?.lastError, "out of memory again")
    }

    func testRejectedAndExternalJobsAreRecorded() throws {
        let batchID = UUID()
        var external = NewJob(parameters: Self.params("from kcat"))
        external.maxAttempts = 3
        XCTAssertTrue(try repo.ensureJob(external, batchID: batchID))
        XCTAssertFalse(try repo.ensureJob(external, batchID: batchID))
        guard case .claimed = try repo.claim(jobID: external.id, workerID: worker.id) else { return XCTFail() }

        var bad = Self.params()
        bad.width = 17
        let rejectedID = UUID()
        XCTAssertEqual(try repo.recordRejection(jobID: rejectedID, batchID: batchID, parameters: bad, workerID: worker.id,
                                                message: "width 17 must be a multiple of 16"), .failed(attempts: 1))
        let rejected = try XCTUnwrap(repo.job(rejectedID))
        XCTAssertEqual(rejected.state, .failed)
        XCTAssertEqual(rejected.parameters.width, 17)
        XCTAssertEqual(rejected.errors.first?.message, "width 17 must be a multiple of 16")

        let unreadable = UUID()
        XCTAssertEqual(try repo.recordRejection(jobID: unreadable, batchID: nil, parameters: nil, workerID: worker.id,
                                                message: "missing field \"prompt\""), .failed(attempts: 1))
        XCTAssertEqual(try repo.job(unreadable)?.batchID, JobRepository.unbatchedID)
        // Rejecting a job that is in the store fails it terminally.
        XCTAssertEqual(try repo.recordRejection(jobID: external.id, batchID: batchID, parameters: nil, workerID: worker.id,
                                                message: "unknown model"), .failed(attempts: 1))
        XCTAssertEqual(try repo.batchProgress(batchID)?.total, 2)
        XCTAssertEqual(try repo.batchProgress(batchID)?.failed, 2)
    }

    func testCancelBatchStopsQueuedAndRunningJobs() throws {
        let (batch, jobs) = try makeBatch(4)
        guard case .claimed = try repo.claim(jobID: jobs[0].id, workerID: worker.id) else { return XCTFail() }
        guard case .claimed = try repo.claim(jobID: jobs[1].id, workerID: worker.id) else { return XCTFail() }
        XCTAssertEqual(try repo.recordSuccess(jobID: jobs[1].id, workerID: worker.id, output: output, timings: timings), .recorded)
        XCTAssertEqual(try repo.cancelBatch(batch.id), 3)
        XCTAssertEqual(try repo.cancelBatch(batch.id), 0)
        XCTAssertEqual(try repo.claim(jobID: jobs[2].id, workerID: worker.id), .skipped(.canceled))
        XCTAssertEqual(try repo.recordSuccess(jobID: jobs[0].id, workerID: worker.id, output: output, timings: timings),
                       .alreadyFinished(.canceled, existingOutput: nil))
        let progress = try XCTUnwrap(repo.batchProgress(batch.id))
        XCTAssertEqual([progress.succeeded, progress.canceled, progress.queued, progress.running], [1, 3, 0, 0])
        XCTAssertNotNil(progress.canceledAt)
        XCTAssertThrowsError(try repo.cancelBatch(UUID())) { XCTAssertTrue("\($0)".hasPrefix("no batch ")) }
    }

    func testWorkersRegisterHeartbeatAndStop() throws {
        XCTAssertTrue(try repo.heartbeat(workerID: worker.id))
        XCTAssertFalse(try repo.heartbeat(workerID: "nobody"))
        var activity = try XCTUnwrap(repo.workerActivity().first { $0.workerID == worker.id })
        XCTAssertTrue(activity.alive)
        XCTAssertEqual([activity.host, activity.model, activity.version], ["node-a", "tiny", "0.1.0"])
        XCTAssertEqual(activity.pid, 4242)
        try repo.markWorkerStopped(workerID: worker.id)
        activity = try XCTUnwrap(repo.workerActivity().first { $0.workerID == worker.id })
        XCTAssertFalse(activity.alive)
        try repo.registerWorker(worker) // a restart with the same id
        XCTAssertEqual(try repo.workerActivity().first { $0.workerID == worker.id }?.alive, true)
    }

    func testHistoryFilters() throws {
        let (first, firstJobs) = try makeBatch(3, name: "first")
        let (second, _) = try makeBatch(2, name: "second")
        guard case .claimed = try repo.claim(jobID: firstJobs[0].id, workerID: worker.id) else { return XCTFail() }
        try repo.recordSuccess(jobID: firstJobs[0].id, workerID: worker.id, output: output, timings: timings)
        XCTAssertEqual(try repo.history(HistoryFilter()).count, 5)
        XCTAssertEqual(try repo.history(HistoryFilter(batchID: first.id)).count, 3)
        XCTAssertEqual(try repo.history(HistoryFilter(batchID: second.id)).map(\.batchName), ["second", "second"])
        let done = try repo.history(HistoryFilter(state: .succeeded))
        XCTAssertEqual(done.map(\.jobID), [firstJobs[0].id])
        XCTAssertEqual(done.first?.totalMs, 98)
        XCTAssertEqual(done.first?.outputURI, output.uri)
        XCTAssertEqual(try repo.history(HistoryFilter(workerID: worker.id)).count, 1)
        XCTAssertEqual(try repo.history(HistoryFilter(limit: 2)).count, 2)
        XCTAssertEqual(try repo.history(HistoryFilter(since: Date().addingTimeInterval(3600))).count, 0)
        XCTAssertEqual(try repo.history(HistoryFilter(since: Date().addingTimeInterval(-3600))).count, 5)
        XCTAssertEqual(try repo.recentBatches(limit: 10).map(\.name).sorted(), ["first", "second"])
    }

    /// Bulk insert throughput of createBatch (COPY). 20 000 jobs here; `TERNFLUX_STORE_BENCH_JOBS=100000`
    /// measures the 100 000-prompt case of the submit target and prints the rate.
    func testBulkCreateBatchThroughput() throws {
        let count = Int(ProcessInfo.processInfo.environment["TERNFLUX_STORE_BENCH_JOBS"] ?? "") ?? 20_000
        let jobs = (0..<count).map { NewJob(line: $0 + 1, parameters: Self.params("a photo of prompt number \($0), studio lighting", seed: Int64($0))) }
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let start = Date()
        let cpuStart = cpuSeconds()
        try repo.createBatch(NewBatch(name: "bulk"), jobs: jobs)
        let insertSeconds = Date().timeIntervalSince(start)
        let insertCPU = cpuSeconds() - cpuStart
        let markStart = Date()
        XCTAssertEqual(try repo.markEnqueued(jobs.map(\.id)), count)
        let markSeconds = Date().timeIntervalSince(markStart)
        print(String(format: "createBatch: %d jobs in %.3f s = %.0f jobs/s (client CPU %.3f s); markEnqueued: %.3f s = %.0f jobs/s",
                     count, insertSeconds, Double(count) / insertSeconds, insertCPU, markSeconds, Double(count) / markSeconds))
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM jobs").single().decode("n", as: Int.self), count)
    }
}
