import Foundation
import XCTest
import FluxModel
@testable import MiniGenEval

final class MiniGenEvalRunTests: XCTestCase {
    /// A "model" that draws ground-truth scenes: a correct render for captions it knows, a blank image otherwise.
    func testScoresSeedsReportAndGrid() throws {
        let truth = try SceneDetectorTests.truth.get()
        let byCaption = Dictionary(truth.meta.scenes.map { ($0.caption, $0) }, uniquingKeysWith: { a, _ in a })
        let known = ["a triangle", "three green squares"].compactMap { byCaption[$0] }
        let picked = Array(truth.meta.scenes.filter { $0.category == "position" }.prefix(1)) + known
        var prompts = picked.map { ($0.caption, EvalPrompt(parsing: $0.caption)) }
        prompts.append(("a photo of a dog", EvalPrompt(parsing: "a photo of a dog")))
        prompts.append((picked[0].false_caption, EvalPrompt(parsing: picked[0].false_caption)))

        var options = MiniGenEvalRun.Options()
        options.imagesPerPrompt = 2
        options.seed = 100
        options.gridImagesPerCategory = 1
        var seeds: [UInt64] = []
        let (report, tiles) = try MiniGenEvalRun(options: options).run(model: "truth", prompts: prompts) { text, seed in
            seeds.append(seed)
            // The false caption gets the picture of its true twin.
            let scene = byCaption[text] ?? (text == picked[0].false_caption ? picked[0] : nil)
            return (scene.map { truth.image($0) } ?? [UInt8](repeating: 235, count: 128 * 128 * 3), 128, 128)
        }
        XCTAssertEqual(seeds, Array(100..<UInt64(100 + 2 * prompts.count)))
        XCTAssertEqual(report.results.count, 2 * prompts.count)
        let correct = report.results.map(\.correct)
        XCTAssertEqual(correct, Array(repeating: true, count: 2 * picked.count) + [false, false, false, false])
        let categories = report.categories
        XCTAssertEqual(categories[.position], .init(correct: 2, total: 4))
        XCTAssertEqual(categories[.other], .init(correct: 0, total: 2))
        // overall = mean over the tasks present, `other` included
        let expected = categories.values.map(\.accuracy).reduce(0, +) / Double(categories.count)
        XCTAssertEqual(report.overall, expected, accuracy: 1e-12)
        XCTAssertEqual(report.unparsedPrompts, ["a photo of a dog"])
        XCTAssertEqual(tiles.count, categories.count)
        let table = report.table()
        XCTAssertTrue(table.contains("position         = 50.00% (2 / 4)"), table)
        XCTAssertTrue(table.contains("other            = 0.00% (0 / 2)"), table)
        // every true prompt had both images right; the false ones none
        let promptsCorrect = Double(picked.count) / Double(prompts.count) * 100
        XCTAssertTrue(table.contains("% correct prompts: " + String(format: "%.2f%%", promptsCorrect)), table)
        XCTAssertEqual(report.results.map(\.promptIndex), (0..<prompts.count).flatMap { [$0, $0] })
        XCTAssertTrue(table.contains("Overall score (avg. over tasks): "), table)
        let json = try JSONSerialization.jsonObject(with: report.json()) as! [String: Any]
        XCTAssertEqual(json["overall"] as? Double ?? -1, report.overall, accuracy: 1e-12)
        XCTAssertEqual((json["categories"] as? [String: Any])?.keys.sorted(),
                       categories.keys.map(\.rawValue).sorted())
        XCTAssertEqual((json["results"] as? [Any])?.count, report.results.count)
        XCTAssertEqual(try JSONDecoder().decode(EvalReport.self, from: report.json()), report)
    }

    /// The real pipeline on the shipped model, two prompts: images come out at the model's default size and are scored.
    func testShippedModelThroughThePipeline() throws {
        let root = FluxFixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("models/default")
        let defaults = try GenerationDefaults.load(modelDirectory: folder)
        XCTAssertEqual(defaults, GenerationDefaults(width: 128, height: 128, steps: 8, guidance: 3.5, trueCFGScale: 1.5, negativePrompt: ""))
        let pipeline = try FluxPipeline(modelDirectory: folder)
        XCTAssertEqual(pipeline.generationDefaults, defaults)
        let prompts = DefaultEvalPrompts.prompts().filter { $0.category == .colors }.prefix(2).map { ($0.caption, $0) }
        let (report, _) = try MiniGenEvalRun(options: .init()).run(model: "default", prompts: prompts) { text, seed in
            let request = pipeline.defaultRequest(prompt: text, seed: seed)
            XCTAssertTrue(request.usesTrueCFG)
            XCTAssertEqual(request.maxSequenceLength, 32)
            let image = try pipeline.generate(request).image
            return (image.rgb, image.width, image.height)
        }
        XCTAssertEqual(report.results.map(\.seed), [0, 1])
        XCTAssertEqual(report.categories[.colors]?.total, 2)
    }
}

final class GenerationDefaultsTests: XCTestCase {
    func folder(_ json: String?) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gen-defaults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let json { try Data(json.utf8).write(to: dir.appendingPathComponent(GenerationDefaults.fileName)) }
        return dir
    }

    func testMissingFileMeansFluxDefaultsAndKeysAreOptional() throws {
        XCTAssertEqual(try GenerationDefaults.load(modelDirectory: folder(nil)), .flux)
        XCTAssertEqual(try GenerationDefaults.load(modelDirectory: folder(#"{"num_inference_steps": 4}"#)),
                       GenerationDefaults(width: 512, height: 512, steps: 4, guidance: 3.5))
        XCTAssertEqual(try GenerationDefaults.load(modelDirectory: folder(#"{"true_cfg_scale": 2.5, "negative_prompt": ""}"#)),
                       GenerationDefaults(width: 512, height: 512, steps: 28, guidance: 3.5, trueCFGScale: 2.5, negativePrompt: ""))
        let teacher = FluxFixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/teacher")
        XCTAssertEqual(try GenerationDefaults.load(modelDirectory: teacher),
                       GenerationDefaults(width: 128, height: 128, steps: 8, guidance: 3.5, trueCFGScale: 1.5, negativePrompt: ""))
    }

    func testBadFieldsAreNamed() throws {
        for (json, fragment) in [(#"{"width": 12.5}"#, "'width' must be a positive integer"),
                                 (#"{"height": "128"}"#, "'height' must be a positive integer"),
                                 (#"{"num_inference_steps": 0}"#, "'num_inference_steps' must be a positive integer"),
                                 (#"{"guidance_scale": true}"#, "'guidance_scale' must be a number"),
                                 (#"{"true_cfg_scale": 0.5}"#, "'true_cfg_scale' must be a number from 1.0 to 50.0"),
                                 (#"{"true_cfg_scale": "3"}"#, "'true_cfg_scale' must be a number"),
                                 (#"{"negative_prompt": 3}"#, "'negative_prompt' must be a string"),
                                 ("[1]", "not a JSON object")] {
            let dir = try folder(json)
            XCTAssertThrowsError(try GenerationDefaults.load(modelDirectory: dir), json) { error in
                XCTAssertTrue("\(error)".contains(fragment) && "\(error)".contains(GenerationDefaults.fileName), "\(error)")
            }
        }
    }
}
