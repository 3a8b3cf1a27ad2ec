import Foundation
import XCTest
import FluxModel
@testable import MiniGenEval

/// `ternflux eval` and `ternflux generate` run as the built binary on the shipped model.
final class EvalCommandTests: XCTestCase {
    static let packageRoot = FluxFixtures.root.deletingLastPathComponent().deletingLastPathComponent()
    static let binary = packageRoot.appendingPathComponent(".build/debug/ternflux")

    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw XCTSkip("\(Self.binary.path) is not built")
        }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = Self.packageRoot
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "TERNFLUX_MODEL")
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("eval-cmd-\(UUID().uuidString)-\(name)")
    }

    func testMalformedPromptFileIsReportedBeforeAnythingLoads() throws {
        let prompts = temporary("bad.txt")
        try Data("a red circle\n{\"prompt\": 5}\nthree reds\n{\"prompt\": \"a circle\", \"tag\": \"colors\"}\n".utf8).write(to: prompts)
        defer { try? FileManager.default.removeItem(at: prompts) }
        // The model folder does not exist: the prompt file must fail first.
        let r = try run(["eval", "--prompts", prompts.path, "--model", "/nonexistent/model"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("2 malformed lines"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 2: 'prompt' must be a string"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 4: tag 'colors' but the prompt 'a circle' is a single_object prompt"), r.stderr)
        XCTAssertFalse(r.stderr.contains("/nonexistent/model"), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }

    func testEvalJSONAndGridOnTheShippedModel() throws {
        let prompts = temporary("ok.txt"), grid = temporary("grid.png")
        try Data("a red circle\n# comment\na dog on a skateboard\n{\"prompt\": \"two blue squares\", \"tag\": \"counting\"}\n".utf8)
            .write(to: prompts)
        defer { for u in [prompts, grid] { try? FileManager.default.removeItem(at: u) } }
        let r = try run(["eval", "--prompts", prompts.path, "--json", "--grid", grid.path, "--seed", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("3 prompts × 1 = 3 images, 128×128, 8 steps"), r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        let results = try XCTUnwrap(json["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["category"] as? String }, ["colors", "other", "counting"])
        XCTAssertEqual(results.map { $0["seed"] as? Int }, [7, 8, 9])
        XCTAssertEqual(results[1]["correct"] as? Bool, false)
        XCTAssertEqual(json["unparsed_prompts"] as? [String], ["a dog on a skateboard"])
        XCTAssertEqual((json["categories"] as? [String: Any])?.count, 3)
        let image = try PNGReader.decode(contentsOf: grid)
        XCTAssertEqual(image.channels, 3)
        XCTAssertGreaterThan(image.width, 3 * 128)

        let missing = try run(["eval", "--prompts", prompts.path, "--grid", "/nonexistent/folder/grid.png"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/folder does not exist"), missing.stderr)
        XCTAssertFalse(missing.stderr.contains("images,"), missing.stderr)
    }

    func testGenerateUsesTheModelsDefaults() throws {
        let out = temporary("gen.png")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try run(["generate", "a red circle", "--out", out.path, "--timings"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("(8 steps)"), r.stderr)
        let image = try PNGReader.decode(contentsOf: out)
        XCTAssertEqual([image.width, image.height], [128, 128])
    }

    func testTrueCFGFlags() throws {
        let bad = try run(["generate", "a red circle", "--true-cfg-scale", "0.5", "--out", temporary("x.png").path])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--true-cfg-scale must be a number from 1.0 to 50.0, got 0.5"), bad.stderr)
        var images: [[UInt8]] = []
        for flags in [["--true-cfg-scale", "1"], ["--true-cfg-scale", "3", "--negative-prompt", ""],
                      ["--true-cfg-scale", "3", "--negative-prompt", "a blue square"]] {
            let out = temporary("cfg.png")
            defer { try? FileManager.default.removeItem(at: out) }
            let r = try run(["generate", "a red circle", "--out", out.path] + flags)
            XCTAssertEqual(r.status, 0, r.stderr)
            images.append(try PNGReader.decode(contentsOf: out).rgb)
        }
        XCTAssertNotEqual(images[0], images[1], "guidance against the empty prompt changes the image")
        XCTAssertNotEqual(images[1], images[2], "the negative prompt matters")
    }
}
