import COpenBLAS
import Foundation
import TernaryTensors
import CTernaryKernels

/// One image's activations, channels first: [channels, height, width].
struct FeatureMap {
    var channels: Int
    var height: Int
    var width: Int
    var data: [Float]

    init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == channels * height * width)
        (self.channels, self.height, self.width, self.data) = (channels, height, width, data)
    }

    init(zeros channels: Int, height: Int, width: Int) {
        self.init(channels: channels, height: height, width: width,
                  data: [Float](repeating: 0, count: channels * height * width))
    }

    var plane: Int { height * width }
}

/// Loads a tensor after checking its shape, so a wrong checkpoint fails with the tensor's name and both shapes.
struct CheckedWeights {
    let source: any WeightSource
    let sourceName: String

    func tensor(_ name: String, shape expected: [Int]) throws -> [Float] {
        guard source.contains(name) else { throw VAEError.missingTensor(name, source: sourceName) }
        let actual = try source.shape(name)
        guard actual == expected else { throw VAEError.shapeMismatch(tensor: name, expected: expected, actual: actual) }
        let t = try source.tensor(name)
        guard t.storage.count == expected.reduce(1, *) else {
            throw VAEError.shapeMismatch(tensor: name, expected: expected, actual: t.shape)
        }
        return t.storage
    }
}

/// nn.Conv2d with stride 1 and "same" padding, kernel 1×1 or 3×3.
///
/// A 3×3 convolution runs as nine OpenBLAS sgemms over a zero-padded copy of the input: laid out with rows of
/// width W + 2, every tap (ky, kx) is the same contiguous [C, H·(W+2)] window shifted by ky·(W+2) + kx, so the
/// output is computed on an H × (W+2) grid (two junk columns per row, dropped) with no im2col buffer at all.
/// The 2× nearest upsample that precedes the decoder's upsampler convolutions is fused into building that
/// padded copy. The output is produced in bands of rows to keep the grid buffer small.
/// Convolutions with at least 32 input and output channels (all of the VAE's but conv_in and conv_out) use
/// Winograd F(2×2, 3×3) over the same padded copy instead (`WinogradConv.swift`): 16 sgemms with 4/9 of the
/// multiplications.
struct Conv2D {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// kernel 3: nine [out, in] matrices (tap-major); kernel 1: one [out, in] matrix.
    let taps: [Float]
    let bias: [Float]

    init(_ weights: CheckedWeights, _ prefix: String, inChannels: Int, outChannels: Int, kernel: Int) throws {
        precondition(kernel == 1 || kernel == 3)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        let w = try weights.tensor(prefix + ".weight", shape: [outChannels, inChannels, kernel, kernel])
        bias = try weights.tensor(prefix + ".bias", shape: [outChannels])
        if kernel == 1 {
            taps = w
        } else {
            // [O, C, 3, 3] → [9, O, C]
            var t = [Float](repeating: 0, count: w.count)
            let oc = outChannels * inChannels
            for o in 0..<outChannels {
                for c in 0..<inChannels {
                    for k in 0..<9 { t[k * oc + o * inChannels + c] = w[(o * inChannels + c) * 9 + k] }
                }
            }
            taps = t
        }
    }

    enum Algorithm { case automatic, direct, winograd }

    /// Winograd pays off when both channel counts are large enough for its 16 sgemms to dominate the transforms:
    /// from 128 channels (FLUX.1's VAE); below, the direct path's nine sgemms are faster (the shipped model's VAE).
    /// Measurements: docs/benchmarks.md, "Winograd threshold".
    var prefersWinograd: Bool { kernel == 3 && min(inChannels, outChannels) >= 128 }

    func callAsFunction(_ x: FeatureMap, upsample: Bool = false, algorithm: Algorithm = .automatic) -> FeatureMap {
        precondition(x.channels == inChannels, "conv expects \(inChannels) channels, got \(x.channels)")
        if kernel == 1 {
            precondition(!upsample)
            return pointwise(x)
        }
        let winograd = algorithm == .winograd || (algorithm == .automatic && prefersWinograd)
        return conv3x3(x, upsample: upsample, winograd: winograd)
    }

    private func pointwise(_ x: FeatureMap) -> FeatureMap {
        var y = FeatureMap(zeros: outChannels, height: x.height, width: x.width)
        let n = x.plane
        y.data.withUnsafeMutableBufferPointer { yp in
            for o in 0..<outChannels { (yp.baseAddress! + o * n).update(repeating: bias[o], count: n) }
            BLASThreads.prepare(m: outChannels, n: n, k: inChannels)
            taps.withUnsafeBufferPointer { w in
                x.data.withUnsafeBufferPointer { xp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                Int32(outChannels), Int32(n), Int32(inChannels),
                                1, w.baseAddress, Int32(inChannels), xp.baseAddress, Int32(n),
                                1, yp.baseAddress, Int32(n))
                }
            }
        }
        return y
    }

    private func conv3x3(_ x: FeatureMap, upsample: Bool, winograd: Bool) -> FeatureMap {
        let s = upsample ? 1 : 0
        let (h, w) = (x.height << s, x.width << s)
        // Rounded up to even sizes so Winograd's 4×4 tiles (stride 2) stay inside; the direct path only needs ≥ +2.
        let (hp, wp) = (2 * ((h + 1) / 2) + 2, 2 * ((w + 1) / 2) + 2)
        let paddedPlane = hp * wp
        let c = inChannels, o = outChannels
        // +2: the last tap of the last row reads two elements past the final padded plane (junk columns only).
        var padded = [Float](repeating: 0, count: c * paddedPlane + 2)
        padded.withUnsafeMutableBufferPointer { pp in
            x.data.withUnsafeBufferPointer { xp in
                for ci in 0..<c {
                    let src = xp.baseAddress! + ci * x.plane
                    let dst = pp.baseAddress! + ci * paddedPlane
                    for yy in 0..<h {
                        let srow = src + (yy >> s) * x.width
                        let drow = dst + (yy + 1) * wp + 1
                        if s == 0 {
                            drow.update(from: srow, count: w)
                        } else {
                            for xx in 0..<x.width {
                                let v = srow[xx]
                                drow[2 * xx] = v
                                drow[2 * xx + 1] = v
                            }
                        }
                    }
                }
            }
        }
        var y = FeatureMap(zeros: o, height: h, width: w)
        if winograd {
            padded.withUnsafeBufferPointer { pp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    self.winograd(padded: pp.baseAddress!, hp: hp, wp: wp, h: h, w: w, into: yp.baseAddress!)
                }
            }
            return y
        }
        // Rows per band: keep the [O, rows·(W+2)] grid around 4M floats.
        let bandRows = max(1, min(h, (4 << 20) / max(1, o * wp)))
        var grid = [Float](repeating: 0, count: o * bandRows * wp)
        padded.withUnsafeBufferPointer { pp in
            taps.withUnsafeBufferPointer { tp in
                grid.withUnsafeMutableBufferPointer { gp in
                    y.data.withUnsafeMutableBufferPointer { yp in
                        var y0 = 0
                        while y0 < h {
                            let rows = min(bandRows, h - y0)
                            let n = rows * wp
                            for oi in 0..<o { (gp.baseAddress! + oi * n).update(repeating: bias[oi], count: n) }
                            BLASThreads.prepare(m: o, n: n, k: c)
                            for k in 0..<9 {
                                let shift = (y0 + k / 3) * wp + k % 3
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                            Int32(o), Int32(n), Int32(c),
                                            1, tp.baseAddress! + k * o * c, Int32(c),
                                            pp.baseAddress! + shift, Int32(paddedPlane),
                                            1, gp.baseAddress, Int32(n))
                            }
                            for oi in 0..<o {
                                for r in 0..<rows {
                                    (yp.baseAddress! + oi * h * w + (y0 + r) * w)
                                        .update(from: gp.baseAddress! + oi * n + r * wp, count: w)
                                }
                            }
                            y0 += rows
                        }
                    }
                }
            }
        }
        return y
    }
}

/// nn.GroupNorm (affine) on one image, optionally followed by an activation, in place.
/// Statistics are accumulated in Double (two passes), as `Normalization.groupNorm` does.
struct GroupNorm {
    let groups: Int
    let channels: Int
    let eps: Float
    let weight: [Float]
    let bias: [Float]

    init(_ weights: CheckedWeights, _ prefix: String, channels: Int, groups: Int, eps: Float) throws {
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = try weights.tensor(prefix + ".weight", shape: [channels])
        bias = try weights.tensor(prefix + ".bias", shape: [channels])
    }

    func callAsFunction(_ x: inout FeatureMap, then activation: Activation? = nil) {
        precondition(x.channels == channels)
        let perGroup = channels / groups
        let plane = x.plane
        let n = perGroup * plane
        x.data.withUnsafeMutableBufferPointer { p in
            for g in 0..<groups {
                let start = p.baseAddress! + g * n
                var sum = 0.0
                for i in 0..<n { sum += Double(start[i]) }
                let mean = sum / Double(n)
                var sq = 0.0
                for i in 0..<n { let d = Double(start[i]) - mean; sq += d * d }
                let inv = Float(1 / (sq / Double(n) + Double(eps)).squareRoot())
                let m = Float(mean)
                for ci in 0..<perGroup {
                    let ch = g * perGroup + ci
                    let scale = inv * weight[ch]
                    let shift = bias[ch] - m * scale
                    let row = start + ci * plane
                    switch activation {
                    case .some(.silu):
                        tf_affine_silu_f32(row, plane, scale, shift)
                    case .some(let act):
                        for i in 0..<plane { row[i] = act.apply(row[i] * scale + shift) }
                    case .none:
                        for i in 0..<plane { row[i] = row[i] * scale + shift }
                    }
                }
            }
        }
    }
}

/// diffusers ResnetBlock2D as the VAE decoder uses it (no time embedding, output_scale_factor 1):
/// `shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))))))`, shortcut a 1×1 conv when the channel count changes.
struct ResnetBlock {
    let norm1: GroupNorm
    let conv1: Conv2D
    let norm2: GroupNorm
    let conv2: Conv2D
    let shortcut: Conv2D?
    let activation: Activation

    init(_ weights: CheckedWeights, _ prefix: String, inChannels: Int, outChannels: Int, groups: Int,
         activation: Activation) throws {
        norm1 = try GroupNorm(weights, prefix + ".norm1", channels: inChannels, groups: groups, eps: 1e-6)
        conv1 = try Conv2D(weights, prefix + ".conv1", inChannels: inChannels, outChannels: outChannels, kernel: 3)
        norm2 = try GroupNorm(weights, prefix + ".norm2", channels: outChannels, groups: groups, eps: 1e-6)
        conv2 = try Conv2D(weights, prefix + ".conv2", inChannels: outChannels, outChannels: outChannels, kernel: 3)
        shortcut = inChannels == outChannels ? nil
            : try Conv2D(weights, prefix + ".conv_shortcut", inChannels: inChannels, outChannels: outChannels, kernel: 1)
        self.activation = activation
    }

    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        var h = x
        norm1(&h, then: activation)
        h = conv1(h)
        norm2(&h, then: activation)
        h = conv2(h)
        let residual = shortcut.map { $0(x) } ?? x
        h.data.withUnsafeMutableBufferPointer { hp in
            residual.data.withUnsafeBufferPointer { rp in
                for i in 0..<hp.count { hp[i] = rp[i] + hp[i] }
            }
        }
        return h
    }
}

/// The mid-block attention of the VAE (diffusers Attention with group_norm, one head of all channels,
/// residual connection): `x + to_out(softmax(q·kᵀ/√C)·v)` over the H·W positions, q/k/v from GroupNorm(x).
struct SpatialSelfAttention {
    let norm: GroupNorm
    let channels: Int
    let wq: [Float], bq: [Float]
    let wk: [Float], bk: [Float]
    let wv: [Float], bv: [Float]
    let wo: [Float], bo: [Float]

    /// Upper bound on the elements of one block of attention scores (queries are processed in blocks).
    let scoreBlockElements: Int

    init(_ weights: CheckedWeights, _ prefix: String, channels: Int, groups: Int, scoreBlockElements: Int = 16 << 20) throws {
        self.channels = channels
        self.scoreBlockElements = scoreBlockElements
        norm = try GroupNorm(weights, prefix + ".group_norm", channels: channels, groups: groups, eps: 1e-6)
        // Current diffusers names; checkpoints saved before the attention refactor use query/key/value/proj_attn.
        let legacy = !weights.source.contains(prefix + ".to_q.weight") && weights.source.contains(prefix + ".query.weight")
        func linear(_ name: String, _ legacyName: String) throws -> ([Float], [Float]) {
            let p = prefix + "." + (legacy ? legacyName : name)
            let shape = try weights.source.contains(p + ".weight") ? weights.source.shape(p + ".weight") : [channels, channels]
            // A 1×1-conv-shaped [C, C, 1, 1] weight holds the same numbers as the linear [C, C].
            let expected = shape.count == 4 ? [channels, channels, 1, 1] : [channels, channels]
            return (try weights.tensor(p + ".weight", shape: expected), try weights.tensor(p + ".bias", shape: [channels]))
        }
        (wq, bq) = try linear("to_q", "query")
        (wk, bk) = try linear("to_k", "key")
        (wv, bv) = try linear("to_v", "value")
        (wo, bo) = try linear("to_out.0", "proj_attn")
    }

    /// y[C, N] = W[C, C] · x[C, N] + b
    private func project(_ w: [Float], _ b: [Float], _ x: UnsafePointer<Float>, n: Int) -> [Float] {
        let c = channels
        var y = [Float](repeating: 0, count: c * n)
        y.withUnsafeMutableBufferPointer { yp in
            for o in 0..<c { (yp.baseAddress! + o * n).update(repeating: b[o], count: n) }
            BLASThreads.prepare(m: c, n: n, k: c)
            w.withUnsafeBufferPointer { wp in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(c), Int32(n), Int32(c),
                            1, wp.baseAddress, Int32(c), x, Int32(n), 1, yp.baseAddress, Int32(n))
            }
        }
        return y
    }

    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let c = channels, n = x.plane
        var normed = x
        norm(&normed)
        let (q, k, v) = normed.data.withUnsafeBufferPointer { np in
            (project(wq, bq, np.baseAddress!, n: n), project(wk, bk, np.baseAddress!, n: n), project(wv, bv, np.baseAddress!, n: n))
        }
        // attended[C, N]; queries in blocks so the score matrix stays ≤ ~16M floats at large resolutions.
        var attended = [Float](repeating: 0, count: c * n)
        let block = max(1, min(n, scoreBlockElements / max(1, n)))
        var scores = [Float](repeating: 0, count: block * n)
        let scale = 1 / Float(c).squareRoot()
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    scores.withUnsafeMutableBufferPointer { sp in
                        attended.withUnsafeMutableBufferPointer { ap in
                            var q0 = 0
                            while q0 < n {
                                let m = min(block, n - q0)
                                // scores[m, N] = (Q[:, q0..<q0+m])ᵀ · K · scale (the product after it has the same size)
                                BLASThreads.prepare(m: m, n: n, k: c)
                                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(c),
                                            scale, qp.baseAddress! + q0, Int32(n), kp.baseAddress, Int32(n),
                                            0, sp.baseAddress, Int32(n))
                                for r in 0..<m {
                                    let row = sp.baseAddress! + r * n
                                    var mx = -Float.infinity
                                    for j in 0..<n { mx = max(mx, row[j]) }
                                    let inv = 1 / tf_exp_shifted_sum_f32(row, n, mx)
                                    for j in 0..<n { row[j] *= inv }
                                }
                                // attended[:, q0..<q0+m] = V[C, N] · scoresᵀ
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(c), Int32(m), Int32(n),
                                            1, vp.baseAddress, Int32(n), sp.baseAddress, Int32(n),
                                            0, ap.baseAddress! + q0, Int32(n))
                                q0 += m
                            }
                        }
                    }
                }
            }
        }
        var out = attended.withUnsafeBufferPointer { project(wo, bo, $0.baseAddress!, n: n) }
        out.withUnsafeMutableBufferPointer { op in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<op.count { op[i] += xp[i] }
            }
        }
        return FeatureMap(channels: c, height: x.height, width: x.width, data: out)
    }
}
