import FluxModel
import Foundation
import JobModel
import JobStore
import Worker
import XCTest

/// `ternflux worker --slots N`: N consumer-group members in one process around one model, their jobs at the
/// same time; and the shared model gives each concurrent job the image it gives alone.
final class WorkerSlotsTests: XCTestCase {
    func testTheSlotIDs() {
        XCTAssertEqual(WorkerSlots.workerIDs(base: "w", count: 1), ["w"])
        XCTAssertEqual(WorkerSlots.workerIDs(base: "w", count: 3), ["w-1", "w-2", "w-3"])
    }

    /// A real worker process with three slots against the embedded broker and Postgres: every job succeeds,
    /// the slots are three workers in the database, more than one of them took jobs, and two slots' jobs
    /// ran at overlapping times (each job takes 1 s); the process exits 0 once every slot is idle.
    func testThreeSlotsInOneProcessRunJobsAtTheSameTime() throws {
        let h = try PipelineHarness(partitions: 4)
        let plan = try h.submit((0..<12).map { "slot job \($0)" })
        let worker = try h.startWorkerProcess(id: "slots", delay: 1.0, idleExit: 4, extra: ["--slots", "3"], logLevel: "notice")
        h.waitUntil("all 12 jobs succeeded", timeout: 120) { (try? h.states(plan.batchID)[.succeeded]) == 12 }
        worker.waitUntilExit()
        XCTAssertEqual(worker.terminationStatus, 0, h.workerLog("slots"))
        XCTAssertTrue(h.workerLog("slots").contains("running 3 generation slots"), h.workerLog("slots"))

        let db = h.repository.db
        let workers: [String] = try db.query("SELECT id FROM workers WHERE id LIKE 'slots%' ORDER BY id").map { try $0.decode("id") }
        XCTAssertEqual(workers, ["slots-1", "slots-2", "slots-3"])
        let rows = try db.query("""
            SELECT worker_id, extract(epoch FROM started_at)::float8 AS s, extract(epoch FROM finished_at)::float8 AS f
            FROM jobs WHERE batch_id = $1
            """, [plan.batchID])
        let jobs: [(worker: String, start: Double, end: Double)] = try rows.map { (try $0.decode("worker_id"), try $0.decode("s"), try $0.decode("f")) }
        XCTAssertEqual(jobs.count, 12)
        XCTAssertTrue(Set(jobs.map(\.worker)).isSubset(of: Set(workers)))
        XCTAssertGreaterThan(Set(jobs.map(\.worker)).count, 1, "one slot took every job: \(jobs)")
        let overlapping = jobs.contains { a in jobs.contains { b in a.worker != b.worker && a.start < b.end && b.start < a.end } }
        XCTAssertTrue(overlapping, "no two slots ran jobs at the same time: \(jobs)")
    }

    func testTheSlotCountIsChecked() throws {
        for bad in ["0", "65"] {
            let p = Process()
            p.executableURL = PipelineHarness.binary
            p.arguments = ["worker", "--fixed-image", "--slots", bad, "--database-url", "host=/nonexistent", "--brokers", "127.0.0.1:9"]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 64, text)
            XCTAssertTrue(text.contains("--slots must be within 1...64, got \(bad)"), text)
        }
    }

    /// Two slots on one (stand-in) GPU: the shipped model's ternary linears uploaded once, every job done through
    /// the per-call scratch pool and streams, and a slot count whose scratch cannot fit is refused at start
    /// naming the figures. The stand-in libcuda (ops/gpu/driver_emulation) runs the kernels as their CPU
    /// reference; it tests the host side, not the kernels.
    func testSlotsOnOneCUDADevice() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fake-cuda-slots-\(getpid())").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/bash")
        build.arguments = [PipelineHarness.packageRoot.appendingPathComponent("ops/gpu/driver_emulation/build.sh").path, dir]
        build.standardOutput = Pipe()
        try build.run()
        build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0)
        let driver = ["TERNFLUX_CUDA_DRIVER": dir + "/libcuda.so.1"]
        let model = PipelineHarness.packageRoot.appendingPathComponent("models/default").path

        let h = try PipelineHarness(partitions: 2)
        let plan = try h.submit((0..<6).map { "gpu slot job \($0)" }, steps: 3)
        let worker = try h.startWorkerProcess(id: "gpu", idleExit: 4, extra: ["--model", model, "--device", "cuda", "--slots", "2"],
                                              logLevel: "notice", fixedImage: false, environment: driver)
        h.waitUntil("all 6 jobs succeeded", timeout: 120) { (try? h.states(plan.batchID)[.succeeded]) == 6 }
        worker.waitUntilExit()
        let log = h.workerLog("gpu")
        XCTAssertEqual(worker.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("ternary linears on the GPU"), log)
        XCTAssertFalse(log.contains("fake libcuda:"), log)

        let refused = try h.startWorkerProcess(id: "gpu-too-many", extra: ["--model", model, "--device", "cuda", "--slots", "64"],
                                               fixedImage: false, environment: driver.merging(["FAKE_LIBCUDA_MEMORY": "50000000"]) { $1 })
        refused.waitUntilExit()
        XCTAssertEqual(refused.terminationStatus, 1, h.workerLog("gpu-too-many"))
        XCTAssertTrue(h.workerLog("gpu-too-many").contains("--slots 64 needs"), h.workerLog("gpu-too-many"))
        XCTAssertTrue(h.workerLog("gpu-too-many").contains("use --slots"), h.workerLog("gpu-too-many"))
    }

    /// The slots share one FluxImageGenerator: three jobs generated at the same time on models/default give
    /// the bits each gives alone.
    func testConcurrentJobsOnOneModelGiveTheImagesTheyGiveAlone() throws {
        let folder = PipelineHarness.packageRoot.appendingPathComponent("models/default")
        let generator = try FluxImageGenerator(modelDirectory: folder, mode: .int8)
        let jobs = (0..<3).map { JobParameters(prompt: ["a red circle", "a blue square above a green triangle", "two yellow stars"][$0],
                                               seed: Int64(10 + $0), steps: 3) }
        let alone = try jobs.map { try generator.generate($0, cancellation: JobCancellation()).image }
        let results = ConcurrentResults(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            results.set(i, Result { try generator.generate(jobs[i], cancellation: JobCancellation()).image })
        }
        for i in jobs.indices { XCTAssertEqual(try results.get(i).get(), alone[i], "job \(i)") }
    }
}

/// Results written from several threads.
private final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<RGBImage, Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<RGBImage, Error>) { lock.lock(); values[i] = value; lock.unlock() }
    func get(_ i: Int) -> Result<RGBImage, Error> { lock.lock(); defer { lock.unlock() }; return values[i]! }
}
