import Foundation
import JobModel
import XCTest
@testable import JobQueue

/// Contract v2: per-job classifier-free guidance. A job that needs no v2 field is still written as v1.
final class JobMessageV2Tests: XCTestCase {
    let jobID = UUID(uuidString: "3f2504e0-4f89-11d3-9a0c-0305e82c3301")!
    let batchID = UUID(uuidString: "9b2c1d4e-0000-4000-8000-000000000001")!

    func testAJobWithoutV2FieldsIsWrittenAsV1() throws {
        let message = JobMessage(jobID: jobID, batchID: batchID, parameters: JobParameters(prompt: "a red circle", seed: 1, model: "default"))
        XCTAssertEqual(message.contractVersion, 1)
        let text = String(decoding: message.encodedJSON(), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"v":1,"#), text)
        XCTAssertFalse(text.contains("negative_prompt"), text)
    }

    func testNegativePromptAndScaleRoundTripAsV2() throws {
        let parameters = JobParameters(prompt: "a red circle", seed: 1, model: "default", negativePrompt: "blurry \"grey\"\n", trueCFGScale: 4.5)
        let message = JobMessage(jobID: jobID, batchID: batchID, parameters: parameters)
        XCTAssertEqual(message.contractVersion, 2)
        let bytes = message.encodedJSON()
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"v":2,"#))
        XCTAssertEqual(try JobMessage.parse(value: bytes), message)
        // The Codable form writes the same document.
        XCTAssertEqual(try JSONDecoder().decode(JobMessage.self, from: try JSONEncoder().encode(message)), message)
        // An empty negative prompt (the empty prompt) is a value, not an absence.
        let empty = JobMessage(jobID: jobID, batchID: batchID, parameters: JobParameters(prompt: "x", seed: 1, model: "default", negativePrompt: ""))
        XCTAssertEqual(try JobMessage.parse(value: empty.encodedJSON()).negativePrompt, "")
    }

    func testV2FieldsOutOfBoundsAreNamed() throws {
        let value = Array(#"{"v":2,"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","batch_id":"9b2c1d4e-0000-4000-8000-000000000001","prompt":"x","seed":1,"model":"default","negative_prompt":"\#(String(repeating: "n", count: 4097))","true_cfg_scale":0.5}"#.utf8)
        XCTAssertThrowsError(try JobMessage.parse(value: value)) { error in
            guard case JobMessageError.invalid(_, let problems) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(problems.map(\.field)), ["negative_prompt", "true_cfg_scale"])
            XCTAssertTrue(problems.contains(JobFieldProblem(field: "true_cfg_scale", message: "must be a number between 1.0 and 50.0 (got 0.5)")), "\(problems)")
        }
    }
}
