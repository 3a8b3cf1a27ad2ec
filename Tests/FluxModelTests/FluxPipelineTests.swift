import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel
import MiniGenEval

/// The whole pipeline on tiny-flux against `expected/pipeline.safetensors` (diffusers FluxPipeline, seed 42,
/// 96×64, 4 steps, guidance 3.5, max_sequence_length 32).
final class FluxPipelineTests: XCTestCase {
    static let prompt = "a red circle to the left of a blue square"

    func request(width: Int = 96, height: Int = 64, steps: Int = 4) -> FluxPipeline.Request {
        FluxPipeline.Request(prompt: Self.prompt, seed: 42, steps: steps, width: width, height: height, guidance: 3.5,
                             maxSequenceLength: 32)
    }

    func testGenerateMatchesDiffusersAndMakesAValidPNG() throws {
        let ref = try FixtureTensors(url: FluxFixtures.url("expected/pipeline.safetensors"))
        let pipeline = try FluxPipeline(modelDirectory: FluxFixtures.url("tiny-flux"))
        var stepsSeen: [Int] = []
        let result = try pipeline.generate(request()) { i, _ in stepsSeen.append(i) }
        XCTAssertEqual(stepsSeen, [0, 1, 2, 3])
        let final = ref["final_latents"]
        let diff = maxAbsDifference(result.finalLatents, final)
        XCTAssertLessThanOrEqual(diff, 1e-4 * final.maxAbs, "final latents: max |Δ| \(diff) vs max |ref| \(final.maxAbs)")
        XCTAssertEqual(result.timings.denoiseSteps.count, 4)
        // The pipeline returns pixels; the PNG is encoded (and timed) by whoever writes it.
        let encodeStart = Date()
        let png = try result.image.png()
        let pngEncode = Date().timeIntervalSince(encodeStart)
        XCTAssertTrue([result.timings.tokenize, result.timings.encode, result.timings.vaeDecode, pngEncode]
            .allSatisfy { $0 >= 0 && $0 < 60 })

        // PNG: signature, IHDR 96×64 RGB 8-bit, ends with IEND.
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ at: Int) -> Int { png[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(String(decoding: png[12..<16], as: UTF8.self), "IHDR")
        XCTAssertEqual(be32(16), 96)
        XCTAssertEqual(be32(20), 64)
        XCTAssertEqual(png[24], 8)
        XCTAssertEqual(png[25], 2)
        XCTAssertEqual(String(decoding: png[(png.count - 8)..<(png.count - 4)], as: UTF8.self), "IEND")
        XCTAssertEqual(try PNGReader.decode(png).rgb, result.image.rgb)

        // Pixels: the reference's uint8 image, up to one level where a value sits on a rounding boundary.
        let decoded = try pipeline.vae.decode(pipeline.vaeInput(SampledLatents(
            packed: result.finalLatents, latentHeight: 8, latentWidth: 12, schedule: FlowMatchSchedule(sigmas: [], timesteps: []),
            stepSeconds: [])))
        let rgb = try ImagePostprocess.toRGB8(decoded, index: 0)
        XCTAssertEqual(rgb, result.image.rgb)
        let refPixels = ref["image_uint8"].storage
        XCTAssertEqual(rgb.count, refPixels.count)
        let worst = zip(rgb, refPixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// True classifier-free guidance against `expected/pipeline_true_cfg.safetensors` (FluxPipeline with
    /// negative_prompt "a green triangle", true_cfg_scale 2.5).
    func testTrueCFGMatchesDiffusers() throws {
        let ref = try FixtureTensors(url: FluxFixtures.url("expected/pipeline_true_cfg.safetensors"))
        let pipeline = try FluxPipeline(modelDirectory: FluxFixtures.url("tiny-flux"))
        var r = request()
        r.trueCFGScale = 2.5
        r.negativePrompt = "a green triangle"
        XCTAssertTrue(r.usesTrueCFG)
        let result = try pipeline.generate(r)
        let final = ref["final_latents"]
        let diff = maxAbsDifference(result.finalLatents, final)
        XCTAssertLessThanOrEqual(diff, 1e-4 * final.maxAbs, "final latents: max |Δ| \(diff) vs max |ref| \(final.maxAbs)")
        let worst = zip(result.image.rgb, ref["image_uint8"].storage).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1)

        // Guidance changes the image; a scale above 1 without a negative prompt is no guidance (as diffusers).
        let plain = try pipeline.generate(request())
        XCTAssertGreaterThan(maxAbsDifference(result.finalLatents, plain.finalLatents), 1e-2)
        var noNegative = request()
        noNegative.trueCFGScale = 2.5
        XCTAssertFalse(noNegative.usesTrueCFG)
        XCTAssertEqual(try pipeline.generate(noNegative).finalLatents.storage, plain.finalLatents.storage)
    }

    func testBadRequestsNameTheProblem() throws {
        let pipeline = try FluxPipeline(modelDirectory: FluxFixtures.url("tiny-flux"))
        func message(_ r: FluxPipeline.Request) -> String {
            do { _ = try pipeline.generate(r); return "no error" } catch { return "\(error)" }
        }
        let w = message(request(width: 17))
        XCTAssertTrue(w.contains("width") && w.contains("17") && w.contains("16"), w)
        let s = message(request(steps: 0))
        XCTAssertTrue(s.contains("steps") && s.contains("0"), s)
        var long = request()
        long.maxSequenceLength = 0
        XCTAssertTrue(message(long).contains("max sequence length"), message(long))
        for scale in [Float(0.5), .nan, 51] {
            var cfg = request()
            cfg.trueCFGScale = scale
            cfg.negativePrompt = ""
            XCTAssertTrue(message(cfg).contains("true_cfg_scale"), message(cfg))
        }
    }

    func testMissingTransformerTensorIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flux-pipeline-\(UUID())")
        try FileManager.default.copyItem(at: FluxFixtures.url("tiny-flux"), to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let weightsURL = dir.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors")
        let source = try SafeTensorsFile(url: FluxFixtures.url("tiny-flux/transformer/diffusion_pytorch_model.safetensors"))
        let dropped = "single_transformer_blocks.0.proj_mlp.weight"
        let kept = source.tensorNames.filter { $0 != dropped }
        try FileManager.default.removeItem(at: weightsURL)
        let writer = try SafeTensorsWriter(url: weightsURL, tensors: try kept.map { try source.info($0) })
        for name in kept { try writer.write(name, bytes: try source.bytes(name)) }
        try writer.finish()
        XCTAssertThrowsError(try FluxPipeline(modelDirectory: dir)) { error in
            XCTAssertTrue("\(error)".contains(dropped), "\(error)")
        }
    }
}
