import Foundation
import TernaryTensors
import XCTest
@testable import FluxModel

/// Bad sources and destinations for `ternflux convert`: each fails with a message naming what is wrong, a
/// non-zero exit, and nothing in or beside the destination.
final class SingleFileBadInputTests: XCTestCase {
    private var scratch: URL!
    private var dst: URL { scratch.appendingPathComponent("out") }

    override func setUpWithError() throws {
        scratch = try makeScratchFolder(self)
    }

    /// Runs convert on `sources` and checks that it failed with every one of `messages` on stderr and left the
    /// scratch folder holding only `keep`.
    private func assertFails(_ sources: [URL], flags: [String]? = nil, messages: [String], keep: Set<String> = [],
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runTernflux(["convert"] + sources.map(\.path) + [dst.path] + (flags ?? (try BFLFixtures.flags("dev"))))
        XCTAssertNotEqual(result.status, 0, "convert succeeded", file: file, line: line)
        for m in messages { XCTAssertTrue(result.stderr.contains(m), "stderr lacks \(m.debugDescription): \(result.stderr)", file: file, line: line) }
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.path))
        XCTAssertEqual(left, keep, "left beside DST", file: file, line: line)
    }

    private func edited(_ name: String, drop: Set<String> = [], replace: [String: TensorInfo] = [:],
                        add: [(TensorInfo, [UInt8])] = []) throws -> URL {
        let url = scratch.appendingPathComponent("\(name).safetensors")
        try writeEdited(BFLFixtures.source("dev"), to: url, drop: drop, replace: replace, add: add)
        return url
    }

    func testNeitherLayoutNamesTheKeys() throws {
        let src = scratch.appendingPathComponent("other.safetensors")
        try SafeTensorsWriter.write(url: src, tensors: [
            (TensorInfo(name: "model.layers.0.self_attn.q_proj.weight", dtype: .f32, shape: [2, 2]), [UInt8](repeating: 0, count: 16)),
            (TensorInfo(name: "lm_head.weight", dtype: .f32, shape: [2]), [UInt8](repeating: 0, count: 8)),
        ])
        try assertFails([src], messages: ["not a FLUX.1 checkpoint", "2 tensor name(s) match none", "'lm_head.weight'",
                                          "'model.layers.0.self_attn.q_proj.weight'"], keep: ["other.safetensors"])
    }

    func testUnknownKeysBesideABFLTransformerAreNamed() throws {
        let src = try edited("flux2ish", add: [(TensorInfo(name: "double_stream_modulation_img.lin.weight", dtype: .bf16, shape: [2]), [0, 0, 0, 0])])
        try assertFails([src], messages: ["'double_stream_modulation_img.lin.weight'"], keep: ["flux2ish.safetensors"])
    }

    func testMixedLayoutIsRefused() throws {
        let src = try edited("mixed", add: [(TensorInfo(name: "transformer_blocks.0.attn.to_q.weight", dtype: .bf16, shape: [2]), [0, 0, 0, 0])])
        try assertFails([src], messages: ["mixes the diffusers layout", "'transformer_blocks.0.attn.to_q.weight'"], keep: ["mixed.safetensors"])
    }

    func testDiffusersFileIsRefused() throws {
        try assertFails([FluxFixtures.url("tiny-flux/transformer/diffusion_pytorch_model.safetensors")],
                        messages: ["already in the diffusers layout", "use the folder"])
        // A diffusers VAE shares conv_in / conv_out names with the LDM layout; it is still recognised whole.
        try assertFails([FluxFixtures.url("tiny-flux/vae/diffusion_pytorch_model.safetensors")],
                        messages: ["already in the diffusers layout"])
    }

    func testTruncatedFileIsNamed() throws {
        let src = scratch.appendingPathComponent("truncated.safetensors")
        let data = try Data(contentsOf: BFLFixtures.source("dev"))
        try data.prefix(data.count - 100).write(to: src)
        try assertFails([src], messages: ["truncated.safetensors", "truncated safetensors file", "extend past"], keep: ["truncated.safetensors"])
    }

    func testShapeContradictingTheConfigIsNamed() throws {
        // img_mlp.0 must be [4·16, 16]; 60 rows contradict the inner width inferred from img_in.
        let src = try edited("wrongshape", replace: ["double_blocks.1.txt_mlp.0.weight": TensorInfo(name: "double_blocks.1.txt_mlp.0.weight", dtype: .bf16, shape: [60, 16])])
        try assertFails([src], messages: ["tensor 'double_blocks.1.txt_mlp.0.weight' has shape [60, 16], expected [64, 16]", "inner width 16"],
                        keep: ["wrongshape.safetensors"])
        // A fused qkv with rows that do not split in three.
        let qkv = try edited("wrongqkv", replace: ["double_blocks.0.img_attn.qkv.weight": TensorInfo(name: "double_blocks.0.img_attn.qkv.weight", dtype: .bf16, shape: [47, 16])])
        try assertFails([qkv], messages: ["'double_blocks.0.img_attn.qkv.weight' has shape [47, 16], expected [48, 16]"],
                        keep: ["wrongshape.safetensors", "wrongqkv.safetensors"])
    }

    func testMissingTensorAndMissingBlockAreNamed() throws {
        let src = try edited("nobias", drop: ["single_blocks.1.linear2.bias"])
        try assertFails([src], messages: ["has no tensor 'single_blocks.1.linear2.bias'"], keep: ["nobias.safetensors"])
        let block = try edited("noblock", drop: Set(try SafeTensorsFile(url: BFLFixtures.source("dev")).tensorNames.filter { $0.hasPrefix("double_blocks.0.") }))
        try assertFails([block], messages: ["double_blocks.0.img_attn.norm.key_norm.scale"], keep: ["nobias.safetensors", "noblock.safetensors"])
    }

    func testValuesNotInTheWeightsNeedTheirFlags() throws {
        try assertFails([BFLFixtures.source("dev")], flags: [], messages: ["axes_dims_rope is not stored in the weights", "--axes-dims-rope"])
        try assertFails([BFLFixtures.source("ae")], flags: [], messages: ["norm_num_groups", "--vae-norm-num-groups"])
        try assertFails([BFLFixtures.source("comfy-bundle")], flags: ["--axes-dims-rope", "2,2,4", "--vae-norm-num-groups", "4"],
                        messages: ["--clip-attention-heads"])
        try assertFails([BFLFixtures.source("dev")], flags: ["--axes-dims-rope", "2,3"], messages: ["--axes-dims-rope must be three positive even numbers"])
        try assertFails([BFLFixtures.source("dev")], flags: ["--axes-dims-rope", "2,2,2"], messages: ["axes_dims_rope [2, 2, 2] sums to 6"])
    }

    func testTwoTransformersAreRefused() throws {
        try assertFails([BFLFixtures.source("dev"), BFLFixtures.source("schnell")], messages: ["hold a transformer"])
    }

    func testFolderSourceIsRefused() throws {
        try assertFails([FluxFixtures.url("tiny-flux")], messages: ["a folder; convert takes single .safetensors files"])
    }

    func testExistingDestinationNeedsForce() throws {
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: false)
        try Data("keep me".utf8).write(to: dst.appendingPathComponent("note.txt"))
        try assertFails([BFLFixtures.source("dev")], messages: ["already exists and is not empty", "--force"], keep: ["out"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.path), ["note.txt"])
        // A failing conversion with --force leaves the old DST as it was.
        try assertFails([BFLFixtures.source("dev")], flags: ["--force"], messages: ["--axes-dims-rope"], keep: ["out"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.path), ["note.txt"])
        // With --force it is replaced, and nothing is left beside it.
        let forced = try runTernflux(["convert", BFLFixtures.source("dev").path, dst.path, "--force"] + (try BFLFixtures.flags("dev")))
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst.appendingPathComponent("note.txt").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dst.appendingPathComponent("transformer/config.json").path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["out"])
    }

    func testEmptyDestinationFolderIsFilled() throws {
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: false)
        let result = try runTernflux(["convert", BFLFixtures.source("ae").path, dst.path] + (try BFLFixtures.flags("ae")))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.path), ["vae"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["out"])
    }

    /// The layout classifier on its own, for the cases the CLI tests do not reach.
    func testBareAndPrefixedTransformerInOneFileAreTwoModels() throws {
        let src = try edited("both", add: [(TensorInfo(name: "model.diffusion_model.img_in.bias", dtype: .bf16, shape: [2]), [0, 0, 0, 0])])
        XCTAssertThrowsError(try SingleFileLayout.classify(try SafeTensorsFile(url: src))) { error in
            XCTAssertTrue("\(error)".contains("hold a transformer"), "\(error)")
        }
    }
}
