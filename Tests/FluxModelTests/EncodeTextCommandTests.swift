import Foundation
import TernaryTensors
import XCTest

/// `ternflux debug encode-text` run as the built binary (`swift build --build-tests` builds it alongside the tests).
final class EncodeTextCommandTests: XCTestCase {
    static let binary = TextFixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/ternflux")

    private func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw XCTSkip("\(Self.binary.path) is not built")
        }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    func testWritesFluxPipelineEncodePromptTensors() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("encode-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: output) }
        let model = TextFixtures.root.appendingPathComponent("tiny-flux").path
        let result = try run(["debug", "encode-text", "--model", model, "--prompt", "a red circle to the left of a blue square",
                              "--output", output.path, "--max-sequence-length", "32"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let written = try SafeTensorsFile(url: output)
        let reference = try SafeTensorsFile(url: TextFixtures.root.appendingPathComponent("expected/pipeline.safetensors"))
        for name in ["clip_input_ids", "t5_input_ids"] {
            XCTAssertEqual(try written.info(name).dtype, .i64)
            XCTAssertEqual(try written.info(name).shape, try reference.info(name).shape)
            XCTAssertEqual(try written.integers(name), try reference.integers(name), name)
        }
        for name in ["pooled_prompt_embeds", "prompt_embeds"] {
            XCTAssertEqual(try written.info(name).shape, try reference.info(name).shape)
            let a = try written.floats(name), b = try reference.floats(name)
            let scale = b.reduce(0) { max($0, abs($1)) }
            let worst = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, name)
        }
    }

    func testWarningsAndBadInput() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("encode-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: output) }
        let model = TextFixtures.root.appendingPathComponent("tiny-flux").path
        let long = Array(repeating: "a red circle to the left of a blue square", count: 12).joined(separator: " ")
        let truncated = try run(["debug", "encode-text", "--model", model, "--prompt", long, "--output", output.path,
                                 "--max-sequence-length", "32"])
        XCTAssertEqual(truncated.status, 0, truncated.stderr)
        XCTAssertTrue(truncated.stderr.contains("CLIP can only handle sequences up to 77 tokens: ['blue square a red"), truncated.stderr)
        XCTAssertTrue(truncated.stderr.contains("`max_sequence_length` is set to  32 tokens: ['of a blue square"), truncated.stderr)
        let missing = try run(["debug", "encode-text", "--model", "/nonexistent/model", "--prompt", "x", "--output", output.path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/model/tokenizer"), missing.stderr)
        let tooLong = try run(["debug", "encode-text", "--model", model, "--prompt", "x", "--output", output.path,
                               "--max-sequence-length", "600"])
        XCTAssertNotEqual(tooLong.status, 0)
        XCTAssertTrue(tooLong.stderr.contains("between 1 and 512"), tooLong.stderr)
    }
}
