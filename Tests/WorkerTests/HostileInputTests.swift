import Foundation
import JobModel
import JobQueue
import JobStore
import Worker
import XCTest

/// The worker cases of the hostile-input review (docs/security.md), against real PostgreSQL, the embedded
/// broker and kcat.
final class HostileInputTests: XCTestCase {
    /// A record keyed by an existing job but carrying another batch, prompt and size (produced with kcat to
    /// another partition) changes nothing: the row's parameters are generated and stored under the row's batch.
    func testAForgedRecordCannotTakeOverAJob() throws {
        let h = try PipelineHarness(partitions: 2)
        let plan = try h.submit(["a red circle"], steps: 4, width: 128, height: 128)
        let job = plan.jobs[0]
        let jobID = job.jobID.uuidString.lowercased()
        let otherBatch = UUID().uuidString.lowercased()
        let forged = #"{"v":1,"job_id":"\#(jobID)","batch_id":"\#(otherBatch)","prompt":"HIJACKED","seed":7,"width":256,"height":64,"steps":2,"guidance":9,"model":"default","attempt":0}"#
        // To every partition, so it is read whichever partition the real record went to (before or after it).
        for p in 0..<2 { try kcatProduce(h, key: jobID, value: forged, partition: p) }

        let recorder = RecordingGenerator()
        let run = try h.runWorkerInProcess(id: "w-forged", generator: recorder, idleExit: 2)
        let row = try XCTUnwrap(try h.repository.job(job.jobID))
        XCTAssertEqual(row.state, .succeeded, "\(run.outcomes)")
        XCTAssertEqual(row.parameters.prompt, "a red circle")
        XCTAssertEqual(row.parameters.width, 128)
        XCTAssertEqual(recorder.requests.map(\.prompt), ["a red circle"], "the worker generated what the record said")
        XCTAssertEqual(recorder.requests.first?.width, 128)
        XCTAssertEqual(recorder.requests.first?.steps, 4)
        let expected = h.output.appendingPathComponent("\(job.batchID.uuidString.lowercased())/\(jobID).png")
        XCTAssertEqual(row.outputURI, expected.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: expected.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.output.appendingPathComponent(otherBatch).path),
                       "the forged record's batch got a folder")
    }

    /// A batch folder that is a symbolic link fails the job at once (a retry cannot help) and writes nothing
    /// where the link points.
    func testASymlinkedBatchFolderFailsTheJobForGood() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit(["a blue square"])
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-elsewhere-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: target) }
        try FileManager.default.createSymbolicLink(at: h.output.appendingPathComponent(plan.batchID.uuidString.lowercased()),
                                                   withDestinationURL: target)
        _ = try h.runWorkerInProcess(id: "w-link", generator: try FixedImageGenerator(), idleExit: 2)
        let row = try XCTUnwrap(try h.repository.job(plan.jobs[0].jobID))
        XCTAssertEqual(row.state, .failed)
        XCTAssertEqual(row.errors.count, 1, "retried: \(row.errors)")
        XCTAssertTrue(row.errors.last?.message.contains("symbolic link") ?? false, "\(row.errors)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path), [])
    }

    /// A job whose own steps show it cannot finish within the time limit fails once, for good, saying how
    /// long it would need; it is stopped between steps rather than left running beside the next job.
    func testAJobThatCannotFinishInTimeFailsOnceAndStops() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit(["a slow green triangle"], steps: 10)
        let slow = SteppingGenerator(secondsPerStep: 0.4)
        let run = try h.runWorkerInProcess(id: "w-slow", generator: slow, idleExit: 2) { $0.jobTimeoutSeconds = 1 }
        let row = try XCTUnwrap(try h.repository.job(plan.jobs[0].jobID))
        XCTAssertEqual(row.state, .failed, "\(run.outcomes)")
        XCTAssertEqual(row.errors.count, 1, "a job that cannot fit was retried: \(row.errors)")
        let message = row.errors.last?.message ?? ""
        XCTAssertTrue(message.contains("of 10 denoising steps") && message.contains("not retried"), message)
        XCTAssertTrue(row.errors.last?.terminal ?? false)
        XCTAssertLessThan(slow.maxStepsRun, 10, "the generation was not stopped")
        XCTAssertFalse(slow.ranConcurrently)
    }

    /// A worker whose row disappears (schema reverted and applied again, or the row deleted) registers again
    /// on its next heartbeat.
    func testAWorkerWhoseRowWasDeletedRegistersAgain() throws {
        let h = try PipelineHarness(partitions: 1)
        _ = try h.submit(["a long job"])
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = try? h.runWorkerInProcess(id: "w-reregister", generator: try! FixedImageGenerator(delaySeconds: 4), idleExit: 1) {
                $0.heartbeatSeconds = 0.2
            }
            finished.signal()
        }
        thread.start()
        let db = try PostgresConnection(conninfo: h.conninfo)
        defer { db.close() }
        func rows() throws -> Int { try db.query("SELECT count(*)::int AS n FROM workers WHERE id = 'w-reregister'").first?.decode("n") ?? 0 }
        h.waitUntil("the worker registered", timeout: 20) { (try? rows()) == 1 }
        try db.execute("DELETE FROM workers WHERE id = 'w-reregister'")
        h.waitUntil("the worker registered again", timeout: 5) { (try? rows()) == 1 }
        XCTAssertEqual(finished.wait(timeout: .now() + 60), .success)
    }

    private func kcatProduce(_ h: PipelineHarness, key: String, value: String, partition: Int) throws {
        let kcat = Process()
        kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
        kcat.arguments = ["-b", h.broker.bootstrapServers, "-P", "-t", KafkaSettings.jobsTopic, "-k", key, "-p", String(partition)]
        let pipe = Pipe()
        kcat.standardInput = pipe
        try kcat.run()
        pipe.fileHandleForWriting.write(Data((value + "\n").utf8))
        try pipe.fileHandleForWriting.close()
        kcat.waitUntilExit()
        XCTAssertEqual(kcat.terminationStatus, 0)
    }
}

/// Records the parameters it is asked to generate; answers with the fixed image.
final class RecordingGenerator: ImageGenerator, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [JobParameters] = []
    private let fixed = try! FixedImageGenerator()

    var modelNames: [String] { fixed.modelNames }
    var defaults: JobSettings { fixed.defaults }
    var requests: [JobParameters] { lock.lock(); defer { lock.unlock() }; return recorded }

    func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
        lock.lock(); recorded.append(request); lock.unlock()
        return try fixed.generate(request, cancellation: cancellation)
    }
}

/// Takes `secondsPerStep` a denoising step, reporting progress and stopping between steps as the FLUX
/// generator does; notes how many steps a run did and whether two runs ever overlapped.
final class SteppingGenerator: ImageGenerator, @unchecked Sendable {
    let secondsPerStep: Double
    private let lock = NSLock()
    private var running = 0, overlap = false, mostSteps = 0
    private let fixed = try! FixedImageGenerator()

    init(secondsPerStep: Double) { self.secondsPerStep = secondsPerStep }

    var modelNames: [String] { fixed.modelNames }
    var defaults: JobSettings { fixed.defaults }
    var ranConcurrently: Bool { lock.lock(); defer { lock.unlock() }; return overlap }
    var maxStepsRun: Int { lock.lock(); defer { lock.unlock() }; return mostSteps }

    func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
        lock.lock(); running += 1; overlap = overlap || running > 1; lock.unlock()
        defer { lock.lock(); running -= 1; lock.unlock() }
        let steps = request.steps ?? 1
        for step in 0..<steps {
            Thread.sleep(forTimeInterval: secondsPerStep)
            lock.lock(); mostSteps = max(mostSteps, step + 1); lock.unlock()
            cancellation.reportProgress(stepsDone: step + 1, totalSteps: steps)
            if cancellation.isCancelled {
                throw GenerationCancelled(reason: "stopped after step \(step + 1)", stepsDone: step + 1, totalSteps: steps)
            }
        }
        return try fixed.generate(request, cancellation: cancellation)
    }
}
