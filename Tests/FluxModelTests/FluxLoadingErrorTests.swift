import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel

final class FluxLoadingErrorTests: XCTestCase {
    let modelDir = "tiny-flux/transformer"

    func loadConfig() throws -> FluxTransformerConfig {
        try FluxTransformerConfig.load(from: FluxFixtures.url("\(modelDir)/config.json"))
    }
    func loadWeights() throws -> DictionaryWeights {
        DictionaryWeights(try FixtureTensors(url: FluxFixtures.url("\(modelDir)/diffusion_pytorch_model.safetensors")).tensors)
    }

    func assertError<T>(_ body: @autoclosure () throws -> T, contains fragments: [String],
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' does not mention '\(f)'", file: file, line: line) }
        }
    }

    func testLayoutListsExactlyTheCheckpointTensors() throws {
        let config = try loadConfig()
        let weights = try loadWeights()
        XCTAssertEqual(Set(FluxParameterLayout(config: config).tensorNames), Set(weights.tensors.keys))
    }

    func testMissingTensorIsNamed() throws {
        let weights = try loadWeights()
        weights.tensors["single_transformer_blocks.1.attn.norm_k.weight"] = nil
        assertError(try FluxTransformer(config: try loadConfig(), weights: weights),
                    contains: ["single_transformer_blocks.1.attn.norm_k.weight"])
        let weights2 = try loadWeights()
        weights2.tensors["transformer_blocks.0.ff.net.2.bias"] = nil
        assertError(try FluxTransformer(config: try loadConfig(), weights: weights2),
                    contains: ["transformer_blocks.0.ff.net.2.bias"])
    }

    func testWrongShapeNamesTensorAndBothShapes() throws {
        let weights = try loadWeights()
        weights.tensors["transformer_blocks.1.attn.to_k.weight"] = Tensor(zeros: [48, 40])
        assertError(try FluxTransformer(config: try loadConfig(), weights: weights),
                    contains: ["transformer_blocks.1.attn.to_k.weight", "[48, 40]", "[48, 48]"])
        let weights2 = try loadWeights()
        weights2.tensors["transformer_blocks.0.attn.norm_q.weight"] = Tensor(zeros: [17])
        assertError(try FluxTransformer(config: try loadConfig(), weights: weights2),
                    contains: ["transformer_blocks.0.attn.norm_q.weight", "[17]", "[16]"])
    }

    func testConfigThatDisagreesWithCheckpoint() throws {
        var config = try loadConfig()
        config.numLayers = 1
        assertError(try FluxTransformer(config: config, weights: try loadWeights()),
                    contains: ["transformer_blocks.1.norm1.linear.weight", "num_layers"])
        config = try loadConfig()
        config.attentionHeadDim = 20
        assertError(try config.validate(), contains: ["axes_dims_rope", "attention_head_dim"])
    }

    func testUnknownArchitectureAndBadConfigFields() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flux-config-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(#"{"_class_name": "SD3Transformer2DModel", "num_layers": 2}"#.utf8).write(to: url)
        assertError(try FluxTransformerConfig.load(from: url), contains: ["SD3Transformer2DModel", "FluxTransformer2DModel"])
        try Data(#"{"_class_name": "FluxTransformer2DModel", "num_layers": "two"}"#.utf8).write(to: url)
        assertError(try FluxTransformerConfig.load(from: url), contains: ["num_layers", url.path])
        assertError(try FluxTransformerConfig.load(from: dir.appendingPathComponent("nope.json")), contains: ["nope.json"])
    }

    func testForwardInputErrors() throws {
        let transformer = try FluxTransformer(config: try loadConfig(), weights: try loadWeights())
        let io = try FixtureTensors(url: FluxFixtures.url("expected/flux_forward_guidance.safetensors"))
        func run(hidden: Tensor? = nil, guidance: [Float]?? = .none, img: Tensor? = nil) throws -> Tensor {
            try transformer.forward(hiddenStates: hidden ?? io["hidden_states"],
                                    encoderHiddenStates: io["encoder_hidden_states"],
                                    pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
                                    guidance: guidance ?? io["guidance"].storage,
                                    imgIds: img ?? io["img_ids"], txtIds: io["txt_ids"])
        }
        assertError(try run(guidance: .some(nil)), contains: ["guidance", "guidance_embeds"])
        assertError(try run(hidden: Tensor(zeros: [1, 15, 60])), contains: ["hidden_states", "[1, 15, 60]"])
        assertError(try run(img: Tensor(zeros: [14, 3])), contains: ["img_ids", "[14, 3]"])
    }
}
