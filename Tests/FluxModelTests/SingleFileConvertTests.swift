import Foundation
import TernaryTensors
import XCTest
@testable import FluxModel

/// `ternflux convert` on the BFL, ComfyUI and ae fixtures: every tensor equals what diffusers' own converters
/// produce (name, dtype, shape, SHA-256 of the bytes), every config equals the one diffusers / transformers
/// write, and the converted models compute what diffusers computes.
final class SingleFileConvertTests: XCTestCase {
    /// Converts `sources` with their manifests' flags into a fresh folder and returns it.
    private func convert(_ sources: [String], flags: [String]) throws -> URL {
        let dst = try makeScratchFolder(self).appendingPathComponent("converted")
        let result = try runTernflux(["convert"] + sources.map { BFLFixtures.source($0).path } + [dst.path] + flags)
        XCTAssertEqual(result.status, 0, result.stderr)
        return dst
    }

    /// The component folders of `dst` against the manifest of `name`.
    private func assertMatchesDiffusers(_ dst: URL, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let manifest = try BFLFixtures.manifest(name)
        for (folder, expected) in manifest.components {
            let weights = folder.hasPrefix("text_encoder") ? "model.safetensors" : "diffusion_pytorch_model.safetensors"
            let got = try tensorDigests(dst.appendingPathComponent("\(folder)/\(weights)"))
            XCTAssertEqual(Set(got.keys), Set(expected.tensors.keys), "\(name) \(folder): tensor names", file: file, line: line)
            for (tensor, digest) in expected.tensors {
                XCTAssertEqual(got[tensor], digest, "\(name) \(folder): \(tensor)", file: file, line: line)
            }
            let config = try jsonObject(dst.appendingPathComponent("\(folder)/config.json"))
            if folder == "transformer" || folder == "vae" {
                // diffusers' save_config writes every argument: the whole object must be equal.
                XCTAssertEqual(config as NSDictionary, expected.config as NSDictionary, "\(name) \(folder)/config.json", file: file, line: line)
            } else {
                // transformers writes the keys that differ from its defaults; every key written must hold the
                // value of transformers' full config for these weights.
                for (key, value) in config {
                    XCTAssertNotNil(expected.config[key], "\(name) \(folder)/config.json: unexpected key \(key)", file: file, line: line)
                    XCTAssertEqual([key: value] as NSDictionary, [key: expected.config[key] as Any] as NSDictionary,
                                   "\(name) \(folder)/config.json \(key)", file: file, line: line)
                }
            }
        }
    }

    func testDevMatchesDiffusers() throws {
        let dst = try convert(["dev"], flags: try BFLFixtures.flags("dev"))
        try assertMatchesDiffusers(dst, "dev")
        let config = try FluxTransformerConfig.load(from: dst.appendingPathComponent("transformer/config.json"))
        XCTAssertEqual(config, FluxTransformerConfig(inChannels: 64, numLayers: 2, numSingleLayers: 2, attentionHeadDim: 8,
                                                     numAttentionHeads: 2, jointAttentionDim: 32, pooledProjectionDim: 32,
                                                     guidanceEmbeds: true, axesDimsRope: [2, 2, 4]))
        // FLUX.1-dev's pipeline files.
        let scheduler = try jsonObject(dst.appendingPathComponent("scheduler/scheduler_config.json"))
        XCTAssertEqual(scheduler["shift"] as? Double, 3.0)
        XCTAssertEqual(scheduler["use_dynamic_shifting"] as? Bool, true)
        let defaults = try GenerationDefaults.load(modelDirectory: dst)
        XCTAssertEqual([defaults.width, defaults.height, defaults.steps], [1024, 1024, 28])
        XCTAssertEqual(defaults.guidance, 3.5)
        XCTAssertEqual(try jsonObject(dst.appendingPathComponent("model_index.json")) as NSDictionary,
                       try jsonObject(FluxFixtures.url("tiny-flux/model_index.json")).filter { $0.key != "_diffusers_version" } as NSDictionary)
        // Tokenizers are in no single file: the model folder names the first missing component.
        XCTAssertThrowsError(try ModelFolder(url: dst)) { error in
            XCTAssertTrue("\(error)".contains("vae"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.deletingLastPathComponent().path), ["converted"])
    }

    func testSchnellAndAEMatchDiffusers() throws {
        let dst = try convert(["schnell", "ae"], flags: ["--axes-dims-rope", "2,2,2", "--vae-norm-num-groups", "4"])
        try assertMatchesDiffusers(dst, "schnell")
        try assertMatchesDiffusers(dst, "ae")
        let config = try FluxTransformerConfig.load(from: dst.appendingPathComponent("transformer/config.json"))
        XCTAssertFalse(config.guidanceEmbeds)
        XCTAssertEqual([config.numLayers, config.numSingleLayers, config.numAttentionHeads, config.attentionHeadDim], [1, 3, 3, 6])
        let scheduler = try jsonObject(dst.appendingPathComponent("scheduler/scheduler_config.json"))
        XCTAssertEqual(scheduler["shift"] as? Double, 1.0)
        XCTAssertEqual(scheduler["use_dynamic_shifting"] as? Bool, false)
        XCTAssertEqual(try GenerationDefaults.load(modelDirectory: dst).steps, 4)
    }

    func testAEAloneGivesAVAEFolder() throws {
        let dst = try convert(["ae"], flags: try BFLFixtures.flags("ae"))
        try assertMatchesDiffusers(dst, "ae")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.path).sorted(), ["vae"])
    }

    func testComfyBundleMatchesDiffusers() throws {
        let dst = try convert(["comfy-bundle"], flags: try BFLFixtures.flags("comfy-bundle"))
        try assertMatchesDiffusers(dst, "comfy-bundle")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.path).sorted(),
                       ["generation_defaults.json", "model_index.json", "scheduler", "text_encoder", "text_encoder_2", "transformer", "vae"])
        // The text encoders load (their configs and weights agree with TernFlux's encoders).
        let clip = try CLIPTextEncoder(directory: dst.appendingPathComponent("text_encoder"))
        XCTAssertEqual([clip.config.hiddenSize, clip.config.numAttentionHeads, clip.config.vocabSize], [16, 2, 64])
        let t5 = try T5TextEncoder(directory: dst.appendingPathComponent("text_encoder_2"))
        XCTAssertEqual([t5.config.dModel, t5.config.numHeads, t5.config.dKV, t5.config.dFF], [16, 2, 4, 32])
        XCTAssertEqual(t5.config.feedForwardProj, "gated-gelu")
    }

    /// The converted transformers run in TernFlux as the diffusers models built from diffusers' conversion.
    func testConvertedTransformersForwardLikeDiffusers() throws {
        for (name, forward) in [("dev", "dev_forward"), ("schnell", "schnell_forward")] {
            let dst = try convert([name], flags: try BFLFixtures.flags(name))
            let transformer = try FluxTransformer(directory: dst.appendingPathComponent("transformer"))
            let io = try FixtureTensors(url: BFLFixtures.expected("\(forward).safetensors"))
            let out = try transformer.forward(
                hiddenStates: io["hidden_states"], encoderHiddenStates: io["encoder_hidden_states"],
                pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
                guidance: io.tensors["guidance"]?.storage, imgIds: io["img_ids"], txtIds: io["txt_ids"])
            let reference = io["sample"]
            XCTAssertLessThanOrEqual(maxAbsDifference(out, reference), 1e-4 * reference.maxAbs, name)
        }
    }

    func testConvertedAEDecodesLikeDiffusers() throws {
        let dst = try convert(["ae"], flags: try BFLFixtures.flags("ae"))
        let vae = try VAEDecoder(directory: dst.appendingPathComponent("vae"))
        let io = try SafeTensorsFile(url: BFLFixtures.expected("ae_decode.safetensors"))
        let sample = try vae.decode(try io.tensor("latents"))
        let reference = try io.tensor("sample")
        XCTAssertLessThanOrEqual(maxAbsDifference(sample, reference), 1e-4 * reference.maxAbs)
    }

    /// The documented way to finish a converted transformer-only folder: copy the missing components from a
    /// diffusers FLUX.1 folder (here tiny-flux, whose text widths and latent channels match the dev fixture's).
    /// The completed folder then generates an image through the whole pipeline, with the converted
    /// transformer and the written scheduler config and generation defaults.
    func testConvertedDevCompletedFromADiffusersFolderGenerates() throws {
        let dst = try convert(["dev"], flags: try BFLFixtures.flags("dev"))
        let first = try runTernflux(["generate", "--model", dst.path, "a red circle", "--out", dst.appendingPathComponent("x.png").path])
        XCTAssertNotEqual(first.status, 0)
        XCTAssertTrue(first.stderr.contains("vae"), first.stderr)
        for component in ["vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"] {
            try FileManager.default.copyItem(at: FluxFixtures.url("tiny-flux/\(component)"), to: dst.appendingPathComponent(component))
        }
        _ = try ModelFolder(url: dst)
        let png = dst.deletingLastPathComponent().appendingPathComponent("dev.png")
        let result = try runTernflux(["generate", "--model", dst.path, "a red circle", "--steps", "2", "--width", "64",
                                      "--height", "48", "--seed", "3", "--out", png.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let data = try Data(contentsOf: png)
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    }

    /// `--verbose` says where every output tensor's bytes come from.
    func testVerboseListsTheSourceRanges() throws {
        let dst = try makeScratchFolder(self).appendingPathComponent("converted")
        let result = try runTernflux(["convert", BFLFixtures.source("dev").path, dst.path, "--verbose"] + (try BFLFixtures.flags("dev")))
        XCTAssertEqual(result.status, 0, result.stderr)
        // d = 16 BF16 values = 32 bytes per row: to_k is rows 16..<32 of the fused qkv.
        XCTAssertTrue(result.stdout.contains("transformer_blocks.0.attn.to_k.weight BF16 [16, 16] ← double_blocks.0.img_attn.qkv.weight[512..<1024]"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("norm_out.linear.bias BF16 [32] ← final_layer.adaLN_modulation.1.bias[32..<64] + final_layer.adaLN_modulation.1.bias[0..<32]"),
                      result.stdout)
    }
}
