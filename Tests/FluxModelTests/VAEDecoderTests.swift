import Foundation
import XCTest
@testable import FluxModel
import TernaryTensors

enum VAEFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let vae = root.appendingPathComponent("tiny-flux/vae")
    static let expected = root.appendingPathComponent("expected")
}

/// Wraps a checkpoint and drops or reshapes one tensor, to exercise the decoder's weight checks.
struct EditedWeights: WeightSource {
    let base: any WeightSource
    var removed: Set<String> = []
    var reshaped: [String: [Int]] = [:]

    func contains(_ name: String) -> Bool { !removed.contains(name) && base.contains(name) }
    func shape(_ name: String) throws -> [Int] { try reshaped[name] ?? base.shape(name) }
    func tensor(_ name: String) throws -> Tensor {
        let t = try base.tensor(name)
        guard let s = reshaped[name] else { return t }
        return Tensor(shape: s, storage: [Float](repeating: 0, count: s.reduce(1, *)))
    }
    func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer { try base.linear(prefix, mode: mode) }
}

final class VAEDecoderTests: XCTestCase {
    func testDecodeMatchesDiffusers() throws {
        let vae = try VAEDecoder(directory: VAEFixtures.vae)
        XCTAssertEqual(vae.config.latentChannels, 16)
        XCTAssertFalse(vae.config.usePostQuantConv)
        XCTAssertEqual(vae.config.scalingFactor, 0.3611)
        XCTAssertEqual(vae.config.shiftFactor, 0.1159)
        let fixture = try SafeTensorsFile(url: VAEFixtures.expected.appendingPathComponent("vae_decode.safetensors"))
        let latents = try fixture.tensor("latents")
        let expected = try fixture.tensor("sample")
        XCTAssertEqual(latents.shape, [1, 16, 6, 10])
        let sample = try vae.decode(latents)
        XCTAssertEqual(sample.shape, expected.shape)
        let maxRef = expected.maxAbs
        let maxDiff = zip(sample.storage, expected.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        XCTAssertGreaterThan(maxRef, 0.01)
        XCTAssertLessThanOrEqual(maxDiff, 1e-4 * maxRef, "max |Δ| \(maxDiff) vs max |ref| \(maxRef)")
    }

    func testBatchOfTwoDecodesEachImageIndependently() throws {
        let vae = try VAEDecoder(directory: VAEFixtures.vae)
        var g = TorchGenerator(seed: 3)
        let a = g.randn(shape: [1, 16, 2, 3])
        let b = g.randn(shape: [1, 16, 2, 3])
        let both = try vae.decode(Tensor(shape: [2, 16, 2, 3], storage: a.storage + b.storage))
        XCTAssertEqual(both.shape, [2, 3, 16, 24])
        XCTAssertEqual(both.storage, try vae.decode(a).storage + vae.decode(b).storage)
    }

    func testLatentChannelMismatchIsAClearError() throws {
        let vae = try VAEDecoder(directory: VAEFixtures.vae)
        XCTAssertThrowsError(try vae.decode(Tensor(zeros: [1, 4, 2, 2]))) { error in
            XCTAssertEqual("\(error)", "VAE decode: latents have 4 channels but the VAE's latent_channels is 16")
        }
        XCTAssertThrowsError(try vae.decode(Tensor(zeros: [16, 2, 2]))) { error in
            XCTAssertTrue("\(error)".contains("must be [B, C, h, w]"), "\(error)")
        }
    }

    func loadConfig() throws -> AutoencoderKLConfig {
        try JSONDecoder().decode(AutoencoderKLConfig.self, from: Data(contentsOf: VAEFixtures.vae.appendingPathComponent("config.json")))
    }

    func testMissingTensorIsNamed() throws {
        let base = try SafeTensorsCheckpoint(directory: VAEFixtures.vae)
        let weights = EditedWeights(base: base, removed: ["decoder.up_blocks.1.resnets.0.conv_shortcut.weight"])
        XCTAssertThrowsError(try VAEDecoder(config: loadConfig(), weights: weights, sourceName: "tiny-flux/vae")) { error in
            XCTAssertEqual("\(error)", "VAE weights tiny-flux/vae: missing tensor 'decoder.up_blocks.1.resnets.0.conv_shortcut.weight'")
        }
    }

    func testWrongShapeNamesTensorAndBothShapes() throws {
        let base = try SafeTensorsCheckpoint(directory: VAEFixtures.vae)
        let weights = EditedWeights(base: base, reshaped: ["decoder.mid_block.attentions.0.to_k.weight": [64, 32]])
        XCTAssertThrowsError(try VAEDecoder(config: loadConfig(), weights: weights)) { error in
            XCTAssertEqual("\(error)", "VAE weights: tensor 'decoder.mid_block.attentions.0.to_k.weight' has shape [64, 32], the config requires [64, 64]")
        }
    }

    func testConfigThatDisagreesWithTheWeightsFails() throws {
        var config = try loadConfig()
        config.latentChannels = 4
        XCTAssertThrowsError(try VAEDecoder(config: config, weights: SafeTensorsCheckpoint(directory: VAEFixtures.vae))) { error in
            XCTAssertEqual("\(error)", "VAE weights: tensor 'decoder.conv_in.weight' has shape [64, 16, 3, 3], the config requires [64, 4, 3, 3]")
        }
        config = try loadConfig()
        config.usePostQuantConv = true
        XCTAssertThrowsError(try VAEDecoder(config: config, weights: SafeTensorsCheckpoint(directory: VAEFixtures.vae))) { error in
            XCTAssertTrue("\(error)".contains("missing tensor 'post_quant_conv.weight'"), "\(error)")
        }
        config = try loadConfig()
        config.upBlockTypes[2] = "AttnUpDecoderBlock2D"
        XCTAssertThrowsError(try VAEDecoder(config: config, weights: SafeTensorsCheckpoint(directory: VAEFixtures.vae))) { error in
            XCTAssertTrue("\(error)".contains("AttnUpDecoderBlock2D"), "\(error)")
        }
    }

    func testMissingFolderOrConfig() {
        let nowhere = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("no-vae-\(UUID())")
        XCTAssertThrowsError(try VAEDecoder(directory: nowhere)) { error in
            XCTAssertTrue("\(error)".contains("config.json not found"), "\(error)")
        }
    }

    func testPostQuantConvIsAppliedWhenTheConfigSaysSo() throws {
        // post_quant_conv = 2·I (bias 0) must give exactly decode(2·z) of the decoder without it.
        struct WithPostQuant: WeightSource {
            let base: any WeightSource
            let extra: [String: Tensor]
            func contains(_ name: String) -> Bool { extra[name] != nil || base.contains(name) }
            func shape(_ name: String) throws -> [Int] { try extra[name]?.shape ?? base.shape(name) }
            func tensor(_ name: String) throws -> Tensor { try extra[name] ?? base.tensor(name) }
            func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer { try base.linear(prefix, mode: mode) }
        }
        var identity2 = [Float](repeating: 0, count: 16 * 16)
        for i in 0..<16 { identity2[i * 16 + i] = 2 }
        let base = try SafeTensorsCheckpoint(directory: VAEFixtures.vae)
        let weights = WithPostQuant(base: base, extra: [
            "post_quant_conv.weight": Tensor(shape: [16, 16, 1, 1], storage: identity2),
            "post_quant_conv.bias": Tensor(zeros: [16]),
        ])
        var config = try loadConfig()
        config.usePostQuantConv = true
        let withConv = try VAEDecoder(config: config, weights: weights)
        let plain = try VAEDecoder(directory: VAEFixtures.vae)
        var g = TorchGenerator(seed: 8)
        let z = g.randn(shape: [1, 16, 2, 4])
        XCTAssertEqual(try withConv.decode(z).storage, try plain.decode(Tensor(shape: z.shape, storage: z.storage.map { $0 * 2 })).storage)
    }

    func testAttentionInQueryBlocksEqualsOneBlock() throws {
        // The tiny VAE's mid attention on a 7×9 map: one score block vs blocks of 2 query rows (plus a ragged last).
        let source = try SafeTensorsCheckpoint(directory: VAEFixtures.vae)
        let w = CheckedWeights(source: source, sourceName: "tiny-flux/vae")
        let whole = try SpatialSelfAttention(w, "decoder.mid_block.attentions.0", channels: 64, groups: 8)
        let blocked = try SpatialSelfAttention(w, "decoder.mid_block.attentions.0", channels: 64, groups: 8,
                                               scoreBlockElements: 2 * 63)
        var g = TorchGenerator(seed: 5)
        let x = FeatureMap(channels: 64, height: 7, width: 9, data: g.randn(64 * 63))
        let a = whole(x), b = blocked(x)
        XCTAssertEqual(a.data.count, b.data.count)
        for i in 0..<a.data.count { XCTAssertEqual(a.data[i], b.data[i], accuracy: 1e-5) }
    }

    func testConv3x3BothAlgorithmsMatchDirectLoopIncludingFusedUpsampleAndOddSizes() throws {
        // A 3×3 conv on a 5×4 map (2 → 3 channels) vs a direct six-loop reference, with and without the 2× upsample.
        var g = TorchGenerator(seed: 11)
        let weight = g.randn(3 * 2 * 9), bias = g.randn(3)
        let input = g.randn(2 * 5 * 4)
        struct Dict: WeightSource {
            let t: [String: Tensor]
            func contains(_ name: String) -> Bool { t[name] != nil }
            func shape(_ name: String) throws -> [Int] { t[name]!.shape }
            func tensor(_ name: String) throws -> Tensor { t[name]! }
            func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer { fatalError("unused") }
        }
        let source = Dict(t: ["c.weight": Tensor(shape: [3, 2, 3, 3], storage: weight), "c.bias": Tensor(shape: [3], storage: bias)])
        let conv = try Conv2D(CheckedWeights(source: source, sourceName: "test"), "c", inChannels: 2, outChannels: 3, kernel: 3)
        for (up, algorithm) in [(false, Conv2D.Algorithm.direct), (true, .direct), (false, .winograd), (true, .winograd)] {
            let (h, w) = up ? (10, 8) : (5, 4)
            let y = conv(FeatureMap(channels: 2, height: 5, width: 4, data: input), upsample: up, algorithm: algorithm)
            XCTAssertEqual([y.channels, y.height, y.width], [3, h, w])
            for o in 0..<3 {
                for yy in 0..<h {
                    for xx in 0..<w {
                        var acc = Double(bias[o])
                        for c in 0..<2 {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let (sy, sx) = (yy + ky - 1, xx + kx - 1)
                                    guard sy >= 0, sy < h, sx >= 0, sx < w else { continue }
                                    let v = input[c * 20 + (up ? sy / 2 : sy) * 4 + (up ? sx / 2 : sx)]
                                    acc += Double(weight[((o * 2 + c) * 3 + ky) * 3 + kx]) * Double(v)
                                }
                            }
                        }
                        XCTAssertEqual(y.data[(o * h + yy) * w + xx], Float(acc), accuracy: 1e-5, "\(algorithm) upsample \(up)")
                    }
                }
            }
        }
    }
}

final class TorchGeneratorFixtureTests: XCTestCase {
    /// Every tensor of Tests/Fixtures/expected/randn.safetensors, bit for bit.
    func testAllFixtureDrawsAreBitExact() throws {
        let file = try SafeTensorsFile(url: VAEFixtures.expected.appendingPathComponent("randn.safetensors"))
        var checked = 0
        for seed: UInt64 in [0, 1, 42, 12345, 2_147_483_647, 4_294_967_303, 9_223_372_036_854_775_819] {
            for n in [1, 7, 15, 16, 17, 31, 100, 1000] {
                var g = TorchGenerator(seed: seed)
                XCTAssertEqual(g.randn(n).map(\.bitPattern), try file.floats("seed\(seed)_n\(n)").map(\.bitPattern), "seed \(seed) n \(n)")
                checked += 1
            }
            for (h, w) in [(64, 96), (128, 128), (48, 80)] {
                let name = "seed\(seed)_latents_\(h)x\(w)"
                guard file.contains(name) else { continue }
                let expected = try file.tensor(name)
                XCTAssertEqual(expected.shape, [1, 16, 2 * (h / 16), 2 * (w / 16)])
                var g = TorchGenerator(seed: seed)
                let t = g.randn(shape: expected.shape)
                XCTAssertEqual(t.storage.map(\.bitPattern), expected.storage.map(\.bitPattern), name)
                checked += 1
            }
        }
        var g = TorchGenerator(seed: 42)
        XCTAssertEqual(g.randn(7).map(\.bitPattern), try file.floats("seed42_n7_then_n20_first").map(\.bitPattern))
        XCTAssertEqual(g.randn(20).map(\.bitPattern), try file.floats("seed42_n7_then_n20_second").map(\.bitPattern))
        XCTAssertGreaterThanOrEqual(checked, 56 + 7)
    }
}
