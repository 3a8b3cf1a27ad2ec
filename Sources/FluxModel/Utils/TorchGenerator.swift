import Foundation
import TernaryTensors

/// PyTorch's CPU random generator (`torch.Generator("cpu").manual_seed(seed)`), reproduced bit for bit so
/// that `ternflux generate` starts from exactly the initial latents diffusers draws for the same seed.
///
/// What is reproduced (ATen, CPU, float32 on an AVX2 machine):
/// - the engine: MT19937 seeded with the low 32 bits of the seed (`at::mt19937`), `random()` = one draw,
///   `random64()` = (first draw << 32) | second draw;
/// - `randn` of ≥ 16 contiguous values (`normal_fill`): all uniforms first (24-bit: `(r & 0xFFFFFF) / 2^24`),
///   then Box–Muller in blocks of 16 (pairs j, j+8) with the AVX2 Cephes `log256_ps`/`sincos256_ps` of
///   `avx_mathfun.h`; when the count is not a multiple of 16 the last 16 values are re-drawn and recomputed;
/// - `randn` of < 16 values: the scalar `at::normal_distribution<double>` (53-bit uniforms from `random64`,
///   `r = sqrt(-2·log1p(-u2))`, θ = 2π·u1, returns r·cos θ and caches r·sin θ in the generator for the next
///   scalar draw), each value rounded to float.
public struct TorchGenerator: Sendable {
    private static let stateSize = 624
    private static let shift = 397

    private var state: [UInt32]
    private var left: Int
    private var next: Int
    /// The cached second Box–Muller value of the scalar (double) path, as `CPUGeneratorImpl` keeps it.
    private var nextDoubleNormal: Double?

    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        var s = [UInt32](repeating: 0, count: Self.stateSize)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            s[j] = 1812433253 &* (s[j - 1] ^ (s[j - 1] >> 30)) &+ UInt32(j)
        }
        state = s
        left = 1
        next = 0
        nextDoubleNormal = nil
    }

    // MARK: engine

    private mutating func twist() {
        let n = Self.stateSize, m = Self.shift
        state.withUnsafeMutableBufferPointer { p in
            for i in 0..<n {
                let u = p[i], v = p[(i + 1) % n]
                let mixed = (u & 0x8000_0000) | (v & 0x7fff_ffff)
                p[i] = p[(i + m) % n] ^ (mixed >> 1) ^ ((v & 1) != 0 ? 0x9908_b0df : 0)
            }
        }
        left = n
        next = 0
    }

    /// One 32-bit MT19937 output (`CPUGeneratorImpl::random`).
    public mutating func random() -> UInt32 {
        left -= 1
        if left == 0 { twist() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// Two draws combined as (first << 32) | second (`CPUGeneratorImpl::random64`).
    public mutating func random64() -> UInt64 {
        let hi = UInt64(random())
        let lo = UInt64(random())
        return (hi << 32) | lo
    }

    // MARK: uniform

    /// `at::uniform_real_distribution<float>(0, 1)`: the low 24 bits of one draw over 2^24.
    @inline(__always)
    private mutating func uniformFloat() -> Float {
        Float(random() & 0x00ff_ffff) * (1.0 / 16_777_216.0)
    }

    /// `at::uniform_real_distribution<double>(0, 1)`: the low 53 bits of `random64` over 2^53.
    @inline(__always)
    private mutating func uniformDouble() -> Double {
        Double(random64() & 0x001f_ffff_ffff_ffff) * (1.0 / 9_007_199_254_740_992.0)
    }

    // MARK: normal

    /// `torch.randn(count, generator=g)` on the CPU in float32.
    public mutating func randn(_ count: Int) -> [Float] {
        precondition(count >= 0, "randn count must be non-negative, got \(count)")
        if count < 16 {
            return (0..<count).map { _ in Float(scalarNormal()) }
        }
        var data = [Float](repeating: 0, count: count)
        data.withUnsafeMutableBufferPointer { p in
            for i in 0..<count { p[i] = uniformFloat() }
            var i = 0
            while i + 16 <= count {
                Self.boxMuller16(p.baseAddress! + i)
                i += 16
            }
            if count % 16 != 0 {
                let tail = p.baseAddress! + count - 16
                for j in 0..<16 { tail[j] = uniformFloat() }
                Self.boxMuller16(tail)
            }
        }
        return data
    }

    /// `torch.randn(shape, generator=g)`: the same stream laid out row-major.
    public mutating func randn(shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, storage: randn(count))
    }

    /// `at::normal_distribution<double>(0, 1)` with the generator's cached second sample.
    private mutating func scalarNormal() -> Double {
        if let cached = nextDoubleNormal {
            nextDoubleNormal = nil
            return cached * 1.0 + 0.0
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        nextDoubleNormal = r * sin(theta)
        return r * cos(theta) * 1.0 + 0.0
    }

    /// `NormalFill16<float>` (AVX2): 16 uniforms in place → 16 normals; pair (j, j + 8).
    private static func boxMuller16(_ data: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2.0 * Double.pi)
        for j in 0..<8 {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (Float(-2) * CephesAVX.log(u1)).squareRoot()
            let theta = twoPi * u2
            let (s, c) = CephesAVX.sincos(theta)
            // _mm256_fmadd_ps(n, std = 1, mean = 0)
            data[j] = Float(0).addingProduct(radius * c, 1)
            data[j + 8] = Float(0).addingProduct(radius * s, 1)
        }
    }
}

/// Scalar transcriptions of `log256_ps` and `sincos256_ps` from ATen's `avx_mathfun.h` (Cephes
/// polynomials, Pommier's AVX port), operation for operation so every lane rounds identically.
///
/// PyTorch's AVX2 kernels are built by GCC with `-mfma` and its default `-ffp-contract=fast`, so each
/// `_mm256_mul_ps` whose only use is an add/sub became a fused multiply-add — GCC contracts the first
/// multiplication it meets in program order (hence `fma(y·x, z, e·q1)` rather than `fma(e, q1, y·x·z)`).
/// The `addingProduct` calls below are exactly those contractions; checked bit for bit against torch.
enum CephesAVX {
    @inline(__always) private static func bits(_ x: Float) -> UInt32 { x.bitPattern }
    @inline(__always) private static func float(_ b: UInt32) -> Float { Float(bitPattern: b) }

    static func log(_ xIn: Float) -> Float {
        let invalid = xIn <= 0
        var x = max(xIn, Float(bitPattern: 0x0080_0000))
        var imm0 = Int32(bitPattern: bits(x) >> 23)
        x = float((bits(x) & ~UInt32(0x7f80_0000)) | bits(0.5))
        imm0 = imm0 &- 0x7f
        var e = Float(imm0)
        e = e + 1
        let maskTrue = x < Float(0.707106781186547524)
        let tmp: Float = maskTrue ? x : 0
        x = x - 1
        e = e - (maskTrue ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = Float(7.0376836292E-2)
        y = Float(-1.1514610310E-1).addingProduct(y, x)
        y = Float(1.1676998740E-1).addingProduct(y, x)
        y = Float(-1.2420140846E-1).addingProduct(y, x)
        y = Float(1.4249322787E-1).addingProduct(y, x)
        y = Float(-1.6668057665E-1).addingProduct(y, x)
        y = Float(2.0000714765E-1).addingProduct(y, x)
        y = Float(-2.4999993993E-1).addingProduct(y, x)
        y = Float(3.3333331174E-1).addingProduct(y, x)
        y = y * x
        y = (e * Float(-2.12194440e-4)).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        x = x.addingProduct(e, Float(0.693359375))
        if invalid { return Float(bitPattern: 0xffff_ffff) }  // x <= 0 → NaN, as the OR with the all-ones mask
        return x
    }

    static func sincos(_ xIn: Float) -> (sin: Float, cos: Float) {
        var signBitSin = bits(xIn) & 0x8000_0000
        var x = float(bits(xIn) & 0x7fff_ffff)
        var y = x * Float(1.27323954473516)
        var imm2 = Int32(y)     // _mm256_cvttps_epi32 (truncation); arguments here are in [0, 2π)
        imm2 = imm2 &+ 1
        imm2 = imm2 & ~1
        y = Float(imm2)
        var imm4 = imm2
        let swapSignBitSin = UInt32(bitPattern: (imm2 & 4) << 29)
        let polyMask = (imm2 & 2) == 0
        x = x.addingProduct(y, Float(-0.78515625))
        x = x.addingProduct(y, Float(-2.4187564849853515625e-4))
        x = x.addingProduct(y, Float(-3.77489497744594108e-8))
        imm4 = imm4 &- 2
        imm4 = ~imm4 & 4
        let signBitCos = UInt32(bitPattern: imm4 << 29)
        signBitSin ^= swapSignBitSin

        let z = x * x
        var c = Float(2.443315711809948E-005)
        c = Float(-1.388731625493765E-003).addingProduct(c, z)
        c = Float(4.166664568298827E-002).addingProduct(c, z)
        c = c * z
        c = (-(z * 0.5)).addingProduct(c, z)
        c = c + 1

        var s = Float(-1.9515295891E-4)
        s = Float(8.3321608736E-3).addingProduct(s, z)
        s = Float(-1.6666654611E-1).addingProduct(s, z)
        s = s * z
        s = x.addingProduct(s, x)

        let ysin2: Float = polyMask ? s : 0
        let ysin1: Float = polyMask ? 0 : c
        let s2 = s - ysin2
        let c2 = c - ysin1
        let sinOut = ysin1 + ysin2
        let cosOut = c2 + s2
        return (float(bits(sinOut) ^ signBitSin), float(bits(cosOut) ^ signBitCos))
    }
}
