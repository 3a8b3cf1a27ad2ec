import CCUDA
import Foundation
import XCTest

/// The norm kernels' CPU side (kernels/cuda/norms.cu, Sources/CCUDA/norms_reference.c, cuda_norms.c): the fused
/// LayerNorm + modulation + quantization gives exactly the W2A8 quantization of its own modulated rows, the bf16
/// conversion rounds as PyTorch does, the launch constants agree, and without a driver the host entry points say
/// so. On a machine with a driver and device, the kernels are compared with the reference bit for bit here too.
/// (FluxModelTests.CUDANormsParityTests compares the reference with the CPU pipeline's norms.)
final class CUDANormsTests: XCTestCase {
    struct Rows { let m: Int; let d: Int; let ldh: Int; let rowsPerBatch: Int }
    let shapes = [Rows(m: 1, d: 96, ldh: 96, rowsPerBatch: 1), Rows(m: 5, d: 96, ldh: 100, rowsPerBatch: 2),
                  Rows(m: 7, d: 3072, ldh: 3072, rowsPerBatch: 3), Rows(m: 6, d: 200, ldh: 203, rowsPerBatch: 6),
                  Rows(m: 3, d: 5120, ldh: 5120, rowsPerBatch: 1), Rows(m: 4, d: 257, ldh: 257, rowsPerBatch: 4)]

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        mutating func uniform() -> Float { Float(next() % 1_000_000) / 500_000 - 1 }
    }

    /// H with rows of different character (plain, offset by 40, ×300, constant, one huge value), and a
    /// modulation laid out as AdaLayerNormZero's [batch, 6·D] (shift at +0, scale at +D).
    func operands(_ r: Rows, seed: UInt64) -> (h: [Float], mod: [Float], groups: Int) {
        var g = Generator(state: seed)
        var h = [Float](repeating: 0, count: r.m * r.ldh)
        for m in 0..<r.m {
            for k in 0..<r.ldh {
                var v = 2 * g.uniform()
                switch m % 5 {
                case 1: v += 40
                case 2: v *= 300
                case 3: v = 0.75
                default: break
                }
                h[m * r.ldh + k] = v
            }
            if m % 5 == 4 { h[m * r.ldh + (m * 7) % r.d] = 1e6 }
        }
        let groups = (r.m - 1) / r.rowsPerBatch + 1
        return (h, (0..<(groups * 6 * r.d)).map { _ in 0.5 * g.uniform() }, groups)
    }

    func reference(_ r: Rows, _ o: (h: [Float], mod: [Float], groups: Int), withY: Bool = true) -> (xq: [Int8], inv: [Float], y: [Float]) {
        let kp = (r.d + 127) / 128 * 128
        var xq = [Int8](repeating: 0x5a, count: r.m * kp), inv = [Float](repeating: .nan, count: r.m)
        var y = [Float](repeating: .nan, count: r.m * r.d)
        o.mod.withUnsafeBufferPointer { mod in
            y.withUnsafeMutableBufferPointer { yp in
                tf_cuda_reference_layernorm_modulate_quantize(o.h, Int64(r.ldh), Int64(r.m), Int64(r.d), mod.baseAddress!,
                                                              mod.baseAddress! + r.d, Int64(6 * r.d), Int64(r.rowsPerBatch),
                                                              Int64(kp), &xq, &inv, withY ? yp.baseAddress : nil, Int64(r.d))
            }
        }
        return (xq, inv, y)
    }

    func testTheFusedQuantizationIsTheW2A8QuantizationOfItsOwnModulatedRows() {
        for (i, r) in shapes.enumerated() {
            let o = operands(r, seed: UInt64(i + 1))
            let fused = reference(r, o)
            XCTAssertTrue(fused.y.allSatisfy { $0.isFinite }, "D=\(r.d): every modulated value written")
            let kp = (r.d + 127) / 128 * 128
            var xq = [Int8](repeating: 0, count: r.m * kp), inv = [Float](repeating: 0, count: r.m)
            tf_cuda_reference_quantize_rows(fused.y, Int64(r.m), Int64(r.d), Int64(kp), &xq, &inv)
            XCTAssertEqual(fused.xq, xq, "M=\(r.m) D=\(r.d): XQ differs from tf_cuda_reference_quantize_rows of the modulated rows")
            XCTAssertEqual(fused.inv.map(\.bitPattern), inv.map(\.bitPattern), "M=\(r.m) D=\(r.d): INV differs")
            // Without Y the same quantization.
            let noY = reference(r, o, withY: false)
            XCTAssertEqual(noY.xq, fused.xq)
            XCTAssertEqual(noY.inv.map(\.bitPattern), fused.inv.map(\.bitPattern))
            // The padding past D is zero, and a row with nothing but shift = 0 would be all zero: here every row has
            // a nonzero absmax, so INV > 0.
            for m in 0..<r.m { XCTAssertTrue((r.d..<kp).allSatisfy { fused.xq[m * kp + $0] == 0 }) }
            XCTAssertTrue(fused.inv.allSatisfy { $0 > 0 })
        }
    }

    /// A constant row has variance 0: LayerNorm gives 0, the modulated row is the shift; with a zero shift the
    /// row quantizes to zeros with INV 0, as tf_w2a8_quantize_rows does for an all-zero row.
    func testAConstantRowWithoutShiftQuantizesToZeroWithZeroInverseScale() {
        let d = 96, kp = 128
        let h = [Float](repeating: 3.25, count: d), shift = [Float](repeating: 0, count: d), scale = [Float](repeating: 0.5, count: d)
        var xq = [Int8](repeating: 1, count: kp), inv: [Float] = [.nan], y = [Float](repeating: .nan, count: d)
        tf_cuda_reference_layernorm_modulate_quantize(h, Int64(d), 1, Int64(d), shift, scale, 0, 1, Int64(kp), &xq, &inv, &y, Int64(d))
        XCTAssertEqual(xq, [Int8](repeating: 0, count: kp))
        XCTAssertEqual(inv, [0])
        XCTAssertEqual(y, [Float](repeating: 0, count: d))
    }

    func testBF16ConversionRoundsToNearestEvenAndCanonicalizesNaN() {
        func bf16(_ bits: UInt32) -> UInt16 { tf_cuda_reference_bf16(Float(bitPattern: bits)) }
        XCTAssertEqual(bf16(0x3F80_0000), 0x3F80)  // 1
        XCTAssertEqual(bf16(0x3F80_7FFF), 0x3F80)  // below half: down
        XCTAssertEqual(bf16(0x3F80_8000), 0x3F80)  // tie, even stays
        XCTAssertEqual(bf16(0x3F81_8000), 0x3F82)  // tie, odd goes up to even
        XCTAssertEqual(bf16(0x3F80_8001), 0x3F81)  // above half: up
        XCTAssertEqual(bf16(0xBF81_8000), 0xBF82)  // the same for negatives
        XCTAssertEqual(bf16(0x8000_0000), 0x8000)  // -0
        XCTAssertEqual(bf16(0x0000_8001), 0x0001)  // subnormal rounds like any other
        XCTAssertEqual(bf16(0x7F80_0000), 0x7F80)  // inf
        XCTAssertEqual(bf16(0x7F7F_FFFF), 0x7F80)  // FLT_MAX rounds to inf
        XCTAssertEqual(bf16(0x7F80_0001), 0x7FC0)  // a NaN whose payload would round to inf
        XCTAssertEqual(bf16(0xFFC0_1234), 0x7FC0)  // any NaN: the canonical one
    }

    /// The host launches the kernels with the block size they were written for, and they are in the fatbin.
    func testTheNormKernelsLaunchConstantsAreTheHostsAndTheyAreEmbedded() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: root.appendingPathComponent("kernels/cuda/norms.cu"), encoding: .utf8)
        func define(_ name: String) -> Int? {
            for line in source.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count >= 3, words[0] == "#define", words[1] == name { return Int(words[2]) }
            }
            return nil
        }
        XCTAssertEqual(define("TF_NORMS_THREADS"), Int(TF_CUDA_NORMS_THREADS))
        XCTAssertEqual(define("TF_NORMS_MAX_HEAD_DIM"), Int(TF_CUDA_NORMS_MAX_HEAD_DIM))
        var size = 0
        let bytes = Data(bytes: tf_cuda_fatbin(&size)!, count: size)
        for name in ["tf_layernorm_modulate_quantize", "tf_qk_rmsnorm_rope"] {
            XCTAssertNotNil(bytes.range(of: Data(name.utf8)), "the fatbin has no \(name): run bash ops/gpu/build-fatbin.sh")
        }
    }

    struct Heads { let batch: Int; let tokens: Int; let heads: Int; let headDim: Int; let textTokens: Int; let pad: Int }

    /// Q, K, V [batch·tokens, stride heads·headDim + pad], four weight vectors, cos/sin tables.
    func headOperands(_ c: Heads, seed: UInt64) -> (q: [Float], k: [Float], v: [Float], w: [Float], cos: [Float], sin: [Float]) {
        var g = Generator(state: seed)
        let n = c.batch * c.tokens * (c.heads * c.headDim + c.pad)
        let angles = (0..<(c.tokens * c.headDim / 2)).map { _ in Double(g.uniform()) * 3 }
        let cos = (0..<(c.tokens * c.headDim)).map { Float(Foundation.cos(angles[$0 / 2])) }
        let sin = (0..<(c.tokens * c.headDim)).map { Float(Foundation.sin(angles[$0 / 2])) }
        return ((0..<n).map { _ in 4 * g.uniform() }, (0..<n).map { _ in 4 * g.uniform() + 0.5 }, (0..<n).map { _ in 8 * g.uniform() },
                (0..<(4 * c.headDim)).map { _ in 1 + 0.25 * g.uniform() }, cos, sin)
    }

    func headReference(_ c: Heads, _ o: (q: [Float], k: [Float], v: [Float], w: [Float], cos: [Float], sin: [Float])) -> [UInt16] {
        let out = c.batch * c.tokens * c.heads * c.headDim, ld = Int64(c.heads * c.headDim + c.pad), hd = c.headDim
        var r = [UInt16](repeating: 0xffff, count: 3 * out)
        o.w.withUnsafeBufferPointer { w in
            r.withUnsafeMutableBufferPointer { p in
                tf_cuda_reference_qk_rmsnorm_rope(o.q, ld, o.k, ld, o.v, ld, Int64(c.batch), Int64(c.tokens), Int64(c.heads), Int64(hd),
                                                  Int64(c.textTokens), w.baseAddress!, w.baseAddress! + hd, w.baseAddress! + 2 * hd,
                                                  w.baseAddress! + 3 * hd, o.cos, o.sin, p.baseAddress!, p.baseAddress! + out,
                                                  p.baseAddress! + 2 * out, nil, nil)
            }
        }
        return r
    }

    /// No driver here: both entry points answer TF_CUDA_ENODRIVER naming libcuda.so.1. With one, the kernels must
    /// give the reference's bits.
    func testWithoutADriverTheNormEntryPointsSaySoAndWithOneTheKernelsMatchTheReference() throws {
        var info = tf_cuda_device_info()
        var message = [CChar](repeating: 0, count: 512)
        let status = tf_cuda_probe(0, &info, &message, message.count)
        let text = String(cString: message)
        if status == TF_CUDA_ENODRIVER {
            XCTAssertTrue(text.contains("libcuda.so.1"), text)
            let d = 96
            let h = [Float](repeating: 1, count: d), mod = [Float](repeating: 0, count: d)
            var xq = [Int8](repeating: 0, count: 128), inv: [Float] = [0], seconds = 0.0
            message = [CChar](repeating: 0, count: 512)
            XCTAssertEqual(tf_cuda_layernorm_modulate_quantize(0, h, Int64(d), 1, Int64(d), mod, mod, 0, 1, &xq, &inv, nil, 0, &seconds,
                                                               &message, message.count), TF_CUDA_ENODRIVER)
            XCTAssertTrue(String(cString: message).contains("libcuda.so.1"), String(cString: message))
            let q = [Float](repeating: 1, count: 32), w = [Float](repeating: 1, count: 32)
            var qo = [UInt16](repeating: 0, count: 32), ko = qo, vo = qo
            message = [CChar](repeating: 0, count: 512)
            XCTAssertEqual(tf_cuda_qk_rmsnorm_rope(0, q, 32, q, 32, q, 32, 1, 1, 1, 32, 0, w, w, nil, nil, w, w, &qo, &ko, &vo, 0, &seconds,
                                                   &message, message.count), TF_CUDA_ENODRIVER)
            XCTAssertTrue(String(cString: message).contains("libcuda.so.1"), String(cString: message))
            return
        }
        try XCTSkipIf(status != TF_CUDA_OK, "a driver without a usable device: \(text)")
        for (i, r) in shapes.enumerated() {
            let o = operands(r, seed: UInt64(50 + i))
            let ref = reference(r, o)
            let kp = (r.d + 127) / 128 * 128
            var xq = [Int8](repeating: 0x5a, count: r.m * kp), inv = [Float](repeating: .nan, count: r.m)
            var y = [Float](repeating: .nan, count: r.m * r.d), seconds = 0.0
            let s = o.mod.withUnsafeBufferPointer { mod in
                tf_cuda_layernorm_modulate_quantize(0, o.h, Int64(r.ldh), Int64(r.m), Int64(r.d), mod.baseAddress!, mod.baseAddress! + r.d,
                                                    Int64(6 * r.d), Int64(r.rowsPerBatch), &xq, &inv, &y, 0, &seconds, &message, message.count)
            }
            XCTAssertEqual(s, TF_CUDA_OK, String(cString: message))
            XCTAssertEqual(xq, ref.xq, "M=\(r.m) D=\(r.d): XQ")
            XCTAssertEqual(inv.map(\.bitPattern), ref.inv.map(\.bitPattern), "M=\(r.m) D=\(r.d): INV")
            XCTAssertEqual(y.map(\.bitPattern), ref.y.map(\.bitPattern), "M=\(r.m) D=\(r.d): Y")
        }
        for (i, c) in [Heads(batch: 1, tokens: 37, heads: 3, headDim: 32, textTokens: 7, pad: 0),
                       Heads(batch: 2, tokens: 45, heads: 24, headDim: 128, textTokens: 13, pad: 8)].enumerated() {
            let o = headOperands(c, seed: UInt64(70 + i))
            let ref = headReference(c, o)
            let out = c.batch * c.tokens * c.heads * c.headDim, ld = Int64(c.heads * c.headDim + c.pad), hd = c.headDim
            var gpu = [UInt16](repeating: 0xffff, count: 3 * out), seconds = 0.0
            let s = o.w.withUnsafeBufferPointer { w in
                gpu.withUnsafeMutableBufferPointer { p in
                    tf_cuda_qk_rmsnorm_rope(0, o.q, ld, o.k, ld, o.v, ld, Int64(c.batch), Int64(c.tokens), Int64(c.heads), Int64(hd),
                                            Int64(c.textTokens), w.baseAddress!, w.baseAddress! + hd, w.baseAddress! + 2 * hd,
                                            w.baseAddress! + 3 * hd, o.cos, o.sin, p.baseAddress!, p.baseAddress! + out,
                                            p.baseAddress! + 2 * out, 0, &seconds, &message, message.count)
                }
            }
            XCTAssertEqual(s, TF_CUDA_OK, String(cString: message))
            XCTAssertEqual(gpu, ref, "batch=\(c.batch) tokens=\(c.tokens) heads=\(c.heads) headDim=\(hd)")
        }
    }
}
