import CCUDA
import Foundation
import XCTest
@testable import FluxModel

/// The reference of the GPU norm kernels (Sources/CCUDA/norms_reference.c, bit for bit what kernels/cuda/norms.cu
/// computes) against the CPU pipeline's own norms (RowOps.layerNormModulate, RowOps.rmsNormHeads with
/// FluxRotaryTable), which accumulate their statistics in double where the kernels use fp32 trees: they agree to
/// a few fp32 ulps, within the stated tolerance, not bit for bit.
final class CUDANormsParityTests: XCTestCase {
    /// The tolerance of both comparisons, relative to the magnitude of the terms an output is made of.
    let relative: Float = 1e-5

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        mutating func uniform() -> Float { Float(next() % 1_000_000) / 500_000 - 1 }
    }

    /// LayerNorm + modulation of [batch, n, D] rows as FluxDoubleBlock / FluxSingleBlock apply it (one modulation per
    /// batch item from an AdaLayerNorm output [batch, 6·D]); rows centred at 0 and at 40, narrow and wide. The
    /// reference's fp32 rows agree with the pipeline's element by element within
    ///     1e-5 · (|LayerNorm(x)·(1 + scale)| + |shift|)  +  4 ulp(mean) · rstd · |1 + scale|:
    /// relative to the output's terms, plus four ulps of the fp32 mean carried through the normalisation (both sides
    /// subtract an fp32 mean, the pipeline's the double mean rounded, the kernel's an fp32 tree's: on a row centred at
    /// 40 one ulp of it is ~4e-6 of a value of order 1, which no relative bound on a small output can absorb). Its
    /// int8 quantization is within one step of the quantization of the pipeline's rows, INV within 1e-5.
    func testLayerNormModulationMatchesTheCPUPipeline() {
        for (i, (batch, n, d)) in [(1, 17, 96), (2, 9, 3072), (1, 4, 200), (3, 5, 257)].enumerated() {
            var g = Generator(state: UInt64(11 + i))
            let rows = batch * n, kp = (d + 127) / 128 * 128
            var h = [Float](repeating: 0, count: rows * d)
            for r in 0..<rows {
                let offset: Float = r % 3 == 1 ? 40 : 0, width: Float = r % 3 == 2 ? 300 : 2
                for k in 0..<d { h[r * d + k] = width * g.uniform() + offset }
            }
            let mod = (0..<(batch * 6 * d)).map { _ in 0.5 * g.uniform() }
            // The pipeline: RowOps.layerNormModulate per batch item, shift at +0 and scale at +D (shift_msa, scale_msa).
            var cpu = [Float](repeating: .nan, count: rows * d)
            h.withUnsafeBufferPointer { hp in
                cpu.withUnsafeMutableBufferPointer { cp in
                    mod.withUnsafeBufferPointer { mp in
                        for b in 0..<batch {
                            let m = mp.baseAddress! + b * 6 * d
                            RowOps.layerNormModulate(hp.baseAddress! + b * n * d, cp.baseAddress! + b * n * d, rows: n, dim: d,
                                                     scale: m + d, shift: m)
                        }
                    }
                }
            }
            var xq = [Int8](repeating: 0, count: rows * kp), inv = [Float](repeating: .nan, count: rows)
            var y = [Float](repeating: .nan, count: rows * d)
            mod.withUnsafeBufferPointer { mp in
                tf_cuda_reference_layernorm_modulate_quantize(h, Int64(d), Int64(rows), Int64(d), mp.baseAddress!, mp.baseAddress! + d,
                                                              Int64(6 * d), Int64(n), Int64(kp), &xq, &inv, &y, Int64(d))
            }
            var worst: Float = 0
            for r in 0..<rows {
                // The statistics in double, to size each element's terms.
                let x = h[(r * d)..<((r + 1) * d)].map(Double.init)
                let mean = x.reduce(0, +) / Double(d)
                let rstd = 1 / (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d) + 1e-6).squareRoot()
                let m = (r / n) * 6 * d
                let meanUlp = Double(Float(mean).ulp)
                for k in 0..<d {
                    let gain = rstd * abs(1 + Double(mod[m + d + k]))
                    let terms = abs(x[k] - mean) * gain + Double(abs(mod[m + k]))
                    let e = (Double(abs(y[r * d + k] - cpu[r * d + k])) - 4 * meanUlp * gain) / terms
                    worst = max(worst, Float(e))
                    XCTAssertLessThanOrEqual(Float(e), relative, "batch=\(batch) n=\(n) D=\(d) row \(r) k \(k): \(y[r * d + k]) vs \(cpu[r * d + k])")
                }
            }
            var cq = [Int8](repeating: 0, count: rows * kp), cinv = [Float](repeating: 0, count: rows)
            tf_cuda_reference_quantize_rows(cpu, Int64(rows), Int64(d), Int64(kp), &cq, &cinv)
            XCTAssertTrue(zip(xq, cq).allSatisfy { abs(Int($0) - Int($1)) <= 1 }, "D=\(d): XQ more than one step from the pipeline's")
            for r in 0..<rows { XCTAssertEqual(inv[r], cinv[r], accuracy: relative * cinv[r], "D=\(d) row \(r): INV") }
            print("layerNormModulate D=\(d): worst (error - 4 ulp(mean) gain) / terms \(worst); XQ equal on \(zip(xq, cq).filter { $0 == $1 }.count) of \(xq.count)")
        }
    }

    /// q/k RMSNorm + RoPE as FluxDoubleBlock applies them (text rows with norm_added_q/k, image rows with norm_q/k,
    /// positions of the joint [text, image] sequence, a FluxRotaryTable from FLUX's ids) and as FluxSingleBlock does
    /// (text_tokens 0), at the shipped model's heads (3 × 32, axes 8, 12, 12) and FLUX.1's (24 × 128, axes 16, 56,
    /// 56): the reference's values before bf16 within 1e-5 of the pipeline's relative to the pair's norm; its bf16
    /// Q and K the round-to-nearest-even of those values; V the bf16 of the input; all in [batch·heads, tokens,
    /// headDim].
    func testRMSNormAndRotaryEmbeddingMatchTheCPUPipeline() {
        struct Case { let batch: Int; let text: Int; let image: Int; let heads: Int; let headDim: Int; let axes: [Int]; let double: Bool }
        let cases = [Case(batch: 1, text: 7, image: 16, heads: 3, headDim: 32, axes: [8, 12, 12], double: true),
                     Case(batch: 2, text: 5, image: 12, heads: 3, headDim: 32, axes: [8, 12, 12], double: false),
                     Case(batch: 2, text: 4, image: 9, heads: 24, headDim: 128, axes: [16, 56, 56], double: true)]
        for (ci, c) in cases.enumerated() {
            var g = Generator(state: UInt64(31 + ci))
            let n = c.text + c.image, d = c.heads * c.headDim, rows = c.batch * n, hd = c.headDim
            // FLUX's ids: text (0, 0, 0), image (0, row, column) on a grid 4 wide.
            var ids = [Float](repeating: 0, count: n * 3)
            for i in 0..<c.image { ids[(c.text + i) * 3 + 1] = Float(i / 4); ids[(c.text + i) * 3 + 2] = Float(i % 4) }
            let rope = FluxRotaryTable(ids: ids, axesDims: c.axes)
            XCTAssertEqual(rope.headDim, hd)
            let q = (0..<(rows * d)).map { _ in 4 * g.uniform() }, k = (0..<(rows * d)).map { _ in 4 * g.uniform() + 0.5 }
            let v = (0..<(rows * d)).map { _ in 8 * g.uniform() }
            let w = (0..<4).map { _ in (0..<hd).map { _ in 1 + 0.25 * g.uniform() } }  // norm_q, norm_k, norm_added_q, norm_added_k
            let textTokens = c.double ? c.text : 0
            // The pipeline, in place on copies, as the blocks call it.
            var cq = q, ck = k
            cq.withUnsafeMutableBufferPointer { qp in
                ck.withUnsafeMutableBufferPointer { kp in
                    for b in 0..<c.batch {
                        let Q = qp.baseAddress! + b * n * d, K = kp.baseAddress! + b * n * d
                        if c.double {
                            RowOps.rmsNormHeads(Q + c.text * d, rows: c.image, rowStride: d, heads: c.heads, headDim: hd, weight: w[0],
                                                rope: rope, firstPosition: c.text)
                            RowOps.rmsNormHeads(K + c.text * d, rows: c.image, rowStride: d, heads: c.heads, headDim: hd, weight: w[1],
                                                rope: rope, firstPosition: c.text)
                            RowOps.rmsNormHeads(Q, rows: c.text, rowStride: d, heads: c.heads, headDim: hd, weight: w[2], rope: rope)
                            RowOps.rmsNormHeads(K, rows: c.text, rowStride: d, heads: c.heads, headDim: hd, weight: w[3], rope: rope)
                        } else {
                            RowOps.rmsNormHeads(Q, rows: n, rowStride: d, heads: c.heads, headDim: hd, weight: w[0], rope: rope)
                            RowOps.rmsNormHeads(K, rows: n, rowStride: d, heads: c.heads, headDim: hd, weight: w[1], rope: rope)
                        }
                    }
                }
            }
            // The reference: one call for the whole batch.
            let out = rows * d
            var o = [UInt16](repeating: 0xffff, count: 3 * out), qf = [Float](repeating: .nan, count: out), kf = qf
            let weights = w.flatMap { $0 }
            weights.withUnsafeBufferPointer { wp in
                o.withUnsafeMutableBufferPointer { op in
                    let p = wp.baseAddress!
                    tf_cuda_reference_qk_rmsnorm_rope(q, Int64(d), k, Int64(d), v, Int64(d), Int64(c.batch), Int64(n), Int64(c.heads), Int64(hd),
                                                      Int64(textTokens), p, p + hd, c.double ? p + 2 * hd : nil, c.double ? p + 3 * hd : nil,
                                                      rope.cos, rope.sin, op.baseAddress!, op.baseAddress! + out, op.baseAddress! + 2 * out,
                                                      &qf, &kf)
                }
            }
            var worst: Float = 0
            for b in 0..<c.batch {
                for t in 0..<n {
                    for h in 0..<c.heads {
                        let src = (b * n + t) * d + h * hd, dst = ((b * c.heads + h) * n + t) * hd
                        for (name, cpu, ref, bf) in [("q", cq, qf, 0), ("k", ck, kf, out)] {
                            for i in stride(from: 0, to: hd, by: 2) {
                                let pair = (cpu[src + i] * cpu[src + i] + cpu[src + i + 1] * cpu[src + i + 1]).squareRoot()
                                for j in i...(i + 1) {
                                    let e = abs(ref[dst + j] - cpu[src + j]) / pair
                                    worst = max(worst, e)
                                    XCTAssertLessThanOrEqual(e, relative, "\(name) b=\(b) token \(t) head \(h) channel \(j)")
                                    XCTAssertEqual(o[bf + dst + j], tf_cuda_reference_bf16(ref[dst + j]))
                                }
                            }
                        }
                        for i in 0..<hd { XCTAssertEqual(o[2 * out + dst + i], bf16(v[src + i]), "v b=\(b) token \(t) head \(h)") }
                    }
                }
            }
            print("rmsNormHeads+rope \(c.heads)x\(hd) double=\(c.double): worst relative error \(worst)")
        }
    }

    /// bf16 round to nearest even, written here from its definition (the reference's must agree).
    func bf16(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if f.isNaN { return 0x7FC0 }
        let lower = u & 0xFFFF, upper = UInt16(u >> 16)
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { return upper &+ 1 }
        return upper
    }
}
