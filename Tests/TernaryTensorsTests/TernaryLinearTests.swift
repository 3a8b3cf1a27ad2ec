import CTernaryKernels
import XCTest
@testable import TernaryTensors

final class TernaryLinearTests: XCTestCase {
    func testAppliesPackedWeightsInBothModesAndFormats() throws {
        let c = GemmCase(m: 6, k: 70, n: 13, seed: 11, withBias: true, zeroRows: [2])
        for format in TernaryFormat.allCases {
            for mode in ActivationMode.allCases {
                let layer = try TernaryLinear(ternary: c.w, scale: c.scale, bias: c.bias, format: format,
                                              inFeatures: c.k, outFeatures: c.n, mode: mode)
                let y = layer(Tensor(shape: [2, 3, c.k], storage: c.x))
                XCTAssertEqual(y.shape, [2, 3, c.n])
                let (ref, mag) = mode == .f32 ? c.referenceF32() : c.referenceInt8()
                for e in 0..<ref.count {
                    XCTAssertEqual(Double(y.storage[e]), ref[e], accuracy: 1e-5 * mag[e] + 1e-30, "\(format) \(mode) element \(e)")
                }
                XCTAssertEqual(layer.weightBytes, c.n * format.rowBytes(inFeatures: c.k))
            }
        }
    }

    func testWrapsPackedBytesWithoutCopying() throws {
        let c = GemmCase(m: 1, k: 10, n: 3, seed: 2, withBias: false)
        let storage = PackedTernaryStorage(byteCount: c.n * TernaryFormat.t3.rowBytes(inFeatures: c.k))
        let packed = c.packed(.t3)
        storage.bytes.copyBytes(from: packed)
        let layer = try TernaryLinear(packed: storage.contents, owner: storage, scale: c.scale, bias: nil,
                                      format: .t3, inFeatures: c.k, outFeatures: c.n, mode: .f32)
        XCTAssertEqual(layer.packed.baseAddress, UnsafeRawPointer(storage.bytes.baseAddress))
        XCTAssertTrue(layer.owner === storage)
    }

    func testRejectsInconsistentArgumentsWithClearErrors() {
        let c = GemmCase(m: 1, k: 10, n: 3, seed: 3, withBias: false)
        let packed = c.packed(.i2) // 3 rows × 32 bytes
        func make(_ bytes: [UInt8], scale: [Float], bias: [Float]? = nil, format: TernaryFormat = .i2,
                  k: Int = 10, n: Int = 3, mode: ActivationMode = .f32) -> String {
            bytes.withUnsafeBytes { raw in
                do {
                    _ = try TernaryLinear(packed: raw, owner: nil, scale: scale, bias: bias, format: format,
                                          inFeatures: k, outFeatures: n, mode: mode)
                    return "accepted"
                } catch {
                    return "\(error)"
                }
            }
        }
        XCTAssertEqual(make(packed, scale: c.scale), "accepted")
        XCTAssertTrue(make(Array(packed.dropLast()), scale: c.scale).contains("has 95 bytes, expected 3 rows × 32 bytes"))
        XCTAssertTrue(make(packed, scale: [1, 2]).contains("weight scale has 2 elements, expected 3"))
        XCTAssertTrue(make(packed, scale: c.scale, bias: [1]).contains("bias has 1 elements, expected 3"))
        XCTAssertTrue(make(packed, scale: c.scale, k: -1).contains("negative dimension"))
        XCTAssertTrue(make([UInt8](repeating: 0, count: 3 * 27_000), scale: c.scale, format: .t3, k: 135_000, mode: .int8)
            .contains("at most 132104 input features"))
        var bad = packed
        bad[32 + 5] = 0xFF // i2 field value 3 in row 1
        XCTAssertTrue(make(bad, scale: c.scale).contains("row 1, byte 5 holds 255"), make(bad, scale: c.scale))
        var badT3 = c.packed(.t3)
        badT3[2 * 2 + 1] = 243 // row 2, byte 1
        XCTAssertTrue(make(badT3, scale: c.scale, format: .t3).contains("row 2, byte 1 holds 243"))
        XCTAssertThrowsError(try TernaryLinear(ternary: [2] + [Int8](repeating: 0, count: 29), scale: c.scale, bias: nil,
                                               format: .i2, inFeatures: 10, outFeatures: 3, mode: .f32)) { error in
            XCTAssertTrue("\(error)".contains("value 2 at row 0, column 0"))
        }
    }

    func testWeightBytesMeetTheDensityTargets() {
        // FLUX shapes: i2 is 1/16 of fp32, t3 1/20 (up to row padding).
        for (k, n) in [(3072, 3072), (3072, 12288), (12288, 3072), (15360, 3072)] {
            let fp32 = 4 * k * n
            XCTAssertLessThanOrEqual(n * TernaryFormat.i2.rowBytes(inFeatures: k) * 15, fp32)
            XCTAssertLessThanOrEqual(n * TernaryFormat.t3.rowBytes(inFeatures: k) * 19, fp32)
        }
    }
}
