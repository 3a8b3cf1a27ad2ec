import Foundation
import JobModel
import XCTest
@testable import JobClient

/// Per-job classifier-free guidance and images per line, through BatchIntake (what submit and the API use).
final class BatchGuidanceAndImagesTests: XCTestCase {
    func intake(_ text: String, format: BatchFileFormat = .jsonl, images: Int = 1,
                defaults: JobSettings = JobSettings()) -> Result<BatchPlan, BatchErrors> {
        BatchIntake.plan(BatchRequest(data: Data(text.utf8), format: format, defaults: defaults, images: images))
    }

    func testImagesMakeOneJobPerSeedInOrder() throws {
        let plan = try intake(#"{"prompt": "a", "seed": 10, "images": 3}"# + "\n" + #"{"prompt": "b", "seed": 50}"#, images: 2).get()
        XCTAssertEqual(plan.jobs.map(\.prompt), ["a", "a", "a", "b", "b"])
        XCTAssertEqual(plan.jobs.map(\.seed), [10, 11, 12, 50, 51])
        XCTAssertEqual(plan.lineNumbers, [1, 1, 1, 2, 2])
        XCTAssertEqual(Set(plan.jobs.map(\.jobID)).count, 5)
        // A line without a seed: its derived seed and the next ones.
        let derived = try intake("c\n", format: .text, images: 2).get()
        XCTAssertEqual(derived.jobs[1].seed, derived.jobs[0].seed! + 1)
    }

    func testNegativePromptAndScaleFromLinesCSVAndDefaults() throws {
        let plan = try intake(#"{"prompt": "a", "negative_prompt": "blurry", "true_cfg_scale": 3.5}"# + "\n" + #"{"prompt": "b"}"#,
                              defaults: JobSettings(negativePrompt: "", trueCFGScale: 2)).get()
        XCTAssertEqual(plan.jobs.map(\.negativePrompt), ["blurry", ""])
        XCTAssertEqual(plan.jobs.map(\.trueCFGScale), [3.5, 2])
        let csv = try intake("prompt,negative_prompt,true_cfg_scale,images\n\"a, b\", low quality ,4,2\n", format: .csv).get()
        XCTAssertEqual(csv.jobs.map(\.negativePrompt), [" low quality ", " low quality "], "a negative prompt is kept verbatim, like a prompt")
        XCTAssertEqual(csv.jobs.map(\.trueCFGScale), [4, 4])
        XCTAssertEqual(csv.jobs.count, 2)
    }

    func testBadValuesNameTheFieldAndTheRange() {
        let cases: [(String, String)] = [
            (#"{"prompt": "a", "images": 0}"#, "line 1: images: must be between 1 and 64 (got 0)"),
            (#"{"prompt": "a", "images": 65}"#, "line 1: images: must be between 1 and 64 (got 65)"),
            (#"{"prompt": "a", "true_cfg_scale": 0.5}"#, "line 1: true_cfg_scale: must be a number between 1.0 and 50.0 (got 0.5)"),
            (#"{"prompt": "a", "true_cfg_scale": 1e400}"#, "line 1: true_cfg_scale: must be a finite number within 1...50, got 1e400"),
            (#"{"prompt": "a", "negative_prompt": 3}"#, "line 1: negative_prompt: expected a string, got a number"),
            (#"{"prompt": "a", "negative_prompt": "\#(String(repeating: "n", count: 4097))"}"#,
             "line 1: negative_prompt: is 4097 characters long; the limit is 4096"),
            (#"{"prompt": "a", "seed": 9223372036854775806, "images": 3}"#, "line 1: seed: 9223372036854775806 + 3 images passes the largest seed"),
        ]
        for (line, message) in cases {
            guard case .failure(let errors) = intake(line) else { XCTFail("accepted: \(line.prefix(80))"); continue }
            XCTAssertTrue(errors.description.contains(message), "\(line.prefix(80)): \(errors.description)")
        }
        guard case .failure(let batch) = intake(#"{"prompt": "a"}"#, images: 100) else { return XCTFail("--images 100 accepted") }
        XCTAssertTrue(batch.description.contains("batch: images: must be between 1 and 64 (got 100)"), batch.description)
    }
}
