import Foundation
import TernaryTensors
import XCTest
@testable import FluxModel
import TernFluxBench

/// The random ternary checkpoint written for the density benchmark loads (memory-mapped) into the same
/// transformer the in-memory random weights build, and the reused forward workspace gives the same numbers as a fresh one.
final class RandomTernaryCheckpointTests: XCTestCase {
    // Small but not trivial: K = 64 is not a multiple of 128 (i2 padding) nor of 5 (t3 padding).
    let config = FluxTransformerConfig(patchSize: 1, inChannels: 16, numLayers: 1, numSingleLayers: 2,
                                       attentionHeadDim: 16, numAttentionHeads: 4, jointAttentionDim: 24,
                                       pooledProjectionDim: 12, guidanceEmbeds: true, axesDimsRope: [4, 6, 6])

    func inputs(imageTokens s: Int, textTokens t: Int, seed: UInt64) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        var g = TorchGenerator(seed: seed)
        let hidden = g.randn(shape: [1, s, config.inChannels])
        let context = g.randn(shape: [1, t, config.jointAttentionDim])
        let pooled = g.randn(shape: [1, config.pooledProjectionDim])
        var img = [Float](repeating: 0, count: s * 3)
        for i in 0..<s { img[i * 3 + 1] = Float(i / 4); img[i * 3 + 2] = Float(i % 4) }
        return (hidden, context, pooled, Tensor(shape: [s, 3], storage: img), Tensor(zeros: [t, 3]))
    }

    func forward(_ m: FluxTransformer, imageTokens s: Int, textTokens t: Int, seed: UInt64 = 1) throws -> Tensor {
        let (h, c, p, img, txt) = inputs(imageTokens: s, textTokens: t, seed: seed)
        return try m.forward(hiddenStates: h, encoderHiddenStates: c, pooledProjections: p, timestep: [0.7],
                             guidance: [3.5], imgIds: img, txtIds: txt)
    }

    func testWrittenCheckpointLoadsToTheSameTransformer() throws {
        for format in TernaryFormat.allCases {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("random-flux-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: dir) }
            let source = RandomTernaryWeights(config: config, format: format, seed: 7)
            let report = try source.writeCheckpoint(to: dir, denseDType: .f32)
            XCTAssertGreaterThan(report.packedBytes, 0)
            XCTAssertEqual(try FluxTransformerConfig.load(from: dir.appendingPathComponent("config.json")), config)

            let loaded = try FluxTransformer(directory: dir, mode: .f32)
            let inMemory = try FluxTransformer(config: config, weights: RandomTernaryWeights(config: config, format: format, seed: 7), mode: .f32)
            let a = try forward(loaded, imageTokens: 16, textTokens: 5)
            let b = try forward(inMemory, imageTokens: 16, textTokens: 5)
            XCTAssertEqual(a.shape, [1, 16, config.inChannels])
            XCTAssertEqual(a.storage, b.storage, "\(format.rawValue): loaded checkpoint differs from the in-memory weights")
            XCTAssertTrue(a.storage.allSatisfy { $0.isFinite })
        }
    }

    func testBF16CheckpointIsCloseAndPacked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("random-flux-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try RandomTernaryWeights(config: config, format: .t3, seed: 3).writeCheckpoint(to: dir)
        let file = try SafeTensorsFile(url: report.weightsFile)
        XCTAssertEqual(file.metadata[TernaryCheckpointKeys.packing], "t3")
        XCTAssertEqual(try file.info("transformer_blocks.0.attn.to_q.weight").dtype, .u8)
        XCTAssertEqual(try file.info("x_embedder.weight").dtype, .bf16)
        let loaded = try FluxTransformer(directory: dir, mode: .f32)
        let inMemory = try FluxTransformer(config: config, weights: RandomTernaryWeights(config: config, format: .t3, seed: 3), mode: .f32)
        let a = try forward(loaded, imageTokens: 16, textTokens: 5)
        let b = try forward(inMemory, imageTokens: 16, textTokens: 5)
        let scale = b.storage.map(abs).max() ?? 1
        XCTAssertLessThan(maxAbsDifference(a, b) / scale, 0.05, "bf16 rounding of the embedders only")
    }

    func testRefusesANonFloatDenseDType() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("random-flux-\(UUID().uuidString.prefix(8))")
        XCTAssertThrowsError(try RandomTernaryWeights(config: config).writeCheckpoint(to: dir, denseDType: .u8)) { error in
            XCTAssertTrue("\(error)".contains("U8"), "\(error)")
        }
    }

    /// Row operations split over the cores give bit for bit what one thread gives, on a forward pass large
    /// enough to be split (256 wide, 300 joint rows).
    func testRowOpsSplitOverCoresMatchOneThread() throws {
        let wide = FluxTransformerConfig(patchSize: 1, inChannels: 16, numLayers: 1, numSingleLayers: 1,
                                         attentionHeadDim: 64, numAttentionHeads: 4, jointAttentionDim: 24,
                                         pooledProjectionDim: 12, guidanceEmbeds: true, axesDimsRope: [16, 24, 24])
        let m = try FluxTransformer(config: wide, weights: RandomTernaryWeights(config: wide, format: .t3, seed: 5), mode: .f32)
        var g = TorchGenerator(seed: 9)
        let s = 256, t = 44
        let hidden = g.randn(shape: [1, s, 16]), context = g.randn(shape: [1, t, 24]), pooled = g.randn(shape: [1, 12])
        var img = [Float](repeating: 0, count: s * 3)
        for i in 0..<s { img[i * 3 + 1] = Float(i / 16); img[i * 3 + 2] = Float(i % 16) }
        func run() throws -> Tensor {
            try m.forward(hiddenStates: hidden, encoderHiddenStates: context, pooledProjections: pooled, timestep: [0.4],
                          guidance: [3.5], imgIds: Tensor(shape: [s, 3], storage: img), txtIds: Tensor(zeros: [t, 3]))
        }
        let saved = RowOps.parallelThreshold
        defer { RowOps.parallelThreshold = saved }
        XCTAssertLessThanOrEqual(saved, (s + t) * 256, "this test must exercise the split path")
        let split = try run()
        RowOps.parallelThreshold = Int.max
        let serial = try run()
        XCTAssertEqual(split.storage, serial.storage)
        XCTAssertTrue(split.storage.allSatisfy { $0.isFinite })
    }

    /// The workspace kept between forward passes (and replaced when the shape changes) gives exactly what a
    /// fresh transformer gives.
    func testReusedWorkspaceMatchesAFreshOne() throws {
        let weights = RandomTernaryWeights(config: config, format: .i2, seed: 11)
        let reused = try FluxTransformer(config: config, weights: weights, mode: .f32)
        let first = try forward(reused, imageTokens: 16, textTokens: 5, seed: 1)
        let other = try forward(reused, imageTokens: 8, textTokens: 3, seed: 2)
        let again = try forward(reused, imageTokens: 16, textTokens: 5, seed: 1)
        let third = try forward(reused, imageTokens: 16, textTokens: 5, seed: 3)
        XCTAssertEqual(first.storage, again.storage)
        for (tokens, seed, got) in [(8, UInt64(2), other), (16, 3, third)] {
            let fresh = try FluxTransformer(config: config, weights: RandomTernaryWeights(config: config, format: .i2, seed: 11), mode: .f32)
            let want = try forward(fresh, imageTokens: tokens, textTokens: tokens == 8 ? 3 : 5, seed: seed)
            XCTAssertEqual(got.storage, want.storage)
        }
    }
}
