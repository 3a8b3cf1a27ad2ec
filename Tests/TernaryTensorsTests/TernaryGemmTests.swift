import CTernaryKernels
import XCTest
@testable import TernaryTensors
/// One random GEMM problem: X [m, k], ternary W [n, k], scale [n], optional bias [n].
struct GemmCase {
    let m: Int, k: Int, n: Int
    var x: [Float]
    var w: [Int8]
    var scale: [Float]
    var bias: [Float]?

    /// `rowsFrom`: build X from this one row of k values, row r rotated left by r (cheap for large m in a debug build).
    init(m: Int, k: Int, n: Int, seed: UInt64, withBias: Bool, zeroRows: [Int] = [], zeroScales: Bool = false,
         rowsFrom row: [Float]? = nil) {
        var rng = SplitMix64(seed: seed)
        self.m = m; self.k = k; self.n = n
        if let row {
            precondition(row.count == k)
            x = []
            x.reserveCapacity(m * k)
            for r in 0..<m { x += row[(r % k)...]; x += row[..<(r % k)] }
        } else {
            x = (0..<(m * k)).map { _ in rng.signed() * 3 }
        }
        for r in zeroRows where r < m { for c in 0..<k { x[r * k + c] = 0 } }
        w = (0..<(n * k)).map { _ in rng.trit() }
        scale = (0..<n).map { j in zeroScales || j % 7 == 3 ? 0 : 0.01 + rng.unit() }
        bias = withBias ? (0..<n).map { _ in rng.signed() } : nil
    }

    /// The first `rows` rows of another case (same weights, scales and bias).
    init(copying other: GemmCase, rows: Int) {
        m = rows; k = other.k; n = other.n
        x = Array(other.x[0..<(rows * other.k)])
        w = other.w; scale = other.scale; bias = other.bias
    }

    /// fp64 reference of y = γ Σ x·w + b, plus Σ|x·w|·γ per element (the scale of the rounding error).
    func referenceF32() -> (y: [Double], magnitude: [Double]) {
        var y = [Double](repeating: 0, count: m * n), mag = y
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, a = 0.0
                for c in 0..<k {
                    let p = Double(x[i * k + c]) * Double(w[j * k + c])
                    s += p; a += abs(p)
                }
                y[i * n + j] = s * Double(scale[j]) + Double(bias?[j] ?? 0)
                mag[i * n + j] = a * Double(scale[j]) + abs(Double(bias?[j] ?? 0))
            }
        }
        return (y, mag)
    }

    /// The documented int8 activation quantization, in the same fp32 operations as the kernel.
    func quantizedRows() -> (xq: [Int32], invScale: [Float]) {
        var xq = [Int32](repeating: 0, count: m * k), inv = [Float](repeating: 0, count: m)
        for i in 0..<m {
            var amax: Float = 0
            for c in 0..<k { amax = max(amax, abs(x[i * k + c])) }
            let s: Float = amax > 0 ? 127 / amax : 0
            inv[i] = amax > 0 ? 1 / s : 0
            for c in 0..<k {
                let v = min(max(x[i * k + c] * s, -127), 127).rounded(.toNearestOrEven)
                xq[i * k + c] = Int32(v)
            }
        }
        return (xq, inv)
    }

    /// Integer-exact reference of the int8 mode: acc = Σ xq·w in Int, y = acc·γ/s + b.
    func referenceInt8() -> (y: [Double], magnitude: [Double]) {
        let (xq, inv) = quantizedRows()
        var y = [Double](repeating: 0, count: m * n), mag = y
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0
                for c in 0..<k { acc += Int(xq[i * k + c]) * Int(w[j * k + c]) }
                let f = Double(scale[j]) * Double(inv[i])
                y[i * n + j] = Double(acc) * f + Double(bias?[j] ?? 0)
                mag[i * n + j] = abs(Double(acc) * f) + abs(Double(bias?[j] ?? 0))
            }
        }
        return (y, mag)
    }

    func packed(_ format: TernaryFormat) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n * format.rowBytes(inFeatures: k))
        let rc = w.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { tf_pack(format.cFormat, wp.baseAddress!, Int64(n), Int64(k), $0.baseAddress!) }
        }
        precondition(rc == 0)
        return out
    }

    func run(_ mode: ActivationMode, _ format: TernaryFormat, threads: Int32) -> (rc: Int32, y: [Float]) {
        let p = packed(format)
        var y = [Float](repeating: .nan, count: m * n)
        let rc = x.withUnsafeBufferPointer { xp in
            p.withUnsafeBufferPointer { pp in
                scale.withUnsafeBufferPointer { sp in
                    y.withUnsafeMutableBufferPointer { yp in
                        if let bias {
                            return bias.withUnsafeBufferPointer { bp in
                                tf_ternary_gemm(mode.cMode, format.cFormat, xp.baseAddress, Int64(m), Int64(k), pp.baseAddress,
                                                sp.baseAddress, bp.baseAddress, Int64(n), yp.baseAddress, threads)
                            }
                        }
                        return tf_ternary_gemm(mode.cMode, format.cFormat, xp.baseAddress, Int64(m), Int64(k), pp.baseAddress,
                                               sp.baseAddress, nil, Int64(n), yp.baseAddress, threads)
                    }
                }
            }
        }
        return (rc, y)
    }
}

final class TernaryGemmTests: XCTestCase {
    /// Every path this CPU can run (the portable C path always; AVX2 and AVX-512 VNNI where present).
    static var paths: [tf_isa] {
        [TF_ISA_PORTABLE, TF_ISA_AVX2, TF_ISA_AVX512VNNI].filter { $0.rawValue <= tf_detect_isa().rawValue }
    }

    override func tearDown() {
        _ = tf_set_isa(tf_detect_isa())
    }

    /// Shapes: M = 1, odd N, N = 1, K not a multiple of 4, 5 or 128, K smaller than one block, K over several
    /// depth blocks (f32 blocks 256, int8 blocks 1024), M over several row blocks, and shapes large enough that
    /// two threads really split the work (over columns, or over rows when there are few columns).
    static let shapes: [(m: Int, k: Int, n: Int)] = [
        (1, 1, 1), (1, 37, 5), (1, 300, 33), (2, 3, 1), (3, 130, 17), (7, 257, 31), (5, 1029, 19),
        (80, 301, 47), (100, 1031, 40), (150, 130, 9), (61, 2053, 21),
    ]

    func checkAll(mode: ActivationMode) {
        for (index, shape) in Self.shapes.enumerated() {
            // References are computed once per shape (the test target is built without optimisation).
            let c = GemmCase(m: shape.m, k: shape.k, n: shape.n, seed: UInt64(index * 31 + 5),
                             withBias: index % 2 == 0, zeroRows: [0, shape.m / 2 + 1], zeroScales: index == 4)
            let (ref, mag) = mode == .f32 ? c.referenceF32() : c.referenceInt8()
            // int8 against fp32: per element |Δ| ≤ γ·(nonzero weights)·max|x|/254 (half a quantization step per
            // input), plus rounding.
            var int8Bound: [Double] = []
            var f32Ref: [Double] = []
            if mode == .int8 {
                let (f32, fmag) = c.referenceF32()
                f32Ref = f32
                for i in 0..<c.m {
                    var amax: Double = 0
                    for q in 0..<c.k { amax = max(amax, Double(abs(c.x[i * c.k + q]))) }
                    for j in 0..<c.n {
                        var nz = 0.0
                        for q in 0..<c.k where c.w[j * c.k + q] != 0 { nz += 1 }
                        int8Bound.append(Double(c.scale[j]) * nz * amax / 254 * (1 + 1e-5) + 1e-5 * fmag[i * c.n + j])
                    }
                }
            }
            for isa in Self.paths {
                XCTAssertEqual(tf_set_isa(isa), 0)
                XCTAssertEqual(tf_active_isa(), isa)
                for format in TernaryFormat.allCases {
                    for threads: Int32 in [1, 2] {
                        let label = "\(String(cString: tf_isa_name(isa))) \(mode) \(format) threads \(threads) M=\(c.m) K=\(c.k) N=\(c.n) bias=\(c.bias != nil)"
                        let (rc, y) = c.run(mode, format, threads: threads)
                        XCTAssertEqual(rc, 0, label)
                        var worst = 0.0
                        for e in 0..<ref.count {
                            let err = abs(Double(y[e]) - ref[e])
                            let tol = 1e-5 * mag[e] + 1e-30
                            if !(err <= tol) { worst = max(worst, err / tol) }
                        }
                        XCTAssertEqual(worst, 0, "\(label): error above tolerance (worst ratio \(worst))")
                        for e in 0..<int8Bound.count where !(abs(Double(y[e]) - f32Ref[e]) <= int8Bound[e]) {
                            XCTFail("\(label): int8 vs f32 error \(abs(Double(y[e]) - f32Ref[e])) over bound \(int8Bound[e]) at \(e)")
                            break
                        }
                        // Rows of zeros give exactly the bias.
                        for j in 0..<c.n { XCTAssertEqual(y[j], c.bias?[j] ?? 0, label) }
                    }
                }
            }
        }
    }

    func testF32ModeMatchesReferenceOnEveryPath() { checkAll(mode: .f32) }
    func testInt8ModeMatchesIntegerExactReferenceOnEveryPath() { checkAll(mode: .int8) }

    func testPathsAgreeBitForBitInInt8Mode() throws {
        guard Self.paths.count > 1 else { throw XCTSkip("only the portable path runs on this CPU") }
        let c = GemmCase(m: 9, k: 1100, n: 35, seed: 7, withBias: true)
        var outs: [[Float]] = []
        for isa in Self.paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            outs.append(c.run(.int8, .t3, threads: 2).y)
        }
        for (isa, out) in zip(Self.paths, outs).dropFirst() {
            XCTAssertEqual(out, outs[0], "\(String(cString: tf_isa_name(isa))) differs from the portable path")
        }
    }

    func testFewRowPathMatchesPanelPathInInt8Mode() {
        // M ≤ 32 takes the k-contiguous few-row path, M = 40 the panel path; int8 results are integer-exact either
        // way and must agree bit for bit on the shared rows (f32 results only agree to summation order).
        let big = GemmCase(m: 40, k: 1037, n: 45, seed: 21, withBias: true, zeroRows: [1])
        for isa in Self.paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            for format in TernaryFormat.allCases {
                let panel = big.run(.int8, format, threads: 2).y
                for rows in [1, 5, 32] {
                    let few = GemmCase(copying: big, rows: rows)
                    let y = few.run(.int8, format, threads: 2).y
                    XCTAssertTrue(y == Array(panel[0..<(rows * big.n)]), "\(String(cString: tf_isa_name(isa))) \(format) M=\(rows)")
                    let f32Few = few.run(.f32, format, threads: 1).y, f32Panel = big.run(.f32, format, threads: 1).y
                    for e in 0..<(rows * big.n) {
                        XCTAssertEqual(f32Few[e], f32Panel[e], accuracy: 1e-4 * max(1, abs(f32Panel[e])))
                    }
                }
            }
        }
    }

    /// Every format's scalar reference (ternary_format_traits.h, read straight from the packed bytes) is the ground
    /// truth of the GEMM on every path, on the few-row and the panel paths, over one and two threads: in int8 mode
    /// y is exactly (Float(Σ xq·w) · (γ · 1/s)) + b with the reference's integer sum; in f32 mode y is within
    /// rounding of γ · Σ x·w + b.
    func testGemmEqualsTheFormatsReferenceDotOnEveryPath() throws {
        // Few rows (int8 M ≤ 32, f32 M ≤ 8) and panels; K over several int8 depth blocks; work split over columns
        // (64 x 70) and over rows (200 x 24).
        let shapes: [(m: Int, k: Int, n: Int)] = [(1, 1, 1), (4, 37, 5), (32, 1029, 19), (33, 2053, 18), (97, 130, 33),
                                                  (64, 1100, 70), (200, 600, 24)]
        for (index, shape) in shapes.enumerated() {
            let c = GemmCase(m: shape.m, k: shape.k, n: shape.n, seed: UInt64(100 + index), withBias: index % 2 == 1,
                             zeroRows: [shape.m / 2])
            let (xq32, inv) = c.quantizedRows()
            let xq = xq32.map { Int8($0) }
            let sumAbsX = (0..<c.m).map { i in (0..<c.k).reduce(0.0) { $0 + Double(abs(c.x[i * c.k + $1])) } }
            for format in TernaryFormat.allCases {
                let t = try XCTUnwrap(tf_format_traits_of(format.cFormat)).pointee
                let dotI8 = try XCTUnwrap(t.dot_i8_ref), dotF32 = try XCTUnwrap(t.dot_f32_ref)
                let packed = c.packed(format), rb = format.rowBytes(inFeatures: c.k)
                var int8Expected = [Float](repeating: 0, count: c.m * c.n)
                var f32Expected = [Double](repeating: 0, count: c.m * c.n), f32Tolerance = f32Expected
                packed.withUnsafeBufferPointer { pp in
                    xq.withUnsafeBufferPointer { qp in
                        c.x.withUnsafeBufferPointer { xp in
                            for i in 0..<c.m {
                                for j in 0..<c.n {
                                    let row = pp.baseAddress! + j * rb, b = c.bias?[j] ?? 0
                                    let acc = dotI8(row, qp.baseAddress! + i * c.k, Int64(c.k))
                                    let product = Float(acc) * (c.scale[j] * inv[i])
                                    int8Expected[i * c.n + j] = product + b
                                    let dot = dotF32(row, xp.baseAddress! + i * c.k, Int64(c.k))
                                    f32Expected[i * c.n + j] = dot * Double(c.scale[j]) + Double(b)
                                    f32Tolerance[i * c.n + j] = 1e-5 * (sumAbsX[i] * Double(c.scale[j]) + Double(abs(b))) + 1e-30
                                }
                            }
                        }
                    }
                }
                for isa in Self.paths {
                    XCTAssertEqual(tf_set_isa(isa), 0)
                    for threads: Int32 in [1, 2] {
                        let label = "\(String(cString: tf_isa_name(isa))) \(format) threads \(threads) M=\(c.m) K=\(c.k) N=\(c.n)"
                        let (rc, y) = c.run(.int8, format, threads: threads)
                        XCTAssertEqual(rc, 0, label)
                        let first = (0..<y.count).first { y[$0] != int8Expected[$0] }
                        XCTAssertNil(first, "\(label): int8 differs from the reference at \(first ?? -1)")
                        let (rcF, yF) = c.run(.f32, format, threads: threads)
                        XCTAssertEqual(rcF, 0, label)
                        let over = (0..<yF.count).first { !(abs(Double(yF[$0]) - f32Expected[$0]) <= f32Tolerance[$0]) }
                        XCTAssertNil(over, "\(label): f32 off the reference at \(over ?? -1)")
                    }
                }
            }
        }
    }

    func testExtremeActivationsCannotSaturateInt16() {
        // All activations at ±max and all weights +1 over K = 4096: the int16 lanes would overflow without the
        // 64-step widening; every path must still produce the exact integer result 127·K (or −127·K).
        let k = 4096, n = 16
        var c = GemmCase(m: 2, k: k, n: n, seed: 1, withBias: false)
        c.x = (0..<(2 * k)).map { $0 < k ? 5.0 : -5.0 }
        c.w = [Int8](repeating: 1, count: n * k)
        c.scale = [Float](repeating: 1, count: n)
        for isa in Self.paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            for format in TernaryFormat.allCases {
                let y = c.run(.int8, format, threads: 1).y
                for j in 0..<n {
                    XCTAssertEqual(y[j], 5 * Float(k), accuracy: 1e-2)
                    XCTAssertEqual(y[n + j], -5 * Float(k), accuracy: 1e-2)
                }
            }
        }
    }

    func testBadArgumentsAreRefused() {
        var y = [Float](repeating: 0, count: 4)
        let x = [Float](repeating: 1, count: 4)
        let s: [Float] = [1, 1]
        let w = [UInt8](repeating: 0x55, count: 64)
        XCTAssertEqual(tf_ternary_gemm(TF_ACT_F32, TF_FORMAT_I2, x, -1, 2, w, s, nil, 2, &y, 1), TF_GEMM_EBADSHAPE)
        XCTAssertEqual(tf_ternary_gemm(TF_ACT_F32, TF_FORMAT_I2, x, 2, 2, nil, s, nil, 2, &y, 1), TF_GEMM_ENULL)
        XCTAssertEqual(tf_ternary_gemm(tf_act_mode(rawValue: 7), TF_FORMAT_I2, x, 2, 2, w, s, nil, 2, &y, 1), TF_GEMM_EBADMODE)
        XCTAssertEqual(tf_ternary_gemm(TF_ACT_INT8, tf_format(rawValue: 9), x, 2, 2, w, s, nil, 2, &y, 1), TF_GEMM_EBADFORMAT)
        XCTAssertEqual(tf_ternary_gemm(TF_ACT_INT8, TF_FORMAT_I2, x, 1, 200_000, w, s, nil, 2, &y, 1), TF_GEMM_EBADSHAPE)
        // K = 0: the product is empty, Y is the bias.
        XCTAssertEqual(tf_ternary_gemm(TF_ACT_F32, TF_FORMAT_T3, nil, 2, 0, nil, s, [3, 4], 2, &y, 1), 0)
        XCTAssertEqual(y, [3, 4, 3, 4])
        XCTAssertEqual(tf_set_isa(tf_isa(rawValue: 3)), -1, "no such path")
        XCTAssertEqual(tf_set_isa(TF_ISA_AVX512VNNI), tf_detect_isa() == TF_ISA_AVX512VNNI ? 0 : -1,
                       "the AVX-512 path is refused exactly where the CPU lacks it")
        _ = tf_set_isa(tf_detect_isa())
    }
}
