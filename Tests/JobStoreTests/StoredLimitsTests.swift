import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

/// The database's CHECK constraints hold JobLimits' numbers: at every edge of every bound, a queued job's row
/// is accepted exactly when JobLimits accepts the value, so a job submit and the worker accept can always be
/// stored, and nothing else can be.
final class StoredLimitsTests: XCTestCase {
    var repo: JobRepository!
    var db: PostgresConnection { repo.db }
    let limits = JobLimits.standard
    var jobID = UUID()

    override func setUpWithError() throws {
        repo = JobRepository(connection: try PostgresConnection(conninfo: try TemporaryPostgres.shared().createMigratedDatabase()))
        let job = NewJob(line: 1, parameters: JobParameters(prompt: "edge", seed: 1, model: "default"))
        jobID = job.id
        try repo.createBatch(NewBatch(name: "edges"), jobs: [job])
    }

    override func tearDown() { repo?.db.close() }

    /// Whether the database takes `value` for `column` of the queued job (the change is rolled back).
    func stores(_ column: String, _ value: PostgresEncodable?) -> Bool {
        struct Rollback: Error {}
        do {
            try db.transaction { db -> Void in
                try db.execute("UPDATE jobs SET \(column) = $2 WHERE id = $1", [jobID, value])
                throw Rollback()
            }
        } catch is Rollback {
            return true
        } catch {
            return false
        }
        return true
    }

    /// The database and JobLimits give the same verdict on `value`.
    func agree(_ column: String, _ value: PostgresEncodable, _ limitsAccept: Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(stores(column, value), limitsAccept, "\(column) = \(value)", file: file, line: line)
    }

    func testSidesAtTheirEdges() {
        let r = limits.sideRange, m = limits.sideMultiple
        for side in [r.lowerBound - m, r.lowerBound, r.lowerBound + 1, r.upperBound - m, r.upperBound, r.upperBound + m, 0] {
            for column in ["width", "height"] { agree(column, side, limits.checkSide(side) == nil) }
        }
        XCTAssertTrue(limits.checkSide(r.upperBound) == nil && limits.checkSide(r.upperBound + m) != nil)
        XCTAssertTrue(stores("width", nil), "a queued job may leave its width to the model")
    }

    func testStepsGuidanceAndSeedAtTheirEdges() {
        let s = limits.stepsRange
        for steps in [s.lowerBound - 1, s.lowerBound, s.upperBound, s.upperBound + 1] { agree("steps", steps, limits.checkSteps(steps) == nil) }
        let g = limits.guidanceRange
        for guidance in [g.lowerBound - 0.5, g.lowerBound, g.upperBound, g.upperBound + 0.5, Double.nan] {
            agree("guidance", guidance, limits.checkGuidance(guidance) == nil)
        }
        for seed in [limits.seedRange.lowerBound - 1, limits.seedRange.lowerBound, limits.seedRange.upperBound] {
            agree("seed", seed, limits.checkSeed(seed) == nil)
        }
        XCTAssertTrue(stores("steps", nil) && stores("guidance", nil))
    }

    func testNegativePromptAndTrueCFGScaleAtTheirEdges() {
        for n in [0, limits.maxPromptScalars, limits.maxPromptScalars + 1] {
            let negative = String(repeating: "é", count: n)
            agree("negative_prompt", negative, limits.checkNegativePrompt(negative) == nil)
        }
        let c = limits.trueCFGScaleRange
        for scale in [c.lowerBound - 0.5, c.lowerBound, c.upperBound, c.upperBound + 0.5, Double.nan] {
            agree("true_cfg_scale", scale, limits.checkTrueCFGScale(scale) == nil)
        }
        XCTAssertTrue(stores("negative_prompt", nil) && stores("true_cfg_scale", nil), "both may be left to the model")
    }

    func testPromptAndModelLengthsAtTheirEdges() {
        for n in [limits.maxPromptScalars, limits.maxPromptScalars + 1] {
            let prompt = String(repeating: "é", count: n)
            agree("prompt", prompt, limits.checkPrompt(prompt) == nil)
        }
        agree("prompt", "", limits.checkPrompt("") == nil)
        for n in [limits.maxModelNameLength, limits.maxModelNameLength + 1] {
            let model = String(repeating: "m", count: n)
            agree("model", model, limits.checkModel(model) == nil)
        }
        agree("model", "", limits.checkModel("") == nil)
    }

    func testMaxAttemptsAndBatchNameAtTheirEdges() throws {
        let a = limits.maxAttemptsRange
        for n in [a.lowerBound - 1, a.lowerBound, a.upperBound, a.upperBound + 1] {
            agree("max_attempts", n, limits.checkMaxAttempts(n) == nil)
        }
        for n in [limits.maxBatchNameLength, limits.maxBatchNameLength + 1] {
            let name = String(repeating: "n", count: n)
            let accepted = (try? db.execute("UPDATE batches SET name = $1", [name])) != nil
            XCTAssertEqual(accepted, limits.checkBatchName(name) == nil, "batch name of \(n)")
        }
    }

    /// A job that runs or ran has every setting: the claim fills in what the job left to the model.
    func testARunningJobHasEverySetting() throws {
        XCTAssertThrowsError(try db.execute("UPDATE jobs SET state = 'running', started_at = now(), worker_id = 'w' WHERE id = $1", [jobID]))
        guard case .claimed(let job) = try repo.claim(jobID: jobID, workerID: "w",
                                                      defaults: JobSettings(width: 64, height: 32, steps: 3, guidance: 2)) else {
            return XCTFail("not claimed")
        }
        XCTAssertEqual(job.parameters, JobParameters(prompt: "edge", seed: 1, width: 64, height: 32, steps: 3, guidance: 2, model: "default"))
    }

    /// Submit's check and the store's own check before inserting are the same check.
    func testCreateBatchRefusesWhatTheLimitsRefuse() {
        var p = JobParameters(prompt: String(repeating: "x", count: limits.maxPromptScalars + 1), seed: 1, model: "default")
        XCTAssertThrowsError(try repo.createBatch(NewBatch(name: "long"), jobs: [NewJob(line: 3, parameters: p)])) { error in
            XCTAssertEqual("\(error)", "line 3: prompt: is 4097 characters long; the limit is 4096")
        }
        p.prompt = "fine"
        XCTAssertThrowsError(try repo.createBatch(NewBatch(name: String(repeating: "n", count: 201)), jobs: [NewJob(parameters: p)])) { error in
            XCTAssertEqual("\(error)", "batch name is longer than 200 characters")
        }
    }
}
