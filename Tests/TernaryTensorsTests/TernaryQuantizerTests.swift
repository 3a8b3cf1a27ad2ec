import CTernaryKernels
import Foundation
import XCTest
@testable import TernaryTensors

/// Package root + Tests/Fixtures.
let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

final class TernaryQuantizerTests: XCTestCase {
    func testHandComputedValues() throws {
        // Row 0: mean |w| = 1 → γ = 1; 0.5 and -0.5 are ties → 0 (even); 1.5 → 2 → clamp 1; 0.5000001 → 1.
        // Row 1: all zero → γ = 1e-5 and W_q = 0.  Row 2: γ = mean(|[2, -4, 0, 2, 0, 0, 0, 0]|) = 1.
        // Row 3: γ = 2/8 = 0.25; w/γ = [0.4, -0.6, 2, 2, 1, 1, 1, 0].
        let w: [Float] = [
            0.5, -0.5, 1.5, -1.5, 1.0, -1.0, 0.25, 1.75,
            0, 0, 0, 0, 0, 0, 0, 0,
            2, -4, 0, 2, 0, 0, 0, 0,
            0.1, -0.15, 0.5, 0.5, 0.25, 0.25, 0.25, 0.0,
        ]
        let q = try TernaryQuantizer.absmean(w, outFeatures: 4, inFeatures: 8)
        XCTAssertEqual(q.scale, [1, 1e-5, 1, 0.25])
        XCTAssertEqual(Array(q.values[0..<8]), [0, 0, 1, -1, 1, -1, 0, 1])
        XCTAssertEqual(Array(q.values[8..<16]), [0, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(q.values[16..<24]), [1, -1, 0, 1, 0, 0, 0, 0])
                XCTAssertEqual(Array(q.values[24..<32]), [0, -1, 1, 1, 1, 1, 1, 0])
        XCTAssertEqual(q.dequantized()[16..<19], [1, -1, 0])
        XCTAssertEqual(q.dequantized()[8], 0)

        // A value one ulp above the tie rounds away from zero (sum |w| = 4 in fp32, so γ = 1).
        let a = Float(0.5).nextUp
        let justAbove = try TernaryQuantizer.absmean([a, -a, 1.5, 2.5 - 2 * a], outFeatures: 1, inFeatures: 4)
        XCTAssertEqual(justAbove.scale, [1])
        XCTAssertEqual(justAbove.values, [1, -1, 1, 1])
    }

    func testNonFiniteAndShapeErrors() {
        XCTAssertThrowsError(try TernaryQuantizer.absmean([1, .nan, 2, 3], outFeatures: 2, inFeatures: 2, name: "blk.w")) { error in
            XCTAssertEqual(error as? TernaryError, .nonFinite("blk.w: row 0 contains inf or NaN, cannot quantize"))
        }
        XCTAssertThrowsError(try TernaryQuantizer.absmean([1, 2, 3, .infinity], outFeatures: 2, inFeatures: 2))
        XCTAssertThrowsError(try TernaryQuantizer.absmean([1, 2, 3], outFeatures: 2, inFeatures: 2))
        XCTAssertEqual(try TernaryQuantizer.absmean([], outFeatures: 3, inFeatures: 0).scale, [1e-5, 1e-5, 1e-5])
    }

    /// The fixtures engineer's hand-picked torch cases.
    func testMatchesTorchSmallCases() throws {
        let file = try SafeTensorsFile(url: fixturesDirectory.appendingPathComponent("expected/absmean_quantize.safetensors"))
        for c in ["random", "ties_zero_outlier", "tiny_values"] {
            let shape = try file.info("\(c).weight").shape
            let q = try TernaryQuantizer.absmean(try file.floats("\(c).weight"), outFeatures: shape[0], inFeatures: shape[1])
            XCTAssertEqual(q.scale, try file.floats("\(c).gamma"), c)
            XCTAssertEqual(q.values.map(Int.init), try file.integers("\(c).wq"), c)
            XCTAssertEqual(q.dequantized(), try file.floats("\(c).dequantized"), c)
        }
    }

    /// FLUX-width rows from ops/fixtures/quantizer_fixture.py (K = 3072 and 12288, heavy tails, values one
    /// ulp from the 0.5 boundary, short and ragged rows K = 1…4103): γ and W_q bit-identical to torch (quantize.c follows torch's summation order).
    func testMatchesTorchAtFluxWidths() throws {
        let file = try SafeTensorsFile(url: fixturesDirectory.appendingPathComponent("quantizer/absmean.safetensors"))
        let cases = file.tensorNames.filter { $0.hasSuffix(".weight") }.map { String($0.dropLast(7)) }
        XCTAssertEqual(cases.count, 20)
        for c in cases {
            let shape = try file.info("\(c).weight").shape
            let q = try TernaryQuantizer.absmean(try file.floats("\(c).weight"), outFeatures: shape[0], inFeatures: shape[1])
            XCTAssertEqual(q.scale, try file.floats("\(c).gamma"), c)
            XCTAssertEqual(q.values.map(Int.init), try file.integers("\(c).wq"), c)
        }
    }

    func testPackUnpackRoundTripsThroughSwiftAPI() throws {
        var rng = SplitMix64(seed: 99)
        for format in TernaryFormat.allCases {
            for (n, k) in [(1, 1), (3, 5), (2, 127), (4, 128), (5, 129), (2, 640), (3, 3077), (0, 7), (2, 0)] {
                let q = (0..<(n * k)).map { _ in Int8(rng.below(3)) - 1 }
                let packed = try TernaryPacking.pack(q, outFeatures: n, inFeatures: k, format: format)
                XCTAssertEqual(packed.count, n * format.rowBytes(inFeatures: k))
                XCTAssertEqual(try TernaryPacking.unpack(packed, outFeatures: n, inFeatures: k, format: format), q, "\(format) \(n)x\(k)")
            }
            XCTAssertThrowsError(try TernaryPacking.pack([2], outFeatures: 1, inFeatures: 1, format: format))
            XCTAssertThrowsError(try TernaryPacking.unpack([0, 0], outFeatures: 1, inFeatures: 1, format: format))
        }
        // Invalid codes: i2 code 3, t3 byte > 242.
        XCTAssertThrowsError(try TernaryPacking.unpack([UInt8](repeating: 0xff, count: 32), outFeatures: 1, inFeatures: 4, format: .i2))
        XCTAssertThrowsError(try TernaryPacking.unpack([243], outFeatures: 1, inFeatures: 5, format: .t3))
        // Byte-exact layouts (docs/formats.md): t3 byte = Σ (w_i + 1)·3^i; i2 byte j holds k = j + 32·s at bits 2s.
        XCTAssertEqual(try TernaryPacking.pack([1, -1, 0, 1, -1], outFeatures: 1, inFeatures: 5, format: .t3), [2 + 0 + 9 + 54 + 0])
        var q = [Int8](repeating: 0, count: 130)
        q[0] = 1; q[32] = -1; q[97] = 1; q[129] = -1
        let i2 = try TernaryPacking.pack(q, outFeatures: 1, inFeatures: 130, format: .i2)
        XCTAssertEqual(i2.count, 64)
        XCTAssertEqual(i2[0], 0b01_01_00_10)   // k=0 → +1 (code 2) in bits 0-1, k=32 → -1 (code 0) in bits 2-3
        XCTAssertEqual(i2[1], 0b10_01_01_01)   // k=97 = 1 + 32·3 → +1 in bits 6-7
        XCTAssertEqual(i2[33], 0b01_01_01_00)  // block 1: k=129 → j=1, s=0 → -1
    }

    /// Every format's table entry (ternary_format_traits.h), row by row: the lookup knows exactly the Swift formats
    /// under their checkpoint names, the packing API's bytes are the entry's rows, pack → unpack round-trips, and
    /// an invalid byte is reported at its row and offset (the first one when there are several).
    func testEveryFormatsTraitsPackUnpackAndValidateRows() throws {
        XCTAssertNil(tf_format_traits_of(tf_format(rawValue: UInt32(TernaryFormat.allCases.count))))
        var rng = SplitMix64(seed: 17)
        for format in TernaryFormat.allCases {
            let entry = try XCTUnwrap(tf_format_traits_of(format.cFormat))
            let t = entry.pointee
            XCTAssertEqual(String(cString: t.name), format.rawValue)
            let pack = try XCTUnwrap(t.pack_row), unpack = try XCTUnwrap(t.unpack_row)
            let validate = try XCTUnwrap(t.validate_row)
            XCTAssertNotNil(t.decode_codes)
            for (n, k) in [(1, 1), (2, 4), (3, 5), (2, 127), (4, 128), (3, 129), (2, 641), (3, 3077)] {
                let label = "\(format) \(n)x\(k)"
                let rb = Int(tf_format_row_bytes(entry, Int64(k)))
                XCTAssertEqual(rb, format.rowBytes(inFeatures: k), label)
                XCTAssertEqual(rb, (k + Int(t.block_weights) - 1) / Int(t.block_weights) * t.block_bytes, label)
                let q = (0..<(n * k)).map { _ in rng.trit() }
                let packed = try TernaryPacking.pack(q, outFeatures: n, inFeatures: k, format: format)
                for r in 0..<n {
                    let qr = Array(q[(r * k)..<((r + 1) * k)])
                    var row = [UInt8](repeating: 0xAA, count: rb)
                    XCTAssertEqual(pack(qr, Int64(k), &row), 0, label)
                    XCTAssertEqual(row, Array(packed[(r * rb)..<((r + 1) * rb)]), label)
                    var back = [Int8](repeating: 9, count: k)
                    XCTAssertEqual(unpack(row, Int64(k), &back), 0, label)
                    XCTAssertEqual(back, qr, label)
                    XCTAssertEqual(validate(row, Int64(k)), -1, label)
                }
                XCTAssertEqual(tf_validate_packed(format.cFormat, packed, Int64(n), Int64(k), nil), -1, label)
                // One invalid byte in the last row (i2: a 2-bit field equal to 3; t3: a byte above 242).
                var bad = packed
                let r = n - 1, j = rng.below(rb)
                bad[r * rb + j] = format == .i2 ? packed[r * rb + j] | 0x0C : 243 + UInt8(rng.below(13))
                var at: Int64 = -7
                XCTAssertEqual(tf_validate_packed(format.cFormat, bad, Int64(n), Int64(k), &at), Int64(r), label)
                XCTAssertEqual(at, Int64(j), label)
                let lastRow = Array(bad[(r * rb)...])
                XCTAssertEqual(validate(lastRow, Int64(k)), Int64(j), label)
                // Unpacking refuses it where it holds a weight (i2 byte 0's field 1 is k = 32).
                var back = [Int8](repeating: 0, count: k)
                if j == 0 && (format == .t3 || k > 32) { XCTAssertEqual(unpack(lastRow, Int64(k), &back), -1, label) }
                // A second invalid byte before it is the one reported.
                if j > 0 {
                    bad[r * rb] = 0xFF
                    XCTAssertEqual(tf_validate_packed(format.cFormat, bad, Int64(n), Int64(k), &at), Int64(r), label)
                    XCTAssertEqual(at, 0, label)
                }
            }
            var out = [UInt8](repeating: 0, count: 64)
            XCTAssertEqual(pack([0, 2, 0], 3, &out), -1, "\(format)")
            XCTAssertEqual(pack([-2], 1, &out), -1, "\(format)")
        }
        // The public wrappers refuse an unknown format.
        let unknown = tf_format(rawValue: 9)
        var out = [UInt8](repeating: 0, count: 64), q = [Int8](repeating: 0, count: 4)
        var at: Int64 = -7
        XCTAssertEqual(tf_packed_row_bytes(unknown, 4), 0)
        XCTAssertEqual(tf_pack(unknown, q, 1, 4, &out), -1)
        XCTAssertEqual(tf_unpack(unknown, out, 1, 4, &q), -1)
        XCTAssertEqual(tf_validate_packed(unknown, out, 1, 4, &at), 0)
        XCTAssertEqual(at, 0)
    }
}
