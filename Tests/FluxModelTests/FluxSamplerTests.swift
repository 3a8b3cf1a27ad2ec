import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel

/// The denoising loop against `expected/pipeline.safetensors` (diffusers FluxPipeline on tiny-flux, seed 42,
/// 96×64, 4 steps, guidance 3.5), starting from the reference text embeddings.
final class FluxSamplerTests: XCTestCase {
    func makeSampler() throws -> FluxSampler {
        let config = try FluxTransformerConfig.load(from: FluxFixtures.url("tiny-flux/transformer/config.json"))
        let weights = DictionaryWeights(try FixtureTensors(url: FluxFixtures.url("tiny-flux/transformer/diffusion_pytorch_model.safetensors")).tensors)
        let transformer = try FluxTransformer(config: config, weights: weights)
        let scheduler = try FlowMatchEulerDiscreteScheduler(directory: FluxFixtures.url("tiny-flux/scheduler"))
        return try FluxSampler(transformer: transformer, scheduler: scheduler, vaeScaleFactor: 8)
    }

    func assertClose(_ a: Tensor, _ ref: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, ref.shape, what, file: file, line: line)
        guard a.shape == ref.shape else { return }
        let diff = maxAbsDifference(a, ref)
        XCTAssertLessThanOrEqual(diff, 1e-4 * ref.maxAbs, "\(what): max |Δ| \(diff) vs max |ref| \(ref.maxAbs)", file: file, line: line)
    }

    func testFinalLatentsMatchDiffusersPipeline() throws {
        let ref = try FixtureTensors(url: FluxFixtures.url("expected/pipeline.safetensors"))
        let sampler = try makeSampler()
        let initial = sampler.initialLatents(seed: 42, width: 96, height: 64)
        XCTAssertEqual(initial.packed, ref["initial_latents"], "initial noise must be bit-identical")
        XCTAssertEqual(LatentPacking.imageIDs(latentHeight: initial.latentHeight, latentWidth: initial.latentWidth),
                       ref["latent_image_ids"])
        let result = try sampler.sample(promptEmbeds: ref["prompt_embeds"], pooled: ref["pooled_prompt_embeds"],
                                        seed: 42, steps: 4, width: 96, height: 64, guidance: 3.5)
        XCTAssertEqual(result.schedule.sigmas, ref["sigmas"].storage)
        XCTAssertEqual(result.stepSeconds.count, 4)
        assertClose(result.packed, ref["final_latents"], "final latents")
        let vaeInput = result.unpacked
        XCTAssertEqual(vaeInput.shape, [1, 16, 8, 12])
    }

    func testBadRequestsAreRejected() throws {
        let sampler = try makeSampler()
        let embeds = Tensor(zeros: [1, 4, 32]), pooled = Tensor(zeros: [1, 32])
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        let w17 = message { _ = try sampler.sample(promptEmbeds: embeds, pooled: pooled, seed: 1, steps: 2, width: 17, height: 32, guidance: 3.5) }
        XCTAssertTrue(w17.contains("width") && w17.contains("17") && w17.contains("16"), w17)
        let h0 = message { _ = try sampler.sample(promptEmbeds: embeds, pooled: pooled, seed: 1, steps: 2, width: 32, height: 0, guidance: 3.5) }
        XCTAssertTrue(h0.contains("height"), h0)
        let s0 = message { _ = try sampler.sample(promptEmbeds: embeds, pooled: pooled, seed: 1, steps: 0, width: 32, height: 32, guidance: 3.5) }
        XCTAssertTrue(s0.contains("steps") && s0.contains("0"), s0)
    }
}
