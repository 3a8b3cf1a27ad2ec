import Foundation
import TernaryTensors

/// Normalisations over the last axis (LayerNorm, RMSNorm) and over channel groups (GroupNorm),
/// accumulated in Double so the result matches PyTorch's fp32 kernels to rounding.
public enum Normalization {
    /// LayerNorm over the last axis; weight/bias optional (FLUX uses elementwise_affine=False in blocks).
    public static func layerNorm(_ x: Tensor, weight: [Float]?, bias: [Float]?, eps: Float) -> Tensor {
        let d = x.lastDim
        var out = x
        out.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows {
                let row = p.baseAddress! + r * d
                var mean = 0.0
                for i in 0..<d { mean += Double(row[i]) }
                mean /= Double(d)
                var variance = 0.0
                for i in 0..<d { let c = Double(row[i]) - mean; variance += c * c }
                variance /= Double(d)
                let inv = Float(1.0 / (variance + Double(eps)).squareRoot())
                let m = Float(mean)
                for i in 0..<d {
                    var v = (row[i] - m) * inv
                    if let weight { v *= weight[i] }
                    if let bias { v += bias[i] }
                    row[i] = v
                }
            }
        }
        return out
    }

    /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight.
    public static func rmsNorm(_ x: Tensor, weight: [Float]?, eps: Float) -> Tensor {
        let d = x.lastDim
        var out = x
        out.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows {
                let row = p.baseAddress! + r * d
                var ss = 0.0
                for i in 0..<d { ss += Double(row[i]) * Double(row[i]) }
                let inv = Float(1.0 / (ss / Double(d) + Double(eps)).squareRoot())
                for i in 0..<d {
                    var v = row[i] * inv
                    if let weight { v *= weight[i] }
                    row[i] = v
                }
            }
        }
        return out
    }

    /// GroupNorm on a [B, C, H, W] tensor (channels first, as the VAE stores activations).
    public static func groupNorm(_ x: Tensor, groups: Int, weight: [Float], bias: [Float], eps: Float) -> Tensor {
        precondition(x.rank == 4, "groupNorm expects [B, C, H, W], got \(x.shape)")
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(c % groups == 0, "\(c) channels do not split into \(groups) groups")
        let perGroup = c / groups
        let plane = h * w
        var out = x
        out.storage.withUnsafeMutableBufferPointer { p in
            for bi in 0..<b {
                for g in 0..<groups {
                    let start = p.baseAddress! + (bi * c + g * perGroup) * plane
                    let n = perGroup * plane
                    var mean = 0.0
                    for i in 0..<n { mean += Double(start[i]) }
                    mean /= Double(n)
                    var variance = 0.0
                    for i in 0..<n { let d = Double(start[i]) - mean; variance += d * d }
                    variance /= Double(n)
                    let inv = Float(1.0 / (variance + Double(eps)).squareRoot())
                    let m = Float(mean)
                    for ci in 0..<perGroup {
                        let ch = g * perGroup + ci
                        let row = start + ci * plane
                        for i in 0..<plane { row[i] = (row[i] - m) * inv * weight[ch] + bias[ch] }
                    }
                }
            }
        }
        return out
    }
}
