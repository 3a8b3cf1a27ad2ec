import Foundation
import TernaryTensors

/// diffusers' `get_timestep_embedding` as FLUX configures it (`Timesteps(256, flip_sin_to_cos=True,
/// downscale_freq_shift=0)`): [cos, sin] halves, frequencies exp(-ln(10000)·i/half) computed in fp32.
public enum FluxTimestepEmbedding {
    public static func sinusoidal(_ values: [Float], channels: Int = 256, maxPeriod: Float = 10000) -> Tensor {
        let half = channels / 2
        // Same fp32 operation order as torch: (-ln(max_period) · arange) / half, then exp.
        let negLog = -Float(log(Double(maxPeriod)))
        var freqs = [Float](repeating: 0, count: half)
        for i in 0..<half { freqs[i] = expf((negLog * Float(i)) / Float(half)) }
        var out = Tensor(zeros: [values.count, channels])
        out.storage.withUnsafeMutableBufferPointer { p in
            for (b, t) in values.enumerated() {
                let row = p.baseAddress! + b * channels
                for i in 0..<half {
                    let arg = t * freqs[i]
                    row[i] = cosf(arg)
                    row[half + i] = sinf(arg)
                }
            }
        }
        return out
    }
}

/// FLUX rotary position tables (`FluxPosEmbed` with θ = 10000): for every position and axis, frequencies
/// 1/θ^(2i/d) in float64, angles pos·freq in float64, cos/sin repeated for both members of each adjacent
/// pair, and the axes concatenated in order. Stored as fp32 [positions, headDim].
public struct FluxRotaryTable: Sendable {
    public let positions: Int
    public let headDim: Int
    public let cos: [Float]
    public let sin: [Float]

    /// `ids` is row-major [positions, axes.count] (text ids first, then image ids, as FLUX concatenates them).
    public init(ids: [Float], axesDims: [Int], theta: Double = 10000) {
        let axes = axesDims.count
        precondition(axes > 0 && ids.count % axes == 0, "ids must be [positions, \(axes)]")
        let n = ids.count / axes
        let d = axesDims.reduce(0, +)
        var c = [Float](repeating: 0, count: n * d)
        var s = [Float](repeating: 0, count: n * d)
        var offset = 0
        for (axis, dim) in axesDims.enumerated() {
            var freqs = [Double](repeating: 0, count: dim / 2)
            for i in 0..<(dim / 2) {
                freqs[i] = 1.0 / pow(theta, Double(2 * i) / Double(dim))
            }
            for p in 0..<n {
                // torch casts the ids to float32 first (ids.float()), then to float64 for the outer product.
                let pos = Double(Float(ids[p * axes + axis]))
                for i in 0..<(dim / 2) {
                    let angle = pos * freqs[i]
                    let cv = Float(Foundation.cos(angle)), sv = Float(Foundation.sin(angle))
                    let j = p * d + offset + 2 * i
                    c[j] = cv; c[j + 1] = cv
                    s[j] = sv; s[j + 1] = sv
                }
            }
            offset += dim
        }
        positions = n
        headDim = d
        cos = c
        sin = s
    }

    /// Rotates `heads` head vectors of every row in place: out = x·cos + rot(x)·sin with
    /// rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i] (`apply_rotary_emb`, use_real_unbind_dim = -1).
    /// Row r of `x` (stride `rowStride`) uses table row `firstPosition + r`.
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int, firstPosition: Int) {
        for r in 0..<rows { rotate(x + r * rowStride, heads: heads, position: firstPosition + r) }
    }

    /// Rotates the `heads` head vectors of one row with table row `position`.
    @inline(__always)
    func rotate(_ row: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        cos.withUnsafeBufferPointer { cp in
            sin.withUnsafeBufferPointer { sp in
                let cr = cp.baseAddress! + position * headDim
                let sr = sp.baseAddress! + position * headDim
                for h in 0..<heads {
                    let v = row + h * headDim
                    var i = 0
                    while i < headDim {
                        let a = v[i], b = v[i + 1]
                        v[i] = a * cr[i] + (-b) * sr[i]
                        v[i + 1] = b * cr[i + 1] + a * sr[i + 1]
                        i += 2
                    }
                }
            }
        }
    }
}
