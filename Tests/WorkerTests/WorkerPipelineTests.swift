import FluxModel
import Foundation
import JobModel
import JobQueue
import JobClient
import JobStore
import Worker
import XCTest

/// The job pipeline end to end with real services: PostgreSQL, the embedded Kafka broker over TCP,
/// worker processes of the built binary, and an independent Kafka client (kcat).
final class WorkerPipelineTests: XCTestCase {
    func testBatchIsGeneratedRecordedAndImagesMatchTheirRows() throws {
        let h = try PipelineHarness()
        let plan = try h.submit(["a red circle", "two blue squares", "a green triangle above a red circle"])
        let service = try h.runWorkerInProcess(id: "w-inproc", generator: try FixedImageGenerator(), idleExit: 2)
        XCTAssertEqual(service.outcomes.count, 3)
        XCTAssertEqual(try h.states(plan.batchID)[.succeeded], 3)
        for job in plan.jobs {
            let record = try XCTUnwrap(try h.repository.job(job.jobID))
            XCTAssertEqual(record.state, .succeeded)
            let uri = try XCTUnwrap(record.outputURI)
            XCTAssertTrue(uri.hasSuffix("\(job.batchID.uuidString.lowercased())/\(job.jobID.uuidString.lowercased()).png"), uri)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: uri)))
            XCTAssertEqual(record.sha256, SHA256.hexDigest(bytes))
            XCTAssertEqual(record.bytes, Int64(bytes.count))
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
        let timings = try h.repository.db.query("SELECT count(*)::int AS n FROM job_timings jt JOIN jobs j ON j.id = jt.job_id WHERE j.batch_id = $1 AND jt.total_ms > 0", [plan.batchID])
        XCTAssertEqual(try timings.first?.decode("n") as Int?, 3)
    }

    func testDuplicateDeliveryYieldsOneResultRow() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit(["a purple square"])
        // Deliver the same job a second time, as a crash between record and offset store would.
        let producer = try h.producer()
        _ = try producer.send(plan.jobs[0].record())
        producer.close()
        let service = try h.runWorkerInProcess(id: "w-dup", generator: try FixedImageGenerator(), idleExit: 2)
        XCTAssertEqual(service.outcomes.filter { if case .succeeded = $0 { return true } else { return false } }.count, 1)
        XCTAssertTrue(service.outcomes.contains(.skipped(plan.jobs[0].jobID, .succeeded)), "\(service.outcomes)")
        let rows = try h.repository.db.query("SELECT count(*)::int AS n FROM job_timings WHERE job_id = $1", [plan.jobs[0].jobID])
        XCTAssertEqual(try rows.first?.decode("n") as Int?, 1)
    }

    func testJobProducedByKcatIsProcessed() throws {
        let h = try PipelineHarness(partitions: 1)
        let jobID = UUID().uuidString.lowercased(), batchID = UUID().uuidString.lowercased()
        let line = #"{"v":1,"job_id":"\#(jobID)","batch_id":"\#(batchID)","prompt":"a yellow circle","seed":42,"width":128,"height":128,"steps":4,"guidance":3.5,"model":"default","attempt":0}"#
        let kcat = Process()
        kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
        kcat.arguments = ["-b", h.broker.bootstrapServers, "-P", "-t", KafkaSettings.jobsTopic, "-k", jobID]
        let pipe = Pipe()
        kcat.standardInput = pipe
        try kcat.run()
        pipe.fileHandleForWriting.write(Data((line + "\n").utf8))
        try pipe.fileHandleForWriting.close()
        kcat.waitUntilExit()
        XCTAssertEqual(kcat.terminationStatus, 0)
        _ = try h.runWorkerInProcess(id: "w-kcat", generator: try FixedImageGenerator(), idleExit: 2)
        let record = try XCTUnwrap(try h.repository.job(UUID(uuidString: jobID)!))
        XCTAssertEqual(record.state, .succeeded)
        XCTAssertEqual(record.parameters.seed, 42)
    }

    func testBadJobsFailAloneWithClearErrorsAndTheWorkerMovesOn() throws {
        let h = try PipelineHarness(partitions: 1)
        let batch = UUID()
        func job(_ fields: String) -> (UUID, [UInt8]) {
            let id = UUID()
            return (id, Array(#"{"v":1,"job_id":"\#(id.uuidString.lowercased())","batch_id":"\#(batch.uuidString.lowercased())",\#(fields)}"#.utf8))
        }
        let base = #""seed":1,"width":128,"height":128,"guidance":3.5,"model":"default","attempt":0"#
        let cases: [(String, (UUID, [UInt8]))] = [
            ("prompt", job(#""steps":4,"# + base)),
            ("steps", job(#""prompt":"x","steps":0,"# + base)),
            ("steps", job(#""prompt":"x","steps":10000,"# + base)),
            ("width", job(#""prompt":"x","steps":4,"seed":1,"width":17,"height":128,"guidance":3.5,"model":"default","attempt":0"#)),
            ("prompt", job(#""prompt":""# + String(repeating: "a", count: 1_000_000) + #"","steps":4,"# + base)),
            ("unknown model", job(#""prompt":"x","steps":4,"seed":1,"width":128,"height":128,"guidance":3.5,"model":"nope","attempt":0"#)),
        ]
        var invalidUTF8 = job(#""prompt":"bad \#u{FFFD}","steps":4,"# + base)
        if let r = invalidUTF8.1.firstIndex(of: 0xEF) { invalidUTF8.1.replaceSubrange(r..<(r + 3), with: [0xC3, 0x28]) }
        let sqlPrompt = "Robert'); DROP TABLE jobs; --"
        let good = job(#""prompt":"\#(sqlPrompt)","steps":4,"# + base)
        // The 1,000,000-character prompt needs a record larger than librdkafka's default 1 MB limit.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            bootstrapServers: h.broker.bootstrapServers, properties: ["message.max.bytes": "4000000"], clientID: "test-big"))
        var records = cases.map { OutgoingMessage(topic: KafkaSettings.jobsTopic, key: $0.1.0.uuidString.lowercased(), value: $0.1.1) }
        records.append(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: invalidUTF8.0.uuidString.lowercased(), value: invalidUTF8.1))
        records.append(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: nil, value: Array("{not json".utf8)))
        records.append(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: good.0.uuidString.lowercased(), value: good.1))
        let reports = try producer.sendBatch(records)
        XCTAssertEqual(reports.compactMap(\.error).count, 0, "\(reports.compactMap(\.error))")
        producer.close()

        let service = try h.runWorkerInProcess(id: "w-bad", generator: try FixedImageGenerator(), idleExit: 2)
        XCTAssertEqual(service.outcomes.count, records.count, "\(service.outcomes)")
        for (field, (id, _)) in cases {
            let record = try XCTUnwrap(try h.repository.job(id), "job for \(field) not recorded")
            XCTAssertEqual(record.state, .failed, field)
            let message = record.errors.last?.message ?? ""
            XCTAssertTrue(message.contains(field), "error for \(field) does not name it: \(message)")
        }
        let utf8Record = try XCTUnwrap(try h.repository.job(invalidUTF8.0))
        XCTAssertEqual(utf8Record.state, .failed)
        XCTAssertTrue(utf8Record.errors.last?.message.contains("UTF-8") ?? false, "\(utf8Record.errors)")
        XCTAssertTrue(service.outcomes.contains { if case .deadLettered = $0 { return true } else { return false } })
        let stored = try XCTUnwrap(try h.repository.job(good.0))
        XCTAssertEqual(stored.state, .succeeded)
        XCTAssertEqual(stored.parameters.prompt, sqlPrompt)
    }

    func testTwoWorkerProcessesSplitABatch() throws {
        let h = try PipelineHarness(partitions: 4)
        try h.startWorkerProcess(id: "proc-a", delay: 0.05, idleExit: 6)
        try h.startWorkerProcess(id: "proc-b", delay: 0.05, idleExit: 6)
        // Let both join the group before the work arrives.
        try h.waitUntil("both workers registered", timeout: 30) {
            try h.repository.db.query("SELECT count(*)::int AS n FROM workers WHERE id IN ('proc-a','proc-b')").first!.decode("n") as Int == 2
        }
        Thread.sleep(forTimeInterval: 3)
        let plan = try h.submit((1...40).map { "prompt number \($0)" })
        try h.waitUntil("40 jobs succeeded", timeout: 90) { try h.states(plan.batchID)[.succeeded] == 40 }
        let rows = try h.repository.db.query("SELECT worker_id, count(*)::int AS n FROM jobs WHERE batch_id = $1 GROUP BY worker_id", [plan.batchID])
        XCTAssertEqual(rows.count, 2, "one worker did everything: \(h.workerLog("proc-a")) \(h.workerLog("proc-b"))")
    }

    func testWorkerKilledMidJobLosesNothing() throws {
        let h = try PipelineHarness(partitions: 1)
        let victim = try h.startWorkerProcess(id: "victim", delay: 30, idleExit: 60)
        let plan = try h.submit(["a red circle"])
        let id = plan.jobs[0].jobID
        try h.waitUntil("the job to be running", timeout: 60) { try h.repository.job(id)?.state == .running }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        try h.startWorkerProcess(id: "rescuer", delay: 0, idleExit: 20)
        try h.waitUntil("the job to succeed after redelivery", timeout: 90) { try h.repository.job(id)?.state == .succeeded }
        let record = try XCTUnwrap(try h.repository.job(id))
        XCTAssertEqual(record.workerID, "rescuer")
        XCTAssertEqual(record.attempt, 2)
    }

    func testSIGTERMFinishesTheCurrentJobThenExitsZero() throws {
        let h = try PipelineHarness(partitions: 1)
        let worker = try h.startWorkerProcess(id: "graceful", delay: 2, idleExit: 60)
        let plan = try h.submit(["a blue circle"])
        try h.waitUntil("the job to be running", timeout: 60) { try h.repository.job(plan.jobs[0].jobID)?.state == .running }
        kill(worker.processIdentifier, SIGTERM)
        worker.waitUntilExit()
        XCTAssertEqual(worker.terminationStatus, 0, h.workerLog("graceful"))
        XCTAssertEqual(try h.repository.job(plan.jobs[0].jobID)?.state, .succeeded)
    }

    /// A second signal during the graceful shutdown stops the worker at once (exit 130); the job it was running
    /// is not recorded, so it stays running until a worker takes it over.
    func testASecondSignalStopsAtOnce() throws {
        let h = try PipelineHarness(partitions: 1)
        let worker = try h.startWorkerProcess(id: "impatient", delay: 30, idleExit: 60, logLevel: "notice")
        let plan = try h.submit(["a long job"])
        try h.waitUntil("the job to be running", timeout: 60) { try h.repository.job(plan.jobs[0].jobID)?.state == .running }
        kill(worker.processIdentifier, SIGTERM)
        try h.waitUntil("the shutdown to begin", timeout: 20) { h.workerLog("impatient").contains("shutdown requested") }
        let start = Date()
        kill(worker.processIdentifier, SIGINT)
        worker.waitUntilExit()
        XCTAssertEqual(worker.terminationStatus, 130, h.workerLog("impatient"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "the second signal waited for the job")
        XCTAssertEqual(try h.repository.job(plan.jobs[0].jobID)?.state, .running)
    }
}

/// The worker with the real model path: the tiny fixture FLUX pipeline generates a real PNG.
final class ModelBackedWorkerTests: XCTestCase {
    func testFluxGeneratorServesAJobEndToEnd() throws {
        let generator = try FluxImageGenerator(modelDirectory: PipelineHarness.packageRoot.appendingPathComponent("Tests/Fixtures/tiny-flux"),
                                               mode: .f32, maxSequenceLength: 32)
        XCTAssertEqual(generator.modelNames, ["default", "tiny-flux"])
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit(["a red circle to the left of a blue square"], steps: 2, width: 128, height: 128)
        _ = try h.runWorkerInProcess(id: "w-flux", generator: generator, idleExit: 2)
        let record = try XCTUnwrap(try h.repository.job(plan.jobs[0].jobID))
        XCTAssertEqual(record.state, .succeeded, "\(record.errors)")
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(record.outputURI))))
        XCTAssertEqual(record.sha256, SHA256.hexDigest(png))
        // IHDR width and height are the job's 128×128.
        XCTAssertEqual(Array(png[16..<24]), [0, 0, 0, 128, 0, 0, 0, 128])
        let steps = try h.repository.db.query("SELECT cardinality(denoise_step_ms)::int AS n FROM job_timings WHERE job_id = $1", [plan.jobs[0].jobID])
        XCTAssertEqual(try steps.first?.decode("n") as Int?, 2)
    }

    /// Settings a job leaves unset are the model's own (its generation_defaults.json), not submit's.
    func testTheShippedModelsDefaultsAreTheGeneratorsDefaults() throws {
        let generator = try FluxImageGenerator(modelDirectory: PipelineHarness.packageRoot.appendingPathComponent("models/default"),
                                               mode: .int8)
        XCTAssertEqual(generator.defaults, JobSettings(width: 128, height: 128, steps: 8, guidance: 3.5,
                                                       negativePrompt: "", trueCFGScale: 1.5))
    }

    /// A job's own negative prompt and CFG scale are what the worker generates with: same seed and prompt,
    /// another negative prompt, another image; the rows and the PNG metadata say which was used.
    func testAJobsNegativePromptAndCFGScaleReachTheImage() throws {
        let generator = try FluxImageGenerator(modelDirectory: PipelineHarness.packageRoot.appendingPathComponent("Tests/Fixtures/tiny-flux"),
                                               mode: .f32, maxSequenceLength: 32)
        let h = try PipelineHarness(partitions: 1)
        let text = """
            {"prompt": "a red circle", "seed": 7, "steps": 2, "width": 64, "height": 64}
            {"prompt": "a red circle", "seed": 7, "steps": 2, "width": 64, "height": 64, "negative_prompt": "a blue square", "true_cfg_scale": 4}
            """
        let plan = try BatchIntake.plan(BatchRequest(data: Data(text.utf8), format: .jsonl)).get()
        let producer = try h.producer()
        try BatchSubmitter(repository: h.repository, producer: producer).submit(plan, name: "cfg", source: nil, maxAttempts: 3)
        producer.close()
        _ = try h.runWorkerInProcess(id: "w-cfg", generator: generator, idleExit: 2)
        let (plain, guided) = (try XCTUnwrap(try h.repository.job(plan.jobs[0].jobID)), try XCTUnwrap(try h.repository.job(plan.jobs[1].jobID)))
        XCTAssertEqual(plain.state, .succeeded, "\(plain.errors)")
        XCTAssertEqual(guided.state, .succeeded, "\(guided.errors)")
        XCTAssertEqual(guided.parameters.negativePrompt, "a blue square")
        XCTAssertEqual(guided.parameters.trueCFGScale, 4)
        // tiny-flux has no generation_defaults.json: FluxPipeline's defaults (no negative prompt, scale 1).
        XCTAssertNil(plain.parameters.negativePrompt)
        XCTAssertEqual(plain.parameters.trueCFGScale, 1)
        XCTAssertNotEqual(plain.sha256, guided.sha256, "the negative prompt changed nothing")
        let chunks = try PNGTextChunk.read(fromPNG: [UInt8](Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(guided.outputURI)))))
        let parameters = try XCTUnwrap(chunks.first { $0.keyword == "parameters" }?.text)
        XCTAssertTrue(parameters.contains("Negative prompt: a blue square\nSteps: 2, Sampler: Euler (flow match), CFG scale: 4,"), parameters)
    }
}

/// A job that leaves its size, steps and guidance unset gets the worker's model defaults, written into its row
/// by the claim, so the row says what was generated.
final class ModelDefaultsTests: XCTestCase {
    func testUnsetSettingsTakeTheModelsDefaultsAndTheRowSaysSo() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try h.submit(["left to the model"], steps: nil)
        XCTAssertEqual(try h.repository.job(plan.jobs[0].jobID)?.parameters.width, nil, "queued: still the model's to decide")
        struct Defaults: ImageGenerator {
            let fixed: FixedImageGenerator
            var modelNames: [String] { fixed.modelNames }
            var defaults: JobSettings { JobSettings(width: 48, height: 32, steps: 5, guidance: 1.5) }
            func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
                precondition(request.width == 48 && request.height == 32 && request.steps == 5, "generated \(request)")
                return try fixed.generate(request, cancellation: cancellation)
            }
        }
        let run = try h.runWorkerInProcess(id: "w-defaults", generator: Defaults(fixed: try FixedImageGenerator()), idleExit: 2)
        XCTAssertEqual(run.outcomes, [.succeeded(plan.jobs[0].jobID)])
        let row = try XCTUnwrap(try h.repository.job(plan.jobs[0].jobID))
        XCTAssertEqual(row.parameters.settings, JobSettings(seed: plan.jobs[0].seed, width: 48, height: 32, steps: 5, guidance: 1.5,
                                                            model: "default"))
    }
}
