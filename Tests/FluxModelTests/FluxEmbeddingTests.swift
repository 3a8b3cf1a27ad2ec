import XCTest
import TernaryTensors
@testable import FluxModel

/// Reference values printed by diffusers 0.42 (get_timestep_embedding, FluxPosEmbed, apply_rotary_emb) on CPU fp32.
final class FluxEmbeddingTests: XCTestCase {
    func testTimestepEmbeddingMatchesDiffusers() {
        let e = FluxTimestepEmbedding.sinusoidal([750, 3500])
        XCTAssertEqual(e.shape, [2, 256])
        let idx = [0, 1, 5, 127, 128, 129, 200, 255]
        let ref0: [Float] = [-0.6669830083847046, 0.8797562718391418, -0.29336801171302795, 0.9967539310455322,
                             0.7450729608535767, 0.47542497515678406, -0.8800496459007263, 0.08050834387540817]
        let ref1: [Float] = [0.9648869037628174, -0.6753298044204712, -0.1803140640258789, 0.9300995469093323,
                             0.262665718793869, 0.7375158667564392, 0.7395408749580383, 0.3673076331615448]
        for (k, i) in idx.enumerated() {
            XCTAssertEqual(e.storage[i], ref0[k], accuracy: 2e-6, "t=750 channel \(i)")
            XCTAssertEqual(e.storage[256 + i], ref1[k], accuracy: 2e-6, "t=3500 channel \(i)")
        }
    }

    func testRotaryTableMatchesFluxPosEmbed() {
        let ids: [Float] = [0, 0, 0, 0, 2, 3, 0, 5, 1]
        let table = FluxRotaryTable(ids: ids, axesDims: [4, 6, 6])
        XCTAssertEqual(table.headDim, 16)
        let cos1: [Float] = [1.0, 1.0, 1.0, 1.0, -0.416146844625473, -0.416146844625473, 0.9956942200660706,
                             0.9956942200660706, 0.999990701675415, 0.999990701675415, -0.9899924993515015,
                             -0.9899924993515015, 0.9903206825256348, 0.9903206825256348, 0.9999791383743286,
                             0.9999791383743286]
        let sin2: [Float] = [0.0, 0.0, 0.0, 0.0, -0.9589242935180664, -0.9589242935180664, 0.23000171780586243,
                             0.23000171780586243, 0.01077196467667818, 0.01077196467667818, 0.8414709568023682,
                             0.8414709568023682, 0.04639922454953194, 0.04639922454953194, 0.002154432935640216,
                             0.002154432935640216]
        for i in 0..<16 {
            XCTAssertEqual(table.cos[16 + i], cos1[i], accuracy: 1e-7, "cos position 1 channel \(i)")
            XCTAssertEqual(table.sin[32 + i], sin2[i], accuracy: 1e-7, "sin position 2 channel \(i)")
        }
        // Rotation of the second head of position 1 (adjacent pairs).
        var x: [Float] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          -0.6730899214744568, 0.8728312253952026, 1.0553574562072754, 0.17784371972084045,
                          -0.23033547401428223, -0.3917543888092041, 0.5432947278022766, -0.3951575458049774,
                          -0.4462171792984009, 0.7440207004547119, 1.5209795236587524, 3.4105026721954346,
                          -1.5311843156814575, -1.2341350317001343, 1.8197252750396729, -0.5515286922454834]
        let expected: [Float] = [-0.6730899214744568, 0.8728312253952026, 1.0553574562072754, 0.17784371972084045,
                                 0.45207464694976807, -0.04641610383987427, 0.5775859355926514, -0.3430934548377991,
                                 -0.44941890239715576, 0.7420911192893982, -1.9870483875274658, -3.161731481552124,
                                 -1.3450678586959839, -1.434714913368225, 1.8232520818710327, -0.5397558212280273]
        x.withUnsafeMutableBufferPointer { p in
            table.apply(p.baseAddress!, rows: 1, rowStride: 32, heads: 2, firstPosition: 1)
        }
        for i in 0..<16 { XCTAssertEqual(x[16 + i], expected[i], accuracy: 2e-6, "rotated channel \(i)") }
    }

    func testPackUnpackRoundTripAndFeatureOrder() {
        // [1, 2, 4, 6] latents with distinct values.
        let latents = Tensor(shape: [1, 2, 4, 6], storage: (0..<48).map(Float.init))
        let packed = LatentPacking.pack(latents)
        XCTAssertEqual(packed.shape, [1, 6, 8])
        // Token (y=1, x=2), channel 1, dy=1, dx=0 → latent [0, 1, 3, 4].
        let token = 1 * 3 + 2
        XCTAssertEqual(packed.storage[token * 8 + 1 * 4 + 1 * 2 + 0], latents.storage[(1 * 4 + 3) * 6 + 4])
        XCTAssertEqual(LatentPacking.unpack(packed, latentHeight: 4, latentWidth: 6), latents)
        let ids = LatentPacking.imageIDs(latentHeight: 4, latentWidth: 6)
        XCTAssertEqual(ids.shape, [6, 3])
        XCTAssertEqual(Array(ids.storage[15..<18]), [0, 1, 2])
        XCTAssertEqual(LatentPacking.latentSize(imageSize: 80, vaeScaleFactor: 8), 10)
    }
}
