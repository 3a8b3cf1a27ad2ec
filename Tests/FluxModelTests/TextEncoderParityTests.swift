import Foundation
import TernaryTensors
import XCTest
@testable import FluxModel

/// CLIP and T5 encoders and FluxTextConditioner against transformers / diffusers (Tests/Fixtures/README.md).
final class TextEncoderParityTests: XCTestCase {
    private var tinyFlux: URL { TextFixtures.root.appendingPathComponent("tiny-flux") }

    private func expected(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: TextFixtures.root.appendingPathComponent("expected/\(name)"))
    }

    /// max |Δ| ≤ 1e-4 · max |reference|.
    private func assertClose(_ actual: [Float], _ reference: [Float], _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, reference.count, what, file: file, line: line)
        guard actual.count == reference.count else { return }
        let scale = reference.reduce(0) { max($0, abs($1)) }
        var worst: Float = 0
        for i in actual.indices { worst = max(worst, abs(actual[i] - reference[i])) }
        XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(what): max |Δ| \(worst) vs max |ref| \(scale)", file: file, line: line)
    }

    func testCLIPHiddenStatesAndPooledOutput() throws {
        let reference = try expected("clip_encode.safetensors")
        let ids = try reference.integers("input_ids")
        let hidden = try reference.floats("last_hidden_state")
        let pooled = try reference.floats("pooler_output")
        let encoder = try CLIPTextEncoder(directory: tinyFlux.appendingPathComponent("text_encoder"))
        let tokenizer = try CLIPTokenizer(directory: tinyFlux.appendingPathComponent("tokenizer"))
        let prompts = ["a photo of a cat", "A red circle to the left of a blue square, highly detailed, 4k", "three green triangles", ""]
        let t = 77, d = 32
        for (b, prompt) in prompts.enumerated() {
            let row = Array(ids[b * t..<(b + 1) * t])
            XCTAssertEqual(try tokenizer.encode(prompt, maxLength: 77).ids, row, prompt)
            let out = try encoder.encode(row)
            XCTAssertEqual(out.lastHiddenState.shape, [1, t, d])
            assertClose(out.lastHiddenState.storage, Array(hidden[b * t * d..<(b + 1) * t * d]), "CLIP hidden \(b)")
            assertClose(out.pooled.storage, Array(pooled[b * d..<(b + 1) * d]), "CLIP pooled \(b)")
        }
    }

    func testCLIPPoolingRule() {
        // Legacy eos_token_id 2: argmax of the ids (first maximum); otherwise the first eos position.
        XCTAssertEqual(CLIPTextEncoder.poolingIndex([5, 9, 3, 9], eosTokenID: 2), 1)
        XCTAssertEqual(CLIPTextEncoder.poolingIndex([49406, 320, 49407, 49407], eosTokenID: 49407), 2)
        XCTAssertEqual(CLIPTextEncoder.poolingIndex([49406, 320, 7, 1], eosTokenID: 7), 2)
        XCTAssertEqual(CLIPTextEncoder.poolingIndex([49406, 320], eosTokenID: 7), 0)
    }

    private func checkT5(_ folder: URL, _ file: String) throws {
        let reference = try expected(file)
        let ids = try reference.integers("input_ids")
        let hidden = try reference.floats("last_hidden_state")
        let info = try reference.info("input_ids")
        let (batch, t) = (info.shape[0], info.shape[1])
        let encoder = try T5TextEncoder(directory: folder)
        let d = encoder.config.dModel
        for b in 0..<batch {
            let out = try encoder.encode(Array(ids[b * t..<(b + 1) * t]))
            XCTAssertEqual(out.shape, [1, t, d])
            assertClose(out.storage, Array(hidden[b * t * d..<(b + 1) * t * d]), "\(file) row \(b)")
        }
    }

    func testT5GatedGeluEncoder() throws {
        try checkT5(tinyFlux.appendingPathComponent("text_encoder_2"), "t5_encode.safetensors")
    }

    func testT5ReluEncoder() throws {
        try checkT5(TextFixtures.root.appendingPathComponent("t5-relu"), "t5_relu_encode.safetensors")
    }

    func testT5At512TokensWithLongRelativeDistances() throws {
        try checkT5(tinyFlux.appendingPathComponent("text_encoder_2"), "t5_encode_512.safetensors")
        let reference = try expected("t5_encode_512.safetensors")
        let prompt = try XCTUnwrap(reference.metadata["prompt"])
        let tokenizer = try T5Tokenizer(directory: tinyFlux.appendingPathComponent("tokenizer_2"))
        XCTAssertEqual(try tokenizer.encode(prompt, maxLength: 512).ids, try reference.integers("input_ids"))
    }

    func testRelativePositionBuckets() {
        // transformers' _relative_position_bucket(…, bidirectional=True, num_buckets=32, max_distance=128).
        let expected: [Int: Int] = [0: 0, 1: 17, -1: 1, 7: 23, -7: 7, 8: 24, -8: 8, 12: 25, 16: 26, -16: 10,
                                    32: 28, 64: 30, 127: 31, 128: 31, 1000: 31, -1000: 15]
        for (position, bucket) in expected {
            XCTAssertEqual(T5TextEncoder.relativePositionBucket(position, bidirectional: true, numBuckets: 32, maxDistance: 128),
                           bucket, "relative position \(position)")
        }
    }

    func testConditionerMatchesFluxPipelineEncodePrompt() throws {
        let reference = try expected("pipeline.safetensors")
        let conditioner = try FluxTextConditioner(modelDirectory: tinyFlux)
        let result = try conditioner.encode("a red circle to the left of a blue square", maxSequenceLength: 32)
        XCTAssertEqual(result.clipInputIDs, try reference.integers("clip_input_ids"))
        XCTAssertEqual(result.t5InputIDs, try reference.integers("t5_input_ids"))
        XCTAssertEqual(result.pooled.shape, [1, 32])
        XCTAssertEqual(result.promptEmbeds.shape, [1, 32, 32])
        assertClose(result.pooled.storage, try reference.floats("pooled_prompt_embeds"), "pooled_prompt_embeds")
        assertClose(result.promptEmbeds.storage, try reference.floats("prompt_embeds"), "prompt_embeds")
        XCTAssertEqual(result.warnings, [])
        XCTAssertThrowsError(try conditioner.encode("x", maxSequenceLength: 513))
    }

    /// The two log lines diffusers 0.42.1 printed for this prompt with tiny-flux and max_sequence_length 32
    /// (captured from `FluxPipeline.encode_prompt`; note the double space and the T5 slice at the CLIP length).
    func testTruncationWarningsAreDiffusersWords() throws {
        let conditioner = try FluxTextConditioner(modelDirectory: tinyFlux)
        let prompt = Array(repeating: "a red circle to the left of a blue square", count: 12).joined(separator: " ")
        let (clip, t5, warnings) = try conditioner.tokenize(prompt, maxSequenceLength: 32)
        XCTAssertEqual(clip.ids.count, 77)
        XCTAssertEqual(t5.ids.count, 32)
        XCTAssertEqual(t5.untruncated.count, 121)
        let tail = " a red circle to the left of a blue square"
        XCTAssertEqual(warnings, [
            "The following part of your input was truncated because CLIP can only handle sequences up to 77 tokens: ['blue square"
                + String(repeating: tail, count: 6) + "']",
            "The following part of your input was truncated because `max_sequence_length` is set to  32 tokens: ['of a blue square"
                + String(repeating: tail, count: 4) + "']",
        ])
    }

    func testBadWeightsAndConfigsNameTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-te-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = tinyFlux.appendingPathComponent("text_encoder")
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        var config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        // A config that disagrees with the weights.
        try config.replacingOccurrences(of: "\"hidden_size\": 32", with: "\"hidden_size\": 48")
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        assertTextEncoderError(try CLIPTextEncoder(directory: dir), contains: ["token_embedding.weight", "[2514, 48]", "[2514, 32]"])
        config = config.replacingOccurrences(of: "\"hidden_act\": \"quick_gelu\"", with: "\"hidden_act\": \"swoosh\"")
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        assertTextEncoderError(try CLIPTextEncoder(directory: dir), contains: ["config.json", "hidden_act", "swoosh"])
        try "{\"hidden_size\": \"wide\"}".write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        assertTextEncoderError(try CLIPTextEncoder(directory: dir), contains: ["config.json", "hidden_size"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        assertTextEncoderError(try CLIPTextEncoder(directory: dir), contains: ["config.json", "not found"])
        // T5 with too many layers for its checkpoint.
        let t5 = T5EncoderConfig(vocabSize: 768, dModel: 32, dKV: 8, dFF: 64, numLayers: 3, numHeads: 4, feedForwardProj: "gated-gelu")
        let weights = try SafeTensorsCheckpoint(directory: tinyFlux.appendingPathComponent("text_encoder_2"))
        assertTextEncoderError(try T5TextEncoder(config: t5, weights: weights), contains: ["encoder.block.2.layer.0.layer_norm.weight", "missing"])
        let t5Relu = T5EncoderConfig(vocabSize: 768, dModel: 32, dKV: 8, dFF: 64, numLayers: 2, numHeads: 4, feedForwardProj: "relu")
        assertTextEncoderError(try T5TextEncoder(config: t5Relu, weights: weights), contains: ["DenseReluDense.wi.weight", "missing"])
        let encoder = try T5TextEncoder(directory: tinyFlux.appendingPathComponent("text_encoder_2"))
        assertTextEncoderError(try encoder.encode([5, 768]), contains: ["768", "position 1"])
    }
}

func assertTextEncoderError<T>(_ expression: @autoclosure () throws -> T, contains parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected an error mentioning \(parts)", file: file, line: line)
    } catch {
        let text = "\(error)"
        for part in parts where !text.contains(part) {
            XCTFail("error \(text.debugDescription) does not mention \(part.debugDescription)", file: file, line: line)
        }
    }
}

extension TextEncoderParityTests {
    func testEmptySequencesDoNotCrash() throws {
        let t5 = try T5TextEncoder(directory: TextFixtures.root.appendingPathComponent("tiny-flux/text_encoder_2"))
        XCTAssertEqual(try t5.encode([]).shape, [1, 0, 32])
        let clip = try CLIPTextEncoder(directory: TextFixtures.root.appendingPathComponent("tiny-flux/text_encoder"))
        XCTAssertEqual(try clip.encode([]).lastHiddenState.shape, [1, 0, 32])
        XCTAssertThrowsError(try clip.encode([Int](repeating: 5, count: 78))) { error in
            XCTAssertTrue("\(error)".contains("78 tokens"), "\(error)")
        }
    }
}
