import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel

/// Ternary path: the fixture's fp block linears are quantized in memory (absmean), packed, and run by
/// `TernaryLinear` in f32 activation mode; the reference is diffusers' forward with W ← W_q·γ.
final class FluxTernaryForwardTests: XCTestCase {
    /// fp tensors, except block linears, which come back as packed ternary layers.
    final class QuantizedWeights: WeightSource {
        let fp: DictionaryWeights
        let blockPrefixes: Set<String>
        let format: TernaryFormat
        var ternaryLayers = 0

        init(_ fp: DictionaryWeights, config: FluxTransformerConfig, format: TernaryFormat) {
            self.fp = fp
            self.format = format
            blockPrefixes = Set(FluxParameterLayout(config: config).linears.filter(\.inBlock).map(\.prefix))
        }
        func contains(_ name: String) -> Bool { fp.contains(name) }
        func shape(_ name: String) throws -> [Int] { try fp.shape(name) }
        func tensor(_ name: String) throws -> Tensor { try fp.tensor(name) }
        func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer {
            guard blockPrefixes.contains(prefix) else { return try fp.linear(prefix, mode: mode) }
            let w = try fp.tensor(prefix + ".weight")
            let (n, k) = (w.shape[0], w.shape[1])
            let q = try TernaryQuantizer.absmean(w.storage, outFeatures: n, inFeatures: k, name: prefix + ".weight")
            let bytes = try TernaryPacking.pack(q.values, outFeatures: n, inFeatures: k, format: format)
            let storage = PackedTernaryStorage(byteCount: bytes.count)
            storage.bytes.copyBytes(from: bytes)
            ternaryLayers += 1
            return try TernaryLinear(packed: storage.contents, owner: storage, scale: q.scale,
                                     bias: fp.tensors[prefix + ".bias"]?.storage, format: format,
                                     inFeatures: k, outFeatures: n, mode: mode)
        }
    }

    func run(model: String, expected: String, format: TernaryFormat, linears: Int) throws {
        let config = try FluxTransformerConfig.load(from: FluxFixtures.url("\(model)/config.json"))
        let fp = DictionaryWeights(try FixtureTensors(url: FluxFixtures.url("\(model)/diffusion_pytorch_model.safetensors")).tensors)
        let weights = QuantizedWeights(fp, config: config, format: format)
        let transformer = try FluxTransformer(config: config, weights: weights, mode: .f32)
        XCTAssertEqual(weights.ternaryLayers, linears)
        let io = try FixtureTensors(url: FluxFixtures.url("expected/\(expected).safetensors"))
        XCTAssertEqual(io.metadata["ternary_linears"], String(linears))
        let out = try transformer.forward(
            hiddenStates: io["hidden_states"], encoderHiddenStates: io["encoder_hidden_states"],
            pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
            guidance: io.tensors["guidance"]?.storage, imgIds: io["img_ids"], txtIds: io["txt_ids"])
        let reference = io["sample"]
        let diff = maxAbsDifference(out, reference)
        XCTAssertLessThanOrEqual(diff, 1e-4 * reference.maxAbs, "max |Δ| \(diff) vs max |ref| \(reference.maxAbs)")
    }

    func testGuidanceTernaryI2MatchesDequantizedReference() throws {
        try run(model: "tiny-flux/transformer", expected: "flux_forward_guidance_ternary", format: .i2, linears: 40)
    }

    func testNoGuidanceTernaryT3MatchesDequantizedReference() throws {
        try run(model: "transformer-noguidance", expected: "flux_forward_noguidance_ternary", format: .t3, linears: 40)
    }

    /// int8 activations are an approximation; they must stay close to the f32 result, not equal it.
    func testInt8ModeStaysCloseToF32() throws {
        let model = "tiny-flux/transformer"
        let config = try FluxTransformerConfig.load(from: FluxFixtures.url("\(model)/config.json"))
        let fp = DictionaryWeights(try FixtureTensors(url: FluxFixtures.url("\(model)/diffusion_pytorch_model.safetensors")).tensors)
        let io = try FixtureTensors(url: FluxFixtures.url("expected/flux_forward_guidance_ternary.safetensors"))
        func forward(_ mode: ActivationMode) throws -> Tensor {
            let t = try FluxTransformer(config: config, weights: QuantizedWeights(fp, config: config, format: .i2), mode: mode)
            return try t.forward(hiddenStates: io["hidden_states"], encoderHiddenStates: io["encoder_hidden_states"],
                                 pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
                                 guidance: io["guidance"].storage, imgIds: io["img_ids"], txtIds: io["txt_ids"])
        }
        let f32 = try forward(.f32), int8 = try forward(.int8)
        let diff = maxAbsDifference(f32, int8)
        XCTAssertGreaterThan(diff, 0, "int8 mode must actually quantize activations")
        XCTAssertLessThanOrEqual(diff, 0.05 * f32.maxAbs, "int8 drifted \(diff) (max |f32| \(f32.maxAbs))")
    }

    /// The product path: `CheckpointQuantizer` (what `ternflux quantize` runs) writes a packed checkpoint, and
    /// `FluxTransformer(directory:)` runs its memory-mapped ternary weights on the kernels.
    func testQuantizedCheckpointFolderMatchesDequantizedReference() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flux-quantized-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try CheckpointQuantizer(format: .i2).run(source: FluxFixtures.url("tiny-flux/transformer"), destination: dir)
        let transformer = try FluxTransformer(directory: dir, mode: .f32)
        XCTAssertTrue(transformer.doubleBlocks[0].toQ is TernaryLinear)
        XCTAssertTrue(transformer.singleBlocks[1].projOut is TernaryLinear)
        XCTAssertTrue(transformer.xEmbedder is DenseLinear)
        let io = try FixtureTensors(url: FluxFixtures.url("expected/flux_forward_guidance_ternary.safetensors"))
        let out = try transformer.forward(
            hiddenStates: io["hidden_states"], encoderHiddenStates: io["encoder_hidden_states"],
            pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
            guidance: io["guidance"].storage, imgIds: io["img_ids"], txtIds: io["txt_ids"])
        let reference = io["sample"]
        let diff = maxAbsDifference(out, reference)
        XCTAssertLessThanOrEqual(diff, 1e-4 * reference.maxAbs, "max |Δ| \(diff) vs max |ref| \(reference.maxAbs)")
    }
}
