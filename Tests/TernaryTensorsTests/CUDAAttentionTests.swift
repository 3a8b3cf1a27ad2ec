import CCUDA
import CTernaryKernels
import Foundation
import XCTest

/// The attention kernel's CPU side: its reference (tf_cuda_reference_attention) is exact softmax attention, the
/// bf16 conversions round as the safetensors ones do, the fatbin holds both kernels with the launch shape the host
/// uses, and without a driver tf_cuda_attention says so. On a machine with an NVIDIA driver and device the kernel is
/// compared with the reference here too (within the device check's tolerance).
final class CUDAAttentionTests: XCTestCase {
    struct Shape { let batch: Int; let heads: Int; let tokens: Int; let headDim: Int }

    /// Random bf16 Q, K, V in [batch * heads, tokens, headDim]: scores of a few units, V with an offset.
    func operands(_ s: Shape, seed: UInt64) -> (q: [UInt16], k: [UInt16], v: [UInt16]) {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        func uniform() -> Float { Float(next() % 1_000_000) / 500_000 - 1 }
        let n = s.batch * s.heads * s.tokens * s.headDim
        let q = (0..<n).map { _ in tf_cuda_bf16_from_float(3 * uniform()) }
        let k = (0..<n).map { _ in tf_cuda_bf16_from_float(3 * uniform()) }
        let v = (0..<n).map { _ in tf_cuda_bf16_from_float(0.25 + uniform()) }
        return (q, k, v)
    }

    /// Softmax attention written out in Swift, in Double: for each (b, h, query) the scores q·k / sqrt(d), their
    /// exponentials (no max subtracted; the scores here are a few units), the weighted mean of V. [b, n, h * d].
    func swiftAttention(_ s: Shape, _ o: (q: [UInt16], k: [UInt16], v: [UInt16])) -> [Double] {
        let d = s.headDim, n = s.tokens
        var out = [Double](repeating: 0, count: s.batch * n * s.heads * d)
        func f(_ x: UInt16) -> Double { Double(Float(bitPattern: UInt32(x) << 16)) }
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let base = (b * s.heads + h) * n * d
                for i in 0..<n {
                    var weights = [Double](repeating: 0, count: n)
                    for j in 0..<n {
                        var dot = 0.0
                        for e in 0..<d { dot += f(o.q[base + i * d + e]) * f(o.k[base + j * d + e]) }
                        weights[j] = exp(dot / Double(d).squareRoot())
                    }
                    let total = weights.reduce(0, +)
                    for e in 0..<d {
                        var acc = 0.0
                        for j in 0..<n { acc += weights[j] * f(o.v[base + j * d + e]) }
                        out[((b * n + i) * s.heads + h) * d + e] = acc / total
                    }
                }
            }
        }
        return out
    }

    func testTheReferenceIsExactSoftmaxAttention() {
        let shapes = [Shape(batch: 1, heads: 1, tokens: 1, headDim: 32), Shape(batch: 2, heads: 3, tokens: 7, headDim: 32),
                      Shape(batch: 1, heads: 2, tokens: 65, headDim: 128), Shape(batch: 2, heads: 1, tokens: 20, headDim: 8)]
        for (i, s) in shapes.enumerated() {
            let o = operands(s, seed: UInt64(i + 1))
            var got = [Float](repeating: .nan, count: s.batch * s.tokens * s.heads * s.headDim)
            XCTAssertEqual(tf_cuda_reference_attention(o.q, o.k, o.v, Int64(s.batch), Int64(s.heads), Int64(s.tokens), Int64(s.headDim), 0,
                                                       Int64(s.tokens), &got), TF_CUDA_OK)
            let want = swiftAttention(s, o)
            // Both compute in Double; the reference rounds once to Float: within an fp32 rounding of the largest value.
            let largest = want.map { abs($0) }.max()!
            let worst = zip(got, want).map { abs(Double($0) - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1.2e-7 * largest, "\(s): max |reference - Swift| = \(worst), max |O| = \(largest)")
            XCTAssertTrue(got.allSatisfy { $0.isFinite }, "\(s): an element is not written")
        }
    }

    /// A row range writes those rows of every (batch, head) and nothing else.
    func testTheReferenceWritesOnlyTheRowsAskedFor() {
        let s = Shape(batch: 2, heads: 3, tokens: 9, headDim: 32)
        let o = operands(s, seed: 42)
        var all = [Float](repeating: .nan, count: 2 * 9 * 3 * 32), part = all
        XCTAssertEqual(tf_cuda_reference_attention(o.q, o.k, o.v, 2, 3, 9, 32, 0, 9, &all), TF_CUDA_OK)
        XCTAssertEqual(tf_cuda_reference_attention(o.q, o.k, o.v, 2, 3, 9, 32, 3, 5, &part), TF_CUDA_OK)
        for b in 0..<2 {
            for r in 0..<9 {
                for c in 0..<(3 * 32) {
                    let at = (b * 9 + r) * 96 + c
                    if (3..<5).contains(r) { XCTAssertEqual(part[at].bitPattern, all[at].bitPattern, "b \(b) row \(r) col \(c)") }
                    else { XCTAssertTrue(part[at].isNaN, "b \(b) row \(r) col \(c) written") }
                }
            }
        }
        XCTAssertEqual(tf_cuda_reference_attention(o.q, o.k, o.v, 2, 3, 9, 32, 5, 10, &part), TF_CUDA_EARG)
        XCTAssertEqual(tf_cuda_reference_attention(o.q, o.k, o.v, 2, 0, 9, 32, 0, 9, &part), TF_CUDA_EARG)
    }

    /// tf_cuda_bf16_from_float rounds as tf_f32_to_bf16 (the safetensors writer) does, ties to even, NaN kept.
    func testTheBF16ConversionsRoundToNearestEven() {
        var values: [Float] = [0, -0, 1, -1, 1.00390625, 1.01171875, 1.0078125, 3.14159265, 65504, 1e-40, -3e38, 3.4e38, .infinity,
                               -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        var state: UInt64 = 7
        for _ in 0..<10_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: state >> 17)))
        }
        var want = [UInt16](repeating: 0, count: values.count)
        tf_f32_to_bf16(values, &want, values.count)
        for (x, w) in zip(values, want) {
            let got = tf_cuda_bf16_from_float(x)
            if x.isNaN { XCTAssertTrue(tf_cuda_bf16_to_float(got).isNaN, "\(x)"); continue }
            XCTAssertEqual(got, w, "bf16(\(x))")
            XCTAssertEqual(tf_cuda_bf16_to_float(got).bitPattern, UInt32(got) << 16)
        }
        XCTAssertEqual(tf_cuda_bf16_from_float(1.00390625), 0x3F80)  // halfway, to the even 1.0
        XCTAssertEqual(tf_cuda_bf16_from_float(1.01171875), 0x3F82)  // halfway, to the even 1.015625
    }

    func testTheFatbinHoldsBothAttentionKernelsWithTheHostsLaunchShape() throws {
        var size = 0
        let fatbin = tf_cuda_fatbin(&size)!
        let bytes = Data(bytes: fatbin, count: size)
        for name in ["tf_flash_attention_bf16_d32", "tf_flash_attention_bf16_d128"] {
            XCTAssertNotNil(bytes.range(of: Data(name.utf8)), "the fatbin has no \(name)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let layout = try String(contentsOf: root.appendingPathComponent("kernels/cuda/attention_layout.cuh"), encoding: .utf8)
        func define(_ name: String) -> Int? {
            for line in layout.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count >= 3, words[0] == "#define", words[1] == name { return Int(words[2]) }
            }
            return nil
        }
        XCTAssertEqual(define("TF_ATTN_BR"), Int(TF_CUDA_ATTENTION_BR))
        XCTAssertEqual(define("TF_ATTN_THREADS"), Int(TF_CUDA_ATTENTION_THREADS))
    }

    /// No driver here: tf_cuda_attention and its benchmark answer TF_CUDA_ENODRIVER naming libcuda.so.1. With one,
    /// the kernel must be within the device check's tolerance of the reference.
    func testWithoutADriverAttentionSaysSoAndWithOneItMatchesTheReference() throws {
        var info = tf_cuda_device_info()
        var message = [CChar](repeating: 0, count: 512)
        let status = tf_cuda_probe(0, &info, &message, message.count)
        let s = Shape(batch: 2, heads: 3, tokens: 70, headDim: 32)
        let o = operands(s, seed: 9)
        var out = [Float](repeating: .nan, count: 2 * 70 * 3 * 32)
        if status == TF_CUDA_ENODRIVER {
            message = [CChar](repeating: 0, count: 512)
            XCTAssertEqual(tf_cuda_attention(0, o.q, o.k, o.v, 2, 3, 70, 32, &out, &message, message.count), TF_CUDA_ENODRIVER)
            XCTAssertTrue(String(cString: message).contains("libcuda.so.1"), String(cString: message))
            message = [CChar](repeating: 0, count: 512)
            var seconds = 0.0
            XCTAssertEqual(tf_cuda_attention_benchmark(0, o.q, o.k, o.v, 2, 3, 70, 32, 5, &seconds, &message, message.count), TF_CUDA_ENODRIVER)
            XCTAssertTrue(String(cString: message).contains("libcuda.so.1"), String(cString: message))
            XCTAssertTrue(out.allSatisfy { $0.isNaN }, "O written without a driver")
            return
        }
        try XCTSkipIf(status != TF_CUDA_OK, "a driver without a usable device: \(String(cString: message))")
        XCTAssertEqual(tf_cuda_attention(0, o.q, o.k, o.v, 2, 3, 70, 48, &out, &message, message.count), TF_CUDA_EARG)
        for headDim in [32, 128] {
            let shape = Shape(batch: 2, heads: 3, tokens: 70, headDim: headDim)
            let x = operands(shape, seed: UInt64(headDim))
            var gpu = [Float](repeating: .nan, count: 2 * 70 * 3 * headDim), ref = gpu
            XCTAssertEqual(tf_cuda_attention(0, x.q, x.k, x.v, 2, 3, 70, Int64(headDim), &gpu, &message, message.count), TF_CUDA_OK,
                           String(cString: message))
            XCTAssertEqual(tf_cuda_reference_attention(x.q, x.k, x.v, 2, 3, 70, Int64(headDim), 0, 70, &ref), TF_CUDA_OK)
            let largest = ref.map { abs($0) }.max()!
            let worst = zip(gpu, ref).map { $0.isFinite ? abs($0 - $1) : .infinity }.max()!
            XCTAssertLessThanOrEqual(worst, 5e-3 * largest, "head dim \(headDim): max |gpu - reference| = \(worst), max |O| = \(largest)")
        }
    }
}
